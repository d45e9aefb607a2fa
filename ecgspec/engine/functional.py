"""Pure functions behind :class:`ecgspec.SpectrogramInput` (as torchaudio's ``functional``).

torch_ecg computes ``|torch.stft(x, n_fft, hop, win, hann(win), center=True,
pad_mode="reflect")|**2``. The Hann window of ``win_length`` samples sits in the
middle of an ``n_fft``-point frame, so the FFT mostly multiplies zeros. Here the
same power spectrum is one matrix product of each frame's ``win_length`` non-zero
samples with a ``(2 * n_bins, win_length)`` windowed cosine/sine basis. The
window's offset inside the frame only turns each bin's phase, so it drops out of
the power. Padding is the same reflection torch.stft uses, cut to the samples the
window actually reaches.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F

from . import frames as fr

__all__ = [
    "kept_frame_indices",
    "dft_basis",
    "power_spectrogram",
    "stft_power_spectrogram",
    "choose_method",
    "chunk_rows",
]

Method = Literal["matmul", "fft"]


def kept_frame_indices(
    n_frames: int, fs: float, feature_fs: float | None, dtype: torch.dtype, device: torch.device
) -> torch.Tensor | None:
    """Source frame of each output frame under torch_ecg's ``F.interpolate`` (nearest), or None.

    The indices come from ``F.interpolate`` itself, applied to the frame numbers in
    the engine's dtype on its device: torch computes the source index in that
    dtype's precision, so this follows torch's own arithmetic exactly (the count is
    :func:`ecgspec.engine.frames.n_kept_frames`).
    """
    if feature_fs is None:
        return None
    frames = torch.arange(n_frames, dtype=dtype, device=device).view(1, 1, n_frames)
    picked = F.interpolate(frames, scale_factor=feature_fs / fs, recompute_scale_factor=True)
    return picked.view(-1).to(torch.int64)


def dft_basis(n_bins: int, win_length: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Rows ``hann[j] * cos(2 pi k j / n_fft)`` then ``hann[j] * sin(...)``, k < n_bins: ``(2 n_bins, win)``.

    Built in float64 and cast once. The Hann window itself is made in float32 and
    widened, as torch_ecg does (its window buffer is created in float32 and then
    moved to the config dtype), so float64 configs agree with it too.
    """
    n_fft = fr.n_fft(n_bins)
    window = torch.hann_window(win_length, periodic=True, dtype=torch.float32).double()
    k = torch.arange(n_bins, dtype=torch.float64).unsqueeze(1)
    j = torch.arange(win_length, dtype=torch.float64).unsqueeze(0)
    # (k * j) mod n_fft keeps the angle small and exact for long windows.
    angle = (2 * math.pi / n_fft) * torch.remainder(k * j, n_fft)
    basis = torch.cat([torch.cos(angle), torch.sin(angle)]) * window
    return basis.to(device=device, dtype=dtype)


def _reflect_pad(x: torch.Tensor, left: int, right: int) -> torch.Tensor:
    """Reflect-pad the last axis of ``(rows, time)``; torch only reflects batched input."""
    if left == 0 and right == 0:
        return x
    return F.pad(x.unsqueeze(1), (left, right), mode="reflect").squeeze(1)


def frames_view(x: torch.Tensor, n_bins: int, win_length: int, hop_length: int) -> torch.Tensor:
    """The non-zero part of every centred STFT frame of ``x`` ``(rows, time)``: ``(rows, frames, win)``.

    Frame t's window starts at :func:`ecgspec.engine.frames.window_start` in the signal; only
    the reflected samples the windows reach are padded.
    """
    n_fft = fr.n_fft(n_bins)
    n_samples = x.shape[-1]
    n_frames = fr.n_frames(n_samples, hop_length)
    left = -fr.window_start(0, hop_length, n_fft, win_length)
    stop = fr.window_start(n_frames - 1, hop_length, n_fft, win_length) + win_length  # one past the last sample used
    padded = _reflect_pad(x, left, max(0, stop - n_samples))
    return padded.unfold(-1, win_length, hop_length)[:, :n_frames]


def frame_index(n_samples: int, n_bins: int, win_length: int, hop_length: int, frames: torch.Tensor) -> torch.Tensor | None:
    """Signal indices ``(len(frames), win_length)`` of the samples the centred STFT frames ``frames``
    weigh, reflected at both ends as the padding of :func:`frames_view` does; None where that
    padding would reach past the signal's other end (torch refuses such a pad: its error stays)."""
    start = fr.window_start(0, hop_length, fr.n_fft(n_bins), win_length)
    index = (frames.to(torch.int64) * hop_length + start).unsqueeze(1) + torch.arange(win_length, device=frames.device)
    if n_samples < 2 or len(frames) == 0 or int(index.min()) <= -n_samples or int(index.max()) >= 2 * n_samples - 1:
        return None
    index = torch.where(index < 0, -index, index)
    return torch.where(index >= n_samples, 2 * (n_samples - 1) - index, index)


