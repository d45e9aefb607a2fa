"""The engine's configuration: torch_ecg's ``InputConfig`` keys, checked up front.

(The ``extract`` command's own options and the YAML merging are in :mod:`ecgspec.run.options`;
the value checks both use are in :mod:`.checks`.) Every check raises :class:`ConfigError` (a
``ValueError``) whose message names the field, the value and what is allowed, so a bad config
never surfaces later as a cryptic torch error (or not at all under ``python -O``, as torch_ecg's asserts do).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Mapping, Tuple

from ..errors import ConfigError
from . import frames
from .checks import DEVICES, check_positive_int, check_positive_real, fail, is_real

if TYPE_CHECKING:  # torch is imported where a dtype or device is resolved: `shape` and `--help` never need it
    import torch

__all__ = ["ConfigError", "InputConfig", "check_positive_int", "check_positive_real", "resolve_device", "resolve_dtype"]

DEFAULT_WINDOW_SIZE = 1 / 20
DEFAULT_OVERLAP_SIZE = 1 / 40
MAX_WINDOW_SIZE = 0.2
ENGINE_DTYPES = ("float32", "float64")
_DEFAULTS = {"input_type": "spectrogram", "window_size": DEFAULT_WINDOW_SIZE, "overlap_size": DEFAULT_OVERLAP_SIZE,
             "feature_fs": None, "to1d": False, "ensure_batch_dim": True}


def dtype_name(value: Any) -> str:
    """``"float32"`` for ``"float32"``, ``"torch.float32"`` or ``torch.float32`` (or float64); else raise."""
    name = str(value).replace("torch.", "")
    if name not in ENGINE_DTYPES:
        raise fail("dtype", value, f"must be one of {list(ENGINE_DTYPES)}")
    return name


def resolve_dtype(value: Any) -> torch.dtype:
    """Map ``"float32"``/``torch.float32`` (or float64) to a torch dtype."""
    import torch

    return getattr(torch, dtype_name(value))


def _always_valid_device(value: Any) -> bool:
    """None, "auto" and "cpu" are always valid: checking them needs no torch (resolving "auto" does)."""
    return value is None or (isinstance(value, str) and value in ("auto", "cpu"))


def resolve_device(value: Any) -> torch.device:
    """``None`` or ``"auto"`` picks CUDA when torch sees a GPU, as torch_ecg's default does."""
    import torch

    if value is None or value == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(value)
    except (RuntimeError, TypeError) as exc:
        raise fail("device", value, f"must be {DEVICES}") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise fail("device", value, "but torch sees no CUDA device here; use 'cpu' or 'auto'")
    return device


