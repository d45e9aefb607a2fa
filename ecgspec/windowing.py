"""Cut records into fixed-length windows at the config's rate, in bounded memory.

A record is read in blocks of about ``block_samples`` raw samples per channel,
missing samples (NaN/inf) are filled at the record's own rate, the block is
resampled to the config's rate with ``scipy.signal.resample_poly`` (in float64),
and the windows that start in it are cut out as float32. Blocks carry enough
margin for the resampling filter that, for a record without missing samples,
the windows equal those of resampling the whole record at once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Iterator, Sequence

import numpy as np
from scipy.signal import resample_poly

from .readers import Record, RecordError

__all__ = ["WindowStats", "fill_missing", "iter_windows", "resample_ratio", "resampled_length", "window_starts"]

MAX_RESAMPLE_FACTOR = 1000
MAX_ABS_VALUE = 1e15  # beyond this, |STFT|^2 of a window can overflow float32
CHUNK_BYTES = 32 << 20  # at most this much of windows yielded at once
# resample_poly's default FIR filter has 10 * max(up, down) taps on each side at the upsampled rate.
_FILTER_HALF_TAPS = 10


def window_starts(n_samples: int, window: int, stride: int) -> np.ndarray:
    """int64 starts 0, stride, 2*stride, ... of the windows that fit in ``n_samples``; a tail
    shorter than a window is dropped, so a record shorter than a window has none."""
    if window < 1 or stride < 1:
        raise ValueError(f"window ({window}) and stride ({stride}) must be >= 1")
    return np.arange(0, max(n_samples - window + 1, 0), stride, dtype=np.int64)


def resample_ratio(fs_in: float, fs_out: float) -> tuple[int, int]:
    """(up, down), coprime, with ``up / down == fs_out / fs_in``; RecordError when that needs
    factors above 1000 (an unusual rate such as 333.33 Hz)."""
    ratio = Fraction(fs_out / fs_in).limit_denominator(MAX_RESAMPLE_FACTOR)
    if ratio.numerator > MAX_RESAMPLE_FACTOR or not math.isclose(ratio, fs_out / fs_in, rel_tol=1e-9):
        raise RecordError(
            f"cannot resample {fs_in:g} Hz to {fs_out:g} Hz: needs up/down factors above {MAX_RESAMPLE_FACTOR}"
        )
    return ratio.numerator, ratio.denominator


def resampled_length(n_samples: int, fs_in: float, fs_out: float) -> int:
    """The length ``resample_poly`` gives ``n_samples`` resampled from ``fs_in`` to ``fs_out``."""
    up, down = resample_ratio(fs_in, fs_out)
    return -(-n_samples * up // down)


def fill_missing(signal: np.ndarray) -> int:
    """Fill non-finite samples of a (C, T) float array in place and return how many were filled.

    Each gap is linearly interpolated between the nearest valid samples of its channel; a
    gap at either end takes the nearest valid sample; a channel with no valid sample is 0.
    """
    filled = 0
    index = np.arange(signal.shape[-1])
    for channel in signal:
        bad = ~np.isfinite(channel)
        n_bad = int(bad.sum())
        if n_bad == 0:
            continue
        if n_bad == channel.size:
            channel[:] = 0
        else:
            channel[bad] = np.interp(index[bad], index[~bad], channel[~bad])
        filled += n_bad
    return filled


@dataclass
class WindowStats:
    """Counts :func:`iter_windows` adds to, for the pipeline's report."""

    nan_filled: int = 0  # missing samples filled, at the record's own rate
    nan_skipped: int = 0  # windows skipped because too many samples were missing


