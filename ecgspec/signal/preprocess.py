"""torch_ecg 0.0.33's preprocessing (``torch_ecg._preprocessors.PreprocManager``, the NumPy path),
parsed from its own config, checked up front and applied to a whole record exactly as torch_ecg does.

The config is torch_ecg's: a mapping of steps applied in the order given,
``bandpass: {lowcut, highcut, filter_type, filter_order}``, ``baseline_remove: {window1, window2}``,
``normalize: {method, mean, std, per_channel}``; a step set to ``null``/``false`` is left out (as
torch_ecg's own dataset configs do), ``random: false`` and ``fs`` are accepted. What torch_ecg
computes, and so what this module computes (tested against torch_ecg itself):

- everything in float32 (torch_ecg's ``DEFAULTS.np_dtype``); filters run in float64 inside SciPy;
- ``baseline_remove``: the signal less its baseline, two cascaded median filters
  (``scipy.ndimage.median_filter``, ``mode="nearest"``) of ``2 * (int(w * fs) // 2) + 1`` samples;
- ``bandpass`` (``butter``): ``scipy.signal.filtfilt`` (odd padding of ``3 * max(len(a), len(b))``)
  with ``butter(order, Wn)`` in transfer-function form, order ``round(0.01 * fs)`` by default;
  ``lowcut`` 0/null is a low-pass and ``highcut`` null a high-pass; ``fir``: ``firwin`` of
  ``filter_order or int(0.2 * fs)`` taps (made odd), also through ``filtfilt``;
- ``normalize``: z-score with NumPy's population std plus 1e-7, min-max, or naive ``(x - mean) / std``,
  over the whole record (``per_channel``: each lead on its own).
"""

from __future__ import annotations

import functools
import json
import math
import numbers
from dataclasses import dataclass
from typing import Any, Mapping, Sequence, Union

import numpy as np

from ..errors import ConfigError

__all__ = ["BandPass", "BaselineRemove", "Normalize", "Preprocess", "PreprocessError", "Step", "STEPS",
           "parse_preprocess", "apply_preprocess", "NORMALIZE_EPS"]

STEPS = ("bandpass", "baseline_remove", "normalize")
METHODS = ("z-score", "min-max", "naive")
FILTER_TYPES = ("butter", "fir")
NORMALIZE_EPS = 1e-7  # torch_ecg.utils.utils_signal.normalize: "to avoid dividing by zero"
F32 = np.float32


class PreprocessError(ConfigError):
    """A preprocess config torch_ecg's steps cannot run exactly; one line naming the key."""


def _fail(key: str, message: str) -> PreprocessError:
    return PreprocessError(f"preprocess.{key}: {message}")


def _number(key: str, value: Any, *, allow_none: bool = False) -> float | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise _fail(key, f"got {value!r}, expected a finite number" + (" or null" if allow_none else ""))
    return float(value)


