"""Parity with the real torch_ecg 0.0.33 SpectrogramInput: same shapes, values within 1e-4 of max|ref|."""

from __future__ import annotations

import itertools
import random
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
import wfdb

from ecgspec import ConfigError, InputConfig, SpectrogramInput
from tests.helpers.compare import TOL
from tests.helpers.reference import reference  # torch_ecg's SpectrogramInput


def assert_parity(waveform, **cfg) -> float:
    ours = SpectrogramInput(InputConfig(device="cpu", **cfg))
    ref = reference(**cfg)
    expected = ref(waveform)
    got = ours(waveform)
    assert tuple(got.shape) == tuple(expected.shape)
    assert ours.compute_input_shape(waveform.shape) == tuple(got.shape)
    assert got.dtype == expected.dtype
    scale = float(expected.abs().max())
    err = float((got - expected).abs().max())
    assert err <= TOL * scale, f"max abs err {err} > {TOL} * {scale} for {cfg}"
    return err / scale if scale else 0.0


def grid() -> list[dict]:
    """Valid configs across fs 100..1000 Hz, n_bins 8..512, window/overlap over their ranges."""
    rng = random.Random(20261125)
    configs = []
    fss = [100, 128, 200, 250, 257, 360, 500, 1000]
    bins = [8, 9, 16, 33, 64, 128, 200, 257, 512]
    for fs, n_bins in itertools.product(fss, bins):
        for _ in range(3):
            window_size = rng.uniform(0.005, 0.1999)
            overlap_size = rng.uniform(0.001, 0.999) * window_size
            win = round(window_size * fs)
            hop = win - round(overlap_size * fs)
            if win < 1 or hop < 1 or win > 2 * (n_bins - 1):
                continue
            n_samples = rng.choice([n_bins, n_bins + 1, win + 1, 3 * win + 2, 1001, 2000])
            n_samples = max(n_samples, n_bins, win + 1)
            feature_fs = rng.choice([None, fs / 5, fs / 2.5, fs * 1.7, fs * 2, 37.0])
            cfg = dict(n_channels=rng.choice([1, 2, 3]), n_samples=n_samples, n_bins=n_bins, fs=fs,
                       window_size=window_size, overlap_size=overlap_size, to1d=rng.random() < 0.5)
            frames = n_samples // hop + 1
            if feature_fs is not None and int(frames * (feature_fs / fs)) >= 1:
                cfg["feature_fs"] = feature_fs
            configs.append(cfg)
    return configs


GRID = grid()


def test_grid_is_broad():
    assert len(GRID) >= 120
    assert {c["fs"] for c in GRID} >= {100, 1000}
    assert min(c["n_bins"] for c in GRID) == 8 and max(c["n_bins"] for c in GRID) == 512
    assert any(c["n_samples"] % 2 for c in GRID) and any(c["n_samples"] % 2 == 0 for c in GRID)
    assert any(c.get("feature_fs", 0) > c["fs"] for c in GRID)
    assert any(0 < c.get("feature_fs", 0) < c["fs"] for c in GRID)


@pytest.mark.parametrize("cfg", GRID, ids=lambda c: "-".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in c.items()))
def test_parity_grid(cfg):
    gen = torch.Generator().manual_seed(zlib.crc32(repr(sorted(cfg.items())).encode()))
    x = torch.randn(2, cfg["n_channels"], cfg["n_samples"], generator=gen)
    assert_parity(x, **cfg)
    assert_parity(x[0].double().numpy(), **cfg)  # 2-D NumPy float64


SEED = dict(n_channels=12, n_samples=5000, n_bins=128, fs=500, window_size=1 / 20, overlap_size=1 / 40)


@pytest.mark.parametrize("feature_fs", [None, 100, 250, 1000])
@pytest.mark.parametrize("to1d", [False, True])
def test_parity_seed_config_on_real_records(cinc_dir: Path, feature_fs, to1d):
    names = sorted(p.stem for p in cinc_dir.glob("*.hea"))[:8]
    batch = np.stack([wfdb.rdrecord(str(cinc_dir / n)).p_signal.T for n in names])  # float64 (8, 12, 5000)
    assert_parity(batch, feature_fs=feature_fs, to1d=to1d, **SEED)
    assert_parity(torch.from_numpy(batch).float(), feature_fs=feature_fs, to1d=to1d, **SEED)


def test_parity_real_long_record_200hz(cpsc_dir: Path):
    rec = wfdb.rdrecord(str(cpsc_dir / "data_101_6"), sampto=8000)
    x = rec.p_signal.T.reshape(2, 2, 4000).transpose(1, 0, 2)
    assert_parity(np.ascontiguousarray(x), n_channels=2, n_samples=4000, n_bins=64, fs=200)


@pytest.mark.parametrize("ensure_batch_dim", [True, False])
@pytest.mark.parametrize("to1d", [False, True])
def test_two_dimensional_input(ensure_batch_dim, to1d):
    cfg = dict(SEED, n_channels=3, ensure_batch_dim=ensure_batch_dim, to1d=to1d, feature_fs=100)
    x = np.random.default_rng(0).standard_normal((3, 5000))
    assert_parity(x, **cfg)
    expected_rank = (3 if to1d else 4) - (0 if ensure_batch_dim else 1)
    assert SpectrogramInput(InputConfig(**cfg))(x).ndim == expected_rank


@pytest.mark.parametrize("method", ["matmul", "fft"])
def test_both_methods_match_reference(method):
    cfg = dict(n_channels=2, n_samples=3001, n_bins=257, fs=1000, window_size=0.15, overlap_size=0.1)
    x = torch.randn(3, 2, 3001, generator=torch.Generator().manual_seed(1))
    expected = reference(**cfg)(x)
    got = SpectrogramInput(InputConfig(device="cpu", **cfg), method=method)(x)
    assert float((got - expected).abs().max()) <= TOL * float(expected.abs().max())


def test_float64_config_matches_reference_in_float64():
    cfg = dict(SEED, dtype=torch.float64)
    x = torch.randn(2, 12, 5000, dtype=torch.float64)
    got = SpectrogramInput(InputConfig(device="cpu", **cfg))(x)
    expected = reference(**cfg)(x)
    assert got.dtype == torch.float64
    assert float((got - expected).abs().max()) <= 1e-10 * float(expected.abs().max())


@pytest.mark.parametrize(
    "cfg",
    [
        dict(n_channels=1, n_samples=63, n_bins=64, fs=500),  # n_samples == n_fft // 2: reflect pad too long
        dict(n_channels=1, n_samples=500, n_bins=8, fs=500),  # 25-sample window > n_fft = 14
        dict(n_channels=1, n_samples=500, n_bins=64, fs=100, window_size=0.02, overlap_size=0.015),  # hop 2 - 2 = 0
    ],
)
def test_reference_fails_where_we_refuse(cfg):
    """Our validity boundary is torch_ecg's: where it dies with a torch error, we raise ConfigError."""
    with pytest.raises(ConfigError):
        InputConfig(**cfg)
    with pytest.raises(RuntimeError):  # torch's stft/pad refusals
        reference(**cfg)(torch.randn(1, 1, cfg["n_samples"]))


def test_smallest_valid_n_samples_matches_reference():
    cfg = dict(n_channels=1, n_samples=64, n_bins=64, fs=500)
    assert_parity(torch.randn(2, 1, 64), **cfg)
