"""The STFT's frame arithmetic, each quantity named once (pure Python, no torch).

As scipy's ``ShortTimeFFT`` names its index quantities (``k_min``, ``p_min``,
``p_max(n)``, ``p_num(n)``), this module names those of torch_ecg's spectrogram
(``torch.stft(center=True, pad_mode="reflect")`` with a periodic Hann window);
the config, the engine, its kernels and the ``shape`` command all ask it:

- ``win_length = round(window_size * fs)`` and
  ``hop_length = win_length - round(overlap_size * fs)``, Python's (banker's) round;
- ``n_fft = 2 * (n_bins - 1)``, so a one-sided spectrum has ``n_bins`` bins;
- ``n_frames(n_samples) = n_samples // hop_length + 1`` centred frames;
- ``n_kept_frames``: the frames left by the ``feature_fs`` rescale;
- frame ``t``'s window covers samples ``window_start(t) .. window_start(t) + win_length - 1``
  (negative indices and those past the end are reflect padding), and its first weighted
  sample is one later, because the periodic Hann window's first weight is 0.

>>> win, hop, nfft = win_length(0.05, 500), hop_length(0.05, 0.025, 500), n_fft(128)
>>> win, hop, nfft, n_frames(5000, hop)
(25, 13, 254, 385)
>>> [f(0, hop, nfft, win) for f in (window_start, first_weighted_sample, last_weighted_sample)]
[-13, -12, 11]
"""

from __future__ import annotations

import math

__all__ = [
    "win_length",
    "hop_length",
    "n_fft",
    "n_frames",
    "n_kept_frames",
    "window_offset",
    "window_start",
    "first_weighted_sample",
    "last_weighted_sample",
    "spectrogram_shape",
]


def win_length(window_size: float, fs: float) -> int:
    """STFT window in samples: ``round(window_size * fs)`` (Python's round, as torch_ecg)."""
    return round(window_size * fs)


def hop_length(window_size: float, overlap_size: float, fs: float) -> int:
    """Samples between frame starts: ``win_length - round(overlap_size * fs)``."""
    return win_length(window_size, fs) - round(overlap_size * fs)


def n_fft(n_bins: int) -> int:
    """FFT size giving ``n_bins`` one-sided bins: ``2 * (n_bins - 1)``."""
    return 2 * (n_bins - 1)


def n_frames(n_samples: int, hop_length: int) -> int:
    """Frames of a centred STFT: ``n_samples // hop_length + 1`` (torch.stft, ``center=True``)."""
    return n_samples // hop_length + 1


def n_kept_frames(frames: int, fs: float, feature_fs: float | None) -> int:
    """Frames left of ``frames`` after torch_ecg's nearest-neighbour rescale by ``feature_fs / fs``.

    ``floor(frames * feature_fs / fs)``; all of them when ``feature_fs`` is None. Output
    frame ``j`` is source frame ``floor(j * frames / kept)`` in exact arithmetic; the
    engine takes the indices from ``F.interpolate`` itself, whose float arithmetic it
    must follow to the last bit (see :func:`ecgspec.functional.kept_frame_indices`).
    """
    if feature_fs is None:
        return frames
    return math.floor(float(frames) * (feature_fs / fs))


def window_offset(n_fft: int, win_length: int) -> int:
    """Where the ``win_length``-sample window sits inside its ``n_fft``-point frame (centred)."""
    return (n_fft - win_length) // 2


def window_start(t: int, hop_length: int, n_fft: int, win_length: int) -> int:
    """Signal index of frame ``t``'s first window sample (its frame starts ``n_fft // 2`` before ``t * hop``)."""
    return t * hop_length - n_fft // 2 + window_offset(n_fft, win_length)


def first_weighted_sample(t: int, hop_length: int, n_fft: int, win_length: int) -> int:
    """The first sample frame ``t`` gives a non-zero weight: the periodic Hann window starts at 0.

    (A 1-sample periodic Hann window is ``[1]``, so there it is the window's only sample.)
    """
    return window_start(t, hop_length, n_fft, win_length) + (1 if win_length > 1 else 0)


def last_weighted_sample(t: int, hop_length: int, n_fft: int, win_length: int) -> int:
    """The last sample frame ``t`` weighs (the window's last weight is never 0)."""
    return window_start(t, hop_length, n_fft, win_length) + win_length - 1


def spectrogram_shape(n_channels: int, n_bins: int, frames: int, to1d: bool) -> tuple[int, ...]:
    """One window's spectrogram: ``(n_channels, n_bins, frames)``, or ``(n_channels * n_bins, frames)`` with ``to1d``."""
    return (n_channels * n_bins, frames) if to1d else (n_channels, n_bins, frames)