@dataclass(frozen=True)
class BandPass:
    """torch_ecg's ``BandPass``: ``lowcut`` 0 means none (low-pass), ``highcut`` None none (high-pass)."""

    lowcut: float = 0.5
    highcut: float | None = 45.0
    filter_type: str = "butter"
    filter_order: int | None = None
    name = "bandpass"

    def order(self, fs: float) -> int:
        """The order torch_ecg uses: ``filter_order`` or its default for ``fs``."""
        if self.filter_order:
            return self.filter_order
        return round(0.01 * fs) if self.filter_type == "butter" else int(0.2 * fs)

    def coefficients(self, fs: float) -> tuple[np.ndarray, np.ndarray]:
        """(b, a) exactly as torch_ecg builds them at ``fs`` (``butter`` in ba form, or ``firwin``);
        designed once per setting and rate (a third of a short record's band-pass otherwise)."""
        return _coefficients(self, float(fs))

    def _design(self, fs: float) -> tuple[np.ndarray, np.ndarray]:
        from scipy import signal as ss

        nyq = 0.5 * fs
        if self.filter_type == "fir":  # biosppy.signals.tools.get_filter(ftype="FIR")
            taps = self.order(fs) + (self.order(fs) % 2 == 0)
            if not self.lowcut:
                return ss.firwin(numtaps=taps, cutoff=2.0 * float(self.highcut) / fs, pass_zero=True), np.array([1])
            cutoff = 2.0 * self.lowcut / fs if self.highcut is None else 2.0 * np.array([self.lowcut, self.highcut]) / fs
            return ss.firwin(numtaps=taps, cutoff=cutoff, pass_zero=False), np.array([1])
        low, high = self.lowcut / nyq, (math.inf if self.highcut is None else self.highcut / nyq)
        if low <= 0:  # torch_ecg.utils.utils_signal.butter_bandpass
            wn, btype = high, "low"
        elif high >= 1:
            wn, btype = low, "high"
        else:
            wn, btype = [low, high], "band"
        return ss.butter(self.order(fs), wn, btype=btype)

    def padlen(self, fs: float) -> int:
        """Samples ``filtfilt`` pads each end with (SciPy's default, ``3 * max(len(a), len(b))``)."""
        b, a = self.coefficients(fs)
        return 3 * max(len(a), len(b))

    def apply(self, sig: np.ndarray, fs: float) -> np.ndarray:
        from scipy.signal import filtfilt

        b, a = self.coefficients(fs)
        return filtfilt(b, a, sig).astype(F32)

    def config(self, fs: float) -> dict:
        return {"lowcut": self.lowcut, "highcut": self.highcut, "filter_type": self.filter_type,
                "filter_order": self.order(fs)}

    def check(self, fs: float, n_samples: int) -> None:
        nyq = 0.5 * fs
        where = f"the Nyquist frequency ({nyq:g} Hz at fs={fs:g})"
        if self.lowcut >= nyq:
            raise _fail("bandpass.lowcut", f"{self.lowcut:g} Hz is not below {where}")
        if self.highcut is not None and self.highcut >= nyq:
            raise _fail("bandpass.highcut", f"{self.highcut:g} Hz is not below {where}; use null for a high-pass")
        if self.order(fs) < 1:
            raise _fail("bandpass.filter_order", f"torch_ecg's default order at fs={fs:g} is {self.order(fs)}; give one >= 1")
        b, a = self.coefficients(fs)
        radius = float(np.abs(np.roots(a)).max()) if len(a) > 1 else 0.0
        if radius >= 1:
            band = f"{self.lowcut:g}-{self.highcut:g} Hz" if self.highcut is not None else f"above {self.lowcut:g} Hz"
            raise _fail("bandpass", f"the order-{self.order(fs)} Butterworth filter for {band} is unstable at fs={fs:g} in "
                        f"the transfer-function form torch_ecg uses (pole radius {radius:.6f}); use a lower filter_order "
                        "or a higher lowcut")
        if 3 * max(len(a), len(b)) >= n_samples:
            raise _fail("bandpass", f"filtfilt pads {3 * max(len(a), len(b))} samples, more than a window "
                        f"(n_samples={n_samples}) holds; use a lower filter_order")


@functools.lru_cache(maxsize=64)
def _coefficients(step: BandPass, fs: float) -> tuple[np.ndarray, np.ndarray]:
    b, a = step._design(fs)
    b.flags.writeable = a.flags.writeable = False  # shared between calls (and reader threads)
    return b, a


