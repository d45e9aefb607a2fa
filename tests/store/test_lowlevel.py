"""What ecgspec.store.lowlevel relies on beyond h5py's high-level API, checked on the installed h5py and HDF5.

Each test below exercises one reliance (HDF5's error wording, the superblock's bytes, what a
cut chunk holds, where a Fletcher32 chunk is rewritten and how it is stored, the low-level calls); the first records the (h5py, HDF5) pairs these tests
passed on. On any other pair it fails, naming the pair: run this file there, and add the pair
to lowlevel.VERIFIED (and widen pyproject.toml's h5py bound) once everything else passes.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from ecgspec.store import lowlevel
from ecgspec.store.schema import LIBVER


def test_the_installed_h5py_and_hdf5_are_ones_these_checks_passed_on() -> None:
    pair = (h5py.__version__, h5py.version.hdf5_version)
    assert pair in lowlevel.VERIFIED, f"h5py {pair[0]} with HDF5 {pair[1]}: not verified, run this file and add it"


def test_pyproject_bounds_h5py_above_to_the_verified_versions() -> None:
    from packaging.requirements import Requirement

    text = (Path(__file__).resolve().parents[2] / "pyproject.toml").read_text()
    spec = Requirement(re.search(r'"(h5py[^"]*)"', text).group(1)).specifier
    assert any(s.operator == "<" for s in spec), spec
    assert all(spec.contains(h5) for h5, _ in lowlevel.VERIFIED), spec


def writing(path: Path, swmr: bool = True) -> subprocess.Popen:
    """A child process holding ``path`` open for writing (in SWMR mode, or not) until its stdin closes."""
    code = (f"import h5py, sys\nf = h5py.File(sys.argv[1], 'a', libver='latest')\n{'f.swmr_mode = True' if swmr else ''}\n"
            "print('open', flush=True)\nsys.stdin.read()\n")
    child = subprocess.Popen([sys.executable, "-c", code, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "open"
    return child


def test_the_error_texts_name_a_file_held_by_a_writer(tmp_path: Path) -> None:
    path = tmp_path / "f.h5"
    with h5py.File(path, "w", libver=LIBVER) as f:
        f.create_dataset("x", data=np.arange(3))
    child = writing(path)
    try:
        with pytest.raises(OSError) as held:
            h5py.File(path, "r")
        assert lowlevel.open_for_write_elsewhere(held.value)
        assert not lowlevel.lock_unsupported(held.value)
        with h5py.File(path, "r", swmr=True) as f:  # what the match leads to: a reader gets in
            assert f["x"][()].tolist() == [0, 1, 2]
        assert not lowlevel.finishing_elsewhere(held.value)
    finally:
        child.communicate("")
    child = writing(path, swmr=False)  # a writer laying the file out or finishing it
    try:
        with pytest.raises(OSError) as busy:
            h5py.File(path, "r", swmr=True)
        assert lowlevel.finishing_elsewhere(busy.value) and not lowlevel.open_for_write_elsewhere(busy.value)
    finally:
        child.communicate("")
    assert not lowlevel.open_for_write_elsewhere(OSError("Unable to synchronously open file (file signature not found)"))


def test_a_killed_writers_status_flags_are_read_and_cleared(tmp_path: Path) -> None:
    path = tmp_path / "f.h5"
    with h5py.File(path, "w", libver=LIBVER) as f:
        f.create_dataset("x", data=np.arange(3))
    assert lowlevel.superblock_version(path) == 3 and lowlevel.status_flags(path) == 0
    child = writing(path)
    child.kill()
    child.wait()
    assert lowlevel.status_flags(path) != 0
    with pytest.raises(OSError):
        h5py.File(path, "a")
    assert lowlevel.clear_status_flags(path) and lowlevel.status_flags(path) == 0
    assert not lowlevel.clear_status_flags(path)
    with h5py.File(path, "a") as f:
        assert f["x"][()].tolist() == [0, 1, 2]


def test_cut_rows_empties_the_cut_cells_of_the_chunk_it_keeps(tmp_path: Path) -> None:
    with h5py.File(tmp_path / "f.h5", "w", libver=LIBVER) as f:
        d = f.create_dataset("s", data=[f"v{i}" for i in range(10)], dtype=h5py.string_dtype(), maxshape=(None,), chunks=(4,))
        lowlevel.cut_rows(d, 5)
        assert d.asstr()[()].tolist() == ["v0", "v1", "v2", "v3", "v4"]
        d.resize(8, axis=0)
        assert d.asstr()[()].tolist() == ["v0", "v1", "v2", "v3", "v4", "", "", ""]
        with pytest.raises(ValueError):
            lowlevel.cut_rows(d, 9)


def test_datasets_made_copied_listed_and_opened_uncached(tmp_path: Path) -> None:
    with h5py.File(tmp_path / "f.h5", "w", libver=LIBVER) as f:
        data = np.arange(24, dtype=np.float32).reshape(8, 3)
        source = f.create_dataset("a/src", data=data, chunks=(4, 3), compression="gzip", shuffle=True, maxshape=(None, 3))
        assert [code for code, _, _ in lowlevel.filters(source)] == [h5py.h5z.FILTER_SHUFFLE, h5py.h5z.FILTER_DEFLATE]
        target = lowlevel.create_like(f["a"], "dst", source, (12, 3), (None, 3))
        assert target.chunks == (4, 3) and target.maxshape == (None, 3) and lowlevel.filters(target) == lowlevel.filters(source)
        lowlevel.copy_stored_chunks(source, target, 4, 8)
        assert np.array_equal(target[4:], data) and not target[:4].any()
        f.create_dataset("b", data=np.arange(5), chunks=(2,))
        assert sorted(lowlevel.dataset_names(f, lambda name: not name.startswith("a/d"))) == ["a/src", "b"]
        plain = lowlevel.open_uncached(f["b"])
        assert plain.id.get_access_plist().get_chunk_cache()[:2] == (0, 0) and plain[()].tolist() == [0, 1, 2, 3, 4]


def test_a_fletcher32_chunk_is_rewritten_in_place_and_its_values_read_unchecked(tmp_path: Path) -> None:
    path = tmp_path / "f.h5"
    with h5py.File(path, "w", libver=LIBVER) as f:
        d = f.create_dataset("x", shape=(0, 3), maxshape=(None, 3), chunks=(4, 3), dtype="<i8", fletcher32=True)
        d.resize(6, axis=0)
        d[:] = np.arange(18).reshape(6, 3)
        f.flush()
        where = d.id.get_chunk_info_by_coord((4, 0)).byte_offset
        d.resize(7, axis=0)
        d[6] = [18, 19, 20]
        f.flush()
        assert d.id.get_chunk_info_by_coord((4, 0)).byte_offset == where  # rewritten at its own address
        f.create_dataset("gz", data=np.arange(8), chunks=(4,), compression="gzip", fletcher32=True)
    with open(path, "r+b") as fh:  # a byte past the written rows: the checksum fails, the values stand
        fh.seek(where + 3 * 3 * 8)
        fh.write(b"\x01")
    with h5py.File(path, "r") as f:
        with pytest.raises(OSError):
            f["x"][4:]
        np.testing.assert_array_equal(lowlevel.unchecked_chunk(f["x"], 4)[:3], np.arange(12, 21).reshape(3, 3))
        np.testing.assert_array_equal(lowlevel.unchecked_chunk(f["x"], 0), np.arange(12).reshape(4, 3))
        assert lowlevel.unchecked_chunk(f["gz"], 0) is None  # compressed: its stored bytes are not its values


def test_lookup3_matches_the_published_values() -> None:
    # Bob Jenkins' lookup3.c driver: hashlittle("", 0) and hashlittle("Four score and seven years ago", 0)
    assert lowlevel.lookup3(b"") == 0xDEADBEEF
    assert lowlevel.lookup3(b"Four score and seven years ago") == 0x17770551
