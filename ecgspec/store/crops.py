"""Crops of a signals file's records, beyond its fixed windows: pure NumPy over the ``/windows`` table.

A crop is a window-long span of a record's signal that lies inside the span its kept fixed windows
cover (those ``extract`` wrote, less any ``exclude``-d by flag), so the missing-sample rule
(``--max-nan``: a skipped window leaves a gap no crop crosses) and the quality flags of
``extract``'s windows hold for crops too: a crop carries the OR of the flags of the fixed windows
it overlaps. With the default stride (windows back to back) a record's covered span is
``[0, k * n_samples)`` for its ``k`` windows, the tail shorter than a window left out as
``extract`` leaves it out.

- :func:`random_crops`: one crop per record, at a start drawn uniformly among the valid ones, from
  ``(seed, epoch)`` and the record's row (so a record's crop does not depend on which others are kept);
- :func:`strided_crops`: every crop at ``stride`` samples from the record's start that fits, a
  record's crops together (test-time windows, to aggregate per record).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["Segments", "covered", "crop_flags", "random_crops", "strided_crops"]


class Segments(NamedTuple):
    """Spans ``[start, end)`` of records' signals that kept windows cover, sorted by record then start."""

    record: np.ndarray  # int64 /records row
    start: np.ndarray  # int64
    end: np.ndarray  # int64


def covered(record: np.ndarray, start: np.ndarray, window: int) -> Segments:
    """The union of the windows ``[start, start + window)``, per record (windows in file order: by record,
    then start, as ``extract`` writes them)."""
    if not len(record):
        empty = np.empty(0, dtype=np.int64)
        return Segments(empty, empty, empty)
    new = np.ones(len(record), dtype=bool)
    new[1:] = (record[1:] != record[:-1]) | (start[1:] > start[:-1] + window)
    first = np.flatnonzero(new)
    last = np.append(first[1:], len(record)) - 1
    return Segments(record[first].astype(np.int64), start[first].astype(np.int64), start[last].astype(np.int64) + window)


def random_crops(segments: Segments, window: int, seed: int, epoch: int, n_records: int) -> tuple[np.ndarray, np.ndarray]:
    """One crop per record that has a segment: ``(record rows, starts)``, the start uniform over the record's
    valid starts (a start whose crop lies in one segment), drawn from ``(seed, epoch)`` and the record's row."""
    counts = segments.end - segments.start - window + 1  # valid starts of each segment (>= 1)
    records, first = np.unique(segments.record, return_index=True)
    totals = np.add.reduceat(counts, first) if len(first) else counts[:0]
    draws = np.random.default_rng([int(seed), int(epoch)]).random(n_records)[records]
    picks = np.minimum((draws * totals).astype(np.int64), totals - 1)  # the record's k-th valid start
    ends = np.cumsum(counts)
    before = ends[first] - counts[first]  # valid starts of the records' earlier segments, summed over records
    at = np.searchsorted(ends, before + picks, side="right")  # the segment holding it
    starts = segments.start[at] + (before + picks - (ends[at] - counts[at]))
    return records.astype(np.int64), starts.astype(np.int64)


def strided_crops(segments: Segments, window: int, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """Every crop starting at a multiple of ``stride`` (from the record's first sample) that fits in a segment:
    ``(record rows, starts)``, by record then start."""
    first = -(-segments.start // stride)
    last = (segments.end - window) // stride
    n = np.maximum(last - first + 1, 0)
    records = np.repeat(segments.record, n)
    steps = np.arange(int(n.sum()), dtype=np.int64) - np.repeat(np.cumsum(n) - n, n)
    return records.astype(np.int64), (np.repeat(first, n) + steps) * stride


def crop_flags(record: np.ndarray, start: np.ndarray, qc: np.ndarray, crops: tuple[np.ndarray, np.ndarray],
               window: int) -> np.ndarray:
    """uint8: each crop's quality flags, the OR of those of the windows (``record``, ``start``, ``qc``, in file
    order) it overlaps."""
    span = int(max(start.max(initial=0), crops[1].max(initial=0))) + 2 * window + 1
    keys = record.astype(np.int64) * span + start
    lo = np.searchsorted(keys, crops[0] * span + crops[1] - window + 1, side="left")
    hi = np.searchsorted(keys, crops[0] * span + crops[1] + window, side="left")
    out = np.zeros(len(lo), dtype=np.uint8)
    for bit in range(8):
        has = np.zeros(len(qc) + 1, dtype=np.int64)
        np.cumsum((qc >> bit) & 1, out=has[1:])
        out |= ((has[hi] - has[lo]) > 0).astype(np.uint8) << bit
    return out
