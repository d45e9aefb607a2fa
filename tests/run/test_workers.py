"""Reader processes (``--workers N``): the same file for any N, a dead worker costs one record, no torch
in a worker, ``--workers 0`` in one process."""

from __future__ import annotations

import multiprocessing
import os
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

import ecgspec
from ecgspec.readers import RecordRef, find_records
from ecgspec.run import readahead, workers
from ecgspec.run.options import ExtractOptions, available_cpus, build_settings
from ecgspec.run.reading import ReadFailed, RecordRead
from ecgspec.run.workers import ReaderPool

CPSC = {"n_channels": 2, "fs": 200, "n_samples": 2000, "n_bins": 32, "window_size": 0.04, "overlap_size": 0.02}


def contents(path: Path) -> dict[str, object]:
    """Every dataset's values and every root attribute of an output, for an exact comparison."""
    out: dict[str, object] = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: out.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
        out.update({f"@{k}": v for k, v in f.attrs.items()})
    return out


def assert_same_file(a: Path, b: Path) -> None:
    x, y = contents(a), contents(b)
    assert sorted(x) == sorted(y)
    for key in x:
        assert np.array_equal(np.asarray(x[key]), np.asarray(y[key])), key


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory, cpsc_dir: Path) -> Path:
    """The CPSC records (long, many windows each), one with its signal file cut short, one header broken."""
    folder = tmp_path_factory.mktemp("mixed")
    for f in sorted(cpsc_dir.iterdir())[:16]:
        shutil.copy(f, folder / f.name)
    dat = sorted(folder.glob("*.dat"))[3]
    dat.write_bytes(dat.read_bytes()[:1000])  # truncated: a record error
    hea = sorted(folder.glob("*.hea"))[5]
    hea.write_text("not a header\n")
    return folder


@pytest.mark.parametrize("n", [1, 2, 3])
def test_any_number_of_workers_writes_the_same_file_as_one_process(tmp_path: Path, mixed: Path, n: int) -> None:
    one = tmp_path / "one.h5"
    ecgspec.extract(mixed, one, CPSC, stride=700, workers=0, log=lambda m: None)
    many = tmp_path / "many.h5"
    result = ecgspec.extract(mixed, many, CPSC, stride=700, workers=n, log=lambda m: None)
    assert result.records == 6 and len(result.errors) == 2  # the broken two, named
    assert_same_file(one, many)


def long_ref(wfdb_dir: Path) -> RecordRef:
    return RecordRef("100", wfdb_dir / "100.hea", "wfdb")


def pool_settings(stride: int) -> tuple:
    return build_settings({}, {"n_channels": 2, "fs": 360, "n_samples": 1000}, {"stride": stride})


def test_a_worker_that_dies_fails_its_record_and_a_new_one_reads_the_rest(wfdb_dir: Path, cpsc_dir: Path) -> None:
    config, options = pool_settings(stride=10)  # MIT-BIH 100 in 64,901 windows: far more than the slots hold
    short = find_records([cpsc_dir])[0][0]
    with ReaderPool(1, config, options) as pool:
        stream = pool.submit(0, long_ref(wfdb_dir))
        after = pool.submit(1, short)
        first = stream.get(timeout=60)
        assert isinstance(first, tuple) and first[1].shape[1:] == (2, 1000)
        pool.workers[0].process.kill()  # while it waits for the slots the run holds
        events = [stream.get(timeout=60)]
        while isinstance(events[-1], tuple):
            events.append(stream.get(timeout=60))
        assert isinstance(events[-1], ReadFailed) and "reader process died (killed by signal 9)" in events[-1].message
        rest = [after.get(timeout=60)]
        while isinstance(rest[-1], tuple):
            rest.append(after.get(timeout=60))
        assert isinstance(rest[-1], RecordRead) and rest[-1].row.name == short.name
        assert rest[-1].row.n_windows == sum(len(e[0]) for e in rest[:-1]) > 0


