"""``/records/targets``: one row a record, a column a class (uint8), written when the file is finished.

Like ``/records/meta`` and ``/records/labels`` (:mod:`.record_groups`) it is computed from the
records' columns at :meth:`~ecgspec.store.writer.SpectrogramWriter.finish` (so a ``--resume`` writes
it again for all the records) by the run's vocabulary (:mod:`ecgspec.targets.vocabulary`), and
rebuilt by a merge: the parts' rows one after the other, or, for a ``codes:`` vocabulary (whose
classes are the codes the records hold), computed again over all the merged records. Attributes:
``classes`` (JSON list of names), ``codes`` (JSON list: the source codes each class merges) and
``vocabulary`` (what was asked). No torch here.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Mapping, Sequence

import h5py
import numpy as np

from ..errors import MergeError
from ..targets.vocabulary import TargetTable, from_config
from .checksums import checksum_keywords
from .record_groups import LABELS, META

__all__ = ["TARGETS", "Targets", "flat_columns", "target_table", "write_targets", "read_targets", "file_classes",
           "read_target_table", "merge_targets", "class_counts"]

TARGETS = "records/targets"
Targets = Callable[[Mapping[str, np.ndarray], int], TargetTable]  # records' columns, count -> their targets


def flat_columns(groups: Mapping[str, Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """The ``meta`` and ``labels`` groups (:func:`~ecgspec.store.record_groups.group_columns`) as
    ``meta/<key>`` and ``labels/<column>`` columns, as :attr:`SpectrogramFile.records` names them."""
    prefixes = {META: "meta/", LABELS: "labels/"}
    return {prefixes[path] + key: values for path, columns in groups.items() if path in prefixes
            for key, values in columns.items()}


def target_table(targets: Targets | None, groups: Mapping[str, Mapping[str, np.ndarray]], n: int) -> TargetTable | None:
    """The targets of the first ``n`` records, from their groups' columns; None without a vocabulary."""
    return None if targets is None else targets(flat_columns(groups), n)


def write_targets(file: h5py.File, table: TargetTable | None) -> None:
    """``/records/targets`` holding ``table`` (open for writing, SWMR off), replacing what it held."""
    if TARGETS in file:
        del file[TARGETS]
    if table is None:
        return
    dataset = file.create_dataset(TARGETS, data=np.asarray(table.matrix, dtype=np.uint8).reshape(len(table.matrix), len(table.classes)),
                                  dtype=np.uint8, **checksum_keywords(np.uint8))
    dataset.attrs["classes"] = json.dumps(list(table.classes), ensure_ascii=False)
    dataset.attrs["codes"] = json.dumps([list(c) for c in table.codes], ensure_ascii=False)
    dataset.attrs["vocabulary"] = table.vocabulary


def read_targets(file: h5py.File, n: int) -> dict[str, np.ndarray]:
    """``{"targets": the first n rows}`` where the file's ``/records/targets`` covers ``n`` records, else ``{}``
    (none, or a running ``--resume`` that added records since)."""
    dataset = file.get(TARGETS)
    if dataset is None or dataset.shape[0] < n:
        return {}
    return {"targets": dataset[:n]}


def file_classes(file: h5py.File) -> list[str]:
    """The class names of the file's targets (``[]`` without)."""
    dataset = file.get(TARGETS)
    return [] if dataset is None else list(json.loads(dataset.attrs["classes"]))


def read_target_table(file: h5py.File, n: int) -> TargetTable | None:
    """The first ``n`` rows of ``/records/targets`` with its attributes (a part being merged), None without."""
    dataset = file.get(TARGETS)
    if dataset is None:
        return None
    attrs = dataset.attrs
    codes = tuple(tuple(c) for c in json.loads(attrs["codes"]))
    return TargetTable(dataset[:n], tuple(json.loads(attrs["classes"])), codes, str(attrs["vocabulary"]))


def merge_targets(parts: Sequence[TargetTable | None], groups: Mapping[str, Mapping[str, np.ndarray]], n: int,
                  config: Mapping[str, Any]) -> TargetTable | None:
    """The merged file's targets: a ``codes:`` vocabulary computed again over the merged records' columns
    (its classes are the codes they hold), else the parts' rows concatenated (their classes are equal)."""
    if all(p is None for p in parts):
        return None
    derived = from_config(config)
    if derived is not None:
        return derived.table(flat_columns(groups), n)
    first = next(p for p in parts if p is not None)
    if any(p is None or (p.classes, p.codes) != (first.classes, first.codes) for p in parts):
        raise MergeError("cannot merge /records/targets: the parts hold different classes")
    return TargetTable(np.concatenate([p.matrix for p in parts]), first.classes, first.codes, first.vocabulary)


def class_counts(file: h5py.File, n: int) -> dict[str, Any] | None:
    """For ``ecgspec info``: the vocabulary and each class's count of records among the first ``n``, None
    without targets."""
    dataset = file.get(TARGETS)
    if dataset is None:
        return None
    totals = dataset[: min(n, dataset.shape[0])].sum(axis=0, dtype=np.int64).tolist()
    return {"vocabulary": str(dataset.attrs["vocabulary"]), "classes": dict(zip(file_classes(file), totals))}
