"""The engine's configuration: torch_ecg's ``InputConfig`` keys, checked up front.

Every check raises :class:`ConfigError` (a ``ValueError``) whose message names the
field, the value and what is allowed, so a bad config never surfaces later as a
cryptic torch error (or not at all under ``python -O``, as torch_ecg's asserts do).
"""

from __future__ import annotations

import csv
import math
import numbers
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, Mapping, Tuple

import yaml

from . import frames
from .dtypes import STORE_DTYPES
from .shard import check_cluster_device, parse_cluster, parse_shard

if TYPE_CHECKING:  # torch is imported where a dtype or device is resolved: `shape` and `--help` never need it
    import torch

__all__ = ["ConfigError", "InputConfig", "ExtractOptions", "build_settings", "load_yaml", "effective_config"]

DEFAULT_WINDOW_SIZE = 1 / 20
DEFAULT_OVERLAP_SIZE = 1 / 40
MAX_WINDOW_SIZE = 0.2
ENGINE_DTYPES = ("float32", "float64")


class ConfigError(ValueError):
    """An invalid engine or extraction setting; the message names field, value and rule."""


def _fail(field: str, value: Any, allowed: str) -> ConfigError:
    return ConfigError(f"{field}: got {value!r}, {allowed}")


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def check_positive_int(field: str, value: Any, minimum: int = 1) -> int:
    """Return ``value`` as an int, or raise if it is not an integer >= ``minimum``."""
    if not _is_int(value) or value < minimum:
        raise _fail(field, value, f"must be an integer >= {minimum}")
    return int(value)


def check_positive_real(field: str, value: Any) -> float:
    """Return ``value`` as a float, or raise if it is not a finite number > 0."""
    if not _is_real(value) or value <= 0:
        raise _fail(field, value, "must be a finite number > 0")
    return float(value)


def dtype_name(value: Any) -> str:
    """``"float32"`` for ``"float32"``, ``"torch.float32"`` or ``torch.float32`` (or float64); else raise."""
    name = str(value).replace("torch.", "")
    if name not in ENGINE_DTYPES:
        raise _fail("dtype", value, f"must be one of {list(ENGINE_DTYPES)}")
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
        raise _fail("device", value, "must be 'auto', 'cpu', 'cuda' or 'cuda:N'") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise _fail("device", value, "but torch sees no CUDA device here; use 'cpu' or 'auto'")
    return device


class InputConfig(dict):
    """torch_ecg's ``InputConfig`` for spectrogram input, validated on construction.

    A ``dict`` with attribute access, like torch_ecg's ``CFG``. Required: ``n_channels``,
    ``n_samples``, ``n_bins`` and ``fs`` (or its alias ``sample_rate``). Optional, with
    torch_ecg's defaults: ``input_type="spectrogram"``, ``window_size=1/20`` and
    ``overlap_size=1/40`` (seconds), ``feature_fs=None``, ``to1d=False``,
    ``ensure_batch_dim=True``, ``dtype=torch.float32``, ``device`` (CUDA when available).
    Unknown keys such as ``name`` are kept untouched.

    ``win_length``, ``hop_length``, ``n_fft``, ``n_frames`` and ``window_shape`` are
    worked out by :mod:`ecgspec.frames` (Python's banker's ``round``, as torch_ecg).
    """

    def __init__(self, *args: Mapping[str, Any], **kwargs: Any) -> None:
        super().__init__()
        for mapping in args:
            self.update(mapping)
        self.update(kwargs)
        self.setdefault("input_type", "spectrogram")
        self.setdefault("window_size", DEFAULT_WINDOW_SIZE)
        self.setdefault("overlap_size", DEFAULT_OVERLAP_SIZE)
        self.setdefault("feature_fs", None)
        self.setdefault("to1d", False)
        self.setdefault("ensure_batch_dim", True)
        self._validate()

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value

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
    def frame_times(self) -> list[float]:
        """Seconds from a window's first sample to each output frame's centre (:func:`ecgspec.frames.frame_times`)."""
        return frames.frame_times(self["n_samples"], self.hop_length, self.sampling_rate, self["feature_fs"],
                                  self._double)

    @property
    def edge_frames(self) -> list[bool]:
        """Whether each output frame weighs a reflect-padded sample (:func:`ecgspec.frames.edge_frames`)."""
        return frames.edge_frames(self["n_samples"], self.hop_length, self.n_fft, self.win_length,
                                  self.sampling_rate, self["feature_fs"], self._double)

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
                raise _fail(flag, self[flag], "must be true or false")
        if "dtype" in self:
            dtype_name(self["dtype"])
        if not _always_valid_device(self.get("device")):
            resolve_device(self["device"])

    def _check_input_type(self) -> None:
        input_type = str(self["input_type"]).lower()
        if input_type != "spectrogram":
            raise _fail("input_type", self["input_type"], "ecgspec implements only 'spectrogram'")
        self["input_type"] = input_type

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
        if not _is_real(window_size) or not 0 < window_size < MAX_WINDOW_SIZE:
            raise _fail("window_size", window_size, f"must be in (0, {MAX_WINDOW_SIZE}) seconds")
        if not _is_real(overlap_size) or not 0 < overlap_size < window_size:
            raise _fail("overlap_size", overlap_size, f"must be in (0, window_size={window_size}) seconds")
        win_length, hop_length, n_fft = self.win_length, self.hop_length, self.n_fft
        if win_length < 1:
            raise _fail("window_size", window_size, f"rounds to {win_length} samples at fs={fs:g}; need >= 1")
        if hop_length < 1:
            raise _fail(
                "overlap_size",
                overlap_size,
                f"leaves a hop of {hop_length} samples at fs={fs:g} (window {win_length}); need >= 1",
            )
        if win_length > n_fft:
            raise _fail(
                "window_size",
                window_size,
                f"gives a {win_length}-sample window at fs={fs:g}, longer than n_fft = 2 * (n_bins - 1) = {n_fft};"
                f" use n_bins >= {(win_length + 1) // 2 + 1} or a shorter window",
            )

    def _check_frames(self) -> None:
        """Enough samples for the centred padding, and at least one frame left by ``feature_fs``."""
        n_fft = self.n_fft
        if self["n_samples"] <= n_fft // 2:
            raise _fail(
                "n_samples",
                self["n_samples"],
                f"must be > n_fft // 2 = {n_fft // 2} for the centred reflect padding (n_bins={self['n_bins']})",
            )
        if self["feature_fs"] is not None:
            feature_fs = check_positive_real("feature_fs", self["feature_fs"])
            if self.n_frames < 1:
                centred = frames.n_frames(self["n_samples"], self.hop_length)
                raise _fail(
                    "feature_fs", feature_fs, f"keeps no frame of {centred} at fs={self.sampling_rate:g};"
                    " raise it or n_samples"
                )


