"""Inside a reader process (``--workers N``): records in over one pipe, their events out over another.

Started by :class:`ecgspec.run.workers.ProcessBackend` from a forkserver that has imported this
module (and so the reading stage) once; no torch, no h5py. :func:`worker_main` runs three threads:

- :func:`take_tasks` empties the task pipe as records are handed over (``(seq, ref)`` pairs, a
  batch a message; None: stop), so the run never waits to hand one over while this worker waits
  on the run; a pipe closed without None means the run's process is gone;
- :func:`read_loop` reads each record (:func:`ecgspec.run.reading.read_events`) into a
  :class:`ReadAhead` of at most ``budget`` bytes of windows: the worker reads on while the run
  imports torch at its start or computes a batch, and stops when the run falls that far behind;
- the main thread sends the events in order as ``(seq, event)`` messages: a record's windows are
  copied into this worker's ring of shared-memory slots, and only a :class:`SlotFilled` (the slot,
  starts and flags) travels through the pipe; ``RecordRead`` and ``ReadFailed`` go as they are.
  A slot is reused once the run has released it (one semaphore count a slot).
"""

from __future__ import annotations

import queue
import signal
import threading
from collections import deque
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.shared_memory import SharedMemory
from typing import Any, Deque

import numpy as np

from ..readers import RecordRef
from ..signal.spec import ReadSpec
from .events import ReadEvent, SignalBlock, Windows
from .reading import read_events

__all__ = ["Ring", "SlotFilled", "ReadAhead", "send_windows", "take_tasks", "worker_main"]

Task = tuple[int, RecordRef]  # (seq, ref): record number seq of the run, in run order
Tagged = tuple[int, ReadEvent]  # (seq, event)


@dataclass(frozen=True)
class Ring:
    """Where a worker's windows go: its slots in the run's shared memory."""

    shm_name: str
    first: int  # the worker's first slot in the block
    count: int  # its slots
    size: int  # bytes a slot


@dataclass(frozen=True)
class SlotFilled:
    """The message for windows a worker put in slot ``slot`` of its ring: their starts (int64) and
    flags (uint8) as bytes (pickling two small arrays cost more than the rest of the message)."""

    slot: int
    starts: bytes
    qc: bytes


class ReadAhead:
    """A worker's events read ahead of the run, in order, holding at most ``budget`` bytes of windows
    (one event always fits)."""

    def __init__(self, budget: int) -> None:
        self.budget, self.held = budget, 0
        self.events: Deque[Tagged | None] = deque()
        self.changed = threading.Condition()

    def put(self, item: Tagged | None) -> None:
        size = item[1].values.nbytes if item is not None and isinstance(item[1], (Windows, SignalBlock)) else 0
        with self.changed:
            while self.held and self.held + size > self.budget:
                self.changed.wait()
            self.events.append(item)
            self.held += size
            self.changed.notify_all()

    def get(self) -> Tagged | None:
        with self.changed:
            while not self.events:
                self.changed.wait()
            return self.events.popleft()

    def sent(self, windows: Windows | SignalBlock) -> None:
        """``windows`` are in shared memory (a signal block: in the pipe): their bytes no longer count."""
        with self.changed:
            self.held -= windows.values.nbytes
            self.changed.notify_all()


def take_tasks(tasks: Connection, todo: "queue.SimpleQueue[Task | None]", gone: threading.Event) -> None:
    """A worker's task thread: every ``(seq, ref)`` handed over into ``todo``; None once told to stop,
    and ``gone`` set when the pipe closes without it (the run's process died, even one left a zombie)."""
    try:
        while (batch := tasks.recv()) is not None:
            for task in batch:
                todo.put(task)
    except (EOFError, OSError):
        gone.set()
    todo.put(None)


def read_loop(todo: "queue.SimpleQueue[Task | None]", ahead: ReadAhead, spec: ReadSpec) -> None:
    """A worker's reading thread: every record handed over, into ``ahead``; None at the end."""
    while (task := todo.get()) is not None:
        seq, ref = task
        for event in read_events(ref, spec):
            ahead.put((seq, event))
    ahead.put(None)


def worker_main(tasks: Connection, events: Connection, ring: Ring, free: Any, budget: int, spec: ReadSpec,
                poll_seconds: float) -> None:
    """A reader process's main: the threads of the module's docstring, until told to stop or the run is gone."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the main process stops the run, and then its workers
    shm = SharedMemory(ring.shm_name)
    ahead = ReadAhead(budget)
    todo: "queue.SimpleQueue[Task | None]" = queue.SimpleQueue()
    gone = threading.Event()
    threading.Thread(target=take_tasks, args=(tasks, todo, gone), daemon=True).start()
    threading.Thread(target=read_loop, args=(todo, ahead, spec), daemon=True).start()
    slot = 0
    try:
        while (item := ahead.get()) is not None:
            seq, event = item
            if isinstance(event, Windows):
                slot = send_windows(seq, event, events, shm, ring, slot, free, gone, poll_seconds)
                if slot < 0:
                    return
                ahead.sent(event)
            else:
                events.send((seq, event))
                if isinstance(event, SignalBlock):  # --store signals: pickled through the pipe, not a slot
                    ahead.sent(event)
    except (EOFError, BrokenPipeError, KeyboardInterrupt):
        return  # the run is gone
    finally:
        shm.close()


def send_windows(seq: int, windows: Windows, events: Connection, shm: SharedMemory, ring: Ring, slot: int, free: Any,
                 gone: threading.Event, poll_seconds: float) -> int:
    """Copy windows into the next free slots, as many as fit in each, and say so; the next slot (-1: run gone)."""
    values = windows.values
    per_slot = max(1, ring.size // max(1, values[0].nbytes))
    for i in range(0, len(windows), per_slot):
        while not free.acquire(timeout=poll_seconds):
            if gone.is_set():
                return -1
        k = min(per_slot, len(windows) - i)
        offset = (ring.first + slot) * ring.size
        np.ndarray((k, *values.shape[1:]), np.float32, buffer=shm.buf, offset=offset)[...] = values[i : i + k]
        message = SlotFilled(slot, windows.starts[i : i + k].astype(np.int64).tobytes(),
                             windows.qc[i : i + k].astype(np.uint8).tobytes())
        events.send((seq, message))
        slot = (slot + 1) % ring.count
    return slot
