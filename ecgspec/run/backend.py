"""Stage 1 beside the rest of a run: the reader backends. Read this before touching ``run/``.

How a run reads (the design, in the shape of PyTorch's ``DataLoader`` iterators)
--------------------------------------------------------------------------------
The main thread consumes records strictly in run order (sorted names), so the output is the same
whatever the timing. Reading runs ahead of it, in reader threads (``--workers 0``) or in reader
processes (``--workers N``, the default), behind one interface, :class:`ReaderBackend`:

- ``start(ref)`` hands a record over, numbered in run order (``seq``), and returns its
  :class:`RecordEvents`; :class:`Prefetch` keeps ``backend.depth`` records handed over ahead of
  the one the run consumes (``DataLoader``'s prefetch);
- ``next_event(seq, timeout)`` gives record ``seq``'s next event (:mod:`.events`): zero or more
  ``Windows``, then ``RecordRead`` or ``ReadFailed``; None on timeout, so that the run looks at its
  stop flag between waits. Events are typed classes, told apart by type;
- a ``Windows`` event may lend memory (a process's shared-memory slot): the run copies the
  windows into a batch and calls ``event.release()``, which hands that slot back. Nothing is
  freed implicitly;
- ``close()`` is the shutdown protocol, written once (:meth:`ReaderBackend.close`): tell every
  worker to stop, wait for them (a process :attr:`~ecgspec.run.limits.Limits.join_seconds`, then
  it is terminated; a thread, which cannot be ended, until its current read returns), free what
  the backend holds. It runs at the end, on an error and on SIGINT/SIGTERM alike (the backend
  is a context manager).

The two implementations: :class:`ThreadBackend` here (``--workers 0``, or where this process may
not start processes: a Dask worker's), one small queue a record; and
:class:`ecgspec.run.workers.ProcessBackend`, where records go out over a pipe as ``(seq, ref)``
and come back as ``(seq, event)`` messages (``DataLoader``'s ``(index, data)``), windows through
shared memory; the code that runs inside a reader process is :mod:`ecgspec.run.reader_process`. A
reader process that dies fails the one record it was reading and is replaced.

What each module holds: :mod:`.events` (the events), :mod:`.reading` (one record into events, no
torch or h5py), this module (the interface, threads, the prefetch), :mod:`.workers` and
:mod:`.reader_process` (processes), :mod:`.limits` (every tunable: threads, slots, read-ahead
bytes, poll and join times). The stages that follow (batching, the engine, the writer thread) are
in :mod:`.stages`; :mod:`.pipeline` wires them. No torch here.
"""

from __future__ import annotations

import itertools
import queue
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import AbstractSet, Any, Deque, Iterable, Iterator

from ..readers import RecordRef
from ..signal.spec import ReadSpec
from .events import END_EVENTS, ReadEvent
from .limits import Limits
from .reading import read_events

__all__ = ["Prefetch", "ReaderBackend", "RecordEvents", "ThreadBackend"]


class RecordEvents:
    """One record's events, in order, for the run that consumes them (see the module's docstring)."""

    def __init__(self, backend: ReaderBackend, seq: int) -> None:
        self.backend, self.seq = backend, seq

    def get(self, timeout: float) -> ReadEvent | None:
        """The record's next event, or None after ``timeout`` seconds without one."""
        return self.backend.next_event(self.seq, timeout)


