"""A record's whole prepared signal, in blocks: what ``extract --store signals`` stores in ``/signals``.

The same samples the windows are cut from (:func:`ecgspec.signal.windowing.span_reader`: missing
samples filled, each lead resampled to the config's rate, the lead layout, the preprocessing over
the whole record), over the record's whole common length, so that a window or a crop anywhere in
the record is a slice of it. Time-major blocks (samples, leads), as ``/signals`` holds them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator

import numpy as np

from ..readers import Record
from .windowing import WINDOW_BATCH_BYTES, common_length, rate_groups, span_reader

if TYPE_CHECKING:
    from .record_layout import RecordLayout

__all__ = ["iter_prepared", "prepared_length"]


def prepared_length(record: Record, layout: RecordLayout, fs: float) -> int:
    """Samples of the prepared signal at ``fs``: the shortest rate group's resampled length (windows start on it)."""
    return common_length(rate_groups(record.header, layout.channels, fs))


def iter_prepared(record: Record, layout: RecordLayout, fs: float, block_samples: int) -> Iterator[np.ndarray]:
    """float32 C-contiguous (t, n_out) blocks of the record's prepared signal, in order, together its
    :func:`prepared_length` samples; a block holds at most ``block_samples`` samples and
    ``WINDOW_BATCH_BYTES`` bytes, so a long record streams in bounded memory."""
    n = prepared_length(record, layout, fs)
    read = span_reader(record, layout, fs, n)
    step = max(1, min(block_samples, WINDOW_BATCH_BYTES // (4 * max(1, layout.n_out))))
    for a in range(0, n, step):
        yield np.ascontiguousarray(read(a, min(n, a + step)).T, dtype=np.float32)
