"""Stages 2 and 3 of an ``extract`` run, and the writer events that pass between them.

(Stage 1, reading, streams each record's events, :mod:`ecgspec.run.events`, from reader threads or
processes: :mod:`ecgspec.run.backend`.)

2. the :class:`Batcher` (main thread) packs windows of consecutive records into full
   batches and has the engine compute them, into :class:`BatchBuffers` allocated
   once, in the stored dtype (:func:`to_stored`);
3. the :class:`WriterThread` applies the writer events (:data:`WriterEvent`), in order,
   to the store, with a commit point every ``flush_seconds``.

:mod:`ecgspec.run.pipeline` wires them together in this order; nothing is set afterwards.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch

from ..engine.spectrogram import SpectrogramInput
from ..errors import ExtractError, one_line
from ..store.layout import OutputError, clip_to_stored
from ..store.schema import RecordRow
from ..store.writer import SpectrogramWriter
from .limits import LIMITS


@dataclass
class StageClock:
    """Seconds each stage kept a run busy: the main thread waiting for records to be read, the engine,
    the writer thread. Their shares of the run tell which stage limits it (progress lines, ``--json``)."""

    discovery: float = 0.0  # finding the records, before the first is read
    read_wait: float = 0.0
    engine: float = 0.0
    write: float = 0.0
    started: float = field(default_factory=time.perf_counter)

    def shares(self) -> dict[str, float]:
        """Each stage's seconds as a share of the run since :attr:`started` (discovery excluded)."""
        elapsed = max(time.perf_counter() - self.started, 1e-9)
        return {"reading": self.read_wait / elapsed, "engine": self.engine / elapsed, "writing": self.write / elapsed}

    def text(self) -> str:
        shares = ", ".join(f"{k} {v:.0%}" for k, v in self.shares().items())
        return f"found in {self.discovery:.1f} s, {shares}"


def write_failed(output: Any, error: BaseException) -> ExtractError:
    """The one-line error for a failed write: the store's own message (a full disk, ...) as it is."""
    if isinstance(error, OutputError):
        return ExtractError(str(error))
    return ExtractError(f"writing {output} failed: {error}")


# --- the writer events, in the order the batcher emits them -----------------------------------


@dataclass
class WindowsBatch:
    """Spectrograms of ``n`` windows in a pool ``buffer`` (handed back once written), with each one's row, start
    and quality flags."""

    rows: np.ndarray
    starts: np.ndarray
    buffer: torch.Tensor
    n: int
    qc: np.ndarray

    def apply(self, store: SpectrogramWriter) -> None:
        store.write_windows(self.rows, self.starts, self.buffer[: self.n].numpy(), self.qc)


@dataclass
class CommitRecord:
    """A record whose windows are all written: its ``/records`` row."""

    row: RecordRow

    def apply(self, store: SpectrogramWriter) -> None:
        store.commit_record(self.row)


@dataclass
class RecordSkipped:
    """A record that failed: its ``/errors`` row; the windows the store has of its ``row`` (if it took
    one) are discarded (:meth:`~ecgspec.store.writer.SpectrogramWriter.discard_record`)."""

    name: str
    message: str
    row: int | None = None

    def apply(self, store: SpectrogramWriter) -> None:
        if self.row is not None:
            store.discard_record(self.row)
        store.add_error(self.name, self.message)


@dataclass
class WindowRowsBatch:
    """``--store signals``: windows without spectrograms (their record rows, starts and quality flags)."""

    rows: np.ndarray
    starts: np.ndarray
    qc: np.ndarray

    def apply(self, store: SpectrogramWriter) -> None:
        store.write_windows(self.rows, self.starts, None, self.qc)


@dataclass
class SignalPart:
    """``--store signals``: the next samples of record ``row``'s signal, in the stored dtype."""

    row: int
    values: np.ndarray

    def apply(self, store: SpectrogramWriter) -> None:
        store.write_signal(self.row, self.values)


WriterEvent = WindowsBatch | WindowRowsBatch | SignalPart | CommitRecord | RecordSkipped


# --- stage 2: batching and the engine ---------------------------------------------------------


