"""preprocess: torch_ecg 0.0.33's PreprocManager (NumPy path) reproduced on real records, each
step and in combination, whole records and streamed in blocks; config errors in one line."""

from __future__ import annotations

import tracemalloc
import warnings

import numpy as np
import pytest
import wfdb
from scipy.signal import resample_poly

from ecgspec.signal.preprocess import PreprocessError, apply_preprocess, parse_preprocess
from ecgspec.signal.preprocess_stream import preprocessed

PreprocManager = pytest.importorskip("torch_ecg._preprocessors").PreprocManager

CONFIGS = {
    "baseline": {"baseline_remove": {"window1": 0.2, "window2": 0.6}},
    "butter": {"bandpass": {"lowcut": 0.5, "highcut": 45}},
    "butter-order3": {"bandpass": {"lowcut": 1, "highcut": 40, "filter_order": 3}},
    "highpass": {"bandpass": {"lowcut": 0.5, "highcut": None}},
    "lowpass": {"bandpass": {"lowcut": 0, "highcut": 40}},
    "fir": {"bandpass": {"lowcut": 0.5, "highcut": 45, "filter_type": "fir"}},
    "zscore": {"normalize": {"method": "z-score"}},
    "zscore-lead": {"normalize": {"method": "z-score", "per_channel": True, "mean": 0.5, "std": 2.0}},
    "minmax": {"normalize": {"method": "min-max"}},
    "minmax-lead": {"normalize": {"method": "min-max", "per_channel": True}},
    "naive": {"normalize": {"method": "naive", "mean": 0.25, "std": 3.0}},
    "all": {"baseline_remove": {}, "bandpass": {"lowcut": 0.5, "highcut": 45}, "normalize": {"method": "z-score"}},
    "all-lead": {"baseline_remove": {}, "bandpass": {"lowcut": 0.5, "highcut": 45},
                 "normalize": {"method": "z-score", "per_channel": True}},
    "reversed": {"normalize": {"method": "min-max"}, "bandpass": {}, "baseline_remove": {"window1": 0.3, "window2": 0.1}},
}
STATS = {"zscore", "zscore-lead", "all", "all-lead"}  # streamed statistics: float64 sums, not float32 ones
SLOW = {"baseline", "all", "all-lead", "reversed", "fir"}  # torch_ecg's median filter, FIR designs: seconds each
NAMES = [pytest.param(name, marks=pytest.mark.slow) if name in SLOW else name for name in sorted(CONFIGS)]


