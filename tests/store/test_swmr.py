"""Superblock flag clearing, lookup3, the writer lock, and kills of a writer at many random points."""

from __future__ import annotations

import multiprocessing
import os
import signal
import struct
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from ecgspec.store import layout, reader
from ecgspec.store.layout import OutputError
from ecgspec.store.lowlevel import clear_status_flags, lookup3, status_flags, superblock_version
from ecgspec.store.swmr import LockHeld, WriterLock, writer_alive
from tests.helpers.store import compute, fake_records, run, writer

FORK = multiprocessing.get_context("fork")


def stored_checksum(path: Path) -> tuple[int, bytes]:
    """The superblock's stored checksum and the bytes it covers (v2/v3 superblock at byte 0)."""
    block = path.read_bytes()[:48]
    end = 12 + 4 * block[9]
    return struct.unpack_from("<I", block, end)[0], block[:end]


def test_lookup3_matches_the_published_vectors_and_hdf5s_own_checksums(tmp_path: Path) -> None:
    # from lookup3.c's driver5: hashlittle("", 0, 0) and "Four score and seven years ago"
    assert lookup3(b"") == 0xDEADBEEF
    assert lookup3(b"Four score and seven years ago") == 0x17770551
    assert lookup3(b"Four score and seven years ago", 1) == 0xCD628161
    for i, libver in enumerate(("latest", ("v110", "v110"))):  # superblocks HDF5 itself wrote and checksummed
        path = tmp_path / f"f{i}.h5"
        with h5py.File(path, "w", libver=libver) as f:
            f.create_dataset("x", data=np.arange(1000 * (i + 1)))
        assert superblock_version(path) == 3
        stored, covered = stored_checksum(path)
        assert lookup3(covered) == stored


def _die_writing(path: Path) -> None:
    f = h5py.File(path, "w", libver=("v110", "v110"))
    d = f.create_dataset("x", shape=(0,), maxshape=(None,), chunks=(64,), dtype="i8")
    f.swmr_mode = True
    d.resize(100, axis=0)
    d[:] = np.arange(100)
    f.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def test_clearing_the_flags_of_a_killed_writer_lets_hdf5_open_it_again(tmp_path: Path) -> None:
    path = tmp_path / "killed.h5"
    child = FORK.Process(target=_die_writing, args=(path,))
    child.start()
    child.join(30)
    assert child.exitcode == -signal.SIGKILL
    with pytest.raises(OSError, match="already open for write"):
        h5py.File(path, "a")
    assert path.read_bytes()[11] != 0
    assert clear_status_flags(path) is True
    stored, covered = stored_checksum(path)
    assert lookup3(covered) == stored and path.read_bytes()[11] == 0
    with h5py.File(path, "a") as f:  # HDF5 accepts the new checksum and appends
        assert f["x"][()].tolist() == list(range(100))
        f["x"].resize(101, axis=0)
    assert clear_status_flags(path) is False  # a cleanly closed file has nothing to clear


def test_clearing_refuses_what_it_does_not_understand(tmp_path: Path) -> None:
    old = tmp_path / "old.h5"
    with h5py.File(old, "w") as f:  # libver earliest: superblock v0
        f["x"] = 1
    garbage = tmp_path / "garbage.h5"
    garbage.write_bytes(os.urandom(100))
    bad_sum = tmp_path / "bad.h5"
    with h5py.File(bad_sum, "w", libver="latest") as f:
        f["x"] = 1
    data = bytearray(bad_sum.read_bytes())
    data[20] ^= 1
    bad_sum.write_bytes(bytes(data))
    for path, message in ((old, "version 2 or 3"), (garbage, "version 2 or 3"), (bad_sum, "checksum")):
        before = path.read_bytes()
        with pytest.raises(ValueError, match=message):
            clear_status_flags(path)
        assert path.read_bytes() == before


def _hold_lock(path: Path, ready: "multiprocessing.synchronize.Event") -> None:
    WriterLock(path)
    ready.set()
    time.sleep(60)


def test_lock_tells_a_live_writer_from_a_dead_one(tmp_path: Path) -> None:
    path = tmp_path / "out.h5.partial.lock"
    ready = FORK.Event()
    child = FORK.Process(target=_hold_lock, args=(path, ready))
    child.start()
    assert ready.wait(30)
    with pytest.raises(LockHeld, match=f"pid {child.pid} on "):
        WriterLock(path)
    os.kill(child.pid, signal.SIGKILL)  # the kernel drops its flock
    child.join(30)
    assert path.exists()
    lock = WriterLock(path)
    lock.release()
    assert not path.exists()


def test_a_second_writer_of_a_live_output_is_refused_and_changes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out.h5"
    first = writer(out)
    compute(first, fake_records(["a"])[0])
    first.flush()
    partial = layout.partial_path(out)
    before = partial.read_bytes()
    for kwargs in ({"resume": True}, {"overwrite": True}):
        with pytest.raises(OutputError, match="another run is writing it: pid"):
            writer(out, **kwargs)
    assert partial.read_bytes() == before
    first.close()
    with writer(out, resume=True) as again:
        assert again.done_names == {"a"}


def test_an_older_ecgspec_partial_is_started_over_with_one_warning(tmp_path: Path) -> None:
    out = tmp_path / "out.h5"
    partial = layout.partial_path(out)
    with h5py.File(partial, "w") as f:  # as ecgspec 0.1 wrote it: default libver, no /committed
        f.create_dataset("spectrograms", data=np.zeros((1, 2, 5, 7), np.float32))
    legacy = out.with_name("out.h5.partial.prev")
    legacy.write_bytes(b"old")
    w = writer(out, resume=True)
    assert w.done_names == set() and len(w.warnings) == 2
    assert "older ecgspec" in w.warnings[0] and "out.h5.partial.prev" in w.warnings[1]
    run(w, fake_records(["a"]))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.h5"]