# ---------------------------------------------------------------------------
# Extraction settings: engine keys + the `extract` command's options, from YAML.

ENGINE_KEYS = ("n_channels", "n_samples", "n_bins", "fs", "window_size", "overlap_size", "feature_fs", "to1d")
ENGINE_DEFAULTS = {
    "n_bins": 128,
    "fs": 500,
    "n_samples": 5000,
    "window_size": DEFAULT_WINDOW_SIZE,
    "overlap_size": DEFAULT_OVERLAP_SIZE,
    "feature_fs": None,
    "to1d": False,
}
DEFAULT_N_CHANNELS = 12
ON_ERROR = ("skip", "fail")


@dataclass
class ExtractOptions:
    """The ``extract`` command's options beyond the engine config (YAML ``extract:`` mapping)."""

    leads: Tuple[str, ...] | None = None
    channels: Tuple[int, ...] | None = None
    stride: int | None = None
    batch_size: int = 32
    device: str = "auto"
    dtype: str = "float32"
    compression: str | None = None
    input_fs: float | None = None
    max_nan: float = 0.1
    on_error: str = "skip"
    workers: int = 2
    max_errors: int | None = None  # stop (resumable) once more records failed; None: no limit
    shard: Tuple[int, int] | None = None  # (K, N): only the K-th of N parts of the records (ecgspec.shard)
    cluster: str | None = None  # local:N, tcp://HOST:PORT or a scheduler file (ecgspec.cluster)

    def __post_init__(self) -> None:
        if self.shard is not None:
            self.shard = parse_shard(self.shard)
        if self.cluster is not None:
            self.cluster = parse_cluster(self.cluster)
            check_cluster_device(self.device)
            if self.shard is not None:
                raise ConfigError("shard, cluster: got both; --cluster splits the run into parts itself")
        if self.leads is not None:
            self.leads = _checked_leads(self.leads)
        if self.channels is not None:
            self.channels = _checked_channels(self.channels)
            if self.leads is not None:
                raise ConfigError("leads, channels: got both; pick signals by name (leads) or by index (channels)")
        if self.stride is not None:
            check_positive_int("stride", self.stride)
        check_positive_int("batch_size", self.batch_size)
        check_positive_int("workers", self.workers)
        if self.max_errors is not None:
            check_positive_int("max_errors", self.max_errors, minimum=0)
        if self.dtype not in STORE_DTYPES:
            raise _fail("dtype", self.dtype, f"must be one of {list(STORE_DTYPES)}")
        if self.input_fs is not None:
            check_positive_real("input_fs", self.input_fs)
        if not _is_real(self.max_nan) or not 0 <= self.max_nan <= 1:
            raise _fail("max_nan", self.max_nan, "must be a fraction in [0, 1]")
        if self.on_error not in ON_ERROR:
            raise _fail("on_error", self.on_error, f"must be one of {list(ON_ERROR)}")


def parse_leads(text: str) -> Tuple[str, ...]:
    """``"I, II,V1"`` -> ``("I", "II", "V1")``; a name holding a comma is quoted as in CSV:
    ``'"ECG, lead I",II'`` -> ``("ECG, lead I", "II")``."""
    try:
        rows = list(csv.reader([text], skipinitialspace=True, strict=True))
    except csv.Error as exc:
        raise _fail("leads", text, f"is not a comma-separated list of names ({exc})") from None
    return tuple(part.strip() for part in rows[0]) if rows else ("",)


