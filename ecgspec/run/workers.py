"""Reader processes (``--workers N``), the run's side: :class:`ProcessBackend`, and the processes' start.

The design is in :mod:`ecgspec.run.backend` (read it first); what runs inside a process is
:mod:`ecgspec.run.reader_process`. Each worker is a process started from a forkserver (never forked
from a process that may hold CUDA or the engine's threads) that has imported the reading stage once
(no torch, no h5py). Records go to the worker with the fewest in flight, as ``(seq, ref)`` batches
over its task pipe; its events come back over its event pipe as ``(seq, event)`` messages, in the
order its records were handed to it, so the record the run waits for is always the oldest its
worker has. Windows arrive in the worker's ring of shared-memory slots; the run releases a slot
(a semaphore count) once it has copied its windows. A worker that dies (killed, out of memory, a
crash in a library) fails the record it was reading, with one line, and is replaced; the records
it had not finished go to the replacement.

A process being started imports the script that started the run (multiprocessing's rule for a
forkserver or spawn): a script that calls ``extract`` at its top level, without ``if __name__ ==
"__main__":``, would run it again in each. :func:`exit_if_importing_main` (the run's first step)
ends such a process at once, silently, with :data:`UNGUARDED_MAIN`; the run sees that status and
raises :class:`~ecgspec.errors.MainNotGuarded`, one line (as ``DataLoader`` reports its workers).
"""

from __future__ import annotations

import math
import multiprocessing
import os
import sys
from collections import deque
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.shared_memory import SharedMemory
from typing import Any, Callable, Deque, Sequence

import numpy as np

from ..errors import MainNotGuarded
from ..readers import RecordRef
from ..signal.spec import ReadSpec
from .backend import ReaderBackend
from .events import END_EVENTS, ReadEvent, ReadFailed, Windows
from .limits import LIMITS, Limits
from .reader_process import Ring, SlotFilled, worker_main

__all__ = ["ProcessBackend", "UNGUARDED_MAIN", "exit_if_importing_main", "main_not_guarded", "main_runs_extract",
           "map_in_processes", "processes_allowed", "start_server"]

PRELOAD = ["ecgspec.run.reader_process"]  # what the forkserver imports once, for every worker it starts
UNGUARDED_MAIN = 87  # the exit status of a process whose import of the script started a run (no other cause)


def exit_if_importing_main() -> None:
    """End this process now, printing nothing, with status :data:`UNGUARDED_MAIN` if it is a process
    still starting up (importing the script that started it: ``_inheriting``, multiprocessing's own
    test for this): the script's top level has called ``extract``. Its parent reports it, once."""
    if getattr(multiprocessing.current_process(), "_inheriting", False):
        os._exit(UNGUARDED_MAIN)


def main_not_guarded(cluster: bool = False) -> MainNotGuarded:
    """The error for a run whose processes exited with :data:`UNGUARDED_MAIN`, naming the script; ``cluster``:
    local:N's Dask workers (``workers=0`` does not help there)."""
    script = getattr(sys.modules.get("__main__"), "__file__", None) or "the script"
    which, other = ("local:N's Dask worker processes", "") if cluster else ("the reader processes",
                                                                           ", or pass workers=0 (reader threads)")
    return MainNotGuarded(f"{which} cannot start: each imports {script}, which calls extract at its top level;"
                          f' call it under `if __name__ == "__main__":`{other}')


def main_runs_extract() -> bool:
    """Whether a process started as the workers are ends with :data:`UNGUARDED_MAIN` (for a pool or a
    cluster, which do not say how their processes ended)."""
    return _probe_exit() == UNGUARDED_MAIN


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


