"""Stage 1 started: records handed to their readers, in run order, a number of them ahead of the run.

:func:`reader_stage` gives the readers: reader processes (:class:`~ecgspec.run.workers.ReaderPool`),
or with ``--workers 0`` threads of this process. :class:`Prefetch` keeps records started ahead of
the one the run consumes. Nothing here imports torch: a run starts its readers first, and they read
while it imports the engine.
"""

from __future__ import annotations

import contextlib
import itertools
import queue
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import AbstractSet, Any, Callable, Deque, Iterable, Iterator

from ..engine.config import InputConfig
from ..readers import RecordRef
from .options import READ_THREADS, ExtractOptions
from .reading import read_record
from .workers import ReaderPool, processes_allowed

__all__ = ["QUEUE_BLOCKS", "Prefetch", "reader_stage"]

QUEUE_BLOCKS = 2  # blocks buffered per record ahead of the batcher (reader threads)

Start = Callable[[RecordRef], Any]  # begins reading a record; its event stream (``get(timeout)``)


@contextlib.contextmanager
def reader_stage(config: InputConfig, options: ExtractOptions, stop: threading.Event) -> Iterator[tuple[Start, int]]:
    """``(start, depth)``: ``start(ref)`` begins reading a record and gives its event stream, and
    ``depth`` records are to be kept started ahead. Reader processes, or threads with ``--workers 0``
    (or where this process may not start processes)."""
    if options.workers and processes_allowed():
        with ReaderPool(options.workers, config, options) as pool:
            seq = itertools.count()
            yield (lambda ref: pool.submit(next(seq), ref)), pool.depth
        return
    with ThreadPoolExecutor(READ_THREADS, thread_name_prefix="ecgspec-read") as pool:

        def start(ref: RecordRef) -> "queue.Queue[Any]":
            q: "queue.Queue[Any]" = queue.Queue(maxsize=QUEUE_BLOCKS)
            pool.submit(read_record, ref, config, options, q, stop)
            return q

        try:
            yield start, 2 * READ_THREADS
        finally:
            stop.set()  # release threads still blocked on their queues
            pool.shutdown(wait=False, cancel_futures=True)  # and start no more reads


class Prefetch:
    """The records of a run in order, each with its event stream, ``depth`` of them started ahead of
    the one consumed (from construction on: reading begins before the first is asked for); those in
    ``skip`` (kept in the output by an earlier run) come with None and are never read."""

    def __init__(self, refs: Iterable[RecordRef], start: Start, depth: int, skip: AbstractSet[str] = frozenset()) -> None:
        self._refs = iter(refs)
        self._start, self._depth, self._skip = start, depth, skip
        self._ahead: Deque[tuple[RecordRef, Any]] = deque()
        self._fill()

    def _fill(self) -> None:
        while len(self._ahead) <= self._depth:
            ref = next(self._refs, None)
            if ref is None:
                return
            self._ahead.append((ref, None if ref.name in self._skip else self._start(ref)))

    def __iter__(self) -> Iterator[tuple[RecordRef, Any]]:
        while self._ahead:
            item = self._ahead.popleft()
            self._fill()
            yield item