def _checked_leads(value: Any) -> Tuple[str, ...]:
    if isinstance(value, str):
        value = parse_leads(value)
    if not isinstance(value, (list, tuple)) or not all(isinstance(x, str) for x in value):
        raise _fail("leads", value, "must be lead names, comma-separated (I,II,V1) or a list of strings")
    leads = tuple(lead.strip() for lead in value)
    if not leads or any(not lead for lead in leads):
        raise _fail("leads", ",".join(leads), "must name at least one lead, comma-separated")
    return leads


def _checked_channels(value: Any) -> Tuple[int, ...]:
    """``"5,0"``, ``[5, 0]`` or ``5`` -> ``(5, 0)``: 0-based signal indices in header order."""
    if isinstance(value, str):
        parts = [part.strip() for part in value.split(",")]
        value = [int(part) if part.lstrip("+").isdigit() else part for part in parts]
    elif _is_int(value):
        value = [value]
    if not isinstance(value, (list, tuple)) or not value or not all(_is_int(x) and x >= 0 for x in value):
        raise _fail("channels", value, "must be 0-based signal indices, comma-separated (5,0) or a list of integers")
    return tuple(int(x) for x in value)


def load_yaml(path: str | Path) -> Dict[str, Any]:
    """Read a YAML config: engine keys at the top level, command options under ``extract:``."""
    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
    except OSError as exc:
        raise ConfigError(f"config: cannot read {path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"config: {path} is not valid YAML: {' '.join(str(exc).split())}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config: {path} must hold a mapping of keys, got {type(data).__name__}")
    return data


def build_settings(
    file_data: Mapping[str, Any], engine_overrides: Mapping[str, Any], option_overrides: Mapping[str, Any]
) -> Tuple[InputConfig, ExtractOptions]:
    """Merge defaults < YAML file < command line (``None`` means not given) into checked settings."""
    file_data = _engine_keys_of(file_data)
    file_options = file_data.pop("extract", None) or {}
    if not isinstance(file_options, dict):
        raise ConfigError(f"extract: got {file_options!r}, must be a mapping of option names to values")
    options = {k.replace("-", "_"): v for k, v in file_options.items()}
    options.update({k: v for k, v in option_overrides.items() if v is not None})
    known = {f.name for f in fields(ExtractOptions)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise ConfigError(f"extract: unknown option {unknown[0]!r}, known: {', '.join(sorted(known))}")
    opts = ExtractOptions(**options)
    engine = dict(ENGINE_DEFAULTS)
    engine.update({k: v for k, v in file_data.items()})
    engine.update({k: v for k, v in engine_overrides.items() if v is not None})
    picked, what = (opts.leads, "leads") if opts.leads is not None else (opts.channels, "channels")
    if engine.get("n_channels") is None:
        engine["n_channels"] = len(picked) if picked else DEFAULT_N_CHANNELS
    if picked is not None and len(picked) != engine["n_channels"]:
        raise ConfigError(
            f"{what}: got {len(picked)} {what} ({','.join(map(str, picked))}) but n_channels={engine['n_channels']};"
            " they must agree"
        )
    # on a cluster each worker resolves the device (cluster.assign_device): the client never touches CUDA
    engine["device"] = opts.device if opts.cluster is None else "auto"
    return InputConfig(engine), opts


# torch_ecg InputConfig keys accepted at the top level that do not change the output (name,
# ensure_batch_dim) or that InputConfig checks itself (input_type).
_IGNORED_KEYS = ("name", "ensure_batch_dim")


def _engine_keys_of(file_data: Mapping[str, Any]) -> Dict[str, Any]:
    """The file's top level with ``sample_rate`` read as ``fs``; a key ecgspec would ignore is refused."""
    data = {k: v for k, v in file_data.items() if k not in _IGNORED_KEYS}
    if "sample_rate" in data:
        rate = data.pop("sample_rate")
        if data.get("fs", rate) != rate:
            raise ConfigError(f"sample_rate: got {rate!r} but fs is {data['fs']!r}; give one of them")
        data["fs"] = rate
    unknown = sorted(set(data) - set(ENGINE_KEYS) - {"extract", "input_type"})
    if unknown:
        raise ConfigError(
            f"config: unknown key {unknown[0]!r}; the top level takes {', '.join(ENGINE_KEYS)}"
            f" (or sample_rate), and command options go under 'extract:'"
        )
    return data


def effective_config(config: InputConfig, options: ExtractOptions) -> Dict[str, Any]:
    """The config that decides the output's values and layout, as stored in the HDF5 file (JSON-able)."""
    out = {k: config.get(k) for k in ENGINE_KEYS}
    out["fs"] = config.sampling_rate
    out["stride"] = options.stride or config["n_samples"]
    out["leads"] = list(options.leads) if options.leads else None
    if options.channels is not None:  # absent otherwise, so files written before --channels still resume
        out["channels"] = list(options.channels)
    out["dtype"] = options.dtype
    out["input_fs"] = options.input_fs
    out["max_nan"] = options.max_nan
    return out
