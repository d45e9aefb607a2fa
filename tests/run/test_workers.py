"""Reader processes (``--workers N``): the same file for any N, a dead worker costs one record, no torch
in a worker, ``--workers 0`` in one process."""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

import ecgspec
from ecgspec.readers import RecordRef, find_records
from ecgspec.run import pipeline, reader_process, workers
from ecgspec.run.backend import RecordEvents
from ecgspec.run.events import ReadFailed, RecordRead, Windows
from ecgspec.run.limits import LIMITS
from ecgspec.run.options import ExtractOptions, available_cpus, build_settings
from ecgspec.run.settings import Settings, resolve
from ecgspec.run.workers import ProcessBackend

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


@pytest.mark.parametrize("n", [1, 2, pytest.param(3, marks=pytest.mark.slow)])  # 3: as 2, one more process
def test_any_number_of_workers_writes_the_same_file_as_one_process(tmp_path: Path, mixed: Path, n: int) -> None:
    one = tmp_path / "one.h5"
    ecgspec.extract(mixed, one, CPSC, stride=700, workers=0, log=lambda m: None)
    many = tmp_path / "many.h5"
    result = ecgspec.extract(mixed, many, CPSC, stride=700, workers=n, log=lambda m: None)
    assert result.records == 6 and len(result.errors) == 2  # the broken two, named
    assert_same_file(one, many)


def long_ref(wfdb_dir: Path) -> RecordRef:
    return RecordRef("100", wfdb_dir / "100.hea", "wfdb")


def pool_settings(stride: int) -> Settings:
    return resolve(*build_settings({}, {"n_channels": 2, "fs": 360, "n_samples": 1000}, {"stride": stride}))


def pool(n: int, settings: Settings, **limits: int) -> ProcessBackend:
    return ProcessBackend(n, settings.read, dataclasses.replace(settings.limits, **limits))


def next_event(events: RecordEvents) -> Windows | RecordRead | ReadFailed:
    event = events.get(60)
    assert event is not None, "no event in 60 s"
    return event


def drain(events: RecordEvents, first: object = None) -> list:
    """A record's events from ``first`` (else the next) to its last; windows copied, their slots released."""
    out = [first if first is not None else next_event(events)]
    while isinstance(out[-1], Windows):
        held = out[-1]
        out[-1] = Windows(np.copy(held.starts), np.copy(held.values), np.copy(held.qc))
        held.release()
        out.append(next_event(events))
    return out


def test_a_worker_that_dies_fails_its_record_and_a_new_one_reads_the_rest(wfdb_dir: Path, cpsc_dir: Path) -> None:
    settings = pool_settings(stride=10)  # MIT-BIH 100 in 64,901 windows: far more than the slots hold
    short = find_records([cpsc_dir])[0][0]
    with pool(1, settings) as readers:
        stream = readers.start(long_ref(wfdb_dir))
        after = readers.start(short)
        first = next_event(stream)
        assert isinstance(first, Windows) and first.values.shape[1:] == (2, 1000)
        readers.workers[0].process.kill()  # while it waits for the slots the run holds
        events = drain(stream)
        assert isinstance(events[-1], ReadFailed) and "reader process died (killed by signal 9)" in events[-1].message
        first.release()  # a slot of the dead worker: its replacement's slots are its own
        rest = drain(after)
        assert isinstance(rest[-1], RecordRead) and rest[-1].row.name == short.name
        assert rest[-1].row.n_windows == sum(len(e) for e in rest[:-1]) > 0
        assert readers.workers[0].free.get_value() == readers.slots  # every slot free again, none twice


def test_windows_through_shared_memory_equal_windows_read_here(wfdb_dir: Path) -> None:
    from ecgspec.run.reading import read_events

    settings = pool_settings(stride=997)
    ref = long_ref(wfdb_dir)
    here = [e for e in read_events(ref, settings.read)]
    with pool(2, settings) as readers:
        there = drain(readers.start(ref))
    cat = [np.concatenate([getattr(e, f) for e in events[:-1]]) for events in (here, there)
           for f in ("starts", "values", "qc")]
    for mine, theirs in zip(cat[:3], cat[3:]):
        assert np.array_equal(mine, theirs)
    assert len(there) > 3 and here[-1] == there[-1]


