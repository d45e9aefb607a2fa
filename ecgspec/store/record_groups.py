"""The ``/records/meta/<key>`` and ``/records/labels/<column>`` groups: one dataset per header field
or joined label column, a row per record.

Their columns are only known once records are read (each header brings its own keys), and an
SWMR writer can create no datasets, so they are written when the writer finishes the file
(with SWMR off; :meth:`ecgspec.store.writer.SpectrogramWriter.finish`): ``meta`` from the
``/records/fields`` column (the reader's header fields; in files written before it, the
``key: value`` lines of ``/records/comments``), ``labels`` from the joined table. A file being
written (or one written before them) has neither; its reader derives ``meta`` the same way
(:func:`read_groups`), which gives the same columns. No torch here.
"""

from __future__ import annotations

import datetime
import json
from typing import Any, Callable, Mapping, Sequence

import h5py
import numpy as np

from ..errors import OutputError
from ..readers.base import comment_meta, iso_datetime
from .checksums import checksum_keywords
from .schema import COLUMN_CHUNK, column_name

__all__ = ["META", "LABELS", "column_name", "meta_columns", "group_columns", "write_groups", "extend_meta",
           "read_groups", "merge_labels", "read_labels_group", "record_mask", "time_after"]

META = "records/meta"
LABELS = "records/labels"
STR = h5py.string_dtype("utf-8")
SMALL_CHUNK = 1024  # rows a chunk of a small file's meta and labels columns (a large one's: COLUMN_CHUNK)

LabelColumns = Callable[[np.ndarray], Mapping[str, np.ndarray]]  # record names -> typed label columns


def record_fields(fields: str, comments: str) -> list[tuple[str, str]]:
    """A record's header fields: its ``/records/fields`` JSON ``[[key, value], ...]``, or in a file written
    before that column (``fields`` is ``""``) the ``key: value`` lines of its comments."""
    if fields:
        return [(str(key), str(value)) for key, value in json.loads(fields)]
    return list(comment_meta(comments.split("\n") if comments else ()))


def meta_columns(fields: Sequence[str], comments: Sequence[str]) -> dict[str, np.ndarray]:
    """One str column per header field found in any record (:func:`record_fields` of each row's
    ``fields`` and ``comments``), in order of first appearance; ``""`` where a record lacks the key. A
    key a record repeats keeps each value, joined by ``"\n"``."""
    columns: dict[str, list[str]] = {}
    for row, (text, lines) in enumerate(zip(fields, comments)):
        seen: dict[str, str] = {}
        for key, value in record_fields(str(text), str(lines)):
            key = column_name(key)
            seen[key] = f"{seen[key]}\n{value}" if key in seen else value
        for key, value in seen.items():
            if key not in columns:
                columns[key] = [""] * len(comments)
            columns[key][row] = value
    return {key: np.array(values, dtype=object) for key, values in columns.items()}


def _text_column(records: h5py.Group | Mapping[str, np.ndarray], name: str, n: int) -> list[str]:
    """The first ``n`` values of a str ``/records`` column, ``""`` each where the file lacks it."""
    if name not in records:
        return [""] * n
    column = records[name]
    return (column.asstr()[:n] if isinstance(column, h5py.Dataset) else column[:n]).tolist()


def group_columns(file: h5py.File, n: int, labels: LabelColumns | None) -> dict[str, Mapping[str, np.ndarray]]:
    """The ``/records/meta`` columns of the first ``n`` records of ``file`` (from their header fields) and,
    with ``labels``, their ``/records/labels`` columns (from their names): what :func:`write_groups` writes.
    Computed apart, while the writer still has the file in SWMR mode, so that the moment readers
    cannot open it (SWMR off) is only as long as writing them."""
    records = file["records"]
    groups: dict[str, Mapping[str, np.ndarray]] = {
        META: meta_columns(_text_column(records, "fields", n), _text_column(records, "comments", n))}
    if labels is not None:
        groups[LABELS] = labels(np.asarray(records["name"].asstr()[:n], dtype=object))
    return groups


def write_groups(file: h5py.File, n: int, groups: Mapping[str, Mapping[str, np.ndarray]]) -> list[str]:
    """Write :func:`group_columns`' groups into ``file`` (open for writing, SWMR off), replacing earlier
    ones; a labels group left by an earlier run and not rewritten is removed when it no longer covers
    every one of the ``n`` records. Returns warnings for the user."""
    for path, columns in groups.items():
        _replace(file, path, columns)
    if LABELS not in groups and LABELS in file and any(d.shape[0] != n for d in file[LABELS].values()):
        del file[LABELS]
        return ["the labels joined by an earlier run were dropped: they do not cover the records added;"
                " pass --labels again to join them"]
    return []


def _replace(file: h5py.File, path: str, columns: Mapping[str, np.ndarray]) -> None:
    """``path`` holding ``columns``, replacing what it held; no group at all for no columns."""
    if path in file:
        del file[path]
    if not columns:
        return
    group = file.create_group(path)
    for key, values in columns.items():
        _create_column(group, column_name(key), values)