def _chunks(starts: np.ndarray, window: int, stride: int, block_out: int, max_windows: int) -> Iterator[np.ndarray]:
    """Consecutive groups of window starts spanning about ``block_out`` output samples, at most
    ``max_windows`` of them (a small stride would otherwise copy each sample many times over)."""
    per_chunk = max(1, min((block_out - window) // stride + 1, max_windows))
    for i in range(0, len(starts), per_chunk):
        yield starts[i : i + per_chunk]


def iter_windows(
    record: Record,
    channels: Sequence[int],
    fs: float,
    window: int,
    stride: int,
    max_nan: float = 0.1,
    block_samples: int = 1 << 20,
    stats: WindowStats | None = None,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield (starts int64 (k,), windows float32 C-contiguous (k, len(channels), window)) in order.

    The record is resampled to ``fs`` when its rate differs, and windows start at
    ``window_starts(resampled length, window, stride)``. Missing samples are filled (see
    :func:`fill_missing`) at the record's rate before resampling; a window is skipped when
    any of its channels misses more than ``max_nan`` of the raw samples it covers (raw range
    ``[floor(start * fs_in / fs), ceil((start + window) * fs_in / fs))``). No NaN or inf is
    yielded, and values beyond ``MAX_ABS_VALUE`` are a RecordError; groups whose windows
    were all skipped yield nothing, as does a record shorter than one window.

    Memory: at most ``CHUNK_BYTES`` of windows at a time; the record is read
    ``block_samples`` raw samples per channel at a time (or less), plus
    the resampling filter's margins, so the windows equal whole-record resampling. Missing
    samples are filled from within the block read, so a gap running past a block's margin
    is filled from the block's own samples (by the nearest valid one at its edge).
    """
    fs_in = record.header.fs
    n_in = record.header.n_samples
    up, down = resample_ratio(fs_in, fs)
    starts = window_starts(resampled_length(n_in, fs_in, fs), window, stride)
    margin = 0 if up == down == 1 else _FILTER_HALF_TAPS * max(up, down) + up + down
    stats = stats if stats is not None else WindowStats()
    counted_to = 0  # raw samples before this are already in stats.nan_filled
    max_windows = CHUNK_BYTES // (4 * len(channels) * window)
    for chunk in _chunks(starts, window, stride, block_samples * up // down, max_windows):
        first_raw = chunk * down // up  # the raw samples [first_raw, last_raw) each window covers
        last_raw = np.minimum(-(-(chunk + window) * down // up), n_in)
        # read from a multiple of `down`, so that block output i is output a * up / down + i
        a = max(0, (int(chunk[0]) * down - margin) // up // down * down)
        b = min(n_in, -(-((int(chunk[-1]) + window) * down + margin) // up) + 1)
        raw = record.read(a, b, channels)
        missing = ~np.isfinite(raw)
        stats.nan_filled += int(missing[:, max(counted_to, int(first_raw[0])) - a : int(last_raw[-1]) - a].sum())
        counted_to = int(last_raw[-1])
        if missing.any():
            fill_missing(raw)
        keep = _nan_ok(missing, first_raw - a, last_raw - a, max_nan)
        stats.nan_skipped += int((~keep).sum())
        if not keep.any():
            continue
        if up != down:
            with np.errstate(over="ignore"):  # the filter may overshoot values near the float32 limit
                raw = resample_poly(raw.astype(np.float64), up, down, axis=-1).astype(np.float32)
        peak = max(float(raw.max()), -float(raw.min())) if raw.size else 0.0
        if not peak <= MAX_ABS_VALUE:
            raise RecordError(f"values too large: they reach {peak:.3g}, beyond {MAX_ABS_VALUE:g} (float32 power overflows)")
        views = np.lib.stride_tricks.sliding_window_view(raw, window, axis=-1).transpose(1, 0, 2)
        yield chunk[keep], np.ascontiguousarray(views[chunk[keep] - a * up // down])


def _nan_ok(missing: np.ndarray, lo: np.ndarray, hi: np.ndarray, max_nan: float) -> np.ndarray:
    """Bool (k,): whether no channel of ``missing`` (C, T) misses more than ``max_nan`` of
    the samples in ``[lo, hi)``, for each of the k windows' raw ranges."""
    if not missing.any():
        return np.ones(len(lo), dtype=bool)
    counts = np.zeros((missing.shape[0], missing.shape[1] + 1), dtype=np.int64)
    np.cumsum(missing, axis=1, out=counts[:, 1:])
    worst = (counts[:, hi] - counts[:, lo]).max(axis=0)
    return worst <= max_nan * (hi - lo)
