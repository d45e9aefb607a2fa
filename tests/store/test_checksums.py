"""Checksummed output: a damaged chunk or string is never read as good data.

Every numeric dataset is written with HDF5's Fletcher32 filter and every string dataset of a
finished file holds CRC-32s of its rows; ``ecgspec verify`` names the records whose stored rows
are damaged, ``--resume`` computes them again, and the loader's error names them.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

import ecgspec
from ecgspec.store.checksums import ROOT_ATTR, STRING_ATTR
from ecgspec.store.layout import OutputError
from ecgspec.store.verify import record_names, verify_file
from tests.helpers.compare import assert_same
from tests.helpers.paths import benchmark
from tests.helpers.store import chunks, compute, fake_records, flip, run, writer

ROOT = Path(__file__).resolve().parents[2]
SHAPE = (2, 32, 32)  # 8 KiB a window: 256 windows a chunk
NAMES = [f"rec{i:04d}" for i in range(400)]


def build(path: Path, names: list[str] = NAMES, **kwargs) -> Path:
    """A finished output of ``names`` (1-4 windows each, values fixed by name), no fsync."""
    return run(writer(path, SHAPE, durable=False, **kwargs), fake_records(names, SHAPE))


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("finished") / "out.h5")


def owners(path: Path, first: int, rows: int) -> set[str]:
    """The names of the records with windows in rows ``[first, first + rows)``."""
    with h5py.File(path, "r") as f:
        record = f["windows/record"][first : first + rows]
        return set(record_names(f, np.unique(record).tolist()))  # a partial file's staged names too


# -- the layout -------------------------------------------------------------------------------


def test_every_numeric_dataset_has_fletcher32_and_every_string_dataset_its_crcs(finished: Path) -> None:
    with h5py.File(finished, "r") as f:
        assert f.attrs[ROOT_ATTR] is np.True_ or bool(f.attrs[ROOT_ATTR]) is True
        found = []

        def visit(name: str, obj: object) -> None:
            if isinstance(obj, h5py.Dataset):
                found.append(name)
                if h5py.check_string_dtype(obj.dtype):
                    assert STRING_ATTR in obj.attrs and obj.attrs["crc32_rows"] == obj.shape[0], name
                else:
                    assert obj.fletcher32, name

        f.visititems(visit)
        assert {"spectrograms", "windows/record", "records/n_windows", "committed", "frequencies",
                "records/name", "errors/name", "records/lead_mask"} <= set(found)


def test_checksums_with_compression_too(tmp_path: Path) -> None:
    path = build(tmp_path / "out.h5", NAMES[:50], compression="gzip")
    with h5py.File(path, "r") as f:
        assert f["spectrograms"].compression == "gzip" and f["spectrograms"].fletcher32
    _, at, size = chunks(path, "spectrograms")[0]
    flip(path, at + size // 2, 3)
    assert verify_file(path).damaged


def test_a_file_written_before_reads_as_before_and_verify_says_it_has_no_checksums(finished: Path,
                                                                                  tmp_path: Path) -> None:
    old = tmp_path / "old.h5"
    with h5py.File(finished, "r") as src, h5py.File(old, "w", libver=("v110", "v110")) as dst:
        def copy(name: str, obj: object) -> None:
            if isinstance(obj, h5py.Dataset):
                dst.create_dataset(name, data=obj[()], dtype=obj.dtype, chunks=obj.chunks,
                                   maxshape=obj.maxshape if obj.chunks else None)
                dst[name].attrs.update({k: v for k, v in obj.attrs.items() if not k.startswith("crc32")})
        src.visititems(copy)
        dst.attrs.update({k: v for k, v in src.attrs.items() if k != ROOT_ATTR})
    with ecgspec.open(old) as a, ecgspec.open(finished) as b:
        assert np.array_equal(a.spectrograms[:], b.spectrograms[:])
    report = verify_file(old)
    assert not report.checksummed and not report.damage
    done = cli("verify", str(old))
    assert done.returncode == 0 and "written without checksums" in done.stderr


# -- verify -----------------------------------------------------------------------------------


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", "from ecgspec.cli import run; run()", *args], capture_output=True,
                          text=True, cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, timeout=120)


def test_verify_of_a_sound_file_exits_0_and_imports_no_torch(finished: Path) -> None:
    code = ("import sys; from ecgspec.cli import main; sys.argv = ['ecgspec', 'verify', sys.argv[1]]\n"
            "try:\n    main()\nexcept SystemExit as e:\n    assert e.code in (0, None), e.code\n"
            "assert 'torch' not in sys.modules")
    done = subprocess.run([sys.executable, "-c", code, str(finished)], capture_output=True, text=True, cwd=ROOT,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "" and "400 records" in done.stderr and "no damage" in done.stderr


def test_verify_names_the_records_of_a_damaged_chunk_and_exits_1(finished: Path, tmp_path: Path) -> None:
    path = tmp_path / "out.h5"
    shutil.copy(finished, path)
    first, at, size = chunks(path, "spectrograms")[2]
    flip(path, at + 100, 5)
    done = cli("verify", str(path))
    assert done.returncode == 1, done.stderr
    assert set(done.stdout.split()) == owners(path, first, 256)
    assert f"/spectrograms rows {first}-{first + 255} fail their checksum" in done.stderr
    assert "--resume" in done.stderr.splitlines()[-1]


def test_verify_of_an_unreadable_file_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "junk.h5").write_bytes(b"not hdf5" * 100)
    for path in (tmp_path / "junk.h5", tmp_path / "absent.h5"):
        done = cli("verify", str(path))
        assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
        assert done.stderr.startswith(f"ecgspec: error: {path}")


@pytest.mark.slow
def test_verify_finds_every_one_of_50_single_bit_flips_and_none_in_the_undamaged_file(tmp_path: Path) -> None:
    summary = benchmark("fuzz_verify").fuzz(50, seed=31, n_records=300, folder=tmp_path)
    print(summary.line())
    assert summary.cases == summary.found == 50, summary.failures
    assert summary.false_alarms == 0


# -- the loader ---------------------------------------------------------------------------------


def test_the_loader_error_names_the_records_and_the_repair(finished: Path, tmp_path: Path) -> None:
    path = tmp_path / "out.h5"
    shutil.copy(finished, path)
    first, at, _ = chunks(path, "spectrograms")[1]
    flip(path, at + 7)
    names = owners(path, first, 256)
    with ecgspec.open(path) as ds:
        ds.__getitems__([0, 1])  # another chunk reads
        with pytest.raises(OutputError) as caught:
            ds.__getitems__([first + 3])
    message = str(caught.value)
    assert f"/spectrograms rows {first}-{first + 255} fail their checksum" in message
    assert all(name in message for name in sorted(names)[:10]) and "ecgspec verify" in message
    assert "--resume" in message and "\n" not in message


# -- resume -------------------------------------------------------------------------------------


@pytest.mark.slow
def test_resume_computes_records_with_flipped_committed_rows_again_and_equals_a_clean_run(tmp_path: Path) -> None:
    records = fake_records(NAMES, SHAPE)
    (tmp_path / "clean").mkdir()
    clean = run(writer(tmp_path / "clean" / "out.h5", SHAPE, durable=False), records)
    out = tmp_path / "out.h5"
    w = writer(out, SHAPE, durable=False)
    for record in records[:300]:
        compute(w, record)
    w.close()
    partial = tmp_path / "out.h5.partial"
    first, at, size = chunks(partial, "spectrograms")[1]
    flip(partial, at + size // 3, 6)
    damaged = owners(partial, first, 256)
    w = writer(out, SHAPE, durable=False, resume=True)
    assert set(w.repaired) == damaged and len(w.warnings) == 1 and "failed their checksum" in w.warnings[0]
    assert not (w.done_names & damaged) and len(w.done_names) == min(NAMES.index(n) for n in damaged)
    run(w, records)
    assert_same(out, clean)


@pytest.mark.slow
def test_extract_resume_repairs_a_finished_file_and_says_so(cinc_dir: Path, tmp_path: Path) -> None:
    import json

    from tests.helpers.cli import extract
    from tests.helpers.corpus import OPTIONS

    out, clean = tmp_path / "out.h5", tmp_path / "clean.h5"
    assert extract(cinc_dir, clean, *OPTIONS, "--quiet").exit_code == 0
    shutil.copy(clean, out)
    first, at, size = chunks(out, "spectrograms")[-1]
    damaged = owners(out, first, 10**6)
    flip(out, at + size // 2, 1)
    done = extract(cinc_dir, out, *OPTIONS, "--resume", "--json")
    assert done.exit_code == 0, done.stderr
    assert set(json.loads(done.stdout)["repaired"]) == damaged
    assert f"{len(damaged)} repaired (their stored rows failed their checksum" in done.stderr
    assert_same(out, clean)


@pytest.mark.slow  # 12 s: three runs of up to 5,200 records (past a block of 4,096 strings)
def test_string_crcs_of_a_file_resumed_with_more_records_equal_a_clean_runs(tmp_path: Path) -> None:
    names = [f"r{i:05d}" for i in range(5200)]  # over one block of 4096 strings before and after
    records = fake_records(names)
    (tmp_path / "clean").mkdir()
    clean = run(writer(tmp_path / "clean" / "out.h5", durable=False), records)
    first = run(writer(tmp_path / "out.h5", durable=False), records[:4500])
    w = writer(tmp_path / "out.h5", durable=False, resume=True)
    assert len(w.done_names) == 4500
    run(w, records)
    with h5py.File(first, "r") as a, h5py.File(clean, "r") as b:
        for name in ("records/name", "records/comments", "errors/name"):
            assert a[name].attrs["crc32_rows"] == b[name].attrs["crc32_rows"], name
            assert np.array_equal(a[name].attrs[STRING_ATTR], b[name].attrs[STRING_ATTR]), name
    assert not verify_file(first).damage


def test_records_added_to_a_finished_file_check_only_the_blocks_appending_rewrites(finished: Path,
                                                                                 tmp_path: Path) -> None:
    spectrograms = chunks(finished, "spectrograms")
    for k, (first, at, size) in ((0, spectrograms[0]), (1, spectrograms[-1])):
        out = tmp_path / str(k) / "out.h5"
        out.parent.mkdir()
        shutil.copy(finished, out)
        flip(out, at + size // 2)
        damaged = owners(out, first, 256)
        w = writer(out, SHAPE, durable=False, resume=True)
        if k == 0:  # a chunk appending leaves alone: kept as it is (ecgspec verify and every reader see it)
            assert len(w.done_names) == len(NAMES) and w.repaired == ()
        else:  # the last chunk, which appending rewrites: checked, its records computed again
            assert set(w.repaired) == damaged and not w.done_names & damaged
        w.close()


def test_a_flipped_bit_in_a_partial_files_staged_strings_is_repaired(tmp_path: Path) -> None:
    records = fake_records(NAMES[:100], SHAPE)
    (tmp_path / "clean").mkdir()
    clean = run(writer(tmp_path / "clean" / "out.h5", SHAPE, durable=False), records)
    w = writer(tmp_path / "out.h5", SHAPE, durable=False)
    for record in records[:80]:
        compute(w, record)
    w.close()
    partial = tmp_path / "out.h5.partial"
    with h5py.File(partial, "r") as f:
        ends = f["staged/records/ends"][()][:, -1]
    row = 57
    _, at, _ = chunks(partial, "staged/records/text")[0]
    flip(partial, at + int(ends[row - 1]) + 2)  # a byte of record 57's cells (one chunk holds all the text)
    w = writer(tmp_path / "out.h5", SHAPE, durable=False, resume=True)
    # the text's one chunk holds every cell, the names' too: the records are named by their rows
    assert w.repaired == tuple(f"row {i}" for i in range(80)) and not w.done_names
    run(w, records)
    assert_same(tmp_path / "out.h5", clean)


def test_a_partial_with_a_damaged_column_chunk_reads_the_records_before_it_a_finished_one_says_damaged(
        finished: Path, tmp_path: Path) -> None:
    w = writer(tmp_path / "out.h5", SHAPE, durable=False)
    for record in fake_records(NAMES[:40], SHAPE):
        compute(w, record)
    w.close()
    partial = tmp_path / "out.h5.partial"
    _, at, size = chunks(partial, "records/fs")[0]  # one chunk holds every record's fs: a kill tore its rewrite
    flip(partial, at + 3)
    with ecgspec.open(partial, allow_partial=True) as ds:
        assert len(ds.records["name"]) == 0 and len(ds) == 0
    out = tmp_path / "finished.h5"
    shutil.copy(finished, out)
    _, at, _ = chunks(out, "records/fs")[0]
    flip(out, at + 3)
    with pytest.raises(OutputError, match="damaged; `ecgspec verify"):
        assert ecgspec.open(out).records is None  # (reading the table raises)
