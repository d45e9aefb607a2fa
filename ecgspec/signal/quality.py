"""Per-window quality flags (``/windows/qc``) and the per-record shares behind them; no torch here.

Each window gets a uint8 bitmask, computed on the source samples at each lead's own rate
(before resampling), over the raw samples the window covers (``[floor(start * rate / fs),
ceil((start + window) * rate / fs))``, as ``--max-nan`` counts them):

- ``1`` filled: some sample of some lead was missing in the source and was filled;
- ``2`` flat: some lead's peak-to-peak over the window is below one ADC step, i.e. its digital
  value is constant (WFDB: a step is ``1 / adc_gain``; EDF ``(physical range) / (digital range)``);
  without an ADC step (NumPy) exactly 0;
- ``4`` clipped: some sample sits at the lowest or highest digital value its WFDB format allows,
  narrowed to the header's ADC resolution where it gives one
  (:func:`ecgspec.readers.wfdb.signal.digital_limits`).

Flat and clipped are judged on the samples after filling (a missing sample is not clipped).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from ..readers import Header
from .flags import BITS_ATTR, QC_BITS

__all__ = ["FILLED", "FLAT", "CLIPPED", "MISSING_LEAD", "FLAGS", "BITS_ATTR", "ENABLED", "Limits", "flag_mask", "flag_counts",
           "window_flags", "count_clipped"]

FLAGS = QC_BITS  # flag name -> bit, the file's contract
FILLED, FLAT, CLIPPED = FLAGS["filled"], FLAGS["flat"], FLAGS["clipped"]
MISSING_LEAD = FLAGS["missing_lead"]  # a lead of --lead-set the record lacks, zero-filled
# Off only to measure what the flags cost (benchmarks/bench.py): windows then all read 0.
ENABLED = True


def flag_mask(flags: int | str | Iterable[str]) -> int:
    """The bitmask of ``flags``: an int as it is, or flag names (``"flat"``, ``("flat", "clipped")``)."""
    if isinstance(flags, (int, np.integer)) and not isinstance(flags, bool):
        if not 0 <= int(flags) <= 255:
            raise ValueError(f"exclude: got {flags}, a bitmask must be in 0..255")
        return int(flags)
    names = [flags] if isinstance(flags, str) else list(flags)
    unknown = [n for n in names if n not in FLAGS]
    if unknown:
        raise ValueError(f"exclude: unknown flag {unknown[0]!r}; known: {', '.join(FLAGS)} (or a bitmask int)")
    mask = 0
    for name in names:
        mask |= FLAGS[name]
    return mask


def flag_counts(qc: np.ndarray) -> dict[str, int]:
    """How many windows carry each flag."""
    qc = np.asarray(qc, dtype=np.uint8)
    return {name: int(np.count_nonzero(qc & bit)) for name, bit in FLAGS.items()}


@dataclass(frozen=True)
class Limits:
    """What flat and clipped mean for some channels, as (C, 1) float32 columns."""

    flat_below: np.ndarray  # a window's peak-to-peak at or below this is flat: half an ADC step, or 0
    low: np.ndarray  # a sample at or below this is clipped (-inf: no limit)
    high: np.ndarray  # a sample at or above this is clipped (inf: no limit)

    @classmethod
    def of(cls, header: Header, channels: Sequence[int]) -> Limits:
        """The limits of ``channels`` (header order) from what the reader put in ``header``.

        Half a step rather than one: two samples one step apart differ by a step up to float32
        rounding, so "below one step" is "constant digital value" either way.
        """
        def column(values: tuple[float, ...], default: float, scale: float = 1.0) -> np.ndarray:
            picked = [values[c] * scale if values else default for c in channels]
            return np.array(picked, dtype=np.float32).reshape(-1, 1)

        return cls(column(header.adc_step, 0.0, 0.5), column(header.clip_low, -np.inf),
                   column(header.clip_high, np.inf))

    @property
    def clips(self) -> bool:
        """Whether any channel has a finite limit."""
        return bool(np.isfinite(self.low).any() or np.isfinite(self.high).any())


def _extremes(raw: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per channel and window, the min and max of ``raw[:, lo[i]:hi[i]]``: two (C, k) arrays.

    One ``reduceat`` pass per extreme over the block whatever the windows' overlap: the even
    entries of ``[lo0, hi0, lo1, hi1, ...]`` reduce the windows, the odd ones what lies between
    (or one sample where windows overlap). Windows reaching the block's end are reduced apart,
    as ``reduceat`` takes no index equal to the length.
    """
    n = int(np.searchsorted(hi, raw.shape[1]))  # windows ending before the block's end
    mins = np.empty((raw.shape[0], len(lo)), dtype=raw.dtype)
    maxs = np.empty_like(mins)
    if n:
        index = np.empty(2 * n, dtype=np.intp)
        index[0::2], index[1::2] = lo[:n], hi[:n]
        mins[:, :n] = np.minimum.reduceat(raw, index, axis=1)[:, 0::2]
        maxs[:, :n] = np.maximum.reduceat(raw, index, axis=1)[:, 0::2]
    for i in range(n, len(lo)):
        mins[:, i] = raw[:, lo[i]:hi[i]].min(axis=1)
        maxs[:, i] = raw[:, lo[i]:hi[i]].max(axis=1)
    return mins, maxs


def window_flags(raw: np.ndarray, missing: np.ndarray | None, lo: np.ndarray, hi: np.ndarray,
                 limits: Limits) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 (k,) flags, bool (C, k) flat channels) of k windows over ``raw[:, lo[i]:hi[i]]``.

    ``raw`` is (C, T) after filling; ``missing`` the (C, T) mask of the samples that were
    missing, or None when none was; ``lo``/``hi`` non-decreasing, each window non-empty.
    """
    flags = np.zeros(len(lo), dtype=np.uint8)
    if missing is not None:
        counts = np.zeros(missing.shape[1] + 1, dtype=np.int64)
        np.cumsum(missing.any(axis=0), out=counts[1:])
        flags[counts[hi] > counts[lo]] |= FILLED
    mins, maxs = _extremes(raw, lo, hi)
    flat = (maxs - mins) <= limits.flat_below
    flags[flat.any(axis=0)] |= FLAT
    if limits.clips:
        flags[((mins <= limits.low) | (maxs >= limits.high)).any(axis=0)] |= CLIPPED
    return flags, flat


def count_clipped(raw: np.ndarray, limits: Limits) -> int:
    """Samples of ``raw`` (C, T) at or beyond their channel's limits."""
    return int(np.count_nonzero((raw <= limits.low) | (raw >= limits.high)))
