"""The string columns of a partial file, held as plain bytes until the file is finished; no torch here.

HDF5 keeps a variable-length string in a global-heap collection, which has no checksum and
which HDF5 rewrote whole at each flush while it had room: a writer killed inside a flush tore
the collection that held committed strings, and HDF5 then looped forever reading them. So a
partial file holds no string written after it was laid out. The string values of the rows it
adds go to two plain chunked datasets per table (``records``, ``errors``), written and flushed
like the numeric columns, before ``/committed`` counts them:

    /staged/<table>/text   (n_bytes,) uint8        every cell's UTF-8 text, one after another
    /staged/<table>/ends   (n_rows, k) int64       each cell's end in text, a row per table row,
                                                   a cell per string column, in ``columns`` order
    attrs: columns (JSON list, fixed-length bytes), first_row (the table row of ends' first row)

The table's public string datasets (``/records/name`` ...) hold the rows before ``first_row``:
those the file had when it was last finished (0 for a new file). They grow only when the file
is finished (:func:`unstage`, with SWMR off), and ``/staged`` is then deleted, so a finished
file has the documented layout and nothing here. A file without ``/staged`` (finished, or a
partial written before this) holds every row's strings in the public datasets.
"""

from __future__ import annotations

import json
from typing import Iterable, Mapping, Sequence

import h5py
import numpy as np

from . import tails
from .checksums import checksum_keywords
from .lowlevel import cut_rows
from .schema import STAGED

__all__ = ["STAGED", "create", "cut", "drop", "first_row", "read", "stage", "staged_values", "unstage", "write"]

TEXT_CHUNK = 1 << 16  # bytes a chunk of staged text
ENDS_CHUNK = 1024  # rows a chunk of cell ends


def _group(file: h5py.File, table: str) -> h5py.Group | None:
    return file.get(f"{STAGED}/{table}")


def first_row(file: h5py.File, table: str) -> int | None:
    """The first row of ``table`` whose strings are staged; None for a file that stages none."""
    group = _group(file, table)
    return None if group is None else int(group.attrs["first_row"])


def _columns(group: h5py.Group) -> list[str]:
    return json.loads(group.attrs["columns"])


def create(file: h5py.File, table: str, columns: Sequence[str], first: int) -> None:
    """Stage the strings of ``table``'s rows from ``first`` on (SWMR off: it creates datasets)."""
    group = file.create_group(f"{STAGED}/{table}")
    group.attrs["columns"] = np.bytes_(json.dumps(list(columns)))  # fixed-length: no global-heap object
    group.attrs["first_row"] = np.int64(first)
    group.create_dataset("text", shape=(0,), maxshape=(None,), chunks=(TEXT_CHUNK,), dtype=np.uint8,
                         **checksum_keywords(np.uint8))
    k = len(columns)
    group.create_dataset("ends", shape=(0, k), maxshape=(None, k), chunks=(ENDS_CHUNK, k), dtype=np.int64,
                         **checksum_keywords(np.int64))


