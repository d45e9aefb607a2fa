"""Cut records into fixed-length windows at the config's rate, in bounded memory.

The selected channels are grouped by their own rate (a multi-frequency record has
several). Each group is read in blocks of about ``block_samples`` raw samples per
channel, its missing samples (NaN/inf) are filled at its own rate, and the block is
resampled to the config's rate (:mod:`ecgspec.signal.resample`, in float64) with enough margin
for the filter that the windows equal those of resampling the whole record at once.
Windows start on the common length, the shortest group's resampled length, so leads
of different rates line up sample for sample.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Iterator, Sequence

import numpy as np

from ..readers import Header, Record, RecordError
from .preprocess import apply_preprocess
from .quality import CLIPPED, MISSING_LEAD, Limits, count_clipped, window_flags
from .resample import ceil_div, check_drift, resample_ratio, resample_span, resampled_length, source_span

if TYPE_CHECKING:
    from .record_layout import RecordLayout

__all__ = ["RateGroup", "WindowStats", "count_windows", "fill_missing", "iter_windows", "iter_flagged_windows",
           "rate_groups", "read_window", "window_starts", "WINDOW_BATCH_BYTES"]

MAX_ABS_VALUE = 1e15  # beyond this, |STFT|^2 of a window can overflow float32
WINDOW_BATCH_BYTES = 32 << 20  # at most this much of windows yielded at once


def window_starts(n_samples: int, window: int, stride: int) -> np.ndarray:
    """int64 starts 0, stride, 2*stride, ... of the windows that fit in ``n_samples``; a tail
    shorter than a window is dropped, so a record shorter than a window has none."""
    if window < 1 or stride < 1:
        raise ValueError(f"window ({window}) and stride ({stride}) must be >= 1")
    return np.arange(0, max(n_samples - window + 1, 0), stride, dtype=np.int64)


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

    nan_filled: int = 0  # missing samples filled, at each lead's own rate
    nan_skipped: int = 0  # windows skipped because too many samples were missing
    # for the quality summaries; left out of equality, so stats compare on the counts above
    counted: int = field(default=0, compare=False)  # raw samples (all leads) nan_filled and clipped count over
    clipped: int = field(default=0, compare=False)  # samples at their ADC limits (quality flags on only)
    flat_rows: set[int] = field(default_factory=set, compare=False)  # output rows flat over some window written

    def share(self, n: int) -> float:
        """``n`` as a share of the samples counted (0 when none was)."""
        return n / self.counted if self.counted else 0.0


@dataclass
class RateGroup:
    """Selected channels sharing one rate and length: read, filled and resampled together."""

    rows: list[int]  # their places in the output (indices into the selected channels)
    channels: list[int]  # their indices in header order
    rate: float
    n_in: int  # samples at ``rate``
    up: int
    down: int
    limits: Limits

    @property
    def n_out(self) -> int:
        return resampled_length(self.n_in, self.up, self.down)


def rate_groups(header: Header, channels: Sequence[int], fs: float) -> list[RateGroup]:
    """The selected ``channels`` grouped by (rate, length), in order of first appearance;
    RecordError when a rate cannot be resampled to ``fs`` without drift."""
    keyed: dict[tuple[float, int], list[int]] = {}
    for row, channel in enumerate(channels):
        keyed.setdefault((header.rate(channel), header.length(channel)), []).append(row)
    groups = []
    for (rate, n_in), rows in keyed.items():
        check_drift(rate, fs, n_in)
        up, down = resample_ratio(rate, fs)
        picked = [int(channels[r]) for r in rows]
        groups.append(RateGroup(rows, picked, rate, n_in, up, down, Limits.of(header, picked)))
    return groups


def common_length(groups: Sequence[RateGroup]) -> int:
    """Samples at the config's rate that every group covers: where windows may start."""
    return min(g.n_out for g in groups)


def count_windows(header: Header, channels: Sequence[int], fs: float, window: int, stride: int) -> int:
    """How many windows :func:`iter_windows` cuts from a record with this header, before any is
    skipped for missing samples; RecordError where :func:`rate_groups` refuses the record.
    From the header alone (``extract --dry-run``)."""
    lengths = {(header.rate(c), header.length(c)) for c in channels}
    for rate, n_in in lengths:
        check_drift(rate, fs, n_in)
    n = min(resampled_length(n_in, *resample_ratio(rate, fs)) for rate, n_in in lengths)
    return len(range(0, max(n - window + 1, 0), stride))  # = len(window_starts(n, window, stride))