class InputConfig(dict):
    """torch_ecg's ``InputConfig`` for spectrogram input, every field checked on construction.

    A ``dict`` with attribute access, like torch_ecg's ``CFG``: ``cfg.n_bins`` is ``cfg["n_bins"]``.
    Every change after construction (``cfg.n_bins = 64``, ``cfg.update(...)``, ``del cfg["fs"]``)
    is checked as a new config would be: a bad one raises and leaves the config as it was.

    Parameters
    ----------
    n_channels : int
        Leads (signals) a window holds.
    n_samples : int
        Samples a window holds, at ``fs``.
    n_bins : int
        Frequency bins; the FFT size is ``n_fft = 2 * (n_bins - 1)``.
    fs : float
        Sampling rate of the windows, Hz (``sample_rate`` is accepted as its alias).
    window_size : float, default 1/20
        STFT window, seconds: ``win_length = round(window_size * fs)`` (Python's ``round``).
    overlap_size : float, default 1/40
        Overlap of successive windows, seconds: ``hop_length = win_length - round(overlap_size * fs)``.
    feature_fs : float or None, default None
        Rescale the frame axis to this rate, nearest neighbour: ``floor(n_frames * feature_fs / fs)`` frames.
    to1d : bool, default False
        Merge the channel and bin axes: windows of ``(n_channels * n_bins, n_frames)``.
    ensure_batch_dim : bool, default True
        A 2-D waveform gains a batch axis.
    dtype : str or torch.dtype, default torch.float32
        The engine's dtype, float32 or float64.
    device : str or torch.device, optional
        ``"cpu"``, ``"cuda"``, ``"cuda:N"``; default (or ``"auto"``): CUDA when torch sees a GPU.
    input_type : str, default "spectrogram"
        The only input type ecgspec computes.
    **other
        Unknown keys (``name``, ...) are kept untouched.

    Raises
    ------
    ConfigError
        A missing or invalid field (also a ``ValueError``); the message names the field, the value
        and what is allowed, e.g. a window longer than ``n_fft``.

    Examples
    --------
    >>> from ecgspec import InputConfig
    >>> cfg = InputConfig(n_channels=12, n_samples=5000, n_bins=128, fs=500, feature_fs=100)
    >>> cfg.win_length, cfg.hop_length, cfg.n_fft, cfg.window_shape
    (25, 13, 254, (12, 128, 77))
    >>> cfg.n_bins = 8
    Traceback (most recent call last):
    ...
    ecgspec.errors.ConfigError: window_size: got 0.05, gives a 25-sample window at fs=500, longer than n_fft = 2 * (n_bins - 1) = 14; use n_bins >= 14 or a shorter window
    >>> cfg.n_bins
    128
    """

    def __init__(self, *args: Mapping[str, Any], **kwargs: Any) -> None:
        super().__init__()
        for mapping in args:
            dict.update(self, mapping)
        dict.update(self, kwargs)
        for key, default in _DEFAULTS.items():
            dict.setdefault(self, key, default)
        self._validate()

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    # Every change is checked as a whole new config: a bad one raises ConfigError and leaves this one
    # as it was (``cfg.n_bins = 2`` is refused, as InputConfig(n_bins=2, ...) is).

    def _change(self, change: Callable[[dict[str, Any]], Any]) -> Any:
        trial = dict(self)
        result = change(trial)
        checked = InputConfig(trial)
        dict.clear(self)
        dict.update(self, checked)
        return result

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value

    def __delattr__(self, name: str) -> None:
        try:
            del self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setitem__(self, key: str, value: Any) -> None:
        self._change(lambda d: d.__setitem__(key, value))

    def __delitem__(self, key: str) -> None:
        self._change(lambda d: d.__delitem__(key))

    def update(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        self._change(lambda d: d.update(*args, **kwargs))

    def setdefault(self, key: str, default: Any = None) -> Any:
        return self._change(lambda d: d.setdefault(key, default))

    def pop(self, key: str, *default: Any) -> Any:  # type: ignore[override]
        return self._change(lambda d: d.pop(key, *default))

    def popitem(self) -> tuple[str, Any]:
        return self._change(lambda d: d.popitem())

    def clear(self) -> None:
        self._change(lambda d: d.clear())

    def __ior__(self, other: Any) -> InputConfig:  # type: ignore[override,misc]
        self.update(other)
        return self

    def copy(self) -> InputConfig:  # type: ignore[override]
        return InputConfig(self)

    def __reduce__(self) -> tuple[Any, ...]:  # pickle and deepcopy rebuild it through __init__
        return (InputConfig, (dict(self),))

    @property
    def sampling_rate(self) -> float:
        """``fs``, or ``sample_rate`` where only the alias was given."""
        return self["fs"] if self.get("fs") is not None else self["sample_rate"]

    @property
    def win_length(self) -> int:
        """STFT window in samples: ``round(window_size * fs)`` (Python's round, as torch_ecg)."""
        return frames.win_length(self["window_size"], self.sampling_rate)

    @property
    def hop_length(self) -> int:
        """Samples between frames: ``win_length - round(overlap_size * fs)``."""
        return frames.hop_length(self["window_size"], self["overlap_size"], self.sampling_rate)

    @property
    def n_fft(self) -> int:
        """FFT size giving ``n_bins`` one-sided bins: ``2 * (n_bins - 1)``."""
        return frames.n_fft(self["n_bins"])

    @property
    def n_frames(self) -> int:
        """Frames of one window's spectrogram: the centred frames, less those ``feature_fs`` drops."""
        centred = frames.n_frames(self["n_samples"], self.hop_length)
        return frames.n_kept_frames(centred, self.sampling_rate, self["feature_fs"])

    @property
    def geometry(self) -> frames.Geometry:
        """The frames of one window (:class:`ecgspec.engine.frames.Geometry`)."""
        return frames.Geometry(self["n_samples"], self.sampling_rate, self.win_length, self.hop_length, self.n_fft,
                               self["feature_fs"], self._double)

    @property
    def frame_times(self) -> list[float]:
        """Seconds from a window's first sample to each output frame's centre (:func:`ecgspec.engine.frames.frame_times`)."""
        return self.geometry.times()

    @property
    def edge_frames(self) -> list[bool]:
        """Whether each output frame weighs a reflect-padded sample (:func:`ecgspec.engine.frames.edge_frames`)."""
        return self.geometry.edges()

    @property
    def _double(self) -> bool:
        """A float64 engine: ``feature_fs`` picks frames in double precision."""
        return dtype_name(self.get("dtype") or "float32") == "float64"

    @property
    def window_shape(self) -> Tuple[int, ...]:
        """One window's spectrogram: ``(n_channels, n_bins, n_frames)``, or 2-D with ``to1d``."""
        return frames.spectrogram_shape(self["n_channels"], self["n_bins"], self.n_frames, self["to1d"])

    def _validate(self) -> None:
        """Check every field, in an order where each check may rely on the ones before."""
        self._check_input_type()
        self._check_sizes()
        self._check_window()
        self._check_frames()
        for flag in ("to1d", "ensure_batch_dim"):
            if not isinstance(self[flag], bool):
                raise fail(flag, self[flag], "must be true or false")
        if "dtype" in self:
            dtype_name(self["dtype"])
        if not _always_valid_device(self.get("device")):
            resolve_device(self["device"])

    def _check_input_type(self) -> None:
        input_type = str(self["input_type"]).lower()
        if input_type != "spectrogram":
            raise fail("input_type", self["input_type"], "ecgspec implements only 'spectrogram'")
        dict.__setitem__(self, "input_type", input_type)

    def _check_sizes(self) -> None:
        """The required integers and the sampling rate."""
        for field in ("n_channels", "n_samples", "n_bins"):
            if self.get(field) is None:
                raise ConfigError(f"{field}: missing, it is required for spectrogram input")
        check_positive_int("n_channels", self["n_channels"])
        check_positive_int("n_samples", self["n_samples"])
        check_positive_int("n_bins", self["n_bins"], minimum=2)
        if self.get("fs") is None and self.get("sample_rate") is None:
            raise ConfigError("fs: missing, give `fs` (or its alias `sample_rate`) in Hz")
        check_positive_real("fs" if self.get("fs") is not None else "sample_rate", self.sampling_rate)

    def _check_window(self) -> None:
        """Window and overlap in seconds, then the window, hop and FFT sizes in samples they give."""
        window_size, overlap_size, fs = self["window_size"], self["overlap_size"], self.sampling_rate
        if not is_real(window_size) or not 0 < window_size < MAX_WINDOW_SIZE:
            raise fail("window_size", window_size, f"must be in (0, {MAX_WINDOW_SIZE}) seconds")
        if not is_real(overlap_size) or not 0 < overlap_size < window_size:
            raise fail("overlap_size", overlap_size, f"must be in (0, window_size={window_size}) seconds")
        win_length, hop_length, n_fft = self.win_length, self.hop_length, self.n_fft
        if win_length < 1:
            raise fail("window_size", window_size, f"rounds to {win_length} samples at fs={fs:g}; need >= 1")
        if hop_length < 1:
            raise fail(
                "overlap_size",
                overlap_size,
                f"leaves a hop of {hop_length} samples at fs={fs:g} (window {win_length}); need >= 1",
            )
        if win_length > n_fft:
            raise fail(
                "window_size",
                window_size,
                f"gives a {win_length}-sample window at fs={fs:g}, longer than n_fft = 2 * (n_bins - 1) = {n_fft};"
                f" use n_bins >= {(win_length + 1) // 2 + 1} or a shorter window",
            )

    def _check_frames(self) -> None:
        """Enough samples for the centred padding, and at least one frame left by ``feature_fs``."""
        n_fft = self.n_fft
        if self["n_samples"] <= n_fft // 2:
            raise fail(
                "n_samples",
                self["n_samples"],
                f"must be > n_fft // 2 = {n_fft // 2} for the centred reflect padding (n_bins={self['n_bins']})",
            )
        if self["feature_fs"] is not None:
            feature_fs = check_positive_real("feature_fs", self["feature_fs"])
            if self.n_frames < 1:
                centred = frames.n_frames(self["n_samples"], self.hop_length)
                raise fail(
                    "feature_fs", feature_fs, f"keeps no frame of {centred} at fs={self.sampling_rate:g};"
                    " raise it or n_samples"
                )
