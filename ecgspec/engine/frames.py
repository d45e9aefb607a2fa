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
import struct
from dataclasses import dataclass

__all__ = [
    "Geometry",
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
    "kept_frames",
    "frame_times",
    "edge_frames",
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
    must follow to the last bit (see :func:`ecgspec.engine.functional.kept_frame_indices`).
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


def _float32(x: float) -> float:
    """``x`` rounded to single precision, as C's ``float`` holds it."""
    return struct.unpack("f", struct.pack("f", x))[0]


def kept_frames(frames: int, fs: float, feature_fs: float | None, double: bool = False) -> list[int]:
    """The source frame of each output frame after the ``feature_fs`` rescale (all frames when None).

    torch's nearest-neighbour ``F.interpolate`` (``recompute_scale_factor=True``) in pure Python:
    the same size as :func:`n_kept_frames`, the same special cases (equal size: identity; double:
    ``j >> 1``) and the same arithmetic, ``min(floor(j * float(in / out)), in - 1)`` in single
    precision; for a float64 engine (``double``) ATen's result is ``floor(j * in / out)`` exactly
    (measured: ``j * (in / out)`` in double differs). Tests check both against the engine's
    :func:`ecgspec.engine.functional.kept_frame_indices`.
    """
    kept = n_kept_frames(frames, fs, feature_fs)
    if kept == frames:
        return list(range(frames))
    if kept == 2 * frames:
        return [j >> 1 for j in range(kept)]
    if double:
        return [min(j * frames // kept, frames - 1) for j in range(kept)]
    scale = _float32(frames / kept)
    return [min(math.floor(_float32(_float32(float(j)) * scale)), frames - 1) for j in range(kept)]


def frame_times(n_samples: int, hop_length: int, fs: float, feature_fs: float | None,
                double: bool = False) -> list[float]:
    """Seconds from a window's first sample to the centre of each output frame: ``t * hop / fs``.

    Centred frame ``t`` (``torch.stft(center=True)``) is centred on sample ``t * hop``, as
    librosa's ``frames_to_time`` counts it; ``t`` runs over the frames ``feature_fs`` keeps.
    """
    return [t * hop_length / fs for t in kept_frames(n_frames(n_samples, hop_length), fs, feature_fs, double)]


def edge_frames(n_samples: int, hop_length: int, n_fft: int, win_length: int, fs: float,
                feature_fs: float | None, double: bool = False) -> list[bool]:
    """For each output frame: whether its window gives a non-zero weight to a reflect-padded sample.

    Exactly the frames whose values would change were the padding zeros (or anything else):
    the first weighted sample is before sample 0 or the last after sample ``n_samples - 1``.
    """
    last = n_samples - 1
    return [first_weighted_sample(t, hop_length, n_fft, win_length) < 0
            or last_weighted_sample(t, hop_length, n_fft, win_length) > last
            for t in kept_frames(n_frames(n_samples, hop_length), fs, feature_fs, double)]


@dataclass(frozen=True)
class Geometry:
    """One window's STFT frames, the quantities above bound to one config (as scipy's ``ShortTimeFFT``).

    >>> g = Geometry.of(n_samples=5000, fs=500, n_bins=128, window_size=0.05, overlap_size=0.025, feature_fs=100)
    >>> g.win_length, g.hop_length, g.n_fft, g.n_frames, g.n_kept
    (25, 13, 254, 385, 77)
    """

    n_samples: int
    fs: float
    win_length: int
    hop_length: int
    n_fft: int
    feature_fs: float | None = None
    double: bool = False  # a float64 engine picks the kept frames in double precision

    @classmethod
    def of(cls, *, n_samples: int, fs: float, n_bins: int, window_size: float, overlap_size: float,
           feature_fs: float | None = None, double: bool = False) -> Geometry:
        """The geometry of torch_ecg's config keys (seconds for the window and overlap)."""
        return cls(n_samples, fs, win_length(window_size, fs), hop_length(window_size, overlap_size, fs),
                   n_fft(n_bins), feature_fs, double)

    @property
    def n_frames(self) -> int:
        """Centred frames before the ``feature_fs`` rescale."""
        return n_frames(self.n_samples, self.hop_length)

    @property
    def n_kept(self) -> int:
        """Frames of the output, after the rescale."""
        return n_kept_frames(self.n_frames, self.fs, self.feature_fs)

    def kept(self) -> list[int]:
        """The source frame of each output frame (:func:`kept_frames`)."""
        return kept_frames(self.n_frames, self.fs, self.feature_fs, self.double)

    def window_start(self, t: int) -> int:
        """Signal index of frame ``t``'s first window sample (:func:`window_start`)."""
        return window_start(t, self.hop_length, self.n_fft, self.win_length)

    def times(self) -> list[float]:
        """Seconds from the window's first sample to each output frame's centre (:func:`frame_times`)."""
        return frame_times(self.n_samples, self.hop_length, self.fs, self.feature_fs, self.double)

    def edges(self) -> list[bool]:
        """Whether each output frame weighs a reflect-padded sample (:func:`edge_frames`)."""
        return edge_frames(self.n_samples, self.hop_length, self.n_fft, self.win_length, self.fs, self.feature_fs,
                           self.double)
