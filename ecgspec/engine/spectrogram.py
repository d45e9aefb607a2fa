"""``SpectrogramInput``: torch_ecg's spectrogram input, same numbers, less work.

Semantics are those of ``torch_ecg.components.inputs.SpectrogramInput`` 0.0.33,
read from its source rather than its documentation page:

- ``n_fft = 2 * (n_bins - 1)``, so the one-sided spectrum has ``n_bins`` bins;
- ``win_length = round(window_size * fs)`` and
  ``hop_length = win_length - round(overlap_size * fs)``, with Python's ``round``;
- power spectrum ``|STFT|^2`` with a periodic Hann window and centred frames
  (reflect padding of ``n_fft // 2``), hence ``n_samples // hop_length + 1``
  frames, not the ``(n_samples - win_length) // hop_length + 1`` printed there;
- ``feature_fs`` rescales the frame axis by ``feature_fs / fs`` with
  nearest-neighbour interpolation, to ``floor(n_frames * feature_fs / fs)``
  frames; ecgspec computes only the frames that survive;
- ``to1d`` merges the channel and bin axes: ``(batch, n_channels * n_bins, frames)``.
"""

from __future__ import annotations

from typing import Any, Dict, Sequence, Tuple

import numpy as np
import torch

from ..errors import WaveformError
from . import frames
from . import functional as Fn
from .config import ConfigError, InputConfig, resolve_device, resolve_dtype
from .outputs import OutputPool

__all__ = ["SpectrogramInput", "WaveformError"]

ArrayLike = np.ndarray | torch.Tensor