class ReaderBackend:
    """The reading stage's interface: records in, each record's events out, in order; a context manager.

    A subclass implements :meth:`_submit`, :meth:`next_event` and the three steps of
    :meth:`close`; ``depth`` is how many records to keep handed over ahead of the one consumed.
    """

    depth: int

    def __init__(self, spec: ReadSpec, limits: Limits) -> None:
        self.spec, self.limits = spec, limits
        self._seq = itertools.count()
        self._closed = False

    def start(self, ref: RecordRef) -> RecordEvents:
        """Hand ``ref`` over as the next record in run order; its events."""
        seq = next(self._seq)
        self._submit(seq, ref)
        return RecordEvents(self, seq)

    def _submit(self, seq: int, ref: RecordRef) -> None:
        raise NotImplementedError

    def next_event(self, seq: int, timeout: float) -> ReadEvent | None:
        """Record ``seq``'s next event (records are consumed in ``seq`` order), None on timeout."""
        raise NotImplementedError

    def close(self) -> None:
        """The shutdown protocol, the same for every backend and every way a run ends: tell every
        worker to stop now, wait for them (``limits.join_seconds``, then end those that can be
        ended), free what the backend holds. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._tell_stop()
        self._end_workers(self.limits.join_seconds)
        self._free()

    def _tell_stop(self) -> None:
        """Ask every worker to stop at its next step (never blocks)."""

    def _end_workers(self, seconds: float) -> None:
        """Wait up to ``seconds`` for the workers, then end those still running."""

    def _free(self) -> None:
        """Release what the backend holds (shared memory, pipes)."""

    def __enter__(self) -> ReaderBackend:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class ThreadBackend(ReaderBackend):
    """Reader threads of this process (``--workers 0``): ``limits.read_threads`` of them, each record's
    events in a queue of ``limits.queue_blocks``, so a reader waits while the run is behind."""

    def __init__(self, spec: ReadSpec, limits: Limits) -> None:
        super().__init__(spec, limits)
        self.depth = 2 * limits.read_threads
        self._pool = ThreadPoolExecutor(limits.read_threads, thread_name_prefix="ecgspec-read")
        self._queues: dict[int, queue.Queue[ReadEvent]] = {}
        self._stop = threading.Event()

    def _submit(self, seq: int, ref: RecordRef) -> None:
        q: queue.Queue[ReadEvent] = queue.Queue(maxsize=self.limits.queue_blocks)
        self._queues[seq] = q
        self._pool.submit(self._read, ref, q)

    def _read(self, ref: RecordRef, q: queue.Queue[ReadEvent]) -> None:
        """A reader thread's work: the record's events into ``q``, until the backend closes."""
        for event in read_events(ref, self.spec):
            while True:
                if self._stop.is_set():
                    return
                try:
                    q.put(event, timeout=self.limits.poll_seconds)
                    break
                except queue.Full:
                    continue

    def next_event(self, seq: int, timeout: float) -> ReadEvent | None:
        try:
            event = self._queues[seq].get(timeout=timeout)
        except queue.Empty:
            return None
        if isinstance(event, END_EVENTS):
            del self._queues[seq]
        return event

    def _tell_stop(self) -> None:
        self._stop.set()  # a thread blocked on a full queue returns within poll_seconds
        self._pool.shutdown(wait=False, cancel_futures=True)  # and no record not yet started is read

    def _end_workers(self, seconds: float) -> None:
        """A thread cannot be ended: each stops at its next event (within one block's read), and is
        waited for, whatever ``seconds`` says."""
        self._pool.shutdown(wait=True)


class Prefetch:
    """The records of a run in order, each with its events, ``backend.depth`` of them handed over ahead
    of the one consumed (from construction on: reading begins before the first is asked for); those in
    ``skip`` (kept in the output by an earlier run) come with None and are never read."""

    def __init__(self, refs: Iterable[RecordRef], backend: ReaderBackend, skip: AbstractSet[str] = frozenset()) -> None:
        self._refs = iter(refs)
        self._backend, self._skip = backend, skip
        self._ahead: Deque[tuple[RecordRef, RecordEvents | None]] = deque()
        self._fill()

    def _fill(self) -> None:
        while len(self._ahead) <= self._backend.depth:
            ref = next(self._refs, None)
            if ref is None:
                return
            self._ahead.append((ref, None if ref.name in self._skip else self._backend.start(ref)))

    def __iter__(self) -> Iterator[tuple[RecordRef, RecordEvents | None]]:
        while self._ahead:
            item = self._ahead.popleft()
            self._fill()
            yield item