@dataclass(frozen=True)
class BaselineRemove:
    """torch_ecg's ``BaselineRemove``: window lengths in seconds, ``window1 <= window2``."""

    window1: float = 0.2
    window2: float = 0.6
    name = "baseline_remove"

    def sizes(self, fs: float) -> tuple[int, int]:
        """The two median filters' odd lengths in samples, as torch_ecg rounds them."""
        return 2 * (int(self.window1 * fs) // 2) + 1, 2 * (int(self.window2 * fs) // 2) + 1

    def apply(self, sig: np.ndarray, fs: float) -> np.ndarray:
        return sig - baseline(sig, *self.sizes(fs))

    def config(self, fs: float) -> dict:
        return {"window1": self.window1, "window2": self.window2}

    def check(self, fs: float, n_samples: int) -> None:
        for key, seconds, size in zip(("window1", "window2"), (self.window1, self.window2), self.sizes(fs)):
            if size > n_samples:
                raise _fail(f"baseline_remove.{key}", f"{seconds:g} s ({size} samples at fs={fs:g}) is longer than "
                            f"a window (n_samples={n_samples})")


def baseline(sig: np.ndarray, size1: int, size2: int) -> np.ndarray:
    """float32 (C, T): each row median-filtered by ``size1`` then ``size2`` samples, edges ``nearest``.

    Row by row, so SciPy takes its fast one-dimensional rank filter; a median is a selection,
    so the values are those of torch_ecg's two-dimensional call, bit for bit.
    """
    from scipy.ndimage import median_filter

    out = np.empty(sig.shape, dtype=F32)
    for row, source in zip(out.reshape(-1, sig.shape[-1]), sig.reshape(-1, sig.shape[-1])):
        row[:] = median_filter(median_filter(source, size=size1, mode="nearest"), size=size2, mode="nearest")
    return out


Moments = Union[float, np.ndarray]


@dataclass(frozen=True)
class Normalize:
    """torch_ecg's ``Normalize``: ``mean``/``std`` one number, or one a lead with ``per_channel``."""

    method: str = "z-score"
    mean: float | tuple[float, ...] = 0.0
    std: float | tuple[float, ...] = 1.0
    per_channel: bool = False
    name = "normalize"

    @property
    def needs_stats(self) -> bool:
        """Whether the record's own statistics enter (z-score, min-max), so a stream needs a first pass."""
        return self.method != "naive"

    def apply(self, sig: np.ndarray, fs: float, stats: tuple[Moments, Moments] | None = None) -> np.ndarray:
        """``sig`` normalized as torch_ecg does; ``stats`` (mean and std for z-score, min and max for
        min-max; scalars or (C, 1) float32) replaces the record's own, as a stream gives them."""
        sig = sig.astype(F32)
        mean, std = self._targets()
        if self.method == "naive":
            return ((sig - mean) / std).astype(F32)
        first, second = stats if stats is not None else self.stats(sig)
        if self.method == "z-score":
            return (((sig - first) / (second + NORMALIZE_EPS)) * std + mean).astype(F32)
        return ((sig - first) / (second - first + NORMALIZE_EPS)).astype(F32)

    def stats(self, sig: np.ndarray) -> tuple[Moments, Moments]:
        """The record's statistics, as torch_ecg's ``normalize`` computes them (float32 reductions)."""
        options: dict = dict(axis=1, keepdims=True) if self.per_channel else dict(axis=None)
        if self.method == "z-score":
            return np.mean(sig, dtype=F32, **options), np.std(sig, dtype=F32, **options)
        return np.amin(sig, **options), np.amax(sig, **options)

    def _targets(self) -> tuple[Moments, Moments]:
        mean = self.mean if isinstance(self.mean, float) else np.array(self.mean, dtype=F32)[:, None]
        std = self.std if isinstance(self.std, float) else np.array(self.std, dtype=F32)[:, None]
        return mean, std

    def config(self, fs: float) -> dict:
        return {"method": self.method, "mean": _plain(self.mean), "std": _plain(self.std), "per_channel": self.per_channel}

    def check(self, fs: float, n_samples: int, n_channels: int | None = None) -> None:
        for key, value in (("mean", self.mean), ("std", self.std)):
            if isinstance(value, tuple) and n_channels is not None and len(value) != n_channels:
                raise _fail(f"normalize.{key}", f"{len(value)} values, but the output has {n_channels} leads")


def _plain(value: float | tuple[float, ...]) -> float | list[float]:
    return list(value) if isinstance(value, tuple) else value


Step = Union[BandPass, BaselineRemove, Normalize]


@dataclass(frozen=True)
class Preprocess:
    """The steps, in the order given, and the ``fs`` the config names (None: none)."""

    steps: tuple[Step, ...]
    fs: float | None = None

    def config(self, fs: float) -> dict:
        """The effective config at ``fs``, JSON-able, in order, defaults filled in: what the
        output's root ``config`` attribute records, so runs that compute the same compare equal."""
        return {step.name: step.config(fs) for step in self.steps}

    def check(self, fs: float, n_samples: int, n_channels: int | None = None) -> None:
        """Raise PreprocessError (one line naming the key) where the steps cannot run as torch_ecg's at
        ``fs`` on windows of ``n_samples`` and ``n_channels`` leads: before any record is read."""
        if self.fs is not None and self.fs != fs:
            raise _fail("fs", f"{self.fs:g} differs from the run's fs={fs:g} (preprocessing runs after resampling to it)")
        for step in self.steps:
            if isinstance(step, Normalize):
                step.check(fs, n_samples, n_channels)
            else:
                step.check(fs, n_samples)


def apply_preprocess(pre: Preprocess, signal: np.ndarray, fs: float) -> np.ndarray:
    """float32 (C, T): ``signal`` (C, T) through every step in order, over the whole record,
    equal to ``PreprocManager.from_config(cfg)(signal, fs)[0]`` (float32 where torch_ecg's last
    step is a FIR band-pass, which it leaves in float64). C order, as the whole-record z-score's
    float32 sum depends on the memory layout (torch_ecg's own result does)."""
    sig = np.ascontiguousarray(signal, dtype=F32)
    for step in pre.steps:
        sig = step.apply(sig, fs)
    return sig


# ---- parsing --------------------------------------------------------------------------------

_KEYS = {"bandpass": ("lowcut", "highcut", "filter_type", "filter_order"), "baseline_remove": ("window1", "window2"),
         "normalize": ("method", "mean", "std", "per_channel")}


def parse_preprocess(config: Mapping[str, Any] | str | None) -> Preprocess | None:
    """A :class:`Preprocess` from torch_ecg's config (a mapping, or its JSON text as
    ``--preprocess`` gives it); None for none or no step. PreprocessError names a bad key."""
    if config is None:
        return None
    if isinstance(config, str):
        try:
            config = json.loads(config)
        except json.JSONDecodeError as exc:
            raise PreprocessError(f"preprocess: not JSON ({exc.msg} at character {exc.pos})") from None
    if not isinstance(config, Mapping):
        raise PreprocessError(f"preprocess: got {config!r}, expected a mapping of steps ({', '.join(STEPS)})")
    steps: list[Step] = []
    fs = None
    for name, value in config.items():
        if name == "random":
            if value not in (None, False):
                raise _fail("random", "steps in random order cannot be reproduced; remove it or set it to false")
        elif name == "fs":
            fs = _number("fs", value)
        elif name == "resample":
            raise _fail("resample", "ecgspec resamples to --fs before preprocessing; remove it")
        elif name not in STEPS:
            raise _fail(str(name), f"unknown step; the steps are {', '.join(STEPS)}")
        elif value not in (None, False):
            steps.append(_parse_step(name, value))
    return Preprocess(tuple(steps), fs) if steps else None


def _parse_step(name: str, value: Any) -> Step:
    if not isinstance(value, Mapping):
        raise _fail(name, f"got {value!r}, expected a mapping of its settings ({{}} for torch_ecg's defaults), "
                    "or null/false to leave it out")
    for key in value:
        if key not in _KEYS[name]:
            raise _fail(f"{name}.{key}", f"unknown key; {name} takes {', '.join(_KEYS[name])}")
    if name == "bandpass":
        return _bandpass(value)
    if name == "baseline_remove":
        return _baseline_remove(value)
    return _normalize(value)


def _bandpass(value: Mapping[str, Any]) -> BandPass:
    low = _number("bandpass.lowcut", value.get("lowcut", 0.5), allow_none=True)
    high = _number("bandpass.highcut", value.get("highcut", 45), allow_none=True)
    if not low and not high:
        raise _fail("bandpass", "give lowcut or highcut (or both)")
    low = low or 0.0  # torch_ecg: a falsy lowcut is 0, a falsy highcut infinity
    high = high or None
    if low < 0 or (high is not None and high < 0):
        raise _fail("bandpass.lowcut" if low < 0 else "bandpass.highcut", "must not be negative")
    if high is not None and low >= high:
        raise _fail("bandpass", f"lowcut {low:g} must be below highcut {high:g}")
    kind = value.get("filter_type", "butter")
    if not isinstance(kind, str) or kind.lower() not in FILTER_TYPES:
        raise _fail("bandpass.filter_type", f"got {kind!r}, expected one of {', '.join(FILTER_TYPES)}")
    order = value.get("filter_order")
    if order is not None and (isinstance(order, bool) or not isinstance(order, numbers.Integral) or order < 1):
        raise _fail("bandpass.filter_order", f"got {order!r}, expected an integer >= 1 or null")
    return BandPass(low, high, kind.lower(), None if order is None else int(order))


def _baseline_remove(value: Mapping[str, Any]) -> BaselineRemove:
    windows = []
    for key, default in (("window1", 0.2), ("window2", 0.6)):
        seconds = _number(f"baseline_remove.{key}", value.get(key, default))
        if seconds <= 0:
            raise _fail(f"baseline_remove.{key}", f"got {seconds:g}, expected a length in seconds > 0")
        windows.append(seconds)
    return BaselineRemove(min(windows), max(windows))  # torch_ecg swaps them (with a warning)


def _normalize(value: Mapping[str, Any]) -> Normalize:
    method = value.get("method", "z-score")
    if not isinstance(method, str) or method.lower() not in METHODS:
        raise _fail("normalize.method", f"got {method!r}, expected one of {', '.join(METHODS)}")
    per_channel = value.get("per_channel", False)
    if not isinstance(per_channel, bool):
        raise _fail("normalize.per_channel", f"got {per_channel!r}, expected true or false")
    mean, std = (_moment(f"normalize.{key}", value.get(key, default), per_channel)
                 for key, default in (("mean", 0.0), ("std", 1.0)))
    if min(std if isinstance(std, tuple) else (std,)) <= 0:
        raise _fail("normalize.std", f"got {_plain(std)!r}, standard deviations must be > 0")
    return Normalize(method.lower(), mean, std, per_channel)


def _moment(key: str, value: Any, per_channel: bool) -> float | tuple[float, ...]:
    if isinstance(value, Sequence) and not isinstance(value, str):
        if not per_channel:
            raise _fail(key, "one value a lead needs per_channel: true")
        if not value:
            raise _fail(key, "got an empty list")
        return tuple(float(_number(key, v)) for v in value)  # type: ignore[arg-type]
    return float(_number(key, value))  # type: ignore[arg-type]
