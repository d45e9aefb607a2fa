"""Reader processes (``--workers N``): stage 1 of a run on every core, windows handed over in shared memory.

Each worker is a process started from a forkserver (never forked from a process that may hold
CUDA or the engine's threads) that has imported the reading stage once (:mod:`ecgspec.run.reading`:
readers, resampling, windowing; no torch). The main process hands it records, in run order,
over a pipe (up to :data:`IN_FLIGHT` ahead); in the worker one thread reads each one
(:func:`ecgspec.run.reading.read_events`) into a read-ahead of at most its share of
:data:`READ_AHEAD_BYTES`, and another sends the events back over another pipe, in order: a
record's windows are copied into the worker's ring of shared-memory slots and only the slot's
number, starts and flags travel through the pipe (no pickling of sample arrays); the record's
``/records`` row or its failure follow. The read-ahead is what keeps every core reading while the
run imports torch at its start and while it computes a batch.

The main process consumes records strictly in run order, so each worker's pipe is read in the
order its records were handed to it: the record the run waits for is always the oldest one its
worker has, and a slot is handed back (a semaphore) once the run has copied its windows into a
batch. Records go to the worker with the fewest in flight. A worker that dies (killed, out of
memory, a crash in a library) fails the record it was reading, with one line, and is replaced;
the records it had not started go to the replacement.
"""

from __future__ import annotations

import math
import multiprocessing
import queue
import signal
import threading
from collections import deque
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.shared_memory import SharedMemory
from typing import Any, Callable, Deque, Sequence

import numpy as np

from ..engine.config import InputConfig
from ..readers import RecordRef
from .options import ExtractOptions
from .reading import ReadFailed, RecordRead, Windows

__all__ = ["ReaderPool", "RecordStream", "map_in_processes", "processes_allowed", "start_server"]

SLOT_BYTES = 1 << 20  # a shared-memory slot: at least this, at least one window
SHM_BYTES = 32 << 20  # the slots of all workers together, about (at least SLOTS_MIN a worker)
SLOTS_MIN = 4  # slots per worker at least: windows one worker may have sent and the run not yet batched
READ_AHEAD_BYTES = 256 << 20  # windows all workers together may hold read ahead of the run (a worker: its share)
IN_FLIGHT = 1024  # records handed to one worker ahead of the one the run waits for (the byte budget binds first)
SEND_BATCH = 32  # records handed over in one message
PRELOAD = ["ecgspec.run.reading"]  # what the forkserver imports once, for every worker it starts
POLL_SECONDS = 0.1
MAP_CHUNK = 1000  # items of one task of map_in_processes


