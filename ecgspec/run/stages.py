"""The stages of an ``extract`` run, and the events that pass between them.

1. :func:`read_record` (a reader thread) streams one record's windows into a small
   queue, then a :class:`RecordRead` or :class:`ReadFailed`;
2. the :class:`Batcher` (main thread) packs windows of consecutive records into full
   batches and has the engine compute them, into :class:`BatchBuffers` allocated
   once, in the stored dtype (:func:`to_stored`);
3. the :class:`WriterThread` applies the writer events (:data:`WriterEvent`), in order,
   to the store.

:mod:`ecgspec.run.pipeline` wires them together in this order; nothing is set afterwards.
"""

from __future__ import annotations

import math
import queue
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, Deque, Iterator, Sequence

import numpy as np
import torch

from ..engine.config import InputConfig
from ..engine.spectrogram import SpectrogramInput
from ..errors import ExtractError, one_line
from ..readers import Record, RecordError, RecordRef
from ..signal import quality
from ..signal.leads import open_layout
from ..signal.windowing import Cut, WindowStats, iter_flagged_windows
from ..store.layout import OutputError, RecordRow, clip_to_stored, lead_fs_text
from ..store.writer import SpectrogramWriter
from .options import ExtractOptions
from ..signal.record_layout import RecordLayout

BLOCK_SAMPLES = 1 << 18  # raw samples per channel read at once from a long record
QUEUE_BLOCKS = 2  # blocks buffered per record ahead of the batcher
FLUSH_SECONDS = 2.0


# --- stage 1: reading ----------------------------------------------------------------------


@dataclass
class RecordRead:
    """A record read in full: its ``/records`` row, and the windows it skipped for missing samples."""

    row: RecordRow
    nan_skipped: int


@dataclass
class ReadFailed:
    """A record that cannot be used, and why (one line)."""

    message: str


def write_failed(output: Any, error: BaseException) -> ExtractError:
    """The one-line error for a failed write: the store's own message (a full disk, ...) as it is."""
    if isinstance(error, OutputError):
        return ExtractError(str(error))
    return ExtractError(f"writing {output} failed: {error}")


def put_unless_stopped(q: "queue.Queue[Any]", item: Any, stop: threading.Event) -> bool:
    """Put unless the run is stopping; never blocks forever on an abandoned queue."""
    while not stop.is_set():
        try:
            q.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def read_record(
    ref: RecordRef, config: InputConfig, options: ExtractOptions, out: "queue.Queue[Any]", stop: threading.Event
) -> None:
    """Worker: stream one record's windows into ``out`` as ``(starts, windows, qc)``, then a RecordRead or ReadFailed."""
    try:
        record, layout = open_layout(ref, config, options)
        stats = WindowStats()
        stride = options.stride or config.n_samples
        n_windows = 0
        cut = Cut(config.sampling_rate, config.n_samples, stride, options.max_nan, BLOCK_SAMPLES, quality.ENABLED)
        for starts, windows, qc in iter_flagged_windows(record, layout.channels, cut, stats, layout):
            if not put_unless_stopped(out, (starts, windows, qc), stop):
                return
            n_windows += len(starts)
        row = record_row(ref, record, layout, stats, n_windows)
        put_unless_stopped(out, RecordRead(row, stats.nan_skipped), stop)
    except RecordError as exc:
        put_unless_stopped(out, ReadFailed(str(exc)), stop)
    except Exception as exc:  # noqa: BLE001 - any reader failure is this record's, not the run's
        put_unless_stopped(out, ReadFailed(f"{type(exc).__name__}: {one_line(exc)}"), stop)


def record_row(ref: RecordRef, record: Record, layout: RecordLayout, stats: WindowStats, n_windows: int) -> RecordRow:
    """The ``/records`` row of a record read in full. With a lead set, ``leads`` are the set's, a
    derived lead's rate is its first base's, and a zero-filled lead's NaN (nan_filled,
    flat_leads and the shares count the signals read)."""
    header = record.header
    names = [layout.output_name(header.leads, row) for row in range(len(layout.channels))]
    flat = ",".join(names[row] for row in sorted(stats.flat_rows))
    plan = layout.plan
    if plan is None:
        leads, rates = names, [header.rate(c) for c in layout.channels]
        mask, derived = (True,) * len(names), (False,) * len(names)
    else:
        leads = list(plan.leads)
        rates = [header.rate(s) if s is not None else header.rate(d[0]) if d is not None else math.nan
                 for s, d in zip(plan.sources, plan.derived)]
        mask, derived = tuple(bool(m) for m in plan.present), tuple(bool(m) for m in plan.derived_mask)
    return RecordRow(ref.name, str(ref.path), float(header.fs), int(header.n_samples), ",".join(leads), n_windows,
                     int(stats.nan_filled), lead_fs_text(rates), stats.share(stats.nan_filled), flat,
                     stats.share(stats.clipped), mask, derived)


