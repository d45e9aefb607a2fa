"""A partial file HDF5 loops on is never waited on: `info` and `open` give one line, `--resume` starts over.

The damage is the kind HDF5 loops on: the committed names' global-heap collection with its
objects after the first zeroed (a zeroed page of a disk or a copy), where parsing meets a
zero-length object header and never advances. (The names of a finished file, here one being
resumed: a partial file keeps the strings of the rows it adds out of the global heap.) Plain h5py hangs on it; ecgspec reads it
first in a child process with a deadline (ecgspec.store.probe).
"""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

import ecgspec
from ecgspec.store.layout import OutputError, RecordRow
from ecgspec.store.writer import SpectrogramWriter
from tests.helpers.store import SMALL as SHAPE
from tests.helpers.store import new_writer

ROOT = Path(__file__).resolve().parents[2]
NAMES = [f"rec{i:02d}" for i in range(30)]




def add(w: SpectrogramWriter, name: str) -> None:
    rng = np.random.default_rng(list(name.encode()))
    w.write_windows(np.full(2, w.next_record_row), np.array([0, 2500]), rng.random((2, *SHAPE), dtype=np.float32))
    w.commit_record(RecordRow(name, f"/data/{name}.hea", 500.0, 5000, "I,II", 2, 0, "500.0,500.0"))


def looping_partial(folder: Path) -> Path:
    """A partial of 20 committed records whose names' collection is zeroed after its first object: a finished
    file being resumed (its names are HDF5 strings, where a new partial stages them as plain bytes)."""
    w = new_writer(folder / "out.h5")
    for name in NAMES[:20]:
        add(w, name)
    w.finish()
    new_writer(folder / "out.h5", resume=True).close()
    partial = folder / "out.h5.partial"
    with h5py.File(partial, "r") as f:
        _, raw = f["records/name"].id.read_direct_chunk((0,))
    _, address, _ = struct.unpack_from("<IQI", raw, 0)  # the first name's cell: length, collection, index
    data = bytearray(partial.read_bytes())
    assert data[address : address + 4] == b"GCOL"
    size = struct.unpack_from("<Q", data, address + 8)[0]
    first = address + 16  # the collection's first object: header (16 bytes) and its data, 8-aligned
    first_size = struct.unpack_from("<Q", data, first + 8)[0]
    start = first + 16 + -(-first_size // 8) * 8
    data[start : address + size] = bytes(address + size - start)
    partial.write_bytes(bytes(data))
    return partial


def child(code: str, *args: str, seconds: float, **env: str) -> subprocess.CompletedProcess | None:
    """Run ``python -c code args`` from the worktree; None if it had not ended after ``seconds``."""
    try:
        return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=seconds,
                              cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT), **env))
    except subprocess.TimeoutExpired:
        return None


@pytest.fixture
def partial(tmp_path: Path) -> Path:
    return looping_partial(tmp_path)


@pytest.mark.slow  # (waits its 10 s on any machine)
def test_plain_h5py_hangs_on_it(partial: Path) -> None:
    code = "import h5py, sys; f = h5py.File(sys.argv[1], 'r', swmr=True); f['records/name'][:]"
    assert child(code, str(partial), seconds=10) is None


def test_info_is_one_line_within_the_deadline(partial: Path) -> None:
    began = time.monotonic()
    done = child("from ecgspec.cli import run; run()", "info", str(partial), seconds=60, ECGSPEC_PROBE_SECONDS="3")
    assert done is not None and time.monotonic() - began < 30
    assert done.returncode == 2 and done.stdout == "" and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith(f"ecgspec: error: {partial}: reading it did not finish within 3 s: damaged")


@pytest.mark.slow  # waits out its 3 s deadline, as test_info_is_one_line_within_the_deadline does through the CLI
def test_open_allow_partial_is_an_output_error_within_the_deadline(partial: Path, monkeypatch) -> None:
    monkeypatch.setenv("ECGSPEC_PROBE_SECONDS", "3")
    began = time.monotonic()
    with pytest.raises(OutputError, match="did not finish within 3 s: damaged"):
        ecgspec.open(partial, allow_partial=True)
    assert time.monotonic() - began < 30


