"""Stage 1 of a run, reading, with no torch: one record opened, its leads chosen, read, filled,
resampled, flagged and cut into windows, as a stream of events.

:func:`read_events` is the stage itself. A run drives it from reader threads
(:func:`read_record`, ``--workers 0``) or from reader processes (:mod:`ecgspec.run.workers`),
which is why nothing here imports torch: a reader process starts in a fraction of a second.
"""

from __future__ import annotations

import json
import math
import queue
import threading
from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np

from ..engine.config import InputConfig
from ..errors import one_line
from ..readers import Record, RecordError, RecordRef
from ..signal import quality
from ..signal.leads import open_layout
from ..signal.record_layout import RecordLayout
from ..signal.windowing import Cut, WindowStats, iter_flagged_windows
from ..store.layout import RecordRow, lead_fs_text
from .options import ExtractOptions
from .targets import require_class

__all__ = ["BLOCK_SAMPLES", "ReadFailed", "RecordRead", "Windows", "put_unless_stopped", "read_events", "read_record",
           "record_row"]

BLOCK_SAMPLES = 1 << 18  # raw samples per channel read at once from a long record


@dataclass
class RecordRead:
    """A record read in full: its ``/records`` row, and the windows it skipped for missing samples."""

    row: RecordRow
    nan_skipped: int


@dataclass
class ReadFailed:
    """A record that cannot be used, and why (one line)."""

    message: str


Windows = tuple[np.ndarray, np.ndarray, np.ndarray]  # (starts int64 (k,), windows float32 (k, C, n), qc uint8 (k,))


def read_events(ref: RecordRef, config: InputConfig, options: ExtractOptions) -> Iterator[Windows | RecordRead | ReadFailed]:
    """One record's windows, in order, then a :class:`RecordRead`, or a :class:`ReadFailed` at the
    first problem (windows yielded before it are the caller's to discard). Never raises for the record."""
    try:
        record, layout = open_layout(ref, config, options)
        require_class(record.header, options)  # --targets-required, where the header holds the codes
        stats = WindowStats()
        stride = options.stride or config.n_samples
        cut = Cut(config.sampling_rate, config.n_samples, stride, options.max_nan, BLOCK_SAMPLES, quality.ENABLED)
        n_windows = 0
        for windows in iter_flagged_windows(record, layout.channels, cut, stats, layout):
            yield windows
            n_windows += len(windows[0])
        yield RecordRead(record_row(ref, record, layout, stats, n_windows), stats.nan_skipped)
    except RecordError as exc:
        yield ReadFailed(str(exc))
    except Exception as exc:  # noqa: BLE001 - any reader failure is this record's, not the run's
        yield ReadFailed(f"{type(exc).__name__}: {one_line(exc)}")


def record_row(ref: RecordRef, record: Record, layout: RecordLayout, stats: WindowStats, n_windows: int) -> RecordRow:
    """The ``/records`` row of a record read in full. With a lead set, ``leads`` are the set's, a
    derived lead's rate is its first base's, and a zero-filled lead's NaN (nan_filled, flat_leads
    and the shares count the signals read)."""
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
                     stats.share(stats.clipped), mask, derived,
                     comments="\n".join(header.comments), start_time=header.start_time,
                     fields=json.dumps([list(pair) for pair in header.meta], ensure_ascii=False))


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
    """A reader thread's work: :func:`read_events` of one record into ``out``, until the run stops."""
    for event in read_events(ref, config, options):
        if not put_unless_stopped(out, event, stop):
            return