class SpectrogramInput:
    """Power spectrograms of ``(batch, n_channels, n_samples)`` waveforms, as torch_ecg computes them.

    The numbers of ``torch_ecg.components.inputs.SpectrogramInput`` (0.0.33) within ``1e-4 *
    max|ref|`` in float32, several times faster. Call it (or :meth:`from_waveform`) on a batch.

    Parameters
    ----------
    config : InputConfig or mapping
        The engine's config (a mapping is checked into an :class:`InputConfig`).
    method : {"matmul", "fft"} or None, default None
        How each frame's spectrum is computed: a matrix product with a windowed cosine/sine basis,
        or ``torch.stft``; None picks the cheaper for the window and FFT sizes.

    Attributes
    ----------
    win_length, hop_length, n_fft, n_frames : int
        The STFT's sizes in samples at ``fs``, and the frames a window gives.

    Raises
    ------
    ConfigError
        An invalid config, an unknown ``method``, or a CUDA device torch does not see.

    Examples
    --------
    >>> from ecgspec import InputConfig, SpectrogramInput
    >>> cfg = InputConfig(n_channels=12, n_samples=5000, n_bins=128, fs=500)
    >>> engine = SpectrogramInput(cfg)
    >>> engine.win_length, engine.hop_length, engine.n_fft
    (25, 13, 254)
    >>> engine.compute_input_shape((32, 12, 5000))
    (32, 12, 128, 385)
    """

    __name__ = "SpectrogramInput"

    def __init__(self, config: InputConfig, method: str | None = None) -> None:
        if not isinstance(config, InputConfig):
            config = InputConfig(config)
        self.config = config
        self.dtype = resolve_dtype(config.get("dtype", torch.float32))
        self.device = resolve_device(config.get("device"))
        self.fs = config.sampling_rate
        self.feature_fs = config.feature_fs
        self.to1d = config.to1d
        self.n_channels = config.n_channels
        self.n_samples = config.n_samples
        self.n_bins = config.n_bins
        self.win_length, self.hop_length, self.n_fft = config.win_length, config.hop_length, config.n_fft
        self.n_frames = config.n_frames
        if method not in (None, "matmul", "fft"):
            raise ConfigError(f"method: got {method!r}, must be 'matmul', 'fft' or None (choose by cost)")
        self.method = method or Fn.choose_method(self.n_bins, self.win_length)
        self._plans: Dict[Tuple[torch.device, torch.dtype], Any] = {}  # per device and dtype: made on first use
        self._outputs = OutputPool()

    @property
    def window_size(self) -> int:
        """Window length in samples (torch_ecg's name for ``win_length``)."""
        return self.win_length

    @property
    def frequencies(self) -> np.ndarray:
        """Centre frequency of each bin in Hz: ``k * fs / n_fft``, ``k = 0 .. n_bins - 1``."""
        return np.arange(self.n_bins, dtype=np.float64) * (self.fs / self.n_fft)

    def compute_input_shape(self, waveform_shape: Sequence[int]) -> Tuple[int, ...]:
        """The shape :meth:`from_waveform` returns for input of ``waveform_shape``, computed from the config."""
        shape = tuple(int(n) for n in waveform_shape)
        self._check_shape(shape)
        out = (*shape[:-2], *self.config.window_shape)
        if len(shape) == 2 and self.config.ensure_batch_dim:
            out = (1, *out)
        return out

    def __call__(self, waveform: ArrayLike, out: torch.Tensor | None = None) -> torch.Tensor:
        return self.from_waveform(waveform, out)

    def from_waveform(self, waveform: ArrayLike, out: torch.Tensor | None = None) -> torch.Tensor:
        """Spectrograms of ``waveform``, ``(batch, n_channels, n_samples)`` or ``(n_channels, n_samples)``.

        Parameters
        ----------
        waveform : torch.Tensor or numpy.ndarray
            Waveforms at the config's ``fs``, ``n_channels`` by ``n_samples`` each (any float dtype;
            converted to the engine's dtype and device).
        out : torch.Tensor, optional
            A contiguous tensor of the result's shape on the engine's device and dtype to write
            into (saves allocating one per batch).

        Returns
        -------
        torch.Tensor
            ``(batch, n_channels, n_bins, n_frames)`` (``(batch, n_channels * n_bins, n_frames)``
            with ``to1d``), on the config's device and dtype, where ``n_frames = n_samples //
            hop_length + 1``, times ``feature_fs / fs`` (floored) when ``feature_fs`` is set. 2-D
            input gains a batch axis unless ``ensure_batch_dim`` is false.

        Raises
        ------
        WaveformError
            A waveform of another shape, or an ``out`` of another shape, dtype or device (also a
            ``ValueError``).

        Examples
        --------
        >>> import torch
        >>> from ecgspec import InputConfig, SpectrogramInput
        >>> engine = SpectrogramInput(InputConfig(n_channels=2, n_samples=1000, n_bins=64, fs=500, device="cpu"))
        >>> engine(torch.randn(4, 2, 1000)).shape
        torch.Size([4, 2, 64, 77])
        """
        x = self._as_tensor(waveform)
        out_shape = self.compute_input_shape(x.shape)
        if out is None:
            out = self._new_output(out_shape, x.device)
        else:
            self._check_out(out, out_shape)
        rows, target = x.reshape(-1, self.n_samples), out.view(-1, self.n_bins, self.n_frames)
        with torch.no_grad():
            if self.method == "matmul":
                Fn.power_spectrogram(rows, self._plan(x.device, x.dtype), target)
            else:
                window, frames_kept = self._plan(x.device, x.dtype)
                Fn.stft_power_spectrogram(rows, window, self.n_bins, self.hop_length, frames_kept, target)
        return out

    def _plan(self, device: torch.device, dtype: torch.dtype) -> Any:
        """The method's constants on ``device`` in ``dtype``, made once (on the CPU, in float64) and cached:
        a :class:`functional.Plan`, or for the FFT the window and the kept frames' indices."""
        key = (device, dtype)
        if key not in self._plans:
            # the kept frames follow F.interpolate's own arithmetic in this dtype on this device, as torch_ecg's do
            centred = frames.n_frames(self.n_samples, self.hop_length)
            kept = Fn.kept_frame_indices(centred, self.fs, self.feature_fs, dtype, device)
            if self.method == "matmul":
                kept = None if kept is None else kept.cpu()
                plan = Fn.plan(self.n_samples, self.n_bins, self.win_length, self.hop_length, kept)
                self._plans[key] = plan.to(device, dtype)
            else:  # torch_ecg's window: made in float32, then moved to the config dtype
                self._plans[key] = (torch.hann_window(self.win_length, dtype=torch.float32).to(device, dtype), kept)
        return self._plans[key]

    def _new_output(self, shape: Tuple[int, ...], device: torch.device) -> torch.Tensor:
        """A new output tensor: on the CPU from :class:`OutputPool` (no page faults once warm), else torch's."""
        if device.type == "cpu":
            return self._outputs.empty(shape, self.dtype)
        return torch.empty(shape, dtype=self.dtype, device=device)

    def _check_out(self, out: torch.Tensor, shape: Tuple[int, ...]) -> None:
        if tuple(out.shape) != shape or out.dtype != self.dtype or out.device != self.device or not out.is_contiguous():
            raise WaveformError(
                f"out: got {tuple(out.shape)} {out.dtype} on {out.device}, must be a contiguous {shape}"
                f" {self.dtype} tensor on {self.device}"
            )

    def _check_shape(self, shape: Tuple[int, ...]) -> None:
        expected = (self.n_channels, self.n_samples)
        if len(shape) not in (2, 3) or shape[-2:] != expected:
            raise WaveformError(
                f"waveform: got shape {shape}, must be (batch, {expected[0]}, {expected[1]})"
                f" or {expected} (n_channels, n_samples from the config)"
            )

    def _as_tensor(self, waveform: ArrayLike) -> torch.Tensor:
        if isinstance(waveform, np.ndarray):
            if waveform.dtype.kind not in "fiu":
                raise WaveformError(f"waveform: got dtype {waveform.dtype}, must be a real number dtype")
            waveform = torch.from_numpy(np.ascontiguousarray(waveform))
        elif not isinstance(waveform, torch.Tensor):
            raise WaveformError(
                f"waveform: got {type(waveform).__name__}, must be a numpy.ndarray or torch.Tensor"
            )
        elif waveform.is_complex() or waveform.dtype == torch.bool:
            raise WaveformError(f"waveform: got dtype {waveform.dtype}, must be a real number dtype")
        self._check_shape(tuple(waveform.shape))
        return waveform.to(device=self.device, dtype=self.dtype)

    def __repr__(self) -> str:
        return (
            f"SpectrogramInput(n_channels={self.n_channels}, n_samples={self.n_samples}, n_bins={self.n_bins},"
            f" win_length={self.win_length}, hop_length={self.hop_length}, fs={self.fs},"
            f" feature_fs={self.feature_fs}, to1d={self.to1d}, method={self.method!r}, device={self.device})"
        )