def _chunks(starts: np.ndarray, window: int, stride: int, block_out: int, max_windows: int) -> Iterator[np.ndarray]:
    """Consecutive groups of window starts spanning about ``block_out`` output samples, at most
    ``max_windows`` of them (a small stride would otherwise copy each sample many times over)."""
    per_chunk = max(1, min((block_out - window) // stride + 1, max_windows))
    for i in range(0, len(starts), per_chunk):
        yield starts[i : i + per_chunk]


@dataclass(frozen=True)
class Cut:
    """How windows are cut: at rate ``fs``, ``window`` samples every ``stride``; a window missing more
    than ``max_nan`` of a lead's samples is skipped; ``block_samples`` raw samples are read at a time;
    ``quality``: compute the quality flags (else all 0); ``values``: cut the windows' values (else only their
    starts and flags, the values None: ``--store signals`` keeps the whole signal instead)."""

    fs: float
    window: int
    stride: int
    max_nan: float = 0.1
    block_samples: int = 1 << 20
    quality: bool = True
    values: bool = True


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

    Each channel is resampled from its own rate to ``fs``; windows start at
    ``window_starts(common length, window, stride)``. Missing samples are filled (see
    :func:`fill_missing`) at the channel's rate before resampling; a window is skipped when
    any of its channels misses more than ``max_nan`` of the raw samples it covers (raw range
    ``[floor(start * rate / fs), ceil((start + window) * rate / fs))``). No NaN or inf is
    yielded, and values beyond ``MAX_ABS_VALUE`` are a RecordError; groups whose windows
    were all skipped yield nothing, as does a record shorter than one window.

    Memory: at most ``WINDOW_BATCH_BYTES`` of windows at a time; each channel is read
    ``block_samples`` raw samples at a time (or less) plus the resampling filter's margins,
    so the windows equal whole-record resampling. Missing samples are filled from within
    the block read, so a gap running past a block's margin is filled from the block's own
    samples (by the nearest valid one at its edge).
    """
    cut = Cut(fs, window, stride, max_nan, block_samples, quality=False)
    for starts, windows, _ in iter_flagged_windows(record, channels, cut, stats):
        yield starts, windows


def iter_flagged_windows(
    record: Record, channels: Sequence[int], cut: Cut, stats: WindowStats | None = None,
    layout: RecordLayout | None = None,
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """:func:`iter_windows` with each window's quality flags: yields (starts, windows, uint8 (k,) flags).

    The flags (:mod:`ecgspec.signal.quality`) are computed on each rate group's raw samples over the
    window's raw range, and ``stats`` gets the clipped samples and the flat leads; with
    ``cut.quality`` false the flags are all 0 and nothing is computed.

    ``layout`` (its ``channels`` are ``channels``) turns the resampled signals into the output's
    leads (units, lead set) and preprocesses the whole record before the windows are cut, streamed
    in blocks (:mod:`ecgspec.signal.preprocess_stream`); windows of a record with a zero-filled lead
    carry the ``missing_lead`` flag.
    """
    window = cut.window
    groups = rate_groups(record.header, channels, cut.fs)
    n_common = common_length(groups)
    starts = window_starts(n_common, window, cut.stride)
    stats = stats if stats is not None else WindowStats()
    block_out = min(cut.block_samples * g.up // g.down for g in groups)
    n_out = layout.n_out if layout is not None else len(channels)
    max_windows = WINDOW_BATCH_BYTES // (4 * n_out * window)
    source = _laid_out(record, channels, cut.fs, layout, n_common) if len(starts) and cut.values else None
    missing = np.uint8(MISSING_LEAD if layout is not None and layout.missing else 0)
    counted_to = [0] * len(groups)  # per group: raw samples before this are counted in stats already
    for chunk in _chunks(starts, window, cut.stride, block_out, max_windows):
        span = (int(chunk[0]), int(chunk[-1]) + window)  # the outputs [m0, m1) this chunk covers
        blocks = [_read_group(record, g, chunk, span, cut, stats, counted_to[i]) for i, g in enumerate(groups)]
        counted_to = [b.counted_to for b in blocks]
        keep = blocks[0].keep if len(blocks) == 1 else np.logical_and.reduce([b.keep for b in blocks])
        kept = int(np.count_nonzero(keep))
        stats.nan_skipped += len(keep) - kept
        if kept:
            flags = blocks[0].flags if len(blocks) == 1 else np.bitwise_or.reduce([b.flags for b in blocks])
            for group, block in zip(groups, blocks):
                if block.flat is not None and block.flat.any():
                    stats.flat_rows.update(group.rows[i] for i in np.flatnonzero(block.flat[:, keep].any(axis=1)))
            picked = chunk if kept == len(keep) else chunk[keep]
            flags = flags if kept == len(keep) else flags[keep]
            if not cut.values:
                yield picked, None, flags | missing if missing else flags  # type: ignore[misc]
                continue
            signal = source(*span) if source is not None and span != (0, n_common) else \
                _chunk_signal(groups, blocks, span, len(channels), layout, source is not None, cut.fs)
            yield picked, _cut(signal, picked - span[0], window), flags | missing if missing else flags


def _chunk_signal(groups: list[RateGroup], blocks: list[_Block], span: tuple[int, int], n_channels: int,
                  layout: RecordLayout | None, preprocess: bool, fs: float) -> np.ndarray:
    """The output's leads over ``span`` from the chunk's own blocks: laid out, and with ``preprocess`` (the chunk
    is then the whole record, a short one) preprocessed here, not read again."""
    signal = _resampled(groups, blocks, span, n_channels)
    signal = layout.arrange(signal) if layout is not None and layout.changes_values else signal
    return apply_preprocess(layout.preprocess, signal, fs) if preprocess and layout is not None else signal


def _laid_out(record: Record, channels: Sequence[int], fs: float, layout: RecordLayout | None,
              n: int) -> Callable[[int, int], np.ndarray] | None:
    """With preprocessing, a reader of the output's leads over any span (layout applied, then the
    steps over the whole record); None without (the windowing's own blocks then make the output)."""
    if layout is None or layout.preprocess is None:
        return None
    return span_reader(record, layout, fs, n)


def span_reader(record: Record, layout: RecordLayout, fs: float, n: int) -> Callable[[int, int], np.ndarray]:
    """``read(a, b)``: float32 (n_out, b - a), the output's leads over samples ``[a, b)`` of the record's
    ``n`` at ``fs``: missing samples filled, resampled, laid out, and preprocessed over the whole record,
    as the windows are cut from (``--store signals`` stores this, read in increasing spans)."""
    groups = rate_groups(record.header, layout.channels, fs)

    def read(a: int, b: int) -> np.ndarray:
        chunk = np.array([a], dtype=np.int64)
        span_cut = Cut(fs, b - a, b - a, max_nan=1.0, quality=False)
        blocks = [_read_group(record, g, chunk, (a, b), span_cut, WindowStats(), 0) for g in groups]
        return layout.arrange(_resampled(groups, blocks, (a, b), len(layout.channels)))

    if layout.preprocess is None:
        return read
    from .preprocess_stream import preprocessed

    return preprocessed(layout.preprocess, read, n, fs)


def _cut(signal: np.ndarray, offsets: np.ndarray, window: int) -> np.ndarray:
    """float32 C-contiguous (k, C, window): the windows of ``signal`` (C, T) starting at ``offsets``.
    One window spanning the whole signal (a record of one window) is the signal itself, uncopied."""
    if len(offsets) == 1:
        start = int(offsets[0])
        return np.ascontiguousarray(signal[None, :, start : start + window])
    views = np.lib.stride_tricks.sliding_window_view(signal, window, axis=-1).transpose(1, 0, 2)
    return np.ascontiguousarray(views[offsets])


def read_window(record: Record, channels: Sequence[int], fs: float, window: int, start: int) -> np.ndarray:
    """float32 (len(channels), window): the window at output sample ``start`` exactly as
    :func:`iter_windows` cuts it (same reads, filling and resampling), for ``ecgspec plot``."""
    groups = rate_groups(record.header, channels, fs)
    chunk = np.array([start], dtype=np.int64)
    span = (start, start + window)
    if start < 0 or span[1] > min(g.n_out for g in groups):
        raise RecordError(f"window at {start} does not fit the record's {min(g.n_out for g in groups)} samples")
    cut = Cut(fs, window, window, max_nan=1.0, quality=False)
    blocks = [_read_group(record, g, chunk, span, cut, WindowStats(), 0) for g in groups]
    return _resampled(groups, blocks, span, len(channels))


@dataclass
class _Block:
    """One rate group's raw samples for a chunk of windows, and what the chunk's windows learnt from them."""

    a: int  # first raw sample read
    raw: np.ndarray  # (C, T) filled
    keep: np.ndarray  # bool (k,): the window passes max_nan
    flags: np.ndarray  # uint8 (k,) quality flags (0 when not computed)
    flat: np.ndarray | None  # bool (C, k) channels flat over each window, None when not computed
    peak: float | None  # max |raw| when nothing was missing (so raw is as read), else None
    counted_to: int  # raw samples before this are counted in the stats, this chunk's included


def _read_group(
    record: Record, group: RateGroup, chunk: np.ndarray, span: tuple[int, int], cut: Cut, stats: WindowStats,
    counted_to: int,
) -> _Block:
    """Read ``group``'s raw samples for outputs ``span``, count (from raw sample ``counted_to`` on) and
    fill the missing ones, and check each window against ``cut.max_nan`` (and flag it, with ``cut.quality``)."""
    up, down, window = group.up, group.down, cut.window
    a, b = source_span(*span, up, down, group.n_in)
    first_raw = chunk * down // up  # the raw samples [first_raw, last_raw) each window covers
    last_raw = np.minimum(ceil_div((chunk + window) * down, up), group.n_in)
    raw = record.read(a, b, group.channels)
    counted = (max(counted_to, int(first_raw[0])) - a, int(last_raw[-1]) - a)  # not counted before
    stats.counted += len(group.channels) * max(0, counted[1] - counted[0])
    counted_to = int(last_raw[-1])
    low, high = (float(raw.min()), float(raw.max())) if raw.size else (0.0, 0.0)  # NaN or inf if any is
    missing = None
    if not (math.isfinite(low) and math.isfinite(high)):
        missing = ~np.isfinite(raw)
        stats.nan_filled += int(missing[:, counted[0] : counted[1]].sum())
        fill_missing(raw)
    keep = _nan_ok(missing, first_raw - a, last_raw - a, cut.max_nan)
    peak = None if missing is not None else max(high, -low)
    if not cut.quality:
        return _Block(a, raw, keep, np.zeros(len(chunk), dtype=np.uint8), None, peak, counted_to)
    flags, flat = window_flags(raw, missing, first_raw - a, last_raw - a, group.limits)
    covered = bool(np.all(first_raw[1:] <= last_raw[:-1]))  # the windows leave no raw sample out
    if group.limits.clips and counted[1] > counted[0] and (not covered or (flags & CLIPPED).any()):
        stats.clipped += count_clipped(raw[:, counted[0] : counted[1]], group.limits)
    return _Block(a, raw, keep, flags, flat, peak, counted_to)


def _resampled(
    groups: list[RateGroup], blocks: list[_Block], span: tuple[int, int], n_channels: int
) -> np.ndarray:
    """float32 (n_channels, m1 - m0): every group's block resampled to outputs ``span``, in output order."""
    parts = []
    for group, block in zip(groups, blocks):
        a, raw = block.a, block.raw
        if group.up == group.down:
            parts.append(raw[:, span[0] - a : span[1] - a])
        else:
            with np.errstate(over="ignore"):  # values near the float32 limit may overshoot to inf
                parts.append(resample_span(raw.astype(np.float64), a, *span, group.up, group.down, group.n_in).astype(np.float32))
    if len(groups) == 1:
        signal = parts[0]
    else:
        signal = np.empty((n_channels, span[1] - span[0]), dtype=np.float32)
        for group, part in zip(groups, parts):
            signal[group.rows] = part
    known = [b.peak for g, b in zip(groups, blocks) if g.up == g.down]  # unresampled: raw is the span
    if len(known) == len(groups) and None not in known:
        peak = max(known)  # type: ignore[type-var]
    else:
        peak = max(float(signal.max()), -float(signal.min())) if signal.size else 0.0
    if not peak <= MAX_ABS_VALUE:
        raise RecordError(f"values too large: they reach {peak:.3g}, beyond {MAX_ABS_VALUE:g} (float32 power overflows)")
    return signal


def _nan_ok(missing: np.ndarray | None, lo: np.ndarray, hi: np.ndarray, max_nan: float) -> np.ndarray:
    """Bool (k,): whether no channel of ``missing`` (C, T; None: nothing missing) misses more than
    ``max_nan`` of the samples in ``[lo, hi)``, for each of the k windows' raw ranges."""
    if missing is None or not missing.any():
        return np.ones(len(lo), dtype=bool)
    counts = np.zeros((missing.shape[0], missing.shape[1] + 1), dtype=np.int64)
    np.cumsum(missing, axis=1, out=counts[:, 1:])
    worst = (counts[:, hi] - counts[:, lo]).max(axis=0)
    return worst <= max_nan * (hi - lo)
