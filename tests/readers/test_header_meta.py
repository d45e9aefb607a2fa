"""Header comments, ``key: value`` fields and start times, against what wfdb and edfio read."""

from __future__ import annotations

import datetime
import shutil
from pathlib import Path

import edfio
import numpy as np
import pytest
import wfdb

from ecgspec.readers import RecordRef, find_records, open_record
from ecgspec.readers.wfdb.header import comment_meta


def _wfdb(path: Path):
    return open_record(RecordRef(path.stem, path, "wfdb"))


def test_cinc_comments_and_fields_equal_wfdbs(cinc_dir: Path) -> None:
    refs, _rejected = find_records([cinc_dir])
    assert len(refs) == 50
    for ref in refs:
        header = open_record(ref).header
        theirs = wfdb.rdheader(str(ref.path.with_suffix(""))).comments
        assert header.comments == tuple(theirs)
        fields = dict(header.meta)
        for line in theirs:  # "Age: 74": wfdb's own line, split by hand
            key, _, value = line.partition(":")
            assert fields[key.strip()] == value.strip()
        assert {"Age", "Sex", "Dx"} <= fields.keys()
        assert header.start_time == ""  # CinC headers carry no base date


def test_fields_of_other_headers(wfdb_dir: Path) -> None:
    ptb = _wfdb(wfdb_dir / "s0010_re.hea").header
    assert ptb.comments == tuple(wfdb.rdheader(str(wfdb_dir / "s0010_re")).comments)
    fields = dict(ptb.meta)
    assert fields["age"] == "81" and fields["sex"] == "female" and fields["ECG date"] == "01/10/1990"
    assert fields["Diagnose"] == ""  # "Diagnose:" alone: the key with an empty value
    assert fields["Acute infarction (localization)"] == "infero-latera"
    mit = _wfdb(wfdb_dir / "100.hea").header
    assert mit.comments == tuple(wfdb.rdheader(str(wfdb_dir / "100")).comments)
    assert mit.meta == ()  # "69 M 1085 1629 x1", "Aldomet, Inderal": no key: value lines


def test_meta_rule() -> None:
    assert comment_meta(["Age: 74", "Admission date: 10:30 26/09/2180", "seen at 10:30", "a: b: c", ": x", "Dx:"]) == (
        ("Age", "74"), ("Admission date", "10:30 26/09/2180"), ("a", "b: c"), ("Dx", ""))


def _with_base(tmp_path: Path, wfdb_dir: Path, base: str) -> Path:
    for f in wfdb_dir.glob("test01_00s.*"):
        shutil.copy(f, tmp_path / f.name)
    path = tmp_path / "test01_00s.hea"
    lines = path.read_text().splitlines()
    lines[0] += " " + base
    path.write_text("\n".join(lines + ["# Sex: Male"]) + "\n")
    return path


@pytest.mark.parametrize("base, expected", [
    ("13:46:00.250 26/09/2180", "2180-09-26T13:46:00.250"),
    ("13:46:00 26/09/2180", "2180-09-26T13:46:00"),
    ("13:46:00", ""),  # a time without a date: no start time
])
def test_start_time_from_base_date_and_time(tmp_path: Path, wfdb_dir: Path, base: str, expected: str) -> None:
    path = _with_base(tmp_path, wfdb_dir, base)
    header = _wfdb(path).header
    assert header.start_time == expected
    theirs = wfdb.rdheader(str(path.with_suffix("")))
    if theirs.base_date is not None:
        assert datetime.datetime.fromisoformat(header.start_time) == datetime.datetime.combine(
            theirs.base_date, theirs.base_time)
    assert dict(header.meta)["Sex"] == "Male"


def test_multi_segment_master_comments(tmp_path: Path, wfdb_dir: Path) -> None:
    for f in wfdb_dir.glob("test01_00s.*"):
        shutil.copy(f, tmp_path / f.name)
    (tmp_path / "m.hea").write_text("m/1 4 500 4000 08:00:00 01/02/2003\ntest01_00s 4000\n# Age: 50\n")
    header = _wfdb(tmp_path / "m.hea").header
    assert header.comments == tuple(wfdb.rdheader(str(tmp_path / "m")).comments) == ("Age: 50",)
    assert header.meta == (("Age", "50"),) and header.start_time == "2003-02-01T08:00:00"


def test_edf_patient_recording_and_start(tmp_path: Path) -> None:
    signal = edfio.EdfSignal(np.sin(np.arange(5000) / 7), 500, label="ECG I", physical_range=(-2, 2))
    edf = edfio.Edf([signal], patient=edfio.Patient(code="MCH-0234567", sex="F", birthdate=datetime.date(1951, 5, 2),
                                                    name="Haagse_Harry"),
                    recording=edfio.Recording(startdate=datetime.date(2002, 3, 2), equipment_code="Telemetry03"),
                    starttime=datetime.time(14, 30, 5))
    path = tmp_path / "r.edf"
    edf.write(path)
    header = open_record(RecordRef("r", path, "edf")).header
    theirs = edfio.read_edf(path)
    fields = dict(header.meta)
    assert fields == {"patient": theirs.local_patient_identification, "recording": theirs.local_recording_identification}
    assert fields["patient"].startswith("MCH-0234567 F 02-MAY-1951 Haagse_Harry")
    assert header.comments == (f"patient: {fields['patient']}", f"recording: {fields['recording']}")
    assert comment_meta(header.comments) == header.meta
    assert header.start_time == datetime.datetime.combine(theirs.startdate, theirs.starttime).isoformat()
    assert header.start_time == "2002-03-02T14:30:05"
