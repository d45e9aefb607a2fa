"""Files as devices and Windows tools name them (issue 32): a record's extension in any case
(``129DYPRG.XML``, ``62.SCP``, ``r.Hea``) is found and read as the same file with a lower-case
name, in a folder, named on the command line or on stdin; WFDB signal files keep the names their
header gives; and a folder search says what it passed over, by extension."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np
import pytest
import wfdb
from pydicom.data import get_testdata_file

from ecgspec.readers import RecordError, RecordRef, discover, find_records, open_record
from tests.helpers import ecg_writers as w
from tests.helpers.edf import write_edf
from tests.helpers.paths import DATA

X = w.counts(12, 2000)
REAL = DATA / "real" / "clinical"


def _wfdb(folder: Path, name: str) -> Path:
    folder.mkdir(exist_ok=True)
    wfdb.wrsamp(name, fs=500, units=["mV"] * 12, sig_name=list(w.LEADS12), d_signal=np.ascontiguousarray(X.T),
                adc_gain=[200.0] * 12, baseline=[0] * 12, fmt=["16"] * 12, write_dir=str(folder))
    return folder / f"{name}.hea"


def _npz(folder: Path, name: str) -> Path:
    np.savez(folder / f"{name}.npz", signal=X.astype(np.float32), fs=500.0, leads=np.array(w.LEADS12))
    return folder / f"{name}.npz"


def _npy(folder: Path, name: str) -> Path:
    np.save(folder / f"{name}.npy", X.astype(np.float32))
    return folder / f"{name}.npy"


def _dicom(folder: Path, name: str) -> Path:
    return Path(shutil.copy(get_testdata_file("waveform_ecg.dcm"), folder / f"{name}.dcm"))


WRITERS = {  # record kind -> writes record ``name`` in ``folder``, returns its record file
    "wfdb": _wfdb, "npy": _npy, "npz": _npz,
    "edf": lambda folder, name: write_edf(folder, name, [500.0, 250.0])[0],
    "bdf": lambda folder, name: write_edf(folder, name, [256.0], bdf=True)[0],
    "csv": lambda folder, name: w.csv_record(folder / f"{name}.csv", X),
    "code15": lambda folder, name: w.code15_part(folder / f"{name}.hdf5", [(7, X.T.astype(np.float32), 10)],
                                                 length=2048),
    "muse": lambda folder, name: w.muse_xml(folder / f"{name}.xml", X[:8]),
    "hl7": lambda folder, name: w.hl7_aecg(folder / f"{name}.xml", X),
    "sierra": lambda folder, name: w.sierra_xml(folder / f"{name}.xml", X),
    "dicom": _dicom,
    "scp": lambda folder, name: w.scp_ecg(folder / f"{name}.scp", X),
    "ishne": lambda folder, name: w.ishne(folder / f"{name}.ecg", X),
    "mfer": lambda folder, name: w.mfer(folder / f"{name}.mwf", X),
}


def _renamed(path: Path, folder: Path, case) -> Path:
    """A copy of a record's files in ``folder``, the record file's extension in ``case`` (a
    WFDB header's signal files keep their names: the header names them)."""
    folder.mkdir(exist_ok=True)
    for f in path.parent.iterdir():
        if f.stem == path.stem and f != path:
            shutil.copy(f, folder / f.name)
    return Path(shutil.copy(path, folder / (path.stem + case(path.suffix))))


def _values(ref: RecordRef):
    record = open_record(ref, input_fs=500)
    h = record.header
    return h, [record.read(0, h.length(c), [c]).tobytes() for c in range(h.n_signals)]


@pytest.mark.parametrize("case", [str.upper, str.title], ids=["upper", "mixed"])
@pytest.mark.parametrize("kind", sorted(WRITERS))
def test_a_record_named_in_any_case_is_found_and_read_as_in_lower_case(kind: str, case, tmp_path: Path) -> None:
    lower = tmp_path / "lower"
    lower.mkdir()
    path = WRITERS[kind](lower, "r")
    other = _renamed(path, tmp_path / "other", case)
    assert other.suffix != path.suffix
    (ref,), problems = find_records([lower])
    (got,), more = find_records([tmp_path / "other"])
    assert not problems and not more
    assert (got.name, got.kind, got.row, got.path) == (ref.name, ref.kind, ref.row, other)
    h, values = _values(ref)
    assert h.n_signals and _values(got) == (h, values)
    assert h.units == _values(got)[0].units and h.meta == _values(got)[0].meta


def test_a_folder_mixing_cases_extracts_every_record(tmp_path: Path) -> None:
    """a.xml and B.XML (and a WFDB header c.Hea): all found, none passed over, nothing in silence."""
    folder = tmp_path / "mixed"
    _renamed(_wfdb(tmp_path / "wfdb", "c"), folder, str.title)
    w.hl7_aecg(folder / "a.xml", X)
    w.sierra_xml(folder / "B.XML", X)
    found = discover([folder])
    assert [r.name for r in found.refs] == ["B", "a", "c"] and not found.problems
    assert found.passed_over == {}
    assert [open_record(r).header.n_signals for r in found.refs] == [12, 12, 12]


def test_a_record_named_on_the_command_line_or_stdin_in_any_case(tmp_path: Path) -> None:
    path = w.sierra_xml(tmp_path / "R.XML", X)
    header = _renamed(_wfdb(tmp_path / "w", "s"), tmp_path, str.upper)
    for inputs, stdin in (([path], None), ([tmp_path / "R"], None), (["-"], io.StringIO(f"{path}\n{tmp_path / 'R'}\n"))):
        refs, problems = find_records(inputs, stdin=stdin)
        assert [(r.name, r.path) for r in refs] == [("R", path)] and not problems, inputs
    for named in (tmp_path / "s.dat", tmp_path / "s", header):  # a signal file names its record's header
        refs, problems = find_records([named])
        assert [(r.name, r.path, r.kind) for r in refs] == [("s", header, "wfdb")] and not problems, named
    refs, problems = find_records([tmp_path / "notes.TXT"])
    assert not refs and problems == [("notes.TXT", f"no such file or folder: {tmp_path / 'notes.TXT'}")]
    (tmp_path / "notes.TXT").write_text("x")
    _, problems = find_records([tmp_path / "notes.TXT"])
    assert problems[0][0] == "notes.TXT" and problems[0][1].startswith("unknown file type")


def test_a_header_named_in_upper_case_of_a_record_only_wfdb_reads_is_a_clear_error(tmp_path: Path) -> None:
    """wfdb finds a header by record name (``r.hea``): ``r.HEA`` of a format ecgspec leaves to wfdb is
    one line saying so, never a read that fails later."""
    wfdb.wrsamp("r", fs=500, units=["mV"], sig_name=["I"], d_signal=X[:1].T.copy(), adc_gain=[200.0],
                baseline=[0], fmt=["516"], write_dir=str(tmp_path))  # FLAC: read through wfdb
    assert open_record(RecordRef("r", tmp_path / "r.hea", "wfdb")).header.n_samples == 2000
    (tmp_path / "r.hea").rename(tmp_path / "r.HEA")
    with pytest.raises(RecordError, match=r"^wfdb reads this record .* only from a header named r\.hea, not r\.HEA$"):
        open_record(RecordRef("r", tmp_path / "r.HEA", "wfdb"))


@pytest.mark.parametrize("name", ["sierra/129DYPRG.XML", "sierra/mrx_129ECORG.XML", "scp/healforce_62.SCP"])
def test_real_files_with_upper_case_extensions_read_as_their_lower_case_copies(name: str, tmp_path: Path) -> None:
    """The devices' own file names against copies named in lower case: the same outcome (the
    same record and values, or for a file ecgspec refuses the same one-line error)."""
    copy = Path(shutil.copy(REAL / name, tmp_path / Path(name).name.lower()))
    (ref,), problems = find_records([REAL / name])
    assert not problems and ref.kind == "clinical"

    def outcome(path: Path):
        try:
            return _values(RecordRef("r", path, "clinical"))
        except RecordError as exc:
            return str(exc)

    assert outcome(REAL / name) == outcome(copy)


def test_a_search_counts_what_it_passes_over_by_extension(tmp_path: Path) -> None:
    """Files that are no record, by extension in lower case ("" for none); not the signal and
    annotation files of the WFDB headers beside them, nor hidden files; a dataset's table (a CSV
    of no lead names, an HDF5 file that is no CODE-15% part) is counted; a record is not."""
    _wfdb(tmp_path, "100")
    (tmp_path / "100.atr").write_bytes(b"\0\0")
    for name in ("report.pdf", "scan.PDF", "notes.txt", "README", "RECORDS", ".DS_Store", "labels.csv"):
        (tmp_path / name).write_text("id,label\n1,2\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "x.Pdf").write_text("")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "y.pdf").write_text("")
    (tmp_path / "link").symlink_to(tmp_path / "sub", target_is_directory=True)
    import h5py

    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["x"] = [1]
    found = discover([tmp_path])
    assert [r.name for r in found.refs] == ["100"] and not found.problems
    assert found.passed_over == {".pdf": 3, "": 2, ".txt": 1, ".csv": 1, ".h5": 1}
    assert list(found.passed_over) == [".pdf", "", ".csv", ".h5", ".txt"]  # most first, then by name
    assert discover([tmp_path / "100.hea", tmp_path / "report.pdf"]).passed_over == {}  # named files: a problem each


def test_a_tree_walked_in_processes_counts_the_same(tmp_path: Path, monkeypatch) -> None:
    from ecgspec.readers import discovery

    for i in range(80):
        folder = tmp_path / f"d{i:02d}"
        folder.mkdir()
        w.csv_record(folder / f"r{i}.CSV", X[:2, :10], ("I", "II"))
        (folder / f"n{i}.txt").write_text("")
    serial = discover([tmp_path])
    monkeypatch.setattr(discovery, "SERIAL_SECONDS", 0.0)
    calls = []

    def map_fn(func, items, *args):
        calls.append(len(items))
        return [r for i in range(0, len(items), 7) for r in func(items[i:i + 7], *args)]

    parallel = discover([tmp_path], map_fn=map_fn)
    assert calls and parallel == serial and serial.passed_over == {".txt": 80} and len(serial.refs) == 80
