"""WFDB headers as PhysioNet's datasets wrote them (issue 34): the record lines wfdb refuses or
misreads (CinC 2017's year-first date before the time, CinC 2020/2021's ``DD-Mon-YYYY`` date,
Georgia's record name with the signal file's extension) read for what they say, each departure
in ``meta``'s ``header_warnings``; checked on the real records, read in place, against wfdb on a
copy whose record line is corrected by hand. What those headers also do (CRLF, trailing spaces,
``#Age:``, gains without units, a gain of 0) is read as wfdb reads it; what is still ambiguous or
contradictory is one RecordError line naming the field."""

from __future__ import annotations

import datetime
import os
from pathlib import Path

import numpy as np
import pytest
import wfdb

from ecgspec.readers import RecordError, RecordRef, open_record
from ecgspec.readers.wfdb.header import comment_meta, parse_header
from ecgspec.readers.wfdb.record import FastWfdbRecord, WfdbRecord
from tests.helpers.physionet import DEPARTURES, ISO_FIRST, PHYSIONET, corrected


def _open(path: Path):
    return open_record(RecordRef(path.stem, path, "wfdb"))


def _wfdb_start(path: Path) -> str:
    h = wfdb.rdheader(str(path.with_suffix("")))
    return datetime.datetime.combine(h.base_date, h.base_time).isoformat()


@pytest.mark.parametrize("name", sorted(DEPARTURES))
def test_departure_reads_as_wfdb_reads_the_corrected_copy(name: str, tmp_path: Path) -> None:
    line, start_time, notes = DEPARTURES[name]
    original = PHYSIONET / f"{name}.hea"
    try:  # the departure: wfdb refuses the record line, or reads no date from it
        assert wfdb.rdheader(str(original.with_suffix(""))).base_date is None
    except Exception:  # noqa: BLE001 - HeaderSyntaxError, ValueError: whatever wfdb's parse raises
        pass
    fixed = corrected(tmp_path, name, line)
    ours, theirs = _open(original), wfdb.rdrecord(str(fixed.with_suffix("")))
    h = ours.header
    assert isinstance(ours, FastWfdbRecord)
    assert (h.fs, h.n_samples, h.leads) == (theirs.fs, theirs.sig_len, tuple(theirs.sig_name))
    assert h.start_time == start_time == _wfdb_start(fixed)
    assert h.comments == tuple(theirs.comments)
    assert h.meta == (*comment_meta(theirs.comments), ("header_warnings", notes))
    got = ours.read(0, h.n_samples, range(h.n_signals))
    assert np.array_equal(got, theirs.p_signal.T.astype(np.float32), equal_nan=True)
    again = _open(fixed).header  # the corrected copy: the same record, nothing to note
    assert again.start_time == start_time and "header_warnings" not in dict(again.meta)


def test_ddmonyyyy_date_after_the_time_and_a_wfdb_date_before_it(tmp_path: Path) -> None:
    """Each departure alone: the other order of JS00666's start, and WFDB's own date form before the time."""
    fixed = corrected(tmp_path, "cinc2021-chapman/JS00666", "JS00666 12 500 5000 20:59:55 23/03/2021")
    for line, notes in (("JS00666 12 500 5000 20:59:55 23-Mar-2021", "start date '23-Mar-2021' (DD-Mon-YYYY) read as 2021-03-23"),
                        ("JS00666 12 500 5000 23/03/2021 20:59:55", ISO_FIRST)):
        header = tmp_path / "JS00666.hea"
        header.write_bytes(fixed.read_bytes().replace(fixed.read_bytes().splitlines()[0], line.encode()))
        h = _open(header).header
        assert h.start_time == "2021-03-23T20:59:55" and dict(h.meta)["header_warnings"] == notes


@pytest.mark.parametrize("name, reason", [
    ("cinc2021-chapman/JS00001", "CRLF line ends, no start"),
    ("cinc2020-cpsc2018/A5432", "'#Age:' comments (besides a CinC 2020 date)"),
    ("ecgiddb/wave_2", "gains without units ('200'), lead names with spaces"),
    ("nstdb/bw", "a gain of 0 (wfdb: 200)"),
    ("i-care/0284_001_004_ECG", "a fractional gain without units, ADC zero as the baseline"),
    ("ludb/1", "trailing spaces"),
])
def test_what_these_headers_also_do_reads_as_wfdb_reads_it(name: str, reason: str) -> None:
    path = PHYSIONET / f"{name}.hea"
    ours = _open(path)
    h = ours.header
    theirs = wfdb.rdrecord(str(path.with_suffix("")), sampto=min(h.n_samples, 20000))
    assert (h.fs, h.leads, h.units) == (theirs.fs, tuple(theirs.sig_name), tuple(theirs.units)), reason
    assert h.comments == tuple(theirs.comments) and h.meta[:len(comment_meta(theirs.comments))] == comment_meta(theirs.comments)
    got = ours.read(0, min(h.n_samples, 20000), range(h.n_signals))
    assert np.array_equal(got, theirs.p_signal.T.astype(np.float32), equal_nan=True), reason
    if name == "cinc2020-cpsc2018/A5432":
        assert dict(h.meta)["Age"] == "38" and h.start_time == "2020-05-12T12:33:59"
    else:
        assert "header_warnings" not in dict(h.meta)


def _header(tmp_path: Path, text: str, name: str = "r") -> Path:
    (tmp_path / "r.dat").write_bytes(np.arange(400, dtype="<i2").tobytes())
    (tmp_path / f"{name}.hea").write_text(text)
    return tmp_path / f"{name}.hea"