def test_a_writer_is_alive_while_the_process_its_lock_names_runs(tmp_path: Path) -> None:
    lock = tmp_path / "out.h5.partial.lock"
    assert not writer_alive(lock)  # no lock file
    held = WriterLock(lock)
    assert writer_alive(lock)  # this process
    held.release(unlink=False)
    child = FORK.Process(target=time.sleep, args=(0,))
    child.start()
    child.join()
    lock.write_text(f"pid {child.pid} on {os.uname().nodename}\n")
    assert not writer_alive(lock)  # gone
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    try:
        time.sleep(0.2)  # a zombie until reaped: dead
        lock.write_text(f"pid {pid} on {os.uname().nodename}\n")
        assert not writer_alive(lock)
    finally:
        os.waitpid(pid, 0)
    lock.write_text("pid 1 on another-host.example\n")
    assert writer_alive(lock)  # another host's: cannot be seen from here, so it may live


def test_a_file_whose_writer_died_finishing_it_is_refused_at_once(tmp_path: Path) -> None:
    out = run(writer(tmp_path / "out.h5"), fake_records(["a", "b"]))
    opened = FORK.Event()
    child = FORK.Process(target=_hold_open_without_swmr, args=(out, opened))
    child.start()
    assert opened.wait(30)
    os.kill(child.pid, signal.SIGKILL)  # its write flag stays set, without SWMR: as a kill while finishing leaves it
    child.join()
    assert status_flags(out) == 1, status_flags(out)
    layout.lock_path(out).write_text(f"pid {child.pid} on {os.uname().nodename}\n")
    began = time.monotonic()
    with pytest.raises(OSError, match="not already open for SWMR writing"):
        layout.open_for_reading(out)
    assert time.monotonic() - began < layout.LOCK_WAIT / 2  # no wait for a writer that is gone


def _hold_open_without_swmr(path: Path, opened) -> None:
    file = h5py.File(path, "a", libver="v110")
    file.flush()  # (the flush writes the superblock's status flags)
    opened.set()
    time.sleep(60)


N_KILL = 40


def _write_forever(out: Path, names: list[str], resume: bool, commits=None) -> None:
    """Write the records (those not kept), a commit point after each: most of the time goes to flushes.

    ``commits`` (a shared counter) counts the commit points, so the parent can kill at a point
    of the writer's progress rather than of the wall clock, which a loaded machine stretches.
    """
    w = writer(out, shape=(12, 16, 40), resume=resume)
    for record in fake_records(names, shape=(12, 16, 40)):
        if record.row.name not in w.done_names:
            compute(w, record)
            w.flush()
            if commits is not None:  # no lock: a kill while the child held it left the parent waiting forever
                commits.value += 1
    w.finish()


def _kill_point(rng: np.random.Generator, i: int, commits, child) -> None:
    """Wait for the i-th kill: every fourth at a random early moment (opening, resuming), the
    others after a random number of commit points and then a random fraction of one more
    (inside a flush as often as not)."""
    if i % 4 == 0:
        time.sleep(float(rng.uniform(0.0, 0.3)))
        return
    start = commits.value
    steps = int(rng.integers(1, 25))
    began = time.monotonic()
    while commits.value < start + steps and child.is_alive() and time.monotonic() - began < 60:
        time.sleep(0.001)
    per_commit = (time.monotonic() - began) / steps
    time.sleep(float(rng.uniform(0.0, per_commit)))


@pytest.mark.slow
def test_kills_at_many_random_points_then_resume_equals_a_fresh_run(tmp_path: Path) -> None:
    names = [f"r{i:04d}" for i in range(2000)]
    out = tmp_path / "out.h5"
    rng = np.random.default_rng(12)
    commits = FORK.Value("q", 0, lock=False)  # written by the one live child, read by this process
    kept = []
    for i in range(N_KILL):
        child = FORK.Process(target=_write_forever, args=(out, names, i > 0, commits))
        child.start()
        _kill_point(rng, i, commits, child)
        os.kill(child.pid, signal.SIGKILL)
        child.join(30)
        if out.exists():
            break
        if layout.partial_path(out).exists():
            try:
                with reader.open(layout.partial_path(out), allow_partial=True) as ds:  # valid at every kill
                    kept.append(len(ds.records["name"]))
                    assert ds.records["name"].tolist() == names[: kept[-1]]
            except OutputError as exc:  # killed in the milliseconds a resume reopens it: only resume can read it
                assert "not already open for SWMR writing" in str(exc)
                kept.append(-1)
    child = FORK.Process(target=_write_forever, args=(out, names, True))
    child.start()
    child.join(300)  # a hang, not a slow machine (a commit point a record: over 60 s on a loaded one)
    assert child.exitcode == 0 and out.exists()
    # kills part way at many distinct points (the kills follow the writer's commits, so a
    # loaded machine changes when they come, not where)
    assert len(kept) >= 10 and len(set(kept) - {-1, 0}) >= 10
    fresh = tmp_path / "fresh.h5"
    w = writer(fresh, shape=(12, 16, 40))
    for record in fake_records(names, shape=(12, 16, 40)):
        compute(w, record)
    w.finish()
    with reader.open(out) as a, reader.open(fresh) as b:
        assert a.records["name"].tolist() == names
        for key in a.records:
            assert np.array_equal(a.records[key], b.records[key]), key
        assert np.array_equal(a.windows["start"], b.windows["start"])
        assert np.array_equal(a.spectrograms[()], b.spectrograms[()])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fresh.h5", "out.h5"]