def test_a_slot_is_the_runs_until_it_is_released(wfdb_dir: Path) -> None:
    """The run holds a slot as long as it holds its Windows: the worker neither writes over it nor
    sends more windows than it has free slots; release() hands it back, and the windows go on."""
    settings = pool_settings(stride=10)
    with pool(1, settings, slots_min=2, shm_bytes=0, slot_bytes=8000) as readers:  # 2 slots of one window
        assert readers.slots == 2
        stream = readers.start(long_ref(wfdb_dir))
        held = [next_event(stream), next_event(stream)]
        copies = [np.copy(w.values) for w in held]
        assert stream.get(1.0) is None  # both slots held: nothing more comes
        assert all(np.array_equal(w.values, c) for w, c in zip(held, copies))  # and nothing was overwritten
        held[0].release()
        held[0].release()  # once only: a second release hands back nothing
        third = next_event(stream)
        assert isinstance(third, Windows) and third.starts[0] == held[1].starts[-1] + 10
        assert stream.get(1.0) is None and np.array_equal(held[1].values, copies[1])


def test_a_worker_imports_no_torch_and_is_not_forked_from_the_run(wfdb_dir: Path) -> None:
    settings = pool_settings(stride=1000)
    with pool(1, settings) as readers:
        drain(readers.start(long_ref(wfdb_dir)))
        pid = readers.workers[0].process.pid
        maps = Path(f"/proc/{pid}/maps").read_text()
        parent = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    assert "libtorch" not in maps  # (nor h5py: tests/test_package_layout.py, as this test's forkserver may
    # be another test's, preloaded with more)
    assert parent != os.getpid()  # a forkserver's child: never a fork of a process that may hold CUDA


def test_workers_zero_reads_in_this_process(tmp_path: Path, cpsc_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("a reader process was started")

    monkeypatch.setattr(pipeline, "ProcessBackend", refuse)
    result = ecgspec.extract(cpsc_dir, tmp_path / "o.h5", CPSC, workers=0, log=lambda m: None)
    assert result.records == 18 and not multiprocessing.active_children()


def test_default_workers_are_the_cpus_this_process_may_use() -> None:
    assert ExtractOptions().workers == available_cpus() == len(os.sched_getaffinity(0))
    assert ExtractOptions(workers=0).workers == 0
    with pytest.raises(ecgspec.ConfigError):
        ExtractOptions(workers=-1)


def test_dry_run_in_processes_counts_as_the_threads_do(cpsc_dir: Path) -> None:
    from ecgspec.run import plan

    settings = resolve(*build_settings({}, CPSC, {"stride": 700}))
    refs = find_records([cpsc_dir])[0]
    threads = plan.outcomes(refs, settings.read, 0)
    processes = plan.outcomes(refs, settings.read, settings.options.workers,
                              dataclasses.replace(LIMITS, process_min_records=1))
    assert processes == threads and sum(n for n, _ in threads) > len(refs)
    assert settings.options.workers > 0 and workers.processes_allowed()


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
    threading.Thread(target=reader_process.take_tasks, args=(receive, todo, gone), daemon=True).start()
    send.close()  # the run is gone without a word
    shm = SharedMemory(create=True, size=1 << 16)
    try:
        ring = reader_process.Ring(shm.name, 0, 1, 1 << 16)
        windows = Windows(np.zeros(1, np.int64), np.zeros((1, 2, 8), np.float32), np.zeros(1, np.uint8))
        start = time.monotonic()
        assert reader_process.send_windows(0, windows, events, shm, ring, 0, multiprocessing.Semaphore(0), gone,
                                           0.1) == -1
        assert time.monotonic() - start < 2 and todo.get(timeout=1) is None
    finally:
        shm.close()
        shm.unlink()