@pytest.mark.parametrize("line, start_time, notes", [
    ("r 2 250 200 2021-03-23", "2021-03-23", "start date '2021-03-23' (YYYY-MM-DD) read as 2021-03-23; start date without a time"),
    ("r 2 250 200 23-mar-2021 7:05:09.25", "2021-03-23T07:05:09.250",
     "start date '23-mar-2021' (DD-Mon-YYYY) read as 2021-03-23; start date before the time"),
    ("r 2 250 200 1/2/2003 10:00", "2003-02-01T00:10:00", "start date before the time"),  # WFDB's MM:SS
    ("r.dat 2 250 200 10:00:00 01/02/2003", "2003-02-01T10:00:00", "record name 'r.dat' (its signal file's name) read as 'r'"),
])
def test_made_departures_read_and_noted(tmp_path: Path, line: str, start_time: str, notes: str) -> None:
    h = _open(_header(tmp_path, f"{line}\nr.dat 16 100 16 0 0 0 0 a\nr.dat 16 100 16 0 0 0 0 b\n")).header
    assert h.start_time == start_time and dict(h.meta)["header_warnings"] == notes


@pytest.mark.parametrize("line, message", [
    ("r 2 250 200 05-06-2020 10:00:00", "start date '05-06-2020' is not a date written DD/MM/YYYY, DD-Mon-YYYY or YYYY-MM-DD"),
    ("r 2 250 200 10:00:00 05.06.2020", "start date '05.06.2020' is not a date written"),
    ("r 2 250 200 2014-02-30 10:00:00", "start date '2014-02-30' is not a date written"),
    ("r 2 250 200 31-Foo-2020 10:00:00", "start date '31-Foo-2020' is not a date written"),
    ("r 2 250 200 2014-05-01 11:05:48 UTC", "start '2014-05-01 11:05:48 UTC' is not one date"),
    ("r 2 250 200 10:00:00 2014-05-01 2014-05-02", "start '10:00:00 2014-05-01 2014-05-02' is not one date"),
    ("r 2 250 200 25:00:00 23-Mar-2021", "start time '25:00:00' is not a time of day"),
    ("x.dat 2 250 200", "invalid syntax in record line"),  # an extension, but not the signal file's: wfdb's error
    ("r.dat 2 250 200 23-Mar-2021 10:00:00\nr.dat 16 100\n", "says 2 signals but does not describe them all"),
    ("r.dat 2 250 900 23-Mar-2021 10:00:00", "r.dat"),  # 900 samples in a file of 200: the file is short
    ("r 0 250 0 2014-05-01 10:00:00\n", "has no signals"),
])
def test_ambiguous_or_contradictory_header_is_one_line_naming_the_field(tmp_path: Path, line: str, message: str) -> None:
    text = line if line.endswith("\n") else f"{line}\nr.dat 16 100 16 0 0 0 0 a\nr.dat 16 100 16 0 0 0 0 b\n"
    with pytest.raises(RecordError) as info:
        record = _open(_header(tmp_path, text))
        record.read(0, record.header.n_samples, [0])
    assert message in str(info.value) and "\n" not in str(info.value)


def test_multi_segment_master_with_a_year_first_start(tmp_path: Path, wfdb_dir: Path) -> None:
    for file in wfdb_dir.glob("test01_00s.*"):
        os.symlink(file, tmp_path / file.name)
    (tmp_path / "m.hea").write_text("m/1 4 500 4000 2003-02-01 08:00:00\ntest01_00s 4000\n")
    h = _open(tmp_path / "m.hea").header
    assert h.start_time == "2003-02-01T08:00:00" and dict(h.meta)["header_warnings"].endswith(ISO_FIRST)


def test_a_format_wfdb_reads_takes_the_departures_wfdb_reads_and_names_the_others(tmp_path: Path) -> None:
    """Format 8 is read through wfdb: a DD-Mon-YYYY date first (which wfdb misreads, no more) reads,
    with the start ecgspec reads; a record name with the extension (which wfdb refuses) is one line."""
    signals = "r.dat 8 100 8 0 0 0 0 a\nr.dat 8 100 8 0 0 0 0 b\n"
    record = _open(_header(tmp_path, f"r 2 250 200 23-Mar-2021 10:00:00\n{signals}"))
    assert isinstance(record, WfdbRecord) and record.header.start_time == "2021-03-23T10:00:00"
    expected = wfdb.rdrecord(str(tmp_path / "r"), physical=True).p_signal.T.astype(np.float32)
    assert np.array_equal(record.read(0, 200, [0, 1]), expected)
    with pytest.raises(RecordError, match="format 8 is read through wfdb, which refuses this record line .record name"):
        _open(_header(tmp_path, f"r.dat 2 250 200\n{signals}"))


def test_parser_keeps_a_wfdb_line_as_it_is() -> None:
    """A line without departures reaches the WFDB parser unchanged: wfdb's fields and its errors."""
    h = parse_header(b"r 1 250 100 10:11:12 01/02/2003\nr.dat 16\n")
    assert (h.base_time, h.base_date, h.warnings) == (datetime.time(10, 11, 12), datetime.date(2003, 2, 1), ())
    assert parse_header(b"r 1 250 100 12\nr.dat 16\n").base_time == datetime.time(0, 0, 12)
    with pytest.raises(ValueError):  # wfdb's strptime refuses it too
        parse_header(b"r 1 250 100 10:11:12 32/01/2003\nr.dat 16\n")
