"""Frame times, kept frames and edge frames (ecgspec.engine.frames) against torch itself."""

from __future__ import annotations

import random

import pytest
import torch

from ecgspec.engine import frames
from ecgspec.engine.functional import kept_frame_indices


def _power(x: torch.Tensor, n_bins: int, win: int, hop: int, pad_mode: str) -> torch.Tensor:
    """Centred STFT power with a periodic Hann window, padded ``pad_mode``: (n_bins, n_frames)."""
    n_fft = frames.n_fft(n_bins)
    padded = torch.nn.functional.pad(x.view(1, 1, -1), (n_fft // 2, n_fft // 2), mode=pad_mode).view(-1)
    spec = torch.stft(padded, n_fft=n_fft, hop_length=hop, win_length=win,
                      window=torch.hann_window(win, dtype=x.dtype), center=False, return_complex=True)
    return spec.abs() ** 2


def _random_config(rng: random.Random) -> tuple[int, float, int, int, int, float | None]:
    """(n_bins, fs, win, hop, n_samples, feature_fs) valid for the engine."""
    while True:
        n_bins = rng.randint(2, 80)
        n_fft = frames.n_fft(n_bins)
        win = rng.randint(1, n_fft)
        hop = rng.randint(1, max(1, win))
        n_samples = rng.randint(n_fft // 2 + 1, n_fft // 2 + 1 + rng.choice([3, 40, 400]))
        fs = rng.choice([100.0, 250.0, 257.5, 360.0, 500.0, 1000.0])
        feature_fs = rng.choice([None, None, fs / rng.uniform(1.05, 9.0), fs / 2, fs])
        if frames.n_kept_frames(frames.n_frames(n_samples, hop), fs, feature_fs) >= 1:
            return n_bins, fs, win, hop, n_samples, feature_fs


@pytest.mark.slow
def test_edge_frames_are_exactly_those_the_padding_changes():
    """Reflect vs zero padding of random signals: the frames that differ are the edge frames."""
    rng = random.Random(11)
    gen = torch.Generator().manual_seed(11)
    checked_edges = checked_inner = 0
    for _ in range(400):
        n_bins, fs, win, hop, n_samples, feature_fs = _random_config(rng)
        x = torch.randn(n_samples, dtype=torch.float64, generator=gen) + 3.0  # the zero pad differs clearly
        reflect, zeros = (_power(x, n_bins, win, hop, mode) for mode in ("reflect", "constant"))
        n = frames.n_frames(n_samples, hop)
        assert reflect.shape[-1] == n
        kept = frames.kept_frames(n, fs, feature_fs)
        scale = torch.maximum(reflect.amax(dim=0), zeros.amax(dim=0))[kept]
        differs = ((reflect - zeros).abs().amax(dim=0)[kept] > 1e-9 * scale).tolist()
        edges = frames.edge_frames(n_samples, hop, frames.n_fft(n_bins), win, fs, feature_fs)
        assert edges == differs, (n_bins, fs, win, hop, n_samples, feature_fs)
        checked_edges += sum(edges)
        checked_inner += len(edges) - sum(edges)
    assert checked_edges > 500 and checked_inner > 500  # both kinds met many times


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_kept_frames_follow_interpolate(dtype):
    rng = random.Random(5)
    cases = [(385, 500, 100), (1001, 500, 499), (77, 257.5, 33.3), (10, 500, 1000), (7, 360, 360)]
    cases += [(rng.randint(1, 3000), 500.0, rng.uniform(1, 500)) for _ in range(300)]
    for n, fs, feature_fs in cases:
        if frames.n_kept_frames(n, fs, feature_fs) < 1:
            continue
        expected = kept_frame_indices(n, fs, feature_fs, dtype, torch.device("cpu")).tolist()
        assert frames.kept_frames(n, fs, feature_fs, dtype == torch.float64) == expected, (n, fs, feature_fs)
    assert frames.kept_frames(5, 500, None) == [0, 1, 2, 3, 4]


def test_frame_times_are_frame_centres_of_kept_frames():
    # seed config: hop 13 at 500 Hz, frames centred on 0, 13, 26, ... samples
    times = frames.frame_times(5000, 13, 500, None)
    assert len(times) == 385 and times[:3] == [0.0, 13 / 500, 26 / 500] and times[-1] == 384 * 13 / 500
    kept = frames.kept_frames(385, 500, 100)
    assert frames.frame_times(5000, 13, 500, 100) == [t * 13 / 500 for t in kept]
    assert len(kept) == 77 and kept[:3] == [0, 5, 10]


def test_edge_frames_of_the_seed_config():
    edges = frames.edge_frames(5000, 13, 254, 25, 500, None)
    # frame t weighs samples 13t - 12 .. 13t + 11: frame 0 reaches before sample 0, frame 1 (1..24) does not;
    # the last frame 384 weighs 4980..5003, past 4999; frame 383 (4967..4990) does not
    assert edges[0] and not edges[1] and edges[-1] and not edges[-2] and sum(edges) == 2
