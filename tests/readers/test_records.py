"""records: finding records, opening them, reading slices, rejecting bad files with one-line errors."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
import wfdb

from ecgspec.readers import RecordError, RecordRef, find_records, open_record
from tests.helpers.records import found_ref


def _full(path: Path) -> np.ndarray:
    """The whole record as wfdb reads it, (channels, samples) float32."""
    return wfdb.rdrecord(str(path.with_suffix(""))).p_signal.T.astype(np.float32)


# ---------------------------------------------------------------- find_records


def test_find_cinc_folder(cinc_dir):
    refs, problems = find_records([cinc_dir])
    assert problems == []
    assert len(refs) == 50
    assert [r.name for r in refs] == sorted(r.name for r in refs)
    assert {r.kind for r in refs} == {"wfdb"}
    assert all(r.path.suffix == ".hea" and r.path.parent == cinc_dir for r in refs)
    assert refs[0].name == "E07500"


def test_find_whole_data_folder_names_relative_and_ignores_other_files(data_dir):
    found, problems = find_records([data_dir])
    # real/ holds files as others wrote them, in every format (tested with the readers); here the WFDB folders
    refs = [r for r in found if not r.name.startswith("real/")]
    names = [r.name for r in refs]
    assert [p for p in problems if not p[0].startswith("real/")] == []
    assert len(refs) == 50 + 18 + 5 and len(found) > len(refs)
    assert {"wfdb/100", "wfdb/s0010_re", "cpsc2021/data_101_6", "cinc2021/E07500"} <= set(names)
    assert names == sorted(names)
    assert all(r.path.suffix == ".hea" for r in refs)  # README.md, .dat, .mat, .xyz not records


@pytest.mark.parametrize("given", ["100", "100.hea", "100.dat"])
def test_find_record_path_with_or_without_extension(wfdb_dir, given):
    refs, problems = find_records([str(wfdb_dir / given)])
    assert problems == []
    assert refs == [RecordRef("100", wfdb_dir / "100.hea", "wfdb")]


def test_find_signal_file_of_second_file(wfdb_dir):
    assert found_ref(wfdb_dir / "s0010_re.xyz").path == wfdb_dir / "s0010_re.hea"


def test_find_from_stdin(wfdb_dir, cpsc_dir):
    stdin = io.StringIO(f"{wfdb_dir / '100'}\n\n  {cpsc_dir / 'data_8_4.hea'}  \n\n")
    refs, problems = find_records(["-", wfdb_dir / "a103l.hea"], stdin=stdin)
    assert problems == []
    assert [r.name for r in refs] == ["100", "a103l", "data_8_4"]


def test_missing_path_and_unknown_type_are_problems(tmp_path, wfdb_dir):
    (tmp_path / "notes.txt").write_text("not a record")
    refs, problems = find_records([tmp_path / "nope", tmp_path / "notes.txt", wfdb_dir / "100"])
    assert [r.name for r in refs] == ["100"]
    assert problems[0] == ("nope", f"no such file or folder: {tmp_path / 'nope'}")
    assert problems[1][0] == "notes.txt" and problems[1][1].startswith("unknown file type")


def test_duplicate_names_keep_the_first_by_path(tmp_path, wfdb_dir):
    for sub in ("b", "a"):
        (tmp_path / sub).mkdir()
        np.save(tmp_path / sub / "rec.npy", np.zeros((2, 10)))
    refs, problems = find_records([tmp_path / "b" / "rec.npy", tmp_path / "a" / "rec"])
    assert refs == [RecordRef("rec", tmp_path / "a" / "rec.npy", "npy")]
    assert problems == [("rec", f"duplicate record name, already read from {tmp_path / 'a' / 'rec.npy'}")]


def test_same_file_twice_is_read_once(wfdb_dir):
    refs, problems = find_records([wfdb_dir / "100", wfdb_dir / "100.hea", wfdb_dir / "100.dat"])
    assert problems == [] and len(refs) == 1


def test_folder_search_nested_hidden_and_duplicates(tmp_path):
    (tmp_path / "sub" / "deeper").mkdir(parents=True)
    (tmp_path / ".hidden").mkdir()
    np.save(tmp_path / "sub" / "deeper" / "x.npy", np.zeros((1, 4)))
    np.save(tmp_path / ".hidden" / "y.npy", np.zeros((1, 4)))
    np.save(tmp_path / ".z.npy", np.zeros((1, 4)))
    np.save(tmp_path / "dup.npy", np.zeros((1, 4)))
    np.savez(tmp_path / "dup.npz", signal=np.zeros((1, 4)), fs=100)
    (tmp_path / "other.txt").write_text("1,2")  # .csv is a record kind since issue 20
    refs, problems = find_records([tmp_path])
    assert [(r.name, r.kind) for r in refs] == [("dup", "npy"), ("sub/deeper/x", "npy")]
    assert [p[0] for p in problems] == ["dup"]


# ---------------------------------------------------------------- open_record and read


@pytest.mark.parametrize("name", ["E07500", "HR06003", "JS20001"])
def test_read_cinc_equals_wfdb(cinc_dir, name):
    rec = open_record(found_ref(cinc_dir / name))
    assert rec.header.fs == 500.0 and rec.header.n_samples == 5000 and rec.header.n_signals == 12
    assert rec.header.leads[:4] == ("I", "II", "III", "aVR")
    got = rec.read(0, 5000, range(12))
    assert got.dtype == np.float32 and got.flags.c_contiguous
    np.testing.assert_array_equal(got, _full(rec.ref.path))


def test_read_mitbih_212_slices(wfdb_dir):
    rec = open_record(found_ref(wfdb_dir / "100"))
    assert rec.header == rec.header.__class__(360.0, 650000, ("MLII", "V5"), 2)
    full = _full(rec.ref.path)
    np.testing.assert_array_equal(rec.read(0, 650000, [0, 1]), full)
    np.testing.assert_array_equal(rec.read(300001, 310004, [1, 0]), full[[1, 0], 300001:310004])
    np.testing.assert_array_equal(rec.read(649999, 650000, [1, 1]), full[[1, 1], 649999:])
    assert rec.read(5, 5, [0]).shape == (1, 0)


def test_read_two_signal_files(wfdb_dir):
    rec = open_record(found_ref(wfdb_dir / "s0010_re"))
    assert rec.header.n_signals == 15 and rec.header.leads[12:] == ("vx", "vy", "vz")
    full = _full(rec.ref.path)
    np.testing.assert_array_equal(rec.read(1000, 3000, [14, 0, 12]), full[[14, 0, 12], 1000:3000])


@pytest.mark.parametrize("name, shape", [("a103l", (3, 82500)), ("100_3chan", (3, 999)), ("test01_00s", (4, 4000))])
def test_read_mat_odd_length_and_small(wfdb_dir, name, shape):
    rec = open_record(found_ref(wfdb_dir / name))
    got = rec.read(0, shape[1], range(shape[0]))
    assert got.shape == shape
    np.testing.assert_array_equal(got, _full(rec.ref.path))
    np.testing.assert_array_equal(rec.read(shape[1] - 3, shape[1], [2]), got[2:3, -3:])


def test_read_range_outside_record_is_value_error(wfdb_dir):
    rec = open_record(found_ref(wfdb_dir / "100_3chan"))
    for args in [(0, 1000, [0]), (-1, 5, [0]), (0, 5, [3]), (0, 5, [])]:
        with pytest.raises(ValueError):
            rec.read(*args)


def test_npy_and_npz(tmp_path):
    signal = np.arange(30, dtype=np.int16).reshape(3, 10)
    np.save(tmp_path / "a.npy", signal)
    rec = open_record(found_ref(tmp_path / "a.npy"), input_fs=250)
    assert (rec.header.fs, rec.header.n_samples, rec.header.leads, rec.header.n_signals) == (250.0, 10, (), 3)
    np.testing.assert_array_equal(rec.read(2, 7, [2, 0]), signal[[2, 0], 2:7].astype(np.float32))
    with pytest.raises(RecordError, match="sampling rate"):
        open_record(found_ref(tmp_path / "a.npy"))
    with_nan = signal.astype(np.float64)
    with_nan[1, 4] = np.nan
    np.savez(tmp_path / "b.npz", signal=with_nan, fs=np.float64(360), leads=np.array(["I", "II", "V1"]))
    rec = open_record(found_ref(tmp_path / "b.npz"), input_fs=999)
    assert (rec.header.fs, rec.header.leads) == (360.0, ("I", "II", "V1"))
    got = rec.read(0, 10, [1])
    assert np.isnan(got[0, 4]) and np.array_equal(np.delete(got[0], 4), np.delete(signal[1], 4))


def test_read_of_a_file_cut_after_open_is_record_error(copy_records, wfdb_dir):
    folder = copy_records(wfdb_dir, ["100"])
    rec = open_record(found_ref(folder / "100"))
    with open(folder / "100.dat", "r+b") as f:
        f.truncate(1000)
    with pytest.raises(RecordError) as err:
        rec.read(0, 650000, [0])
    assert "\n" not in str(err.value)


# ---------------------------------------------------------------- bad records


def _wfdb_copy(copy_records, src: Path, name: str) -> Path:
    return copy_records(src, [name]) / f"{name}.hea"


def _truncate(path: Path, fraction: float = 0.5) -> None:
    with open(path, "r+b") as f:
        f.truncate(int(path.stat().st_size * fraction))


def _bad_header(text: str | bytes):
    def make(tmp_path, copy_records, wfdb_dir, cinc_dir):
        header = _wfdb_copy(copy_records, wfdb_dir, "100")
        header.write_bytes(text if isinstance(text, bytes) else text.encode())
        return header

    return make


def _bad_signal(src: str, name: str, file: str, action):
    def make(tmp_path, copy_records, wfdb_dir, cinc_dir):
        header = _wfdb_copy(copy_records, {"wfdb": wfdb_dir, "cinc": cinc_dir}[src], name)
        action(header.parent / file)
        return header

    return make


def _npy(array: np.ndarray):
    def make(tmp_path, copy_records, wfdb_dir, cinc_dir):
        np.save(tmp_path / "x.npy", array, allow_pickle=True)
        return tmp_path / "x.npy"

    return make


def _npz(**arrays):
    def make(tmp_path, copy_records, wfdb_dir, cinc_dir):
        np.savez(tmp_path / "x.npz", **arrays)
        return tmp_path / "x.npz"

    return make


def _corrupt_npz(tmp_path, copy_records, wfdb_dir, cinc_dir):
    np.savez(tmp_path / "x.npz", signal=np.zeros((2, 100)), fs=100)
    _truncate(tmp_path / "x.npz")
    return tmp_path / "x.npz"


def _truncated_npy(tmp_path, copy_records, wfdb_dir, cinc_dir):
    np.save(tmp_path / "x.npy", np.zeros((2, 1000)))
    _truncate(tmp_path / "x.npy")
    return tmp_path / "x.npy"


SIGNALS = "100.dat 16 200 11 1024 995 -22131 0 MLII\n100.dat 16 200 11 1024 1011 20052 0 V5\n"
BAD = {
    "garbage header": (_bad_header("hello world\nthis is not a header\n"), "header"),
    "random bytes header": (_bad_header(np.random.default_rng(0).bytes(400)), "header"),
    "empty header": (_bad_header(""), "empty"),
    "blank header": (_bad_header("\n\n"), "header"),
    "no signals": (_bad_header("100 0 360 650000\n"), "no signals"),
    "fs 0": (_bad_header("100 2 0 1000\n" + SIGNALS), "sampling rate"),
    "length 0": (_bad_header("100 2 360 0\n" + SIGNALS), "0 samples"),
    "no length": (_bad_header("100 2 360\n" + SIGNALS), "no length"),
    "signal lines missing": (_bad_header("100 2 360 1000\n100.dat 16\n"), "header"),
    "multi-segment": (_bad_header("100/2 2 360 100\n100_1 50\n100_2 50\n"), "segment 100_1: header 100_1.hea is missing"),
    "missing .dat": (_bad_signal("wfdb", "100", "100.dat", Path.unlink), "signal file 100.dat is missing"),
    "truncated .dat": (_bad_signal("wfdb", "100", "100.dat", _truncate), "signal file 100.dat is truncated"),
    "one byte short .dat": (
        _bad_signal("wfdb", "100_3chan", "100_3chan.dat", lambda p: os.truncate(p, 4495)),
        "100_3chan.dat is truncated: 4495 bytes, format 212 needs 4496",
    ),
    "zero-byte .dat": (_bad_signal("wfdb", "100", "100.dat", lambda p: _truncate(p, 0)), "empty"),
    "truncated .mat": (_bad_signal("cinc", "E07500", "E07500.mat", _truncate), "truncated"),
    "truncated .xyz": (_bad_signal("wfdb", "s0010_re", "s0010_re.xyz", _truncate), "s0010_re.xyz is truncated"),
    "missing .mat": (_bad_signal("wfdb", "a103l", "a103l.mat", Path.unlink), "a103l.mat is missing"),
    "npy rank 1": (_npy(np.zeros(10)), r"shape \(10,\)"),
    "npy rank 3": (_npy(np.zeros((2, 3, 4))), r"shape \(2, 3, 4\)"),
    "npy str": (_npy(np.array([["a", "b"], ["c", "d"]])), "dtype <U1"),
    "npy object": (_npy(np.array([[1, None]], dtype=object)), "dtype object"),
    "npy complex": (_npy(np.zeros((2, 4), dtype=complex)), "dtype complex128"),
    "npy bool": (_npy(np.zeros((2, 4), dtype=bool)), "dtype bool"),
    "npy no samples": (_npy(np.zeros((2, 0))), "0 samples"),
    "npy no channels": (_npy(np.zeros((0, 5))), "no signals"),
    "npy truncated": (_truncated_npy, "npy"),
    "npz without signal": (_npz(fs=100, data=np.zeros((2, 10))), "npz has no 'signal' array"),
    "npz without fs": (_npz(signal=np.zeros((2, 10))), "npz has no 'fs' array"),
    "npz fs 0": (_npz(signal=np.zeros((2, 10)), fs=0), "sampling rate"),
    "npz fs array": (_npz(signal=np.zeros((2, 10)), fs=np.array([100, 200])), "'fs'"),
    "npz complex signal": (_npz(signal=np.zeros((2, 10), dtype=complex), fs=100), "dtype complex128"),
    "npz leads too few": (_npz(signal=np.zeros((2, 10)), fs=100, leads=np.array(["I"])), "'leads'"),
    "npz leads numbers": (_npz(signal=np.zeros((2, 10)), fs=100, leads=np.array([1, 2])), "'leads'"),
    "npz corrupt": (_corrupt_npz, "npz"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_record_is_one_line_record_error(case, tmp_path, copy_records, wfdb_dir, cinc_dir):
    make, expected = BAD[case]
    path = make(tmp_path, copy_records, wfdb_dir, cinc_dir)
    kind = {".hea": "wfdb", ".npy": "npy", ".npz": "npz"}[path.suffix]
    with pytest.raises(RecordError, match=expected) as err:
        open_record(RecordRef(path.stem, path, kind), input_fs=100)
    assert "\n" not in str(err.value) and str(err.value).strip()


def test_header_file_gone_is_record_error(tmp_path):
    with pytest.raises(RecordError, match="cannot read gone.hea"):
        open_record(RecordRef("gone", tmp_path / "gone.hea", "wfdb"))


def test_replaced_header_equals_dataclasses_replace_and_refuses_unknown_fields() -> None:
    """The read stage's fast replace: the same Header as dataclasses.replace, frozen still."""
    import dataclasses

    from ecgspec.readers.base import Header, replaced

    header = Header(500.0, 5000, ("I", "II"), 2, units=("mV", "mV"))
    changes = {"comments": ("Age: 7",), "meta": (("Age", "7"),), "start_time": "2020-01-01", "adc_step": (0.005,) * 2}
    fast, slow = replaced(header, **changes), dataclasses.replace(header, **changes)
    assert fast == slow and fast.__dict__ == slow.__dict__ and header.comments == ()
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.fs = 1.0  # type: ignore[misc]
    with pytest.raises(TypeError):
        replaced(header, nope=1)


