"""Multi-segment WFDB records (fixed and variable layout) read as one record named by the master header.

The record's signals are the layout header's (variable layout) or the first segment's (fixed
layout); its length is the master's, in frames at the master's rate. A read visits only the
segments that overlap it, one at a time, so memory stays bounded by the slice asked for. Gaps
(``~``) and segments that lack a signal give NaN, as ``wfdb.rdrecord(master, m2s=True,
smooth_frames=False)`` does. Everything a header says is checked at open, so that a missing or
truncated segment is a RecordError naming it before anything is read.
"""

from __future__ import annotations

import bisect
import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..base import Header, Record, RecordError, RecordRef, checked_header, framed
from .header import MasterHeader, WfdbHeader
from .record import open_single, read_header


@dataclass(frozen=True)
class Segment:
    """A piece of a multi-segment record: frames ``start .. start + length - 1`` of the whole; ``record``
    None for a gap; ``signals[i]`` the segment's signal holding the whole record's signal ``i``, or None."""

    start: int
    length: int
    record: Record | None
    signals: tuple[int | None, ...]


class MultiSegmentRecord(Record):
    """A multi-segment record: reads go to the overlapping segments, NaN where a segment has no data."""

    def __init__(self, ref: RecordRef, header: Header, spf: list[int], segments: list[Segment]) -> None:
        super().__init__(ref, header)
        self._spf = spf
        self._segments = segments
        self._starts = [s.start for s in segments]

    def _read(self, start: int, stop: int, channels: list[int]) -> np.ndarray:
        spf = self._spf[channels[0]]
        out = np.full((len(channels), stop - start), np.nan, dtype=np.float32)
        first = bisect.bisect_right(self._starts, start // spf) - 1
        for segment in self._segments[max(first, 0):]:
            a, b = segment.start * spf, (segment.start + segment.length) * spf
            if a >= stop:
                break
            a, b = max(a, start), min(b, stop)
            if a >= b or segment.record is None:
                continue
            rows = [i for i, c in enumerate(channels) if segment.signals[c] is not None]
            if rows:
                wanted = [segment.signals[channels[i]] for i in rows]
                base = segment.start * spf
                out[rows, a - start:b - start] = segment.record.read(a - base, b - base, wanted)
        return out


def _segment_header(folder: Path, name: str) -> WfdbHeader:
    """A segment's parsed header, or a RecordError naming the segment."""
    path = folder / f"{name}.hea"
    if not path.is_file():
        raise RecordError(f"segment {name}: header {path.name} is missing")
    h = read_header(path)
    if h is None:
        raise RecordError(f"segment {name}: header {path.name} cannot be parsed")
    if isinstance(h, MasterHeader):
        raise RecordError(f"segment {name} is itself a multi-segment record")
    return h


def _layout(folder: Path, m: MasterHeader) -> tuple[list[str], list[int], int]:
    """(signal names, samples per frame, index of the first data segment) the record's signals come from."""
    if m.layout == "variable":
        layout = _segment_header(folder, m.seg_name[0])
        if len(layout.sig_name) != m.n_sig:
            raise RecordError(f"layout {m.seg_name[0]} has {len(layout.sig_name)} signals, the master header {m.n_sig}")
        return [str(s or "") for s in layout.sig_name], list(layout.samps_per_frame), 1
    named = [name for name in m.seg_name if name != "~"]
    if not named:
        raise RecordError("multi-segment header names no segments with data")
    first = _segment_header(folder, named[0])
    return [str(s or "") for s in first.sig_name], list(first.samps_per_frame), 0


def _signal_map(name: str, h: WfdbHeader, names: list[str], spf: list[int], variable: bool) -> tuple[int | None, ...]:
    """For each of the record's signals, the segment's signal holding it (variable layout: by name)."""
    seg_names = [str(s or "") for s in h.sig_name]
    if not variable:
        if len(seg_names) != len(names):
            raise RecordError(f"segment {name} has {len(seg_names)} signals, its layout {len(names)}")
        mapping: list[int | None] = list(range(len(names)))
    else:
        unknown = [s for s in seg_names if s not in names]
        if unknown:
            raise RecordError(f"segment {name} has signal {unknown[0]!r}, which its layout does not list")
        mapping = [seg_names.index(s) if s in seg_names else None for s in names]
    for i, j in enumerate(mapping):
        if j is not None and (h.samps_per_frame[j] or 1) != (spf[i] or 1):
            raise RecordError(f"segment {name} stores signal {names[i] or i} at {h.samps_per_frame[j]} samples"
                              f" a frame, its layout at {spf[i]}")
    return tuple(mapping)


def _open_segment(folder: Path, ref: RecordRef, name: str, length: int, m: MasterHeader) -> tuple[Record, WfdbHeader]:
    h = _segment_header(folder, name)
    try:
        record = open_single(RecordRef(f"{ref.name}/{name}", folder / f"{name}.hea", "wfdb"), h)
    except RecordError as exc:
        raise RecordError(f"segment {name}: {exc}") from None
    if h.sig_len != length:
        raise RecordError(f"segment {name} has {h.sig_len} frames, the master header says {length}")
    if float(h.fs) != float(m.fs):
        raise RecordError(f"segment {name} is sampled at {h.fs} Hz, the master header at {m.fs} Hz")
    return record, h


def open_multi_segment(ref: RecordRef, m: MasterHeader) -> Record:
    """Open a multi-segment record from its parsed master header, opening (and checking) every segment's
    header and signal files: RecordError names the first segment that is missing, truncated, of zero
    length, of a different rate, or with fewer signals than its layout."""
    folder = ref.path.parent
    if not m.seg_name:
        raise RecordError("multi-segment header names no segments")
    names, spf, first = _layout(folder, m)
    segments: list[Segment] = []
    start = 0
    for name, length in zip(m.seg_name[first:], m.seg_len[first:]):
        if length == 0:
            raise RecordError(f"segment {name} has length 0")
        if name == "~":
            segments.append(Segment(start, length, None, (None,) * len(names)))
        else:
            record, h = _open_segment(folder, ref, name, length, m)
            segments.append(Segment(start, length, record, _signal_map(name, h, names, spf, first == 1)))
        start += length
    if m.sig_len is not None and m.sig_len != start:
        raise RecordError(f"segment lengths add up to {start} frames, the master header says {m.sig_len}")
    spf = [s or 1 for s in spf]
    header = framed(checked_header(m.fs, start, tuple(names), len(names)), spf)
    return MultiSegmentRecord(ref, _adc_limits(header, segments), spf, segments)


def _adc_limits(header: Header, segments: list[Segment]) -> Header:
    """``header`` with each signal's ADC step and clipping limits over the segments holding it: the
    smallest step (a lead constant in each segment is flat whatever its gain), and the limits where
    every segment agrees on them (else none, +-inf)."""
    steps, lows, highs = [], [], []
    for i in range(header.n_signals):
        held = [(s.record.header, s.signals[i]) for s in segments if s.record is not None and s.signals[i] is not None]
        step = {h.adc_step[j] for h, j in held if h.adc_step}
        low = {h.clip_low[j] for h, j in held if h.clip_low}
        high = {h.clip_high[j] for h, j in held if h.clip_high}
        steps.append(min(step, default=0.0))
        lows.append(low.pop() if len(low) == 1 else -math.inf)
        highs.append(high.pop() if len(high) == 1 else math.inf)
    return dataclasses.replace(header, adc_step=tuple(steps), clip_low=tuple(lows), clip_high=tuple(highs))
