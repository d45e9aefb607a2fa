"""windowing: window starts, resampling ratios, NaN filling, blockwise windows equal whole-record ones."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from scipy.signal import resample_poly

from ecgspec.readers import RecordRef, find_records, open_record
from ecgspec.signal.resample import ceil_div, resample_ratio, resampled_length
from ecgspec.signal.windowing import WindowStats, fill_missing, iter_windows, window_starts
from tests.helpers.records import MultiRateRecord, impulses


def _open(path: Path):
    refs, problems = find_records([path])
    assert problems == [] and len(refs) == 1
    return open_record(refs[0])


def _collect(windows) -> tuple[np.ndarray, np.ndarray]:
    starts, batches = [], []
    for s, w in windows:
        assert s.dtype == np.int64 and w.dtype == np.float32 and w.flags.c_contiguous
        assert w.shape[0] == len(s) > 0 and np.isfinite(w).all()
        starts.append(s)
        batches.append(w)
    if not starts:
        return np.empty(0, dtype=np.int64), np.empty((0, 0, 0), dtype=np.float32)
    return np.concatenate(starts), np.concatenate(batches)


def _whole(signal: np.ndarray, fs_in: float, fs: float, window: int, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """Windows of the whole record resampled at once: what the blockwise iterator must match."""
    up, down = resample_ratio(fs_in, fs)
    y = signal if up == down else resample_poly(signal.astype(np.float64), up, down, axis=-1)
    starts = window_starts(y.shape[-1], window, stride)
    return starts, np.stack([y[:, s : s + window] for s in starts]).astype(np.float32)


# ---------------------------------------------------------------- window_starts and ratios


@pytest.mark.parametrize(
    "n, window, stride, expected",
    [
        (10, 3, 2, [0, 2, 4, 6]),
        (10, 5, 5, [0, 5]),
        (11, 5, 5, [0, 5]),
        (3, 3, 1, [0]),
        (2, 3, 1, []),
        (0, 3, 1, []),
        (10, 4, 100, [0]),
    ],
)
def test_window_starts(n, window, stride, expected):
    starts = window_starts(n, window, stride)
    assert starts.dtype == np.int64
    assert starts.tolist() == expected
    assert all(s + window <= n for s in starts)


@pytest.mark.parametrize("window, stride", [(0, 1), (5, 0), (-1, 2)])
def test_window_starts_rejects_non_positive(window, stride):
    with pytest.raises(ValueError):
        window_starts(100, window, stride)


# ---------------------------------------------------------------- fill_missing


def test_fill_missing_interior_gap_is_linear():
    x = np.array([[0.0, 1.0, np.nan, np.nan, np.nan, 5.0, 6.0]], dtype=np.float32)
    assert fill_missing(x) == 3
    np.testing.assert_array_equal(x, [[0, 1, 2, 3, 4, 5, 6]])


def test_fill_missing_edges_inf_and_empty_channel():
    x = np.array(
        [
            [np.nan, np.nan, 2.0, np.inf, 4.0, -np.inf, -np.inf],
            [np.nan, np.nan, np.nan, np.nan, np.nan, np.nan, np.nan],
            [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0],
        ],
        dtype=np.float32,
    )
    assert fill_missing(x) == 2 + 1 + 2 + 7
    np.testing.assert_array_equal(x[0], [2, 2, 2, 3, 4, 4, 4])
    np.testing.assert_array_equal(x[1], np.zeros(7))
    np.testing.assert_array_equal(x[2], np.arange(1, 8))


def test_fill_missing_nothing_to_do():
    x = np.random.default_rng(1).standard_normal((3, 50)).astype(np.float32)
    before = x.copy()
    assert fill_missing(x) == 0
    np.testing.assert_array_equal(x, before)


# ---------------------------------------------------------------- iter_windows on real records


def test_cpsc_window_counts_at_own_rate(cpsc_dir):
    for header in sorted(cpsc_dir.glob("*.hea")):
        rec = _open(header)
        stats = WindowStats()
        starts, windows = _collect(iter_windows(rec, [0, 1], 200, 2000, 2000, block_samples=7000, stats=stats))
        n = rec.header.n_samples
        assert len(starts) == n // 2000, header.name
        assert stats == WindowStats()
        full = rec.read(0, len(starts) * 2000, [0, 1])
        np.testing.assert_array_equal(windows, full.reshape(2, -1, 2000).transpose(1, 0, 2))


@pytest.mark.parametrize("block_samples", [1000, 1 << 20])
def test_mitbih_resampled_equals_whole_record(wfdb_dir, block_samples):
    rec = _open(wfdb_dir / "100")
    full = rec.read(0, rec.header.n_samples, [0, 1])
    expected_starts, expected = _whole(full, 360, 500, 2500, 1900)
    starts, windows = _collect(iter_windows(rec, [0, 1], 500, 2500, 1900, block_samples=block_samples))
    np.testing.assert_array_equal(starts, expected_starts)
    assert len(starts) == (resampled_length(650000, 25, 18) - 2500) // 1900 + 1
    np.testing.assert_allclose(windows, expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize("fs", [200, 500, 128, 257])
def test_cpsc_blockwise_equals_whole(cpsc_dir, fs):
    rec = _open(cpsc_dir / "data_101_6")
    full = rec.read(0, rec.header.n_samples, [1, 0])
    expected_starts, expected = _whole(full, 200, fs, 1000, 700)
    starts, windows = _collect(iter_windows(rec, [1, 0], fs, 1000, 700, block_samples=1000))
    np.testing.assert_array_equal(starts, expected_starts)
    np.testing.assert_allclose(windows, expected, rtol=0, atol=1e-6)


def test_downsampled_two_file_record(wfdb_dir):
    rec = _open(wfdb_dir / "s0010_re")
    channels = [14, 3, 0]
    expected_starts, expected = _whole(rec.read(0, 38400, channels), 1000, 500, 5000, 5000)
    starts, windows = _collect(iter_windows(rec, channels, 500, 5000, 5000, block_samples=3000))
    assert starts.tolist() == [0, 5000, 10000] and starts.tolist() == expected_starts.tolist()
    np.testing.assert_allclose(windows, expected, rtol=0, atol=1e-6)


def test_record_shorter_than_a_window_yields_nothing(wfdb_dir):
    rec = _open(wfdb_dir / "100_3chan")
    stats = WindowStats()
    assert list(iter_windows(rec, [0, 1, 2], 360, 1000, 1000, stats=stats)) == []
    assert list(iter_windows(rec, [0], 128, 357, 10)) == []  # resampled to ceil(355.2) = 356 samples
    assert stats == WindowStats()


def test_resampled_length_edge_window_fits_exactly(wfdb_dir):
    rec = _open(wfdb_dir / "100_3chan")
    n_out = resampled_length(999, 25, 18)
    starts, windows = _collect(iter_windows(rec, [2], 500, n_out, 1, block_samples=100))
    assert starts.tolist() == [0] and windows.shape == (1, 1, n_out)
    np.testing.assert_allclose(windows, _whole(rec.read(0, 999, [2]), 360, 500, n_out, 1)[1], rtol=0, atol=1e-6)


# ---------------------------------------------------------------- missing samples


@pytest.fixture
def nan_record(tmp_path, cpsc_dir):
    """data_101_6 as .npz, channel 0 missing 500 samples in window 3 and 100 in window 5 (of 2000)."""
    signal = _open(cpsc_dir / "data_101_6").read(0, 22355, [0, 1])
    signal[0, 6000:6500] = np.nan
    signal[0, 10200:10300] = np.inf
    np.savez(tmp_path / "gaps.npz", signal=signal, fs=200.0, leads=np.array(["I", "II"]))
    return _open(tmp_path / "gaps.npz"), signal


def test_windows_with_too_many_missing_are_skipped(nan_record):
    rec, signal = nan_record
    stats = WindowStats()
    starts, windows = _collect(iter_windows(rec, [0, 1], 200, 2000, 2000, block_samples=5000, stats=stats))
    assert 6000 not in starts and 10000 in starts and len(starts) == 22355 // 2000 - 1
    assert stats == WindowStats(nan_filled=600, nan_skipped=1)
    gap = windows[starts.tolist().index(10000), 0, 199:301]
    np.testing.assert_allclose(gap, np.linspace(signal[0, 10199], signal[0, 10300], 102), rtol=1e-5, atol=1e-4)


def test_missing_counted_once_with_overlap_and_max_nan(nan_record):
    rec, _ = nan_record
    stats = WindowStats()
    starts, _ = _collect(iter_windows(rec, [1, 0], 200, 2000, 500, max_nan=0.3, block_samples=3000, stats=stats))
    assert stats == WindowStats(nan_filled=600, nan_skipped=0)
    assert len(starts) == (22355 - 2000) // 500 + 1
    stats = WindowStats()
    list(iter_windows(rec, [1], 200, 2000, 500, max_nan=0.0, stats=stats))
    assert stats == WindowStats()  # channel 1 has nothing missing


def test_missing_share_measured_at_the_record_rate(nan_record):
    rec, _ = nan_record
    stats = WindowStats()
    starts, windows = _collect(iter_windows(rec, [0, 1], 500, 5000, 5000, block_samples=4000, stats=stats))
    # 500 Hz windows of 5000 cover raw [2000 k, 2000 k + 2000): the same windows as at 200 Hz
    assert 15000 not in starts and 25000 in starts and stats.nan_skipped == 1 and stats.nan_filled == 600
    assert np.isfinite(windows).all()


@pytest.mark.slow
def test_small_stride_keeps_each_yield_within_the_chunk_budget(wfdb_dir):
    """Stride 25 at 500 Hz overlaps every sample 200 times: yields stay under WINDOW_BATCH_BYTES yet equal the whole."""
    from ecgspec.signal import windowing

    rec = _open(wfdb_dir / "100")
    blocks = list(iter_windows(rec, [0, 1], 500, 5000, 25, block_samples=1 << 16))
    assert max(w.nbytes for _, w in blocks) <= windowing.WINDOW_BATCH_BYTES
    starts = np.concatenate([s for s, _ in blocks])
    whole = resample_poly(rec.read(0, 200_000, [0, 1]).astype(np.float64), 25, 18, axis=-1).astype(np.float32)
    i = int(np.searchsorted(starts, 100_000))
    got = next(w[i - int(np.searchsorted(starts, s[0]))] for s, w in blocks if s[0] <= starts[i] <= s[-1])
    np.testing.assert_allclose(got, whole[:, starts[i]:starts[i] + 5000], rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------- multi-rate records (in-memory, the reader contract)

REF = RecordRef("mr", Path("mr.npy"), "npy")


def _whole_multirate(signals, rates, fs, window, stride):
    """Each lead resampled whole with resample_poly at its exact ratio, cut to the shortest: the reference."""
    leads = []
    for x, rate in zip(signals, rates):
        up, down = resample_ratio(rate, fs)
        leads.append(x if up == down else resample_poly(x.astype(np.float64), up, down).astype(np.float32))
    n = min(len(y) for y in leads)
    y = np.stack([lead[:n] for lead in leads])
    starts = window_starts(n, window, stride)
    return starts, np.stack([y[:, s : s + window] for s in starts]) if len(starts) else np.empty((0,))


@pytest.mark.parametrize("block_samples", [700, 5003, 1 << 20])
@pytest.mark.parametrize(
    "rates",
    [(500, 125, 250), (125, 500, 125), (249.89, 500), pytest.param((62.4725, 249.89, 1000), marks=pytest.mark.slow), (360, 257)],
)
def test_leads_at_different_rates_equal_each_resampled_whole(rates, block_samples):
    rng = np.random.default_rng(len(rates) + block_samples)
    seconds = 61.3
    lengths = [int(seconds * r) for r in rates]
    signals = [rng.standard_normal(n).astype(np.float32) for n in lengths]
    rec = MultiRateRecord(REF, signals, rates, lengths)
    channels = list(range(len(rates)))[::-1]
    expected_starts, expected = _whole_multirate([signals[c] for c in channels], [rates[c] for c in channels],
                                                 500, 2000, 1300)
    starts, windows = _collect(iter_windows(rec, channels, 500, 2000, 1300, block_samples=block_samples))
    np.testing.assert_array_equal(starts, expected_starts)
    np.testing.assert_allclose(windows, expected, rtol=0, atol=1e-6)
    assert all(stop - start <= block_samples + 40 * 200 for start, stop, _ in rec.reads)  # blocks + filter margins


def test_leads_of_different_rates_line_up_sample_for_sample():
    """A 7 Hz sine sampled at 500, 125 and 249.89 Hz is the same 500 Hz sine after resampling."""
    rates = (500, 125, 249.89)
    lengths = [int(31 * r) for r in rates]
    signals = [np.sin(2 * np.pi * 7 * np.arange(n) / r).astype(np.float32) for n, r in zip(lengths, rates)]
    rec = MultiRateRecord(REF, signals, rates, lengths)
    starts, windows = _collect(iter_windows(rec, [0, 1, 2], 500, 5000, 5000, block_samples=999))
    assert starts.tolist() == [0, 5000, 10000]  # common length: the shortest lead's, 31 s at 500 Hz
    sine = np.sin(2 * np.pi * 7 * (starts[:, None] + np.arange(5000)) / 500)
    away_from_ends = np.s_[:, :, 200:-200]  # the filter's edge effects at the record's start and end
    np.testing.assert_allclose(windows[away_from_ends], np.broadcast_to(sine[:, None], windows.shape)[away_from_ends],
                               atol=2e-3)


def test_common_length_is_the_shortest_resampled_lead():
    rates, lengths = (500, 125), (5000, 1600)  # 10 s and 12.8 s
    rec = MultiRateRecord(REF, [np.ones(5000), np.ones(1600)], rates, lengths)
    starts, _ = _collect(iter_windows(rec, [1, 0], 500, 1000, 1000))
    assert starts.tolist() == [0, 1000, 2000, 3000, 4000]


def test_missing_samples_counted_and_judged_at_each_leads_rate():
    """The 125 Hz lead misses 450 samples: counted at 125 Hz, its share judged on the 500 it has in a 4 s window."""
    rates, lengths = (500, 125), (20000, 5000)
    slow = np.ones(5000, dtype=np.float32)
    slow[250:700] = np.nan
    fast = np.ones(20000, dtype=np.float32)
    fast[10000:10100] = np.inf
    rec = MultiRateRecord(REF, [fast, slow], rates, lengths)
    stats = WindowStats()
    starts, windows = _collect(iter_windows(rec, [0, 1], 500, 2000, 2000, max_nan=0.3, block_samples=1000,
                                            stats=stats))
    # window k covers 125 Hz samples [500 k, 500 k + 500): window 0 misses 250 (0.5) and window 1 200 (0.4), both
    # skipped; window 5 of the 500 Hz lead misses 100 of 2000 (0.05): kept
    assert starts.tolist() == list(range(4000, 20000, 2000))
    assert stats == WindowStats(nan_filled=450 + 100, nan_skipped=2)
    assert np.isfinite(windows).all()


@pytest.mark.parametrize(
    "rate, period",  # impulses every `period` source samples, i.e. every period / rate seconds
    [(249.89, 24989), (62.4725, 24989), (360, 360), (257, 257), (1000, 1000)],
)
def test_no_drift_after_24_hours(rate, period):
    """An impulse train over 24 h: in the last window, each impulse is where start / fs puts it."""
    n_in = int(Fraction(repr(rate)) * 86400)
    rec = MultiRateRecord(REF, [impulses(period)], [rate], [n_in])
    up, down = resample_ratio(rate, 500)
    n_out = resampled_length(n_in, up, down)
    period_out = Fraction(period) / Fraction(repr(rate)) * 500  # output samples between impulses
    assert period_out.denominator == 1
    window = int(period_out) + 1000
    starts, windows = _collect(iter_windows(rec, [0], 500, window, n_out - window, block_samples=1 << 16))
    assert len(starts) == 2 and starts[-1] + window == n_out  # a window ending at 24 h
    last = windows[-1, 0]
    first_impulse = ceil_div(int(starts[-1]), int(period_out)) * int(period_out)
    assert int(np.argmax(last)) + int(starts[-1]) == first_impulse
    assert np.isclose(last.max(), windows[0, 0, int(period_out)], rtol=1e-4)  # the same peak as at the start
