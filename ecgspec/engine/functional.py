"""Pure functions behind :class:`ecgspec.SpectrogramInput` (as torchaudio's ``functional``).

torch_ecg computes ``|torch.stft(x, n_fft, hop, win, hann(win), center=True,
pad_mode="reflect")|**2``. The Hann window of ``win_length`` samples sits in the
middle of an ``n_fft``-point frame, so the FFT mostly multiplies zeros. Here the
same power spectrum is a matrix product of each frame's weighted samples with a
cosine/sine basis, at half the multiplications of a plain DFT: the periodic Hann
window weighs its first sample 0 and is symmetric about its centre, so samples
``j`` and ``win - j`` share one phase up to sign (taken about the centre, which only
turns each bin's phase and drops out of the power). Their windowed sum meets the
cosines and their difference the sines: ``win // 2`` multiply-adds a bin for each
part. Reflect padding is folded into the indices the samples are read from.

Everything here is torch ops on the input's device: the constants (:class:`Plan`) are
made once on the CPU in float64 and moved to each device and dtype the engine meets.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F

from . import frames as fr

__all__ = [
    "Plan",
    "kept_frame_indices",
    "sample_pairs",
    "pair_basis",
    "plan",
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


def sample_pairs(win_length: int) -> tuple[list[int], list[int]]:
    """The window's weighted samples as pairs about its centre: ``(j, win - j)`` for ``j = 1 .. win // 2``.

    A periodic Hann window weighs sample 0 by exactly 0 and ``j`` as ``win - j``; the centre of
    an even window pairs with itself, and a 1-sample window (weight 1) is the pair ``(0, 0)``.

    >>> sample_pairs(5), sample_pairs(4), sample_pairs(1)
    (([1, 2], [4, 3]), ([1, 2], [3, 2]), ([0], [0]))
    """
    if win_length == 1:
        return [0], [0]
    first = list(range(1, win_length // 2 + 1))
    return first, [win_length - j for j in first]


def pair_basis(n_bins: int, win_length: int) -> torch.Tensor:
    """``cos`` and ``sin`` of each bin's phase at each pair, about the pair's midpoint: ``(2, n_bins, pairs)``.

    Sample ``j`` of a frame turns bin ``k`` by ``2 pi k j / n_fft``; about the window's centre the
    pair ``(a, b)`` sits at ``-+(b - a) / 2``, so its windowed sum takes ``cos(pi k (b - a) / n_fft)``
    and its difference the sine. Float64 on the CPU, the angle reduced exactly first.
    """
    first, second = sample_pairs(win_length)
    k = torch.arange(n_bins, dtype=torch.float64).unsqueeze(1)
    span = torch.tensor([b - a for a, b in zip(first, second)], dtype=torch.float64).unsqueeze(0)
    n_fft = fr.n_fft(n_bins)
    angle = (math.pi / n_fft) * torch.remainder(k * span, 2 * n_fft)
    return torch.stack([torch.cos(angle), torch.sin(angle)])


def pair_window(win_length: int) -> torch.Tensor:
    """The Hann weights of each pair's two samples, ``(2, pairs)`` float64; a centre sample's second is 0.

    The window is made in float32 and widened, as torch_ecg does (its window buffer is created in
    float32 and then moved to the config dtype), so float64 configs agree with it too.
    """
    window = torch.hann_window(win_length, periodic=True, dtype=torch.float32).double()
    first, second = sample_pairs(win_length)
    weights = torch.stack([window[first], window[second]])
    weights[1, [i for i, (a, b) in enumerate(zip(first, second)) if a == b]] = 0.0
    return weights


@dataclass(frozen=True)
class Plan:
    """The constants of one config's power spectrum, on one device and dtype (see :func:`plan`).

    ``index`` ``(2 * n_frames * pairs,)``: where each computed frame reads each pair's first and
    second samples (reflected at the signal's ends); ``window`` ``(2, 1, pairs)``: their weights;
    ``basis`` ``(2, n_bins, pairs)``: :func:`pair_basis`.
    """

    index: torch.Tensor
    window: torch.Tensor
    basis: torch.Tensor
    n_frames: int

    def to(self, device: torch.device, dtype: torch.dtype) -> Plan:
        """The same plan on ``device``, its weights in ``dtype`` (one copy: cache it)."""
        return Plan(self.index.to(device), self.window.to(device, dtype), self.basis.to(device, dtype), self.n_frames)


def plan(n_samples: int, n_bins: int, win_length: int, hop_length: int, frames: torch.Tensor | None = None) -> Plan:
    """The :class:`Plan` of centred STFT frames ``frames`` (all when None), on the CPU in float64.

    Raises ``ValueError`` where the reflect padding would reach past the signal's other end
    (``InputConfig`` refuses such configs first, as torch refuses the padding).
    """
    if frames is None:
        frames = torch.arange(fr.n_frames(n_samples, hop_length))
    index = frame_index(n_samples, n_bins, win_length, hop_length, frames)
    if index is None:
        raise ValueError(f"n_samples: got {n_samples}, too short to reflect-pad a {fr.n_fft(n_bins)}-point frame")
    first, second = sample_pairs(win_length)
    pairs = torch.stack([index[:, first], index[:, second]])  # (2, frames, pairs)
    window = pair_window(win_length).unsqueeze(1)
    return Plan(pairs.flatten(), window, pair_basis(n_bins, win_length), len(frames))


def power_spectrogram(x: torch.Tensor, plan: Plan, out: torch.Tensor | None = None,
                      chunk: int | None = None) -> torch.Tensor:
    """``|STFT|^2`` of ``x`` ``(rows, time)`` as ``(rows, n_bins, n_frames)``, written once into ``out``.

    ``plan`` is on ``x``'s device and dtype. Rows go through ``chunk`` at a time (default
    :func:`chunk_rows`), each in four steps on small scratch tensors: read and window the
    paired samples, fold them into sums and differences, one batched matrix product against
    the cosines and sines, then the squares' sum goes straight into ``out``.
    """
    basis, n_frames = plan.basis, plan.n_frames
    n_rows, n_bins, n_pairs = x.shape[0], basis.shape[1], basis.shape[2]
    if out is None:
        out = x.new_empty(n_rows, n_bins, n_frames)
    step = max(1, min(n_rows, chunk or chunk_rows(n_bins, n_frames, x.device)))
    pairs, folded, spectrum = (x.new_empty(2 * step * n_frames * size) for size in (n_pairs, n_pairs, n_bins))
    for lo in range(0, n_rows, step):
        n = min(step, n_rows - lo)
        width = n * n_frames
        samples = torch.index_select(x[lo : lo + n], -1, plan.index, out=pairs[: 2 * width * n_pairs].view(n, -1))
        samples = samples.view(n, 2, n_frames, n_pairs).mul_(plan.window)
        sums = folded[: 2 * width * n_pairs].view(2, width, n_pairs)
        torch.add(samples[:, 0], samples[:, 1], out=sums[0].view(n, n_frames, n_pairs))
        torch.sub(samples[:, 0], samples[:, 1], out=sums[1].view(n, n_frames, n_pairs))
        parts = torch.bmm(basis, sums.transpose(1, 2), out=spectrum[: 2 * width * n_bins].view(2, n_bins, width))
        parts.square_()
        torch.add(parts[0].view(n_bins, n, n_frames), parts[1].view(n_bins, n, n_frames),
                  out=out[lo : lo + n].transpose(0, 1))
    return out


CHUNK_ELEMENTS = 1 << 21
"""Spectrum values a chunk of rows holds on the CPU (8 MB in float32): measured with ``make bench``,
smaller chunks stay in cache but pay per-op overhead and a round trip through torch's threads each."""


