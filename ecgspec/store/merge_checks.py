"""Whether part files can be merged: each refusal is one line naming the files (``ecgspec merge`` exits 2).

Refused: a file that is missing, not an ecgspec output, unfinished, or not a part of a
``--shard`` run; parts written by different ecgspec versions, with different stored dtypes,
window shapes, configs or datasets; overlapping records; parts of different runs (their
``run_digest`` differs) or splits (``part_count``); a part given twice; missing parts.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from ..errors import MergeError, one_line
from .layout import config_difference, is_partial_name, open_for_reading
from .lowlevel import dataset_names

__all__ = ["MergeError", "PartFile", "open_parts", "check_parts", "check_next"]


GROUPS = ("records/meta/", "records/labels/", "records/targets")  # rebuilt by the merge, not row by row


@dataclass
class PartFile:
    """One part, open read-only: its attributes, dataset names and row counts."""

    path: Path
    file: h5py.File
    datasets: list[str] = field(default_factory=list)

    counts: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # /records/meta and /records/labels differ from part to part (keys, types): rebuilt by the merge
        self.datasets = list(dataset_names(self.file, lambda name: not name.startswith(GROUPS)))
        self.counts = {"windows": int(self.file["spectrograms"].shape[0]),
                       **{t: int(self.file[f"{t}/name"].shape[0]) for t in ("records", "errors")}}

    @property
    def index(self) -> int:
        return int(self.file.attrs["part_index"])

    @property
    def count(self) -> int:
        return int(self.file.attrs["part_count"])

    @property
    def digest(self) -> str:
        return str(self.file.attrs["run_digest"])

    def rows(self, table: str) -> int:
        """Rows of /windows, /records or /errors."""
        return self.counts[table]

    @property
    def n_windows(self) -> int:
        return self.rows("windows")

    @property
    def n_records(self) -> int:
        return self.rows("records")

    @property
    def n_errors(self) -> int:
        return self.rows("errors")

    def names(self) -> np.ndarray:
        return self.file["records/name"].asstr()[()]


def open_parts(paths: list[Path], stack: contextlib.ExitStack) -> list[PartFile]:
    """Open each part (closed with ``stack``); refuse files that are not finished parts."""
    parts = []
    for path in paths:
        if not path.is_file():
            raise MergeError(f"{path}: no such file")
        try:
            file = stack.enter_context(open_for_reading(path))
        except OSError as exc:
            raise MergeError(f"{path}: cannot read it as HDF5: {one_line(exc)}") from exc
        if "config" not in file.attrs or any(n not in file for n in ("spectrograms", "records/name", "errors/name")):
            raise MergeError(f"{path}: not an ecgspec output")
        if is_partial_name(path) or not bool(file.attrs.get("complete", False)):
            raise MergeError(f"{path} is an incomplete part (an interrupted run?); finish it with the same"
                             " command and --resume, then merge")
        if "part_index" not in file.attrs:
            raise MergeError(f"{path} is not a part of a --shard run (no part_index attribute)")
        parts.append(PartFile(path, file))
    return parts


def check_parts(parts: list[PartFile]) -> list[PartFile]:
    """Refuse parts that do not make one run together; return them in part order."""
    first = parts[0]
    for part in parts[1:]:
        _check_same(first, part)
    _check_overlap(parts)
    for part in parts[1:]:
        _check_same_split(first, part)
    by_index: dict[int, PartFile] = {}
    for part in parts:
        if part.index in by_index:
            raise MergeError(f"part {part.index} given twice: {by_index[part.index].path} and {part.path}")
        by_index[part.index] = part
    missing = [k for k in range(first.count) if k not in by_index]
    if missing:
        raise MergeError(f"missing parts of the {first.count}-part run of {first.path}:"
                         f" {', '.join(map(str, missing))} (have {', '.join(map(str, sorted(by_index)))})")
    return [by_index[k] for k in range(first.count)]


def check_next(first: PartFile, part: PartFile, index: int) -> None:
    """Refuse ``part`` unless it is part ``index`` of ``first``'s run: the check of a merge that takes
    the parts one at a time, in order (so none can be missing, given twice or overlap another)."""
    _check_same(first, part)
    _check_same_split(first, part)
    if part.index != index:
        raise MergeError(f"{part.path} is part {part.index} of {part.count}, expected part {index}")


def _check_same_split(first: PartFile, part: PartFile) -> None:
    """The same run (records and config) and the same split into parts as the first part."""
    if part.digest != first.digest:
        raise MergeError(f"{first.path} and {part.path} are parts of different runs (run digests"
                         f" {first.digest[:12]} and {part.digest[:12]}: other records or config)")
    if part.count != first.count:
        raise MergeError(f"{first.path} is part {first.index} of {first.count} but {part.path} is part"
                         f" {part.index} of {part.count}; merge the parts of one split")


def _check_same(first: PartFile, part: PartFile) -> None:
    """Same ecgspec version, dtype, window shape, config and datasets as the first part."""
    a, b = first.file, part.file
    pair = f"{first.path} and {part.path}"
    version_a, version_b = a.attrs.get("ecgspec_version"), b.attrs.get("ecgspec_version")
    if version_a != version_b:
        raise MergeError(f"{pair} were written by different ecgspec versions ({version_a} and {version_b})")
    if a["spectrograms"].dtype != b["spectrograms"].dtype:
        raise MergeError(f"{pair} store different dtypes ({a['spectrograms'].dtype} and {b['spectrograms'].dtype})")
    if a["spectrograms"].shape[1:] != b["spectrograms"].shape[1:]:
        raise MergeError(f"{pair} have different window shapes ({a['spectrograms'].shape[1:]} and"
                         f" {b['spectrograms'].shape[1:]})")
    difference = config_difference(json.loads(a.attrs["config"]), json.loads(b.attrs["config"]))
    if difference is not None:
        raise MergeError(f"{pair} have different configs: {difference}")
    if sorted(first.datasets) != sorted(part.datasets):
        extra = sorted(set(first.datasets) ^ set(part.datasets))[0]
        raise MergeError(f"{pair} hold different datasets (/{extra} is in one only)")


def _check_overlap(parts: list[PartFile]) -> None:
    """No record in two parts."""
    owner: dict[str, Path] = {}
    for part in parts:
        for name in part.names():
            if name in owner:
                raise MergeError(f"overlapping records: {name} is in both {owner[name]} and {part.path}")
            owner[name] = part.path