def context() -> Any:
    """The forkserver context (spawn where there is none), its server preloaded with the reading stage."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(PRELOAD)
        return ctx
    return multiprocessing.get_context("spawn")


def start_server() -> None:
    """Start the forkserver now, without waiting for it: it imports the reading stage while the run
    finds its records, and the first worker starts at once afterwards."""
    if context().get_start_method() == "forkserver":
        from multiprocessing import forkserver

        forkserver.ensure_running()


def processes_allowed() -> bool:
    """Whether this process may start reader processes (a daemonic one, such as a Dask worker's, may not)."""
    return not multiprocessing.current_process().daemon


def map_in_processes(func: Callable[..., list[Any]], items: Sequence[Any], n: int, *args: Any) -> list[Any]:
    """``func(chunk, *args)`` over chunks of ``items`` in ``n`` processes, the results joined in order."""
    from concurrent.futures import ProcessPoolExecutor

    size = max(1, min(MAP_CHUNK, -(-len(items) // (4 * n))))
    chunks = [items[i : i + size] for i in range(0, len(items), size)]
    with ProcessPoolExecutor(n, mp_context=context()) as pool:
        return [r for part in pool.map(func, chunks, *([a] * len(chunks) for a in args)) for r in part]


# -- in a worker ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Ring:
    """Where a worker's windows go: its slots in the run's shared memory."""

    shm_name: str
    first: int  # the worker's first slot in the block
    count: int  # its slots
    size: int  # bytes a slot


class _ReadAhead:
    """A worker's events read ahead of the run, in order, holding at most ``budget`` bytes of windows
    (one event always fits): the worker reads on while the run is busy (importing torch at the start,
    computing a batch later), and stops reading when the run falls that far behind."""

    def __init__(self, budget: int) -> None:
        self.budget, self.held = budget, 0
        self.events: Deque[Any] = deque()
        self.changed = threading.Condition()

    def put(self, event: Any) -> None:
        size = event[1].nbytes if isinstance(event, tuple) else 0
        with self.changed:
            while self.held and self.held + size > self.budget:
                self.changed.wait()
            self.events.append(event)
            self.held += size
            self.changed.notify_all()

    def get(self) -> Any:
        with self.changed:
            while not self.events:
                self.changed.wait()
            return self.events.popleft()

    def sent(self, event: Windows) -> None:
        """``event``'s windows are in shared memory: their bytes no longer count."""
        with self.changed:
            self.held -= event[1].nbytes
            self.changed.notify_all()


def _take_tasks(tasks: Connection, todo: "queue.SimpleQueue[RecordRef | None]", gone: threading.Event) -> None:
    """A worker's task thread: empties the task pipe as records are handed over, so that the run
    never waits to hand one over while this worker waits on the run; None once told to stop, and
    ``gone`` set when the pipe closes without it (the run's process died, even one left a zombie)."""
    try:
        while (refs := tasks.recv()) is not None:
            for ref in refs:
                todo.put(ref)
    except (EOFError, OSError):
        gone.set()
    todo.put(None)


def _read_loop(todo: "queue.SimpleQueue[RecordRef | None]", ahead: _ReadAhead, config: InputConfig,
               options: ExtractOptions) -> None:
    """A worker's reading thread: every record handed over, into ``ahead``; None at the end."""
    from .reading import read_events

    while (ref := todo.get()) is not None:
        for event in read_events(ref, config, options):
            ahead.put(event)
    ahead.put(None)


def _worker_main(tasks: Connection, events: Connection, ring: _Ring, free: Any, budget: int, config: InputConfig,
                 options: ExtractOptions) -> None:
    """A worker: one thread takes the records handed over (:func:`_take_tasks`), one reads them ahead
    (:func:`_read_loop`), and this one sends their events in order, windows through the
    shared-memory slots, until told to stop (None)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the main process stops the run, and then its workers
    shm = SharedMemory(ring.shm_name)
    ahead = _ReadAhead(budget)
    todo: "queue.SimpleQueue[RecordRef | None]" = queue.SimpleQueue()
    gone = threading.Event()
    threading.Thread(target=_take_tasks, args=(tasks, todo, gone), daemon=True).start()
    threading.Thread(target=_read_loop, args=(todo, ahead, config, options), daemon=True).start()
    slot = 0
    try:
        while (event := ahead.get()) is not None:
            if isinstance(event, tuple):
                slot = _send_windows(event, events, shm, ring, slot, free, gone)
                if slot < 0:
                    return
                ahead.sent(event)
            else:
                events.send(event)
    except (EOFError, BrokenPipeError, KeyboardInterrupt):
        return  # the run is gone
    finally:
        shm.close()


def _send_windows(windows: Windows, events: Connection, shm: SharedMemory, ring: _Ring, slot: int, free: Any,
                  gone: threading.Event) -> int:
    """Copy windows into the next free slots, as many as fit in each, and say so; the next slot (-1: run gone)."""
    starts, values, qc = windows
    per_slot = max(1, ring.size // max(1, values[0].nbytes))
    for i in range(0, len(starts), per_slot):
        while not free.acquire(timeout=POLL_SECONDS):
            if gone.is_set():
                return -1
        k = min(per_slot, len(starts) - i)
        offset = (ring.first + slot) * ring.size
        np.ndarray((k, *values.shape[1:]), np.float32, buffer=shm.buf, offset=offset)[...] = values[i : i + k]
        # starts and flags as bytes: pickling two small arrays cost more than the rest of the message
        events.send((slot, starts[i : i + k].astype(np.int64).tobytes(), qc[i : i + k].astype(np.uint8).tobytes()))
        slot = (slot + 1) % ring.count
    return slot


# -- in the run -----------------------------------------------------------------------------------


@dataclass
class _Worker:
    process: Any
    tasks: Connection
    events: Connection
    free: Any
    queued: Deque[int] = field(default_factory=deque)  # run-order numbers handed to it, not yet consumed
    unsent: list[RecordRef] = field(default_factory=list)  # its records not yet sent (a batch fills up)

    def send_tasks(self) -> None:
        if self.unsent:
            self.tasks.send(self.unsent)
            self.unsent = []


class RecordStream:
    """One record's events from its worker, for the run that consumes them in order (``get`` as a queue has)."""

    def __init__(self, pool: ReaderPool, worker: int, seq: int) -> None:
        self.pool, self.worker, self.seq = pool, worker, seq
        self._held = False  # a slot whose windows the run is batching

    def get(self, timeout: float = POLL_SECONDS) -> Windows | RecordRead | ReadFailed:
        """The next event; the windows of the previous one are taken (copied) by then. Raises ``queue.Empty``
        on ``timeout``."""
        self._release()
        event = self.pool.receive(self.worker, self.seq, timeout)
        if event is None:
            raise queue.Empty
        self._held = isinstance(event, tuple)
        return event

    def _release(self) -> None:
        if self._held:
            self._held = False
            self.pool.release(self.worker)


class ReaderPool:
    """``n`` reader processes for one run (see the module's docstring); a context manager."""

    def __init__(self, n: int, config: InputConfig, options: ExtractOptions) -> None:
        window_bytes = 4 * config["n_channels"] * config["n_samples"]
        self.slot_bytes = math.ceil(max(SLOT_BYTES, window_bytes) / 4096) * 4096
        self.slots = max(SLOTS_MIN, SHM_BYTES // (n * self.slot_bytes))  # a worker's
        self.budget = max(READ_AHEAD_BYTES // n, window_bytes)  # a worker's read-ahead
        self.config, self.options = config, options
        self.ctx = context()
        self.shm = SharedMemory(create=True, size=n * self.slots * self.slot_bytes)
        self.workers: list[_Worker] = []
        self.refs: dict[int, RecordRef] = {}  # what was handed over, for a replacement worker
        try:
            for index in range(n):
                self.workers.append(self._start(index))
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> ReaderPool:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _start(self, index: int) -> _Worker:
        tasks_out, tasks_in = self.ctx.Pipe(duplex=False)[::-1]  # (send end, recv end) -> ours, theirs
        events_in, events_out = self.ctx.Pipe(duplex=False)
        free = self.ctx.Semaphore(self.slots)
        ring = _Ring(self.shm.name, index * self.slots, self.slots, self.slot_bytes)
        process = self.ctx.Process(
            target=_worker_main, name=f"ecgspec-reader-{index}", daemon=True,
            args=(tasks_in, events_out, ring, free, self.budget, self.config, self.options),
        )
        process.start()
        tasks_in.close()
        events_out.close()
        return _Worker(process, tasks_out, events_in, free)

    def submit(self, seq: int, ref: RecordRef) -> RecordStream:
        """Hand record number ``seq`` (run order, increasing) to the least busy worker; its event stream."""
        index = min(range(len(self.workers)), key=lambda i: len(self.workers[i].queued))
        worker = self.workers[index]
        worker.queued.append(seq)
        self.refs[seq] = ref
        worker.unsent.append(ref)
        if len(worker.unsent) >= SEND_BATCH:
            worker.send_tasks()
        return RecordStream(self, index, seq)

    @property
    def depth(self) -> int:
        """Records to keep handed over ahead of the one the run consumes."""
        return IN_FLIGHT * len(self.workers)

    def receive(self, index: int, seq: int, timeout: float) -> Any:
        """The next event of record ``seq`` on worker ``index``, None on timeout. The view of a slot's
        windows is valid until the slot is released."""
        worker = self.workers[index]
        try:
            if not worker.events.poll(0):  # an event ready (the usual case) is read at once
                for each in self.workers:  # the run is about to wait: every record handed over goes out
                    each.send_tasks()
                if not worker.events.poll(timeout):
                    return None
            event = worker.events.recv()
        except (EOFError, OSError):
            return self._died(index, seq)
        if isinstance(event, tuple):
            slot, start_bytes, qc_bytes = event
            starts, qc = np.frombuffer(start_bytes, np.int64), np.frombuffer(qc_bytes, np.uint8)
            shape = (len(starts), self.config["n_channels"], self.config["n_samples"])
            offset = (index * self.slots + slot) * self.slot_bytes
            return starts, np.ndarray(shape, np.float32, buffer=self.shm.buf, offset=offset), qc
        if worker.queued and worker.queued[0] == seq:
            worker.queued.popleft()
            self.refs.pop(seq, None)
        return event

    def release(self, index: int) -> None:
        """The run has copied the windows of the oldest slot it holds of worker ``index``."""
        self.workers[index].free.release()

    def _died(self, index: int, seq: int) -> ReadFailed:
        """Worker ``index`` died reading record ``seq``: that record fails; a new worker takes the others."""
        old = self.workers[index]
        old.process.join(timeout=1.0)
        code = old.process.exitcode
        how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit status {code}"
        pending = [s for s in old.queued if s != seq]
        for conn in (old.tasks, old.events):
            conn.close()
        self.workers[index] = new = self._start(index)
        new.queued.extend(pending)
        new.unsent = [self.refs[s] for s in pending]
        new.send_tasks()
        self.refs.pop(seq, None)
        return ReadFailed(f"its reader process died ({how})")

    def close(self) -> None:
        """Stop the workers (at once: the run is over or stopping) and free the shared memory."""
        for worker in self.workers:
            try:
                worker.tasks.send(None)
            except (OSError, ValueError):
                pass
        for worker in self.workers:
            worker.process.join(timeout=0.5)
            if worker.process.is_alive():
                worker.process.terminate()
                worker.process.join(timeout=1.0)
            for conn in (worker.tasks, worker.events):
                conn.close()
        self.workers = []
        self.shm.close()
        self.shm.unlink()