def _create_column(group: h5py.Group, name: str, values: np.ndarray) -> None:
    """``values`` as dataset ``name`` of ``group`` (object arrays as str), chunked along its rows and
    resizable, so that a resume extends it with the records it adds."""
    rows = min(COLUMN_CHUNK, max(len(values), SMALL_CHUNK))
    dtype = STR if values.dtype == object else values.dtype
    group.create_dataset(name, data=values, dtype=dtype, maxshape=(None, *values.shape[1:]),
                         chunks=(rows, *values.shape[1:]), **checksum_keywords(dtype))


def extend_meta(file: h5py.File, base: int, n: int, columns: Mapping[str, np.ndarray]) -> None:
    """``/records/meta`` of ``n`` records from the one of the first ``base`` (written when the file was last
    finished) and ``columns``, the :func:`meta_columns` of the records after them: each dataset grown with
    its key's values (``""`` where the new records lack it), a key new to the file a dataset with ``""``
    for the first ``base``. Only where the group does not hold exactly ``base`` rows in resizable
    datasets (files written before, or a writer killed while finishing) is it rebuilt from every
    record's ``/records/fields`` and ``/records/comments``."""
    group = file.get(META)
    if group is not None and any(d.shape[0] != base or d.maxshape[0] is not None for d in group.values()):
        records = file["records"]
        _replace(file, META, meta_columns(_text_column(records, "fields", n), _text_column(records, "comments", n)))
        return
    if group is None and columns:
        group = file.create_group(META)
    for key, dataset in (group or {}).items():
        values = columns.get(key, np.full(n - base, "", dtype=object))
        dataset.resize(n, axis=0)
        dataset[base:] = values
    for key, values in columns.items():
        if key not in group:
            _create_column(group, key, np.concatenate([np.full(base, "", dtype=object), values]))


def read_labels_group(file: h5py.File, n: int) -> dict[str, np.ndarray]:
    """The first ``n`` rows of each ``/records/labels`` column of ``file`` (str decoded), ``{}`` without."""
    group = file.get(LABELS)
    if group is None:
        return {}
    return {k: d.asstr()[:n] if h5py.check_string_dtype(d.dtype) else d[:n] for k, d in group.items()}


def merge_labels(parts: Sequence[tuple[Mapping[str, np.ndarray], int]]) -> dict[str, np.ndarray]:
    """The label columns of parts (each ``(columns, records)``) one after the other: a column some
    part lacks, or an integer column beside a float one, as the join types a record without a row
    (NaN: float64; ``""``: str); a str column beside a numeric one holds the numbers as text."""
    names = list(dict.fromkeys(k for columns, _ in parts for k in columns))
    out = {}
    for name in names:
        pieces = [columns.get(name) for columns, _ in parts]
        kinds = {p.dtype.kind for p in pieces if p is not None}
        if "O" in kinds or "U" in kinds or "S" in kinds:
            out[name] = np.concatenate([np.full(n, "", dtype=object) if p is None else p.astype(str).astype(object)
                                        for p, (_, n) in zip(pieces, parts)])
        elif kinds == {"i"} and all(p is not None for p in pieces):
            out[name] = np.concatenate(pieces).astype(np.int64)
        else:
            out[name] = np.concatenate([np.full(n, np.nan) if p is None else p.astype(np.float64)
                                        for p, (_, n) in zip(pieces, parts)])
    return out


def read_groups(file: h5py.File, records: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``meta/<key>`` and ``labels/<column>`` columns of the records read (``records``, committed rows);
    ``meta`` derived from ``records["fields"]`` (or ``["comments"]``) where the file has no group covering them (a
    file being written, or one from before), ``labels`` only where the file has them."""
    n = len(records["name"])
    out: dict[str, np.ndarray] = {}
    for path, prefix in ((META, "meta/"), (LABELS, "labels/")):
        group = file.get(path)
        if group is not None and all(d.shape[0] >= n for d in group.values()):
            for key, dataset in group.items():
                out[prefix + key] = dataset.asstr()[:n] if h5py.check_string_dtype(dataset.dtype) else dataset[:n]
        elif path == META:
            n_rows = len(records["name"])
            derived = meta_columns(_text_column(records, "fields", n_rows), _text_column(records, "comments", n_rows))
            out.update({prefix + k: v for k, v in derived.items()})
    return out


def record_mask(where: Callable[[dict[str, np.ndarray]], Any], records: dict[str, np.ndarray], path: Any) -> np.ndarray:
    """``where(records)``, checked to be a boolean mask of one value a record (an OutputError naming
    ``path`` otherwise)."""
    n = len(records["name"])
    mask = np.asarray(where(records))
    if mask.dtype != np.bool_ or mask.shape != (n,):
        raise OutputError(f"{path}: where must return a boolean mask of {n} records, got {mask.dtype} of shape"
                          f" {mask.shape}")
    return mask


def time_after(start_time: str, seconds: float) -> str:
    """``start_time`` (a ``/records/start_time`` value) plus ``seconds``, ISO 8601; ``""`` unless it
    holds a date and a time."""
    if "T" not in start_time:
        return ""
    return iso_datetime(datetime.datetime.fromisoformat(start_time) + datetime.timedelta(seconds=seconds))