def to_stored(spectrograms: torch.Tensor, out: torch.Tensor) -> None:
    """Copy the engine's ``spectrograms`` into ``out``, a buffer of the stored dtype.

    The batcher's one conversion to the stored dtype: values beyond its range (float16
    tops out at 65504, below many ECG power values) are clipped by
    :func:`ecgspec.store.layout.clip_to_stored`, so the writer gets them ready to store.
    ``spectrograms`` is a scratch tensor and is clipped in place.
    """
    out.copy_(clip_to_stored(spectrograms, out.dtype))


class BatchBuffers:
    """A run's batch memory, allocated once and before any file is made.

    ``input`` holds a batch of windows; spectrograms go into a small pool of reused host
    buffers of the stored dtype (pinned on CUDA), which the writer hands back once
    written: no large allocation per batch, and at most ``n_buffers`` batches in flight,
    which bounds memory. ``staging`` is the engine's output where it cannot write into a
    pool buffer directly (CUDA, or float16 storage), or None.
    """

    def __init__(
        self, engine: SpectrogramInput, window_shape: tuple[int, ...], batch_size: int, store_dtype: str,
        n_buffers: int = LIMITS.batch_buffers,
    ) -> None:
        pin = engine.device.type == "cuda"
        dtype = torch.float16 if store_dtype == "float16" else torch.float32
        direct = not pin and dtype == engine.dtype
        self.free: "queue.Queue[torch.Tensor]" = queue.Queue()
        try:
            self.input = torch.empty((batch_size, engine.n_channels, engine.n_samples), dtype=torch.float32,
                                     pin_memory=pin)
            for _ in range(n_buffers):
                self.free.put(torch.empty((batch_size, *window_shape), dtype=dtype, pin_memory=pin))
            self.staging = None if direct else torch.empty((batch_size, *window_shape), dtype=engine.dtype,
                                                           device=engine.device)
        except (RuntimeError, MemoryError) as exc:  # torch reports a failed allocation as a RuntimeError
            raise ExtractError(
                f"batch_size {batch_size}: cannot allocate its buffers ({one_line(exc)});"
                " use a smaller --batch-size"
            ) from exc


class Batcher:
    """Packs windows of consecutive records into full engine batches and keeps events in order."""

    def __init__(self, engine: SpectrogramInput, buffers: BatchBuffers, emit: Callable[[WriterEvent], None],
                 clock: StageClock | None = None) -> None:
        self.engine = engine
        self.clock = clock or StageClock()
        self.buffers = buffers
        self.emit = emit
        batch_size = len(buffers.input)
        self.rows = np.empty(batch_size, dtype=np.int64)
        self.starts = np.empty(batch_size, dtype=np.int64)
        self.qc = np.empty(batch_size, dtype=np.uint8)
        self.input = buffers.input.numpy()  # the same memory (pinned on CUDA)
        self.fill = 0
        self.after: list[WriterEvent] = []  # events that must follow the buffered windows
        self.windows = 0

    def add(self, row: int, starts: np.ndarray, windows: np.ndarray, qc: np.ndarray) -> None:
        done = 0
        while done < len(starts):
            take = min(len(starts) - done, len(self.rows) - self.fill)
            sl = slice(self.fill, self.fill + take)
            # a plain memcpy on this thread: torch's copy_ would hand it to its intra-op threads, which
            # wait on a core the reader processes hold
            np.copyto(self.input[sl], windows[done : done + take])
            self.rows[sl] = row
            self.starts[sl] = starts[done : done + take]
            self.qc[sl] = qc[done : done + take]
            self.fill += take
            done += take
            if self.fill == len(self.rows):
                self.flush()

    def event(self, item: WriterEvent) -> None:
        """Queue an event after the buffered windows (commits), or at once if none are buffered."""
        if self.fill:
            self.after.append(item)
        else:
            self.emit(item)

    def discard(self, row: int) -> int | None:
        """Drop the buffered windows of record ``row`` (a failed record: always the last in the buffer).
        Return ``row`` when the store may hold some of its windows (they were flushed before: then
        nothing else is buffered, and its RecordSkipped goes at once, before another record's
        windows carry the same row), else None (the store has none of them)."""
        keep = self.fill
        while keep and self.rows[keep - 1] == row:
            keep -= 1
        self.fill = keep
        return row if keep == 0 else None

    def flush(self) -> None:
        """Compute the buffered windows (if any) and emit them, then the events that wait on them."""
        if self.fill:
            n = self.fill
            pooled = self.buffers.free.get()
            t0 = time.perf_counter()
            x = self.buffers.input[:n].to(self.engine.device, non_blocking=True)
            if self.buffers.staging is None:
                self.engine(x, out=pooled[:n])
            else:
                to_stored(self.engine(x, out=self.buffers.staging[:n]), pooled[:n])
            self.clock.engine += time.perf_counter() - t0
            self.emit(WindowsBatch(self.rows[:n].copy(), self.starts[:n].copy(), pooled, n, self.qc[:n].copy()))
            self.windows += n
            self.fill = 0
        for item in self.after:
            self.emit(item)
        self.after = []


