"""The ``extract`` command's options beyond the engine config, and the merging of defaults, a YAML file
and command-line values into a checked :class:`~ecgspec.engine.config.InputConfig` and
:class:`ExtractOptions` (:func:`build_settings`), and the config a file stores (:func:`effective_config`).
A run resolves these once into its :class:`~ecgspec.run.settings.Settings`."""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Dict, Mapping, Tuple

import yaml

from ..engine.checks import check_device_spelling, check_positive_int, check_positive_real, fail, is_int, is_real
from ..engine.config import DEFAULT_OVERLAP_SIZE, DEFAULT_WINDOW_SIZE, InputConfig
from ..errors import ConfigError, one_line
from ..store.schema import COMPRESSIONS, STORE_DTYPES
from .shard import parse_cluster, parse_shard

__all__ = ["ENGINE_KEYS", "ExtractOptions", "build_settings", "load_yaml", "effective_config", "parse_leads"]

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
MERGES = ("copy", "virtual")  # how --cluster merges its parts into OUTPUT (ecgspec.run.cluster)


@dataclass(frozen=True)
class ExtractOptions:
    """The ``extract`` command's options beyond the engine config (YAML ``extract:`` mapping), checked
    and normalised on construction, and frozen from then on (:meth:`_set` is the one way a check
    stores the normalised value)."""

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
    workers: int | None = None  # reader processes; None: the CPUs this process may use; 0: threads in this process
    max_errors: int | None = None  # stop (resumable) once more records failed; None: no limit
    shard: Tuple[int, int] | None = None  # (K, N): only the K-th of N parts of the records (ecgspec.run.shard)
    cluster: str | None = None  # local:N, tcp://HOST:PORT or a scheduler file (ecgspec.run.cluster)
    merge: str = "copy"  # with cluster: copy the parts into OUTPUT, or a virtual dataset over them
    lead_set: Tuple[str, ...] | None = None  # the output's leads, in order (ecgspec.signal.lead_sets)
    lead_aliases: Dict[str, str] | None = None  # a record's lead name -> a lead of lead_set
    derive_leads: bool = False  # limb leads a record lacks computed from two of I, II, III
    units: str | None = None  # "mV": signals converted to millivolts
    preprocess: Any = None  # torch_ecg's PreprocManager config -> ecgspec.signal.preprocess.Preprocess
    labels: str | None = None  # a CSV/TSV/Parquet table joined to the records (ecgspec.labels)
    label_key: str | None = None  # its column holding record names
    labels_required: bool = False  # skip records without a row
    targets: str | None = None  # a vocabulary: /records/targets (ecgspec.targets.vocabulary)
    targets_required: bool = False  # skip records without a class of it
    min_count: int | None = None  # codes:COLUMN: only codes that many records hold
    ptbxl_statements: str | None = None  # ptbxl:TASK: scp_statements.csv [beside labels]

    def _set(self, name: str, value: Any) -> None:
        """Store a field's checked, normalised value (construction only: the options are frozen after)."""
        object.__setattr__(self, name, value)

    def __post_init__(self) -> None:
        self._check_layout()
        if self.shard is not None:
            self._set("shard", parse_shard(self.shard))
        if self.cluster is not None:
            self._set("cluster", parse_cluster(self.cluster))
            check_device_spelling(self.device)
            if self.shard is not None:
                raise ConfigError("shard, cluster: got both; --cluster splits the run into parts itself")
        if self.merge not in MERGES:
            raise fail("merge", self.merge, f"must be one of {list(MERGES)}")
        if self.merge != "copy" and self.cluster is None:
            raise ConfigError(f"merge: got {self.merge!r} without cluster; it says how --cluster merges its parts"
                              " (merge --shard parts with 'ecgspec merge --virtual')")
        if self.leads is not None:
            self._set("leads", _checked_leads(self.leads))
        if self.channels is not None:
            self._set("channels", _checked_channels(self.channels))
            if self.leads is not None:
                raise ConfigError("leads, channels: got both; pick signals by name (leads) or by index (channels)")
        if self.stride is not None:
            check_positive_int("stride", self.stride)
        check_positive_int("batch_size", self.batch_size)
        self._set("workers", available_cpus() if self.workers is None else check_positive_int("workers", self.workers, 0))
        if self.max_errors is not None:
            check_positive_int("max_errors", self.max_errors, minimum=0)
        if self.dtype not in STORE_DTYPES:
            raise fail("dtype", self.dtype, f"must be one of {list(STORE_DTYPES)}")
        if self.input_fs is not None:
            check_positive_real("input_fs", self.input_fs)
        if not is_real(self.max_nan) or not 0 <= self.max_nan <= 1:
            raise fail("max_nan", self.max_nan, "must be a fraction in [0, 1]")
        if self.compression is not None and str(self.compression).lower() not in COMPRESSIONS:
            raise fail("compression", self.compression, f"must be one of {list(COMPRESSIONS)}")
        if self.on_error not in ON_ERROR:
            raise fail("on_error", self.on_error, f"must be one of {list(ON_ERROR)}")
        self._check_labels()
        self._check_targets()

    def _check_targets(self) -> None:
        from ..targets.spec import check_targets

        check_targets(self.targets, labels=self.labels is not None, min_count=self.min_count,
                      statements=self.ptbxl_statements, required=self.targets_required)
        if str(self.targets).startswith("ptbxl:"):  # its table beside the labels, unless given
            self._set("ptbxl_statements", str(self.ptbxl_statements or Path(str(self.labels)).parent / "scp_statements.csv"))

    def _check_labels(self) -> None:
        if self.labels is None and (self.label_key is not None or self.labels_required):
            what = "label_key" if self.label_key is not None else "labels_required"
            raise ConfigError(f"{what}: given without labels; it needs --labels TABLE")
        if self.labels is not None:
            if not isinstance(self.labels, (str, Path)) or not str(self.labels):
                raise fail("labels", self.labels, "must be the path of a CSV, TSV or Parquet table")
            if not isinstance(self.label_key, str) or not self.label_key:
                raise ConfigError(f"labels: {self.labels} needs label_key (--label-key COLUMN), the column"
                                  " holding record names")
            self._set("labels", str(self.labels))
        if not isinstance(self.labels_required, bool):
            raise fail("labels_required", self.labels_required, "must be true or false")

    def _check_layout(self) -> None:
        """--lead-set, lead_aliases, --derive-leads, --units and --preprocess, parsed and checked
        (the modules are imported only when used: ``--help`` and ``shape`` stay light)."""
        if self.lead_set is not None:
            from ..signal.lead_sets import parse_aliases, parse_lead_set

            if self.leads is not None or self.channels is not None:
                raise ConfigError("lead_set: give it or leads/channels, not both; the set places leads by name itself")
            try:
                self._set("lead_set", parse_lead_set(parse_leads(self.lead_set) if isinstance(self.lead_set, str)
                                                     and "," in self.lead_set else self.lead_set))
                self._set("lead_aliases", parse_aliases(self.lead_aliases, self.lead_set) or None)
            except ValueError as exc:
                raise ConfigError(str(exc)) from None
        elif self.lead_aliases or self.derive_leads:
            raise ConfigError(f"{'lead_aliases' if self.lead_aliases else 'derive_leads'}: needs lead_set"
                              " (e.g. --lead-set standard12)")
        if not isinstance(self.derive_leads, bool):
            raise fail("derive_leads", self.derive_leads, "must be true or false")
        if self.units is not None and self.units != "mV":
            raise fail("units", self.units, "must be mV (signals converted to millivolts) or not given")
        if self.preprocess is not None:
            from ..signal.preprocess import Preprocess, parse_preprocess

            if not isinstance(self.preprocess, Preprocess):
                self._set("preprocess", parse_preprocess(self.preprocess))