def power_spectrogram(
    x: torch.Tensor,
    basis: torch.Tensor,
    n_bins: int,
    hop_length: int,
    frames: torch.Tensor | None = None,
    out: torch.Tensor | None = None,
    scratch: torch.Tensor | None = None,
    index: torch.Tensor | None = None,
) -> torch.Tensor:
    """``|STFT|^2`` of ``x`` ``(rows, time)`` as ``(rows, n_bins, n_frames)``, by one matrix product.

    ``frames``, if given, are the only frame indices computed (for ``feature_fs``); ``index``, their
    :func:`frame_index` (the same values, read straight from ``x``).
    Rows go through in chunks of ``len(scratch)`` rows; ``scratch`` ``(chunk, 2 n_bins,
    n_frames)`` holds one chunk's complex spectrum, small enough to stay in cache and
    reused rather than allocated (fresh large allocations cost a page fault per 4 kB).
    ``out``, if given, receives the result.
    """
    win_length = basis.shape[-1]
    if index is not None:  # a few frames (feature_fs): gathered, rather than padding the whole signal
        segments = x.index_select(-1, index.flatten()).view(x.shape[0], *index.shape)
    else:
        segments = frames_view(x, n_bins, win_length, hop_length)
        if frames is not None:
            segments = segments.index_select(1, frames)
    n_rows, n_frames = segments.shape[0], segments.shape[1]
    if out is None:
        out = torch.empty(n_rows, n_bins, n_frames, dtype=x.dtype, device=x.device)
    if scratch is None:
        scratch = torch.empty(min(n_rows, chunk_rows(n_bins, n_frames)), 2 * n_bins, n_frames, dtype=x.dtype,
                              device=x.device)
    step = len(scratch)
    for lo in range(0, n_rows, step):
        rows = segments[lo : lo + step]
        spectrum = torch.matmul(basis, rows.transpose(1, 2), out=scratch[: len(rows)])
        real, imag = spectrum[:, :n_bins], spectrum[:, n_bins:]
        torch.mul(real, real, out=out[lo : lo + step]).addcmul_(imag, imag)
    return out


def chunk_rows(n_bins: int, n_frames: int, elements: int = 1 << 21) -> int:
    """Rows per chunk so that a chunk's complex spectrum holds about ``elements`` values (8 MB in float32).

    Measured with ``make bench``: smaller chunks stay in cache but pay per-op overhead and
    a GIL round trip each; about 2 M values was the best trade on a 2-core machine.
    """
    return max(1, elements // (2 * n_bins * n_frames))


def stft_power_spectrogram(
    x: torch.Tensor,
    window: torch.Tensor,
    n_bins: int,
    hop_length: int,
    frames: torch.Tensor | None = None,
) -> torch.Tensor:
    """The same as :func:`power_spectrogram` through ``torch.stft`` (FFT): wins for long windows."""
    spec = torch.stft(
        x,
        n_fft=fr.n_fft(n_bins),
        hop_length=hop_length,
        win_length=window.shape[-1],
        window=window,
        center=True,
        pad_mode="reflect",
        return_complex=True,
    )
    if frames is not None:
        spec = spec.index_select(-1, frames)
    real, imag = spec.real, spec.imag
    return real * real + imag * imag


def choose_method(n_bins: int, win_length: int) -> Method:
    """Pick the cheaper method: ``2 n_bins win`` multiply-adds a frame vs an ``n_fft``-point FFT.

    On the 2-core CPU the matrix product won even at 19x the FFT's nominal flops
    (fs 1000, 190-sample window, 512 bins: 96 vs 167 ms a batch), because torch.stft
    pads, transposes and makes a complex tensor; only tiny transforms (16 bins) were
    faster by FFT, and then by 15%. Hence the factor of 40, on CUDA too, where it is an
    unmeasured guess (no GPU was at hand).
    """
    n_fft = fr.n_fft(n_bins)
    matmul_cost = 2 * n_bins * win_length
    fft_cost = FFT_COST_FACTOR * n_fft * math.log2(max(n_fft, 2))
    return "matmul" if matmul_cost <= fft_cost else "fft"


FFT_COST_FACTOR = 40.0