class SignalBatcher:
    """The :class:`Batcher` of ``--store signals``: no engine, no batches; each record's window rows and
    signal blocks go to the writer as they come, in order (the file keeps the signal, and the loader
    computes the spectrograms)."""

    def __init__(self, dtype: str, emit: Callable[[WriterEvent], None], clock: StageClock | None = None) -> None:
        self.dtype = np.dtype(dtype)
        self.emit = emit
        self.clock = clock or StageClock()
        self.windows = 0

    def add(self, row: int, starts: np.ndarray, windows: np.ndarray | None, qc: np.ndarray) -> None:
        self.emit(WindowRowsBatch(np.full(len(starts), row, dtype=np.int64), np.array(starts, dtype=np.int64),
                                  np.array(qc, dtype=np.uint8)))
        self.windows += len(starts)

    def signal(self, row: int, values: np.ndarray) -> None:
        self.emit(SignalPart(row, clip_to_stored(values, self.dtype)))

    def event(self, item: WriterEvent) -> None:
        self.emit(item)

    def discard(self, row: int) -> int | None:
        return row  # nothing is held here: the store drops what it has of the record

    def flush(self) -> None:
        """Nothing is held back."""


# --- stage 3: writing -------------------------------------------------------------------------


class WriterThread(threading.Thread):
    """Applies events to the store in order; the first exception is kept for the main thread."""

    def __init__(self, store: SpectrogramWriter, release: Callable[[torch.Tensor], None],
                 clock: StageClock | None = None, flush_seconds: float = LIMITS.flush_seconds) -> None:
        super().__init__(name="ecgspec-writer", daemon=True)
        self.store = store
        self.flush_seconds = flush_seconds  # a commit point at most this far apart
        self.clock = clock or StageClock()
        self.release = release  # hands a written batch's buffer back to the pool
        # Unbounded: memory is bounded by the buffer pool, and a bounded queue made the
        # main thread wait on a thread hand-off for each small event (2 ms a record).
        self.events: "queue.Queue[WriterEvent | None]" = queue.Queue()
        self.error: BaseException | None = None

    def run(self) -> None:
        last_flush = time.monotonic()
        while True:
            item = self.events.get()
            if item is None:
                return
            try:
                if self.error is None:  # after a failure, only hand buffers back
                    t0 = time.perf_counter()
                    item.apply(self.store)
                    if time.monotonic() - last_flush > self.flush_seconds:
                        self.store.flush()
                        last_flush = time.monotonic()
                    self.clock.write += time.perf_counter() - t0
            except BaseException as exc:  # noqa: BLE001 - reported by the main thread
                self.error = exc
            finally:
                if isinstance(item, WindowsBatch):
                    self.release(item.buffer)

    def put(self, item: WriterEvent) -> None:
        """Queue an event; raises ExtractError once writing has failed."""
        if self.error is not None:
            raise write_failed(self.store.output, self.error) from self.error
        self.events.put(item)

    def close(self) -> None:
        """Write what is queued, then stop the thread."""
        if self.is_alive():
            self.events.put(None)
            self.join()