def prefetch(
    refs: Sequence[RecordRef], skip: Callable[[RecordRef], bool], start: Callable[[RecordRef], "queue.Queue[Any]"],
    depth: int,
) -> Iterator[tuple[RecordRef, "queue.Queue[Any] | None"]]:
    """Yield each ref with its output queue, keeping ``depth`` records started ahead (None: skipped)."""
    ahead: Deque[tuple[RecordRef, "queue.Queue[Any] | None"]] = deque()
    for ref in refs:
        ahead.append((ref, None if skip(ref) else start(ref)))
        while len(ahead) > depth or (ahead and ahead[0][1] is None):
            yield ahead.popleft()
    while ahead:
        yield ahead.popleft()


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
    """A record that failed: its ``/errors`` row; ``written`` of its windows already written are discarded."""

    name: str
    message: str
    written: int = 0

    def apply(self, store: SpectrogramWriter) -> None:
        if self.written:
            store.discard_windows(self.written)
        store.add_error(self.name, self.message)


WriterEvent = WindowsBatch | CommitRecord | RecordSkipped


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
        n_buffers: int = 3,
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

    def __init__(self, engine: SpectrogramInput, buffers: BatchBuffers, emit: Callable[[WriterEvent], None]) -> None:
        self.engine = engine
        self.buffers = buffers
        self.emit = emit
        batch_size = len(buffers.input)
        self.rows = np.empty(batch_size, dtype=np.int64)
        self.starts = np.empty(batch_size, dtype=np.int64)
        self.qc = np.empty(batch_size, dtype=np.uint8)
        self.fill = 0
        self.after: list[WriterEvent] = []  # events that must follow the buffered windows
        self.windows = 0

    def add(self, row: int, starts: np.ndarray, windows: np.ndarray, qc: np.ndarray) -> None:
        src = torch.from_numpy(windows)
        done = 0
        while done < len(starts):
            take = min(len(starts) - done, len(self.rows) - self.fill)
            sl = slice(self.fill, self.fill + take)
            self.buffers.input[sl].copy_(src[done : done + take])
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

    def drop_tail(self, row: int) -> int:
        """Remove buffered windows of record ``row`` (always the last in the buffer); return how many."""
        keep = self.fill
        while keep and self.rows[keep - 1] == row:
            keep -= 1
        dropped, self.fill = self.fill - keep, keep
        return dropped

    def flush(self) -> None:
        """Compute the buffered windows (if any) and emit them, then the events that wait on them."""
        if self.fill:
            n = self.fill
            pooled = self.buffers.free.get()
            x = self.buffers.input[:n].to(self.engine.device, non_blocking=True)
            if self.buffers.staging is None:
                self.engine(x, out=pooled[:n])
            else:
                to_stored(self.engine(x, out=self.buffers.staging[:n]), pooled[:n])
            self.emit(WindowsBatch(self.rows[:n].copy(), self.starts[:n].copy(), pooled, n, self.qc[:n].copy()))
            self.windows += n
            self.fill = 0
        for item in self.after:
            self.emit(item)
        self.after = []


# --- stage 3: writing -------------------------------------------------------------------------


class WriterThread(threading.Thread):
    """Applies events to the store in order; the first exception is kept for the main thread."""

    def __init__(self, store: SpectrogramWriter, release: Callable[[torch.Tensor], None]) -> None:
        super().__init__(name="ecgspec-writer", daemon=True)
        self.store = store
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
                    item.apply(self.store)
                    if time.monotonic() - last_flush > FLUSH_SECONDS:
                        self.store.flush()
                        last_flush = time.monotonic()
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