def write(file: h5py.File, table: str, rows: Iterable[Mapping[str, object]]) -> int:
    """Append the string cells of ``rows`` (each a mapping holding every staged column); return the bytes
    of text written."""
    group = _group(file, table)
    columns = _columns(group)
    encoded = [str(row[c]).encode() for row in rows for c in columns]
    if not encoded:
        return 0
    text, ends = group["text"], group["ends"]
    start = text.shape[0]
    cells = np.cumsum(np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded))) + start
    data = np.frombuffer(b"".join(encoded), dtype=np.uint8)
    if len(data):
        text.resize(start + len(data), axis=0)
        text[start:] = data
    n = ends.shape[0]
    ends.resize(n + len(encoded) // len(columns), axis=0)
    ends[n:] = cells.reshape(-1, len(columns))
    return len(data)


def _fresh(dataset: h5py.Dataset) -> h5py.Dataset:
    """``dataset``, refreshed when its file is read while a writer grows it (SWMR)."""
    if dataset.file.swmr_mode and dataset.file.mode == "r":
        dataset.refresh()
    return dataset


def _staged_rows(group: h5py.Group, n: int) -> dict[str, np.ndarray]:
    """The cells of the first ``n`` staged rows that the file holds in full (fewer where a reader of a
    running file sees the text shorter than its ends: not yet); ValueError where they cannot be right."""
    columns = _columns(group)
    ends = tails.read(_fresh(group["ends"]), 0, n)  # (a flush torn while it rewrote their last chunk: .tails)
    held = _fresh(group["text"]).shape[0]
    ends = ends[: int(np.searchsorted(ends[:, -1], held, side="right"))] if len(ends) else ends
    flat = ends.ravel()
    if ends.shape[1:] != (len(columns),) or (len(flat) and (flat[0] < 0 or np.any(np.diff(flat) < 0))):
        raise ValueError(f"{group.name}: cell ends out of order (damaged)")
    text = tails.read(group["text"], 0, int(flat[-1])).tobytes() if len(flat) else b""
    starts = np.concatenate(([0], flat[:-1])).tolist()
    cells = np.array([text[a:b].decode() for a, b in zip(starts, flat.tolist())], dtype=object)
    return {c: cells[j :: len(columns)] for j, c in enumerate(columns)}


def read(file: h5py.File, table: str, n: int, columns: Sequence[str]) -> dict[str, np.ndarray]:
    """The first ``n`` values of each of ``table``'s string ``columns`` that the file has (decoded to str): the
    public datasets' rows before ``first_row``, then the staged ones. Fewer than ``n`` where the file
    holds fewer in full (a reader of a running file: not yet); the columns all the same length."""
    group = _group(file, table)
    first = n if group is None else min(n, int(group.attrs["first_row"]))
    out: dict[str, np.ndarray] = {}
    for c in columns:
        if c in file[table]:
            dataset = _fresh(file[table][c])
            if group is not None and dataset.shape[0] < first:
                raise ValueError(f"{dataset.name}: {dataset.shape[0]} rows, fewer than the {first} before the staged")
            out[c] = dataset.asstr()[:first]
    if group is not None and n > first:
        staged = _staged_rows(group, n - first)
        out = {c: np.concatenate([values, staged[c]]) if c in staged else values for c, values in out.items()}
    length = min((len(v) for v in out.values()), default=n)
    return {c: v[:length] for c, v in out.items()}


def staged_values(file: h5py.File, table: str, n: int) -> dict[str, np.ndarray]:
    """The strings of ``table``'s staged rows ``[first_row, n)``, every one (ValueError where the file holds
    fewer: a writer calls this on its own file, whose rows are all there)."""
    group = _group(file, table)
    rows = n - int(group.attrs["first_row"])
    if rows < 0:
        raise ValueError(f"{group.name}: {n} rows, fewer than the {rows + n} before the staged")
    values = _staged_rows(group, rows)
    if any(len(v) != rows for v in values.values()):
        raise ValueError(f"{group.name}: fewer than the {rows} staged rows")
    return values


def stage(file: h5py.File, table: str, columns: Sequence[str], n: int) -> None:
    """At a resume (SWMR off): keep ``n`` rows of ``table``'s strings and stage those of the rows to come.
    A file without staging (finished, or a partial written before it) starts staging at row ``n``."""
    group = _group(file, table)
    if group is None:
        for c in columns:
            if c in file[table]:
                cut_rows(file[table][c], n)
        create(file, table, columns, n)
        return
    if _columns(group) != list(columns):
        raise ValueError(f"{group.name}: stages the columns {', '.join(_columns(group))}, not this layout's")
    cut(file, table, n)


def cut(file: h5py.File, table: str, n: int) -> None:
    """Keep the strings of ``table``'s first ``n`` rows: the public datasets cut to ``first_row`` (a writer
    killed while finishing the file may have grown them), the staged rows to ``n - first_row``. Fewer
    than ``first_row`` (a resume keeps only the records before a damaged one): the public datasets cut
    to ``n``, and staging starts again there."""
    group = _group(file, table)
    first = int(group.attrs["first_row"])
    if n < first:
        group.attrs["first_row"] = np.int64(n)
        first = n
    for c in _columns(group):
        cut_rows(file[table][c], first)
    ends = group["ends"]
    if ends.shape[0] < n - first:
        raise ValueError(f"{group.name}: {ends.shape[0]} staged rows, fewer than the {n - first} kept")
    size = int(ends[n - first - 1, -1]) if n > first else 0
    if group["text"].shape[0] < size:
        raise ValueError(f"{group.name}: text shorter than its cells (damaged)")
    ends.resize(n - first, axis=0)
    group["text"].resize(size, axis=0)


def unstage(file: h5py.File, table: str, values: Mapping[str, np.ndarray]) -> None:
    """At finish (SWMR off): the staged rows' ``values`` (:func:`read` of them) appended to ``table``'s
    public string datasets, after their ``first_row`` rows."""
    first = first_row(file, table)
    for c, column in values.items():
        dataset = file[table][c]
        dataset.resize(first + len(column), axis=0)
        if len(column):
            dataset[first:] = column


def drop(file: h5py.File) -> None:
    """Delete ``/staged`` (SWMR off): the finished file's layout has none."""
    if STAGED in file:
        del file[STAGED]
