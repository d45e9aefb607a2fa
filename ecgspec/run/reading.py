"""Stage 1 of a run, reading, with no torch and no h5py: one record opened, its leads chosen, read,
filled, resampled, flagged and cut into windows, as a stream of typed events (:mod:`.events`).

:func:`read_events` is the stage itself, a pure function of a record and the run's
:class:`~ecgspec.signal.spec.ReadSpec`. A run drives it from reader threads (``--workers 0``) or
reader processes (:mod:`ecgspec.run.backend`), which is why nothing here imports torch or h5py: a
reader process starts in a fraction of a second.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace
from typing import Iterator

from ..errors import one_line
from ..readers import Record, RecordError, RecordRef
from ..signal.leads import open_layout
from ..signal.prepared import iter_prepared
from ..signal.record_layout import RecordLayout
from ..signal.spec import ReadSpec
from ..signal.windowing import WindowStats, iter_flagged_windows
from ..store.schema import RecordRow, lead_fs_text
from .events import ReadEvent, ReadFailed, RecordRead, SignalBlock, WindowRows, Windows
from .targets import require_class

__all__ = ["read_events", "record_row"]


def read_events(ref: RecordRef, spec: ReadSpec) -> Iterator[ReadEvent]:
    """One record's windows, in order (``spec.signals``: their starts and flags, then its whole signal in
    blocks), then a :class:`RecordRead`, or a :class:`ReadFailed` at the
    first problem (windows yielded before it are the caller's to discard). Never raises for the record."""
    try:
        record, layout = open_layout(ref, spec)
        require_class(record.header, spec.required_class)  # --targets-required, where the header holds the codes
        stats = WindowStats()
        n_windows = 0
        cut = replace(spec.cut, values=False) if spec.signals else spec.cut  # signals: the whole signal follows
        for starts, values, qc in iter_flagged_windows(record, layout.channels, cut, stats, layout):
            yield WindowRows(starts, qc) if spec.signals else Windows(starts, values, qc)
            n_windows += len(starts)
        if spec.signals:
            for block in iter_prepared(record, layout, spec.cut.fs, spec.cut.block_samples):
                yield SignalBlock(block)
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