def test_suffix_is_splitext_on_every_short_name() -> None:
    """Discovery's fast extension, against os.path.splitext on every name of up to 6 of 'aB./' (in
    lower case: an extension's case does not matter)."""
    import itertools
    import os

    from ecgspec.readers.registry import suffix_of

    names = ["".join(chars) for n in range(7) for chars in itertools.product("aB./", repeat=n)]
    assert [suffix_of(n) for n in names] == [os.path.splitext(n)[1].lower() for n in names]


def test_a_large_tree_walked_in_processes_gives_the_same_records(tmp_path, wfdb_dir, monkeypatch) -> None:
    """The folders left of a slow walk go to the map (processes): the same refs and problems, in order."""
    from ecgspec.readers import discovery
    from ecgspec.run.plan import _process_map

    source = sorted(wfdb_dir.glob("*.hea"))[0]
    for p in range(3):
        for s in range(40):
            folder = tmp_path / "files" / f"p{p}" / f"s{s:03d}"
            folder.mkdir(parents=True)
            (folder / source.name).write_bytes(source.read_bytes())
            (folder / ".hidden.hea").write_text("x")
    (tmp_path / "files" / "top.npy").write_bytes(b"")
    serial = find_records([tmp_path / "files"])
    calls = []
    parallel_map = _process_map(2)
    monkeypatch.setattr(discovery, "SERIAL_SECONDS", 0.0)
    monkeypatch.setattr(discovery, "SPLIT_FOLDERS", 2)
    parallel = find_records([tmp_path / "files"],
                            map_fn=lambda f, items, *a: calls.append(len(items)) or parallel_map(f, items, *a))
    assert calls and parallel == serial and len(serial[0]) == 121