def chunk_rows(n_bins: int, n_frames: int, device: torch.device | None = None) -> int:
    """Rows a chunk of :func:`power_spectrogram` takes: on the CPU, about :data:`CHUNK_ELEMENTS`
    spectrum values (cosine and sine parts); elsewhere 32 times that (a GPU wants large batches)."""
    elements = CHUNK_ELEMENTS if device is None or device.type == "cpu" else 32 * CHUNK_ELEMENTS
    return max(1, elements // (2 * n_bins * n_frames))


def stft_power_spectrogram(
    x: torch.Tensor,
    window: torch.Tensor,
    n_bins: int,
    hop_length: int,
    frames: torch.Tensor | None = None,
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """The same as :func:`power_spectrogram` through ``torch.stft`` (FFT), into ``out`` if given."""
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
    return torch.mul(real, real, out=out).addcmul_(imag, imag) if out is not None else real * real + imag * imag


def choose_method(n_bins: int, win_length: int) -> Method:
    """Pick the cheaper method: ``n_bins * win`` multiply-adds a frame (:func:`power_spectrogram`)
    vs an ``n_fft``-point FFT.

    On the 2-core CPU the matrix product won even at 19x the FFT's nominal flops
    (fs 1000, 190-sample window, 512 bins: 96 vs 167 ms a batch), because torch.stft
    pads, transposes and makes a complex tensor; only tiny transforms (16 bins) were
    faster by FFT, and then by 15%. Hence the factor of 40, on CUDA too, where it is an
    unmeasured guess (no GPU was at hand).
    """
    n_fft = fr.n_fft(n_bins)
    matmul_cost = n_bins * win_length
    fft_cost = FFT_COST_FACTOR * n_fft * math.log2(max(n_fft, 2))
    return "matmul" if matmul_cost <= fft_cost else "fft"


FFT_COST_FACTOR = 40.0