@pytest.mark.slow  # waits out its 3 s deadline, then two runs
def test_resume_starts_it_over_with_one_warning_and_equals_an_uninterrupted_run(
    partial: Path, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("ECGSPEC_PROBE_SECONDS", "3")
    w = new_writer(tmp_path / "out.h5", resume=True)
    assert w.done_names == set() and len(w.warnings) == 1
    assert w.warnings[0].startswith(f"ignoring {partial}: unreadable (reading it did not finish within 3 s")
    for name in NAMES:
        add(w, name)
    w.finish()
    (tmp_path / "fresh").mkdir()
    fresh = new_writer(tmp_path / "fresh" / "out.h5")
    for name in NAMES:
        add(fresh, name)
    fresh.finish()
    with h5py.File(tmp_path / "out.h5", "r") as a, h5py.File(tmp_path / "fresh" / "out.h5", "r") as b:
        for key in ("spectrograms", "windows/record", "windows/start", *(f"records/{k}" for k in b["records"])):
            assert np.array_equal(a[key][()], b[key][()]), key


def test_a_sound_partial_answers_quickly_and_a_finished_file_is_not_probed(tmp_path: Path, monkeypatch) -> None:
    from ecgspec.store import probe

    w = new_writer(tmp_path / "out.h5")
    for name in NAMES[:5]:
        add(w, name)
    w.close()
    partial = tmp_path / "out.h5.partial"
    assert probe.needs_probe(partial)
    began = time.monotonic()
    with ecgspec.open(partial, allow_partial=True) as ds:
        assert ds.records["name"].tolist() == NAMES[:5]
    assert time.monotonic() - began < 10
    w = new_writer(tmp_path / "out.h5", resume=True)
    w.finish()
    assert not probe.needs_probe(tmp_path / "out.h5")
    calls = []
    monkeypatch.setattr(probe, "_fork_reader", lambda *args: calls.append(args))
    with ecgspec.open(tmp_path / "out.h5", allow_partial=True) as ds:
        assert len(ds.records["name"]) == 5 and calls == []


def test_the_deadline_comes_from_a_measured_healthy_read_and_stays_under_5_s_at_10_gb(tmp_path: Path,
                                                                                      monkeypatch) -> None:
    from ecgspec.store import probe

    monkeypatch.delenv("ECGSPEC_PROBE_SECONDS", raising=False)
    big = tmp_path / "big.h5.partial"
    big.write_bytes(b"")
    os.truncate(big, 10 * 10**9)  # sparse: 10 GB that take no room
    reference = probe.reference_seconds(fork=True)
    assert 0 < reference < 1  # a fork reading a small file: milliseconds, a loaded machine's included
    seconds = probe.deadline_seconds(big, fork=True)
    assert seconds == pytest.approx(probe.FLOOR_SECONDS + probe.REFERENCE_TIMES * reference + 10 * probe.SECONDS_PER_GB)
    assert seconds < 4.5
    monkeypatch.setattr(probe, "_measured", {True: (0.5, time.monotonic())})  # a machine 25x slower
    assert probe.deadline_seconds(big, fork=True) == pytest.approx(2 + 4 * 0.5 + 1.5)


@pytest.mark.slow  # waits out the deadline at 10 GB (5 s); the deadline's arithmetic is the test above
def test_info_tells_a_damaged_10_gb_partial_within_5_s_without_a_set_deadline(tmp_path: Path, monkeypatch) -> None:
    from ecgspec.store.summary import describe

    monkeypatch.delenv("ECGSPEC_PROBE_SECONDS", raising=False)
    partial = looping_partial(tmp_path)
    os.truncate(partial, 10 * 10**9)  # as large as 10 GB (sparse): the deadline's size term at its largest
    began = time.monotonic()
    with pytest.raises(OutputError, match="did not finish within . s: damaged"):
        describe(partial)
    assert time.monotonic() - began < 5
