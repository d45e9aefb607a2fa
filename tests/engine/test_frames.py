"""ecgspec.engine.frames against torch itself: frame counts, kept frames, and the samples each frame weighs."""

from __future__ import annotations

import pytest
import torch

from ecgspec.engine import frames
from ecgspec.run.stages import to_stored

F16_MAX = float(torch.finfo(torch.float16).max)
# (n_bins, win_length, hop_length, n_samples): the seed's, odd and even windows, and the 1- and 2-sample windows
GEOMETRIES = [(128, 25, 13, 1200), (33, 19, 7, 301), (16, 30, 30, 257), (9, 16, 5, 120), (2, 1, 1, 40), (3, 2, 1, 41)]


def stft_power(x: torch.Tensor, n_bins: int, win: int, hop: int) -> torch.Tensor:
    """torch_ecg's spectrogram: centred, reflect-padded STFT power with a periodic Hann window."""
    spec = torch.stft(x, n_fft=frames.n_fft(n_bins), hop_length=hop, win_length=win,
                      window=torch.hann_window(win, dtype=x.dtype), center=True, pad_mode="reflect",
                      return_complex=True)
    return spec.abs() ** 2


@pytest.mark.parametrize("n_bins, win, hop, n_samples", GEOMETRIES)
def test_each_frame_weighs_exactly_its_first_to_last_weighted_sample(n_bins, win, hop, n_samples):
    n_fft = frames.n_fft(n_bins)
    impulses = torch.eye(n_samples, dtype=torch.float64)  # row i: a unit impulse at sample i
    power = stft_power(impulses, n_bins, win, hop).sum(dim=1)  # (sample, frame)
    assert power.shape[-1] == frames.n_frames(n_samples, hop)
    interior = range(n_fft, n_samples - n_fft)  # no reflected copy of the impulse reaches a frame
    assert len(interior) >= 2 * hop
    spans = [(frames.first_weighted_sample(t, hop, n_fft, win), frames.last_weighted_sample(t, hop, n_fft, win))
             for t in range(power.shape[-1])]
    for i in interior:
        weighed = {t for t, (first, last) in enumerate(spans) if first <= i <= last}
        assert set(torch.nonzero(power[i] > 1e-12).view(-1).tolist()) == weighed, i
    for t, (first, last) in enumerate(spans):
        start = frames.window_start(t, hop, n_fft, win)
        assert (first, last) == (start + (win > 1), start + win - 1)


@pytest.mark.parametrize("n_frames", [1, 2, 7, 77, 385, 1001])
@pytest.mark.parametrize("fs, feature_fs", [(500, 100), (500, 499), (257.5, 33.3), (360, 360), (500, None)])
def test_kept_frames_count_is_that_of_interpolate(n_frames, fs, feature_fs):
    if feature_fs is None:
        assert frames.n_kept_frames(n_frames, fs, None) == n_frames
        return
    x = torch.arange(float(n_frames)).view(1, 1, -1)
    kept = frames.n_kept_frames(n_frames, fs, feature_fs)
    if kept == 0:  # the config refuses these; torch would too
        with pytest.raises(RuntimeError, match="output sizes should be greater than 0"):
            torch.nn.functional.interpolate(x, scale_factor=feature_fs / fs, recompute_scale_factor=True)
        return
    assert kept == torch.nn.functional.interpolate(x, scale_factor=feature_fs / fs, recompute_scale_factor=True).shape[-1]


def test_window_and_hop_use_python_round():
    assert (frames.win_length(0.05, 250), frames.hop_length(0.05, 0.025, 250)) == (12, 6)  # 12.5 -> 12, 6.25 -> 6
    assert (frames.win_length(0.05, 500), frames.hop_length(0.05, 0.025, 500)) == (25, 13)  # 12.5 -> 12: 25 - 12


def test_to_stored_clips_float16_and_keeps_nan():
    spec = torch.tensor([[0.0, 1.5, 7e4, 1e30, float("inf"), float("nan")]])
    out16 = torch.empty_like(spec, dtype=torch.float16)
    to_stored(spec.clone(), out16)
    assert out16[0, :5].tolist() == [0.0, 1.5, F16_MAX, F16_MAX, F16_MAX] and torch.isnan(out16[0, 5])
    out32 = torch.empty_like(spec)
    to_stored(spec.clone(), out32)
    assert out32[0, :5].tolist() == spec[0, :5].tolist() and torch.isnan(out32[0, 5])