def test_windows_through_shared_memory_equal_windows_read_here(wfdb_dir: Path) -> None:
    from ecgspec.run.reading import read_events

    config, options = pool_settings(stride=997)
    ref = long_ref(wfdb_dir)
    here = [e for e in read_events(ref, config, options)]
    with ReaderPool(2, config, options) as pool:
        stream = pool.submit(0, ref)
        there = []
        while not there or isinstance(there[-1], tuple):
            event = stream.get(timeout=60)
            there.append(tuple(np.copy(a) for a in event) if isinstance(event, tuple) else event)
    cat = [np.concatenate([e[i] for e in events[:-1]]) for events in (here, there) for i in range(3)]
    for mine, theirs in zip(cat[:3], cat[3:]):
        assert np.array_equal(mine, theirs)
    assert here[-1] == there[-1]


def test_a_worker_imports_no_torch_and_is_not_forked_from_the_run(wfdb_dir: Path) -> None:
    config, options = pool_settings(stride=1000)
    with ReaderPool(1, config, options) as pool:
        stream = pool.submit(0, long_ref(wfdb_dir))
        while isinstance(stream.get(timeout=60), tuple):
            pass
        pid = pool.workers[0].process.pid
        maps = Path(f"/proc/{pid}/maps").read_text()
        parent = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    assert "libtorch" not in maps
    assert parent != os.getpid()  # a forkserver's child: never a fork of a process that may hold CUDA


def test_workers_zero_reads_in_this_process(tmp_path: Path, cpsc_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("a reader process was started")

    monkeypatch.setattr(readahead, "ReaderPool", refuse)
    result = ecgspec.extract(cpsc_dir, tmp_path / "o.h5", CPSC, workers=0, log=lambda m: None)
    assert result.records == 18 and not multiprocessing.active_children()


def test_default_workers_are_the_cpus_this_process_may_use() -> None:
    assert ExtractOptions().workers == available_cpus() == len(os.sched_getaffinity(0))
    assert ExtractOptions(workers=0).workers == 0
    with pytest.raises(ecgspec.ConfigError):
        ExtractOptions(workers=-1)


def test_dry_run_in_processes_counts_as_the_threads_do(cpsc_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ecgspec.run import plan

    config, options = build_settings({}, CPSC, {"stride": 700})
    refs = find_records([cpsc_dir])[0]
    threads = plan.outcomes(refs, config, ExtractOptions(stride=700, workers=0))
    monkeypatch.setattr(plan, "PROCESS_MIN_RECORDS", 1)
    assert plan.outcomes(refs, config, options) == threads and sum(n for n, _ in threads) > len(refs)
    assert workers.processes_allowed()


def test_a_worker_waiting_for_a_slot_stops_once_the_run_is_gone(tmp_path: Path) -> None:
    """The run's process died (SIGKILL: its task pipe closes without the stop message, and a zombie
    still answers ``kill(pid, 0)``): a worker waiting for a free slot gives up at once, so the
    processes that share the run's output pipes exit and a pipeline reading them does not hang."""
    import queue
    import threading
    import time
    from multiprocessing.shared_memory import SharedMemory

    receive, send = multiprocessing.Pipe(duplex=False)
    events, _ = multiprocessing.Pipe(duplex=False)
    todo: queue.SimpleQueue = queue.SimpleQueue()
    gone = threading.Event()
    threading.Thread(target=workers._take_tasks, args=(receive, todo, gone), daemon=True).start()
    send.close()  # the run is gone without a word
    shm = SharedMemory(create=True, size=1 << 16)
    try:
        ring = workers._Ring(shm.name, 0, 1, 1 << 16)
        windows = (np.zeros(1, np.int64), np.zeros((1, 2, 8), np.float32), np.zeros(1, np.uint8))
        start = time.monotonic()
        assert workers._send_windows(windows, events, shm, ring, 0, multiprocessing.Semaphore(0), gone) == -1
        assert time.monotonic() - start < 2 and todo.get(timeout=1) is None
    finally:
        shm.close()
        shm.unlink()