def map_in_processes(func: Callable[..., list[Any]], items: Sequence[Any], n: int, *args: Any,
                     chunk: int = LIMITS.map_chunk) -> list[Any]:
    """``func(part, *args)`` over parts of ``items`` (at most ``chunk`` each) in ``n`` processes, the
    results joined in order."""
    from concurrent.futures.process import BrokenProcessPool, ProcessPoolExecutor

    size = max(1, min(chunk, -(-len(items) // (4 * n))))
    parts = [items[i : i + size] for i in range(0, len(items), size)]
    try:
        with ProcessPoolExecutor(n, mp_context=context()) as pool:
            return [r for part in pool.map(func, parts, *([a] * len(parts) for a in args)) for r in part]
    except BrokenProcessPool:
        if main_runs_extract():
            raise main_not_guarded() from None
        raise


def _probe_exit() -> int | None:
    """The exit status of a process started as the pool's are, doing nothing once started."""
    probe = context().Process(target=int, name="ecgspec-probe", daemon=True)
    probe.start()
    probe.join(timeout=60.0)
    return probe.exitcode


@dataclass
class _Worker:
    process: Any
    tasks: Connection
    events: Connection
    free: Any  # a semaphore: the worker's free slots
    queued: Deque[int] = field(default_factory=deque)  # run-order numbers handed to it, not yet consumed
    unsent: list[tuple[int, RecordRef]] = field(default_factory=list)  # (seq, ref) not yet sent (a batch fills up)

    def send_tasks(self) -> None:
        if self.unsent:
            self.tasks.send(self.unsent)
            self.unsent = []


class ProcessBackend(ReaderBackend):
    """``n`` reader processes for one run (see the module's docstring)."""

    def __init__(self, n: int, spec: ReadSpec, limits: Limits) -> None:
        super().__init__(spec, limits)
        window_bytes = 4 * spec.n_channels * spec.cut.window
        self.window_shape = (spec.n_channels, spec.cut.window)
        self.slot_bytes = math.ceil(max(limits.slot_bytes, window_bytes) / 4096) * 4096
        self.slots = max(limits.slots_min, limits.shm_bytes // (n * self.slot_bytes))  # a worker's
        self.budget = max(limits.read_ahead_bytes // n, window_bytes)  # a worker's read-ahead
        self.depth = limits.in_flight * n
        self.ctx = context()
        self.shm = SharedMemory(create=True, size=n * self.slots * self.slot_bytes)
        self.workers: list[_Worker] = []
        self.refs: dict[int, RecordRef] = {}  # what was handed over, for a replacement worker
        self.owner: dict[int, int] = {}  # seq -> the index of the worker reading it (a replacement keeps it)
        try:
            for index in range(n):
                self.workers.append(self._spawn(index))
        except BaseException:
            self.close()
            raise

    def _spawn(self, index: int) -> _Worker:
        tasks_out, tasks_in = self.ctx.Pipe(duplex=False)[::-1]  # (send end, recv end) -> ours, theirs
        events_in, events_out = self.ctx.Pipe(duplex=False)
        free = self.ctx.Semaphore(self.slots)
        ring = Ring(self.shm.name, index * self.slots, self.slots, self.slot_bytes)
        process = self.ctx.Process(
            target=worker_main, name=f"ecgspec-reader-{index}", daemon=True,
            args=(tasks_in, events_out, ring, free, self.budget, self.spec, self.limits.poll_seconds),
        )
        process.start()
        tasks_in.close()
        events_out.close()
        return _Worker(process, tasks_out, events_in, free)

    def _submit(self, seq: int, ref: RecordRef) -> None:
        """Hand record ``seq`` to the least busy worker."""
        index = min(range(len(self.workers)), key=lambda i: len(self.workers[i].queued))
        worker = self.workers[index]
        worker.queued.append(seq)
        self.refs[seq], self.owner[seq] = ref, index
        worker.unsent.append((seq, ref))
        if len(worker.unsent) >= self.limits.send_batch:
            worker.send_tasks()

    def next_event(self, seq: int, timeout: float) -> ReadEvent | None:
        """Record ``seq``'s next event from its worker; a ``Windows`` is a view of a slot until released."""
        index = self.owner[seq]
        worker = self.workers[index]
        try:
            if not worker.events.poll(0):  # an event ready (the usual case) is read at once
                for each in self.workers:  # the run is about to wait: every record handed over goes out
                    each.send_tasks()
                if not worker.events.poll(timeout):
                    return None
            sent, message = worker.events.recv()
        except (EOFError, OSError):
            return self._died(index, seq)
        assert sent == seq, f"reader {index} sent record {sent} while the run waits for {seq}"
        if isinstance(message, SlotFilled):
            return self._windows(index, worker, message)
        if isinstance(message, END_EVENTS):
            worker.queued.popleft()
            del self.refs[seq], self.owner[seq]
        return message

    def _windows(self, index: int, worker: _Worker, message: SlotFilled) -> Windows:
        """The windows a worker put in a slot, as a view of it; released to that worker (not to its index:
        a replacement has slots of its own)."""
        starts, qc = np.frombuffer(message.starts, np.int64), np.frombuffer(message.qc, np.uint8)
        offset = (index * self.slots + message.slot) * self.slot_bytes
        values = np.ndarray((len(starts), *self.window_shape), np.float32, buffer=self.shm.buf, offset=offset)
        return Windows(starts, values, qc, on_release=worker.free.release)

    def _died(self, index: int, seq: int) -> ReadFailed:
        """Worker ``index`` died reading record ``seq``: that record fails; a new worker takes the others."""
        old = self.workers[index]
        old.process.join(timeout=1.0)
        code = old.process.exitcode
        if code == UNGUARDED_MAIN:
            raise main_not_guarded()
        how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit status {code}"
        pending = [s for s in old.queued if s != seq]
        for conn in (old.tasks, old.events):
            conn.close()
        self.workers[index] = new = self._spawn(index)
        new.queued.extend(pending)
        new.unsent = [(s, self.refs[s]) for s in pending]
        new.send_tasks()
        del self.refs[seq], self.owner[seq]
        return ReadFailed(f"its reader process died ({how})")

    # the shutdown protocol's steps (ReaderBackend.close)

    def _tell_stop(self) -> None:
        for worker in self.workers:
            try:
                worker.tasks.send(None)
            except (OSError, ValueError):
                pass

    def _end_workers(self, seconds: float) -> None:
        for worker in self.workers:
            worker.process.join(timeout=seconds)
            if worker.process.is_alive():
                worker.process.terminate()
                worker.process.join(timeout=1.0)
            for conn in (worker.tasks, worker.events):
                conn.close()
        self.workers = []

    def _free(self) -> None:
        self.shm.close()
        self.shm.unlink()