def _torch_ecg(config: dict, signal: np.ndarray, fs: float) -> np.ndarray:
    """torch_ecg's own result; lists become arrays, as its Normalize needs them."""
    cfg = {step: {k: np.array(v) if isinstance(v, list) else v for k, v in kw.items()} for step, kw in config.items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # BaselineRemove's window swap
        out, fs_out = PreprocManager.from_config(cfg)(signal.copy(), fs)
    assert fs_out == fs
    return np.asarray(out)


def _cinc(cinc_dir, every: int = 10) -> list[np.ndarray]:
    """Every 10th CinC record as (12, 5000) float32 in C order (the layout ecgspec's windows have:
    torch_ecg's whole-record float32 mean depends on it)."""
    paths = sorted(cinc_dir.glob("*.hea"))[::every]
    return [np.ascontiguousarray(wfdb.rdrecord(str(p.with_suffix(""))).p_signal.T, dtype=np.float32) for p in paths]


@pytest.fixture(scope="module")
def cinc(cinc_dir) -> list[np.ndarray]:
    return _cinc(cinc_dir)


@pytest.fixture(scope="module")
def mitdb_500(wfdb_dir) -> np.ndarray:
    """MIT-BIH 100 (30 minutes, MLII and V5) resampled 360 -> 500 Hz, float32."""
    record = wfdb.rdrecord(str(wfdb_dir / "100"))
    return np.ascontiguousarray(resample_poly(record.p_signal.T, 25, 18, axis=-1), dtype=np.float32)


def _streamed(config: dict, signal: np.ndarray, fs: float, block: int, step: int) -> np.ndarray:
    read = preprocessed(parse_preprocess(config), lambda a, b: signal[:, a:b].copy(), signal.shape[1], fs, block)
    n = signal.shape[1]
    return np.concatenate([read(a, min(n, a + step)) for a in range(0, n, step)], axis=1)


def _close(actual: np.ndarray, expected: np.ndarray, name: str, exact: bool) -> None:
    assert actual.dtype == np.float32 and actual.shape == expected.shape
    if exact:
        np.testing.assert_array_equal(actual, expected.astype(np.float32), err_msg=name)
    else:  # float32 rounding of the record's statistics
        scale = np.abs(expected).max(axis=-1, keepdims=True)
        assert (np.abs(actual - expected) <= 2e-6 * scale).all(), name


# ---------------------------------------------------------------- whole records, against torch_ecg


@pytest.mark.parametrize("name", NAMES)
def test_whole_record_equals_torch_ecg_on_cinc(cinc, name):
    config = CONFIGS[name]
    for signal in cinc:
        ref = _torch_ecg(config, signal, 500)
        _close(apply_preprocess(parse_preprocess(config), signal, 500), ref, name, exact=True)


@pytest.mark.slow
def test_other_rates_equal_torch_ecg(cpsc_dir, wfdb_dir):
    """CPSC at 200 Hz (default order round(2.0) = 2) and a103l at 250 Hz, as read."""
    for path, fs in [(cpsc_dir / "data_101_6", 200), (wfdb_dir / "a103l", 250)]:
        record = wfdb.rdrecord(str(path), sampto=20000)
        signal = np.ascontiguousarray(np.nan_to_num(record.p_signal.T), dtype=np.float32)
        for name in ("all", "all-lead", "fir", "reversed"):
            ref = _torch_ecg(CONFIGS[name], signal, fs)
            _close(apply_preprocess(parse_preprocess(CONFIGS[name]), signal, fs), ref, f"{path.name} {name}", exact=True)


@pytest.mark.slow
def test_mitdb_resampled_equals_torch_ecg(mitdb_500):
    """The first 10 minutes (300,000 samples, more than a block: streamed), z-score per lead and not;
    torch_ecg's steps run one after the other, as its PreprocManager runs them."""
    signal = mitdb_500[:, :300000]
    filtered = _torch_ecg({"baseline_remove": {}, "bandpass": {"lowcut": 0.5, "highcut": 45}}, signal, 500)
    for name in ("all", "all-lead"):
        ref = _torch_ecg({"normalize": CONFIGS[name]["normalize"]}, filtered, 500)
        _close(apply_preprocess(parse_preprocess(CONFIGS[name]), signal, 500), ref, name, exact=True)
        _close(_streamed(CONFIGS[name], signal, 500, 1 << 16, 5000), ref, f"{name} streamed", exact=False)


def test_butterworth_is_reproduced_bit_for_bit_because_it_must_be(mitdb_500):
    """torch_ecg's transfer-function Butterworth (0.5-45 Hz, order 5 at 500 Hz) moves by ~1e-3 of its
    peak when one input sample moves by one ulp: only the exact computation matches it."""
    config = CONFIGS["butter"]
    nudged = mitdb_500.copy()
    nudged[:, 1000] = np.nextafter(nudged[:, 1000], np.float32(np.inf))
    a, b = _torch_ecg(config, mitdb_500, 500), _torch_ecg(config, nudged, 500)
    assert (np.abs(a - b).max(axis=1) > 1e-4 * np.abs(a).max(axis=1)).all()
    _close(_streamed(config, mitdb_500, 500, 1 << 16, 7777), a, "butter streamed", exact=True)


# ---------------------------------------------------------------- streaming equals the whole record


@pytest.mark.parametrize("name", NAMES)
def test_streamed_equals_whole_record(cinc, name):
    config = CONFIGS[name]
    for signal in cinc[:3]:
        whole = apply_preprocess(parse_preprocess(config), signal, 500)
        for block, step in [(1024, 500), (1500, 1499), (4999, 5000)]:
            _close(_streamed(config, signal, 500, block, step), whole, f"{name} block {block}", exact=name not in STATS)


def test_streamed_reads_any_range_in_any_order(mitdb_500):
    config = CONFIGS["all-lead"]
    signal = mitdb_500[:, :200000]
    whole = apply_preprocess(parse_preprocess(config), signal, 500)
    read = preprocessed(parse_preprocess(config), lambda a, b: signal[:, a:b], signal.shape[1], 500, block=1 << 14)
    rng = np.random.default_rng(19)
    for _ in range(12):
        a = int(rng.integers(0, signal.shape[1] - 1))
        b = int(rng.integers(a + 1, min(signal.shape[1], a + 40000) + 1))
        _close(read(a, b), whole[:, a:b], f"[{a}, {b})", exact=False)


@pytest.mark.slow
def test_streaming_memory_is_bounded_by_the_block(mitdb_500):
    """Peak traced memory of a stream over 4x the record is that over 1x: blocks, not the record."""
    config = {"bandpass": {"lowcut": 0.5, "highcut": 45}, "normalize": {"method": "z-score", "per_channel": True}}
    base = mitdb_500[:, :250000]

    def peak(repeats: int) -> int:
        n = base.shape[1] * repeats

        def read(a: int, b: int) -> np.ndarray:  # the record tiled, made block by block
            return base[:, np.arange(a, b) % base.shape[1]]

        stream = preprocessed(parse_preprocess(config), read, n, 500, block=1 << 15)
        tracemalloc.start()
        for a in range(0, n, 5000):
            stream(a, min(n, a + 5000))
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return top

    one, four = peak(1), peak(4)
    block_bytes = 2 * (1 << 15) * 8
    assert four < one + block_bytes, (one, four)
    assert four < 24 * block_bytes, four


# ---------------------------------------------------------------- the config


def test_defaults_and_effective_config():
    pre = parse_preprocess({"random": False, "baseline_remove": {}, "bandpass": {}, "normalize": {}})
    assert pre.config(500) == {
        "baseline_remove": {"window1": 0.2, "window2": 0.6},
        "bandpass": {"lowcut": 0.5, "highcut": 45.0, "filter_type": "butter", "filter_order": 5},
        "normalize": {"method": "z-score", "mean": 0.0, "std": 1.0, "per_channel": False},
    }
    assert pre.config(360)["bandpass"]["filter_order"] == 4  # round(0.01 * fs), as torch_ecg
    assert parse_preprocess('{"bandpass": {"lowcut": 0.5, "highcut": null, "filter_order": 4}}').config(500) == {
        "bandpass": {"lowcut": 0.5, "highcut": None, "filter_type": "butter", "filter_order": 4}}
    # torch_ecg's dataset configs switch steps off with None/False
    assert parse_preprocess({"bandpass": None, "normalize": False, "baseline_remove": {}}).config(500) == {
        "baseline_remove": {"window1": 0.2, "window2": 0.6}}
    assert parse_preprocess({"bandpass": None}) is None and parse_preprocess(None) is None
    swapped = parse_preprocess({"baseline_remove": {"window1": 0.6, "window2": 0.2}})
    assert swapped.config(500) == {"baseline_remove": {"window1": 0.2, "window2": 0.6}}  # torch_ecg swaps them
    assert list(parse_preprocess(CONFIGS["reversed"]).config(500)) == ["normalize", "bandpass", "baseline_remove"]


@pytest.mark.parametrize("config, message", [
    ({"notch": {}}, "preprocess.notch: unknown step; the steps are bandpass, baseline_remove, normalize"),
    ({"resample": {"fs": 500}}, "preprocess.resample: ecgspec resamples to --fs before preprocessing; remove it"),
    ({"random": True, "bandpass": {}}, "preprocess.random: steps in random order cannot be reproduced"),
    ({"bandpass": True}, "preprocess.bandpass: got True, expected a mapping of its settings"),
    ({"bandpass": {"low": 1}}, "preprocess.bandpass.low: unknown key; bandpass takes lowcut, highcut, filter_type"),
    ({"bandpass": {"lowcut": "0.5"}}, "preprocess.bandpass.lowcut: got '0.5', expected a finite number or null"),
    ({"bandpass": {"lowcut": None, "highcut": None}}, "preprocess.bandpass: give lowcut or highcut"),
    ({"bandpass": {"lowcut": 40, "highcut": 30}}, "preprocess.bandpass: lowcut 40 must be below highcut 30"),
    ({"bandpass": {"filter_type": "cheby"}}, "preprocess.bandpass.filter_type: got 'cheby', expected one of butter, fir"),
    ({"bandpass": {"filter_order": 0}}, "preprocess.bandpass.filter_order: got 0, expected an integer >= 1"),
    ({"baseline_remove": {"window1": 0}}, "preprocess.baseline_remove.window1: got 0, expected a length in seconds"),
    ({"normalize": {"method": "zscore"}}, "preprocess.normalize.method: got 'zscore', expected one of z-score"),
    ({"normalize": {"std": 0}}, "preprocess.normalize.std: got 0.0, standard deviations must be > 0"),
    ({"normalize": {"mean": [0, 1]}}, "preprocess.normalize.mean: one value a lead needs per_channel: true"),
    ({"normalize": {"per_channel": "yes"}}, "preprocess.normalize.per_channel: got 'yes', expected true or false"),
    ("{bandpass", "preprocess: not JSON"),
    ([1, 2], "preprocess: got [1, 2], expected a mapping of steps"),
])
def test_bad_configs_are_one_line(config, message):
    with pytest.raises(PreprocessError) as err:
        parse_preprocess(config)
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


@pytest.mark.parametrize("config, fs, n_samples, n_channels, message", [
    ({"bandpass": {"highcut": 300}}, 500, 5000, 12,
     "preprocess.bandpass.highcut: 300 Hz is not below the Nyquist frequency (250 Hz at fs=500); use null"),
    ({"bandpass": {"lowcut": 60, "highcut": None}}, 100, 5000, 12,
     "preprocess.bandpass.lowcut: 60 Hz is not below the Nyquist frequency (50 Hz at fs=100)"),
    ({"bandpass": {"lowcut": 0.05, "highcut": 40}}, 500, 5000, 12,
     "preprocess.bandpass: the order-5 Butterworth filter for 0.05-40 Hz is unstable at fs=500"),
    ({"bandpass": {}}, 40, 5000, 12, "preprocess.bandpass.highcut: 45 Hz is not below the Nyquist frequency"),
    ({"bandpass": {"highcut": 15}}, 40, 5000, 12, "preprocess.bandpass.filter_order: torch_ecg's default order at fs=40 is 0"),
    ({"bandpass": {}}, 500, 30, 12, "preprocess.bandpass: filtfilt pads 33 samples, more than a window (n_samples=30)"),
    ({"baseline_remove": {"window2": 12}}, 500, 5000, 12,
     "preprocess.baseline_remove.window2: 12 s (6001 samples at fs=500) is longer than a window (n_samples=5000)"),
    ({"normalize": {"per_channel": True, "std": [1, 2, 3]}}, 500, 5000, 12,
     "preprocess.normalize.std: 3 values, but the output has 12 leads"),
    ({"fs": 250, "normalize": {}}, 500, 5000, 12, "preprocess.fs: 250 differs from the run's fs=500"),
])
def test_checks_against_the_run(config, fs, n_samples, n_channels, message):
    pre = parse_preprocess(config)
    with pytest.raises(PreprocessError) as err:
        pre.check(fs, n_samples, n_channels)
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


def test_the_unstable_filter_refused_is_unstable_in_torch_ecg(cinc):
    """0.05-40 Hz at order 5 and 500 Hz: torch_ecg's own output blows up, so refusing it loses nothing."""
    signal = cinc[0]
    with np.errstate(all="ignore"):
        out = _torch_ecg({"bandpass": {"lowcut": 0.05, "highcut": 40}}, signal, 500)
    assert not np.isfinite(out).all() or np.abs(out).max() > 1e3 * np.abs(signal).max()


def test_per_lead_targets_match_torch_ecg(cinc):
    config = {"normalize": {"method": "z-score", "per_channel": True, "mean": [0.1 * i for i in range(12)],
                            "std": [1.0 + i for i in range(12)]}}
    pre = parse_preprocess(config)
    pre.check(500, 5000, 12)
    for signal in cinc[:3]:
        _close(apply_preprocess(pre, signal, 500), _torch_ecg(config, signal, 500), "per-lead targets", exact=True)
        _close(_streamed(config, signal, 500, 1000, 700), _torch_ecg(config, signal, 500), "streamed", exact=False)


@pytest.mark.slow
def test_a_stream_reads_the_record_three_times_at_most(mitdb_500):
    """baseline_remove + bandpass + z-score: the forward pass, the backward pass (which gives the
    statistics too) and the output; the medians' margins add a little."""
    signal = mitdb_500[:, :400000]
    read_samples = [0]

    def read(a: int, b: int) -> np.ndarray:
        read_samples[0] += b - a
        return signal[:, a:b]

    stream = preprocessed(parse_preprocess(CONFIGS["all"]), read, signal.shape[1], 500, block=1 << 15)
    for a in range(0, signal.shape[1], 5000):
        stream(a, a + 5000)
    assert 3.0 <= read_samples[0] / signal.shape[1] < 3.1
