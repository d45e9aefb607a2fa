"""The references ecgspec's output is checked against: torch_ecg 0.0.33's SpectrogramInput (in the
test extra) and whole-signal resampling by scipy's ``resample_poly`` at the exact ratio."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import torch
import torch_ecg.components.inputs as ref_inputs
from scipy.signal import resample_poly


def reference(**cfg) -> "ref_inputs.SpectrogramInput":
    """torch_ecg's SpectrogramInput for ``cfg``, on the CPU."""
    return ref_inputs.SpectrogramInput(ref_inputs.InputConfig(input_type="spectrogram", device="cpu", **cfg))


def torch_ecg(windows: np.ndarray, **cfg) -> np.ndarray:
    """torch_ecg's spectrograms of ``windows`` (n, channels, samples), as float32 numpy."""
    return reference(**cfg)(torch.from_numpy(np.ascontiguousarray(windows, dtype=np.float32))).numpy()


def reference_windows(signals: list[np.ndarray], rates: list[float], fs: int, n: int, stride: int) -> np.ndarray:
    """Each lead resampled whole by resample_poly at the exact decimal ratio, cut to the shortest, windowed."""
    leads = []
    for x, rate in zip(signals, rates):
        ratio = Fraction(fs) / Fraction(repr(float(rate)))
        y = resample_poly(x.astype(np.float64), ratio.numerator, ratio.denominator)
        leads.append(y.astype(np.float32))
    length = min(map(len, leads))
    y = np.stack([lead[:length] for lead in leads])
    return np.stack([y[:, s : s + n] for s in range(0, length - n + 1, stride)])