def available_cpus() -> int:
    """The CPUs this process may run on (``os.sched_getaffinity``: what a container or ``taskset`` allows)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def parse_leads(text: str) -> Tuple[str, ...]:
    """``"I, II,V1"`` -> ``("I", "II", "V1")``; a name holding a comma is quoted as in CSV:
    ``'"ECG, lead I",II'`` -> ``("ECG, lead I", "II")``."""
    try:
        rows = list(csv.reader([text], skipinitialspace=True, strict=True))
    except csv.Error as exc:
        raise fail("leads", text, f"is not a comma-separated list of names ({exc})") from None
    return tuple(part.strip() for part in rows[0]) if rows else ("",)


def _checked_leads(value: Any) -> Tuple[str, ...]:
    if isinstance(value, str):
        value = parse_leads(value)
    if not isinstance(value, (list, tuple)) or not all(isinstance(x, str) for x in value):
        raise fail("leads", value, "must be lead names, comma-separated (I,II,V1) or a list of strings")
    leads = tuple(lead.strip() for lead in value)
    if not leads or any(not lead for lead in leads):
        raise fail("leads", ",".join(leads), "must name at least one lead, comma-separated")
    return leads


def _checked_channels(value: Any) -> Tuple[int, ...]:
    """``"5,0"``, ``[5, 0]`` or ``5`` -> ``(5, 0)``: 0-based signal indices in header order."""
    if isinstance(value, str):
        parts = [part.strip() for part in value.split(",")]
        value = [int(part) if part.lstrip("+").isdigit() else part for part in parts]
    elif is_int(value):
        value = [value]
    if not isinstance(value, (list, tuple)) or not value or not all(is_int(x) and x >= 0 for x in value):
        raise fail("channels", value, "must be 0-based signal indices, comma-separated (5,0) or a list of integers")
    return tuple(int(x) for x in value)


def load_yaml(path: str | Path) -> Dict[str, Any]:
    """Read a YAML config: engine keys at the top level, command options under ``extract:``."""
    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
    except OSError as exc:
        raise ConfigError(f"config: cannot read {path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"config: {path} is not valid YAML: {one_line(exc)}") from None
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
    if opts.lead_set is not None:
        picked, what = opts.lead_set, "lead_set"
    if engine.get("n_channels") is None:
        engine["n_channels"] = len(picked) if picked else DEFAULT_N_CHANNELS
    if picked is not None and len(picked) != engine["n_channels"]:
        raise ConfigError(
            f"{what}: got {len(picked)} {what} ({','.join(map(str, picked))}) but n_channels={engine['n_channels']};"
            " they must agree"
        )
    # on a cluster each worker resolves the device (cluster.assign_device): the client never touches CUDA
    engine["device"] = opts.device if opts.cluster is None else "auto"
    config = InputConfig(engine)
    if opts.preprocess is not None:
        opts.preprocess.check(config.sampling_rate, config.n_samples, config.n_channels)
    return config, opts


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
    # each key absent unless used, so files written before them still resume and merge
    if options.lead_set is not None:
        out["lead_set"] = list(options.lead_set)
        if options.lead_aliases:
            out["lead_aliases"] = dict(sorted(options.lead_aliases.items()))
        if options.derive_leads:
            out["derive_leads"] = True
    if options.units is not None:
        out["units"] = options.units
    if options.targets is not None:  # the vocabulary and its source (ptbxl: the statements table's digest)
        from ..targets.vocabulary import vocabulary_of

        out["targets"] = vocabulary_of(options.targets, options.min_count, options.ptbxl_statements).config()
    if options.preprocess is not None:
        # a list of [step, settings]: the order matters, and the stored JSON sorts mapping keys
        steps = options.preprocess.config(config.sampling_rate)
        out["preprocess"] = [[step, settings] for step, settings in steps.items()]
    return out
