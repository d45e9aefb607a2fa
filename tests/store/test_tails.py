"""A partial file's last chunks torn by a kill: their committed rows kept, checked by the tails' CRCs.

Each commit point rewrites the last chunk of every growing dataset, committed rows and all; a kill
inside that write fails the chunk's Fletcher32 though its committed rows are intact. Here the
bytes past the committed rows of such a chunk are changed (what a torn rewrite leaves): every
committed record still reads, ``verify`` finds nothing, and ``--resume`` keeps them all and ends
equal to a clean run. A change inside the committed rows is still damage.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

import ecgspec
from ecgspec.store import tails
from ecgspec.store.layout import RecordRow
from ecgspec.store.verify import verify_file
from tests.helpers.compare import assert_same
from tests.helpers.store import CONFIG, chunks, compute, fake_records, flip, run, writer

SHAPE = (2, 32, 32)  # 8 KiB a window: 256 windows a chunk
NAMES = [f"rec{i:04d}" for i in range(40)]
SIGNALS_CONFIG = {**CONFIG, "n_bins": 16, "store": "signals"}  # an engine's config: n_fft 30 >= its 25-sample window
SIGNALS_SHAPE = (2, 16, 385)
TORN = ("spectrograms", "windows/record", "records/fs", "records/lead_mask", "staged/records/ends",
        "staged/records/text")


@pytest.fixture(scope="module")
def partial(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A partial file of NAMES (its writer closed, as a killed one leaves it after a commit point)."""
    folder = tmp_path_factory.mktemp("partial")
    w = writer(folder / "out.h5", SHAPE, durable=False)
    for record in fake_records(NAMES, SHAPE):
        compute(w, record)
    w.close()
    return folder / "out.h5.partial"


def torn_copy(partial: Path, folder: Path, name: str, committed: bool) -> Path:
    """A copy of ``partial`` with a bit of dataset ``name``'s last chunk changed: past its committed rows (a
    torn rewrite), or (``committed``) in its last committed row (damage)."""
    folder.mkdir()
    copy = folder / partial.name
    shutil.copy(partial, copy)
    with h5py.File(partial, "r", swmr=True) as f:
        names = [n.lstrip("/") for n in json.loads(f[tails.TAILS].attrs["datasets"])]
        rows = int(f[tails.TAILS][names.index(name), 0])
        step, item = f[name].chunks[0], int(np.prod(f[name].chunks[1:], dtype=int)) * f[name].dtype.itemsize
    first, at, size = chunks(partial, name)[-1]
    assert first <= rows - 1 < first + step and (rows - first) < step, name  # the last chunk holds uncommitted room
    flip(copy, at + (rows - first - (1 if committed else 0)) * item)
    return copy


@pytest.mark.parametrize("name", TORN)
def test_a_last_chunk_torn_past_its_committed_rows_loses_none_of_them(partial: Path, tmp_path: Path,
                                                                      name: str) -> None:
    copy = torn_copy(partial, tmp_path / "torn", name, committed=False)
    with h5py.File(copy, "r", swmr=True) as f, pytest.raises(OSError, match="filter returned failure"):
        f[name][()]  # the chunk fails its checksum as a whole
    with ecgspec.open(partial, allow_partial=True) as a, ecgspec.open(copy, allow_partial=True) as b:
        assert b.records["name"].tolist() == NAMES
        for column, values in a.records.items():
            np.testing.assert_array_equal(b.records[column], values, err_msg=column)
        np.testing.assert_array_equal(b.windows["record"], a.windows["record"])
    assert not verify_file(copy).damage


def test_the_loader_reads_the_windows_of_a_torn_last_chunk(partial: Path, tmp_path: Path) -> None:
    copy = torn_copy(partial, tmp_path / "torn", "spectrograms", committed=False)
    with ecgspec.open(partial, allow_partial=True) as a, ecgspec.open(copy, allow_partial=True) as b:
        assert len(b) == len(a) > 0
        np.testing.assert_array_equal(b.__getitems__(list(range(len(b))))[-1][0], a[len(a) - 1][0])
        for i in range(len(a)):
            np.testing.assert_array_equal(b[i][0], a[i][0])


@pytest.mark.parametrize("name", ("records/fs", "staged/records/text"))
def test_a_change_in_a_last_chunks_committed_rows_is_still_damage(partial: Path, tmp_path: Path, name: str) -> None:
    copy = torn_copy(partial, tmp_path / "damaged", name, committed=True)
    assert verify_file(copy).damage
    with ecgspec.open(copy, allow_partial=True) as ds:
        assert len(ds.records["name"]) < len(NAMES)  # the records before the damaged chunk (here: none)


@pytest.mark.parametrize("name", ("spectrograms", "records/n_windows", "staged/records/text"))
def test_a_resume_of_a_torn_last_chunk_keeps_every_record_and_equals_a_clean_run(partial: Path, tmp_path: Path,
                                                                                 name: str) -> None:
    records = fake_records([*NAMES, "rec0040", "rec0041"], SHAPE)
    (tmp_path / "clean").mkdir()
    clean = run(writer(tmp_path / "clean" / "out.h5", SHAPE, durable=False), records)
    copy = torn_copy(partial, tmp_path / "torn", name, committed=False)
    w = writer(copy.parent / "out.h5", SHAPE, durable=False, resume=True)
    assert w.done_names == set(NAMES) and w.repaired == () and not w.warnings
    out = run(w, records)
    assert_same(out, clean)
    assert not verify_file(out).damage


@pytest.fixture(scope="module")
def signals_partial(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A partial ``--store signals`` file of 30 records of 6,200 samples (a chunk holds 5,000: its last one
    has room), two windows each."""
    folder = tmp_path_factory.mktemp("signals")
    w = writer(folder / "out.h5", SIGNALS_SHAPE, config=SIGNALS_CONFIG, durable=False)
    rng = np.random.default_rng(0)
    for i in range(30):
        w.write_signal(w.next_record_row, rng.random((6200, 2), dtype=np.float32))
        w.write_windows(np.full(2, w.next_record_row), np.array([0, 1200]), None)
        w.commit_record(RecordRow(f"sig{i:03d}", "x.hea", 500.0, 6200, "I,II", 2, 0, "500.0,500.0"))
    w.close()
    return folder / "out.h5.partial"


@pytest.mark.parametrize("name", ("signals", "records/signal_offset"))
def test_a_signals_files_torn_last_chunk_loses_no_record(signals_partial: Path, tmp_path: Path, name: str) -> None:
    copy = torn_copy(signals_partial, tmp_path / "torn", name, committed=False)
    assert not verify_file(copy).damage
    with ecgspec.open(copy, allow_partial=True) as ds:
        assert ds.records["name"].tolist() == [f"sig{i:03d}" for i in range(30)]
        assert ds.records["signal_offset"].tolist() == [6200 * i for i in range(30)]
    with ecgspec.open(signals_partial, allow_partial=True) as a, ecgspec.open(copy, allow_partial=True) as b:
        assert len(b) == len(a) > 0
        for i in (0, len(a) - 1):  # the last window's samples lie in the torn chunk
            np.testing.assert_array_equal(b[i][0], a[i][0])
    w = writer(copy.parent / "out.h5", SIGNALS_SHAPE, config=SIGNALS_CONFIG, durable=False, resume=True)
    assert len(w.done_names) == 30 and w.repaired == ()
    w.close()
    with h5py.File(copy, "r", swmr=True) as f:
        assert f["signals"].shape == (186000, 2)
        f["signals"][()]  # healed: its checksum holds again
