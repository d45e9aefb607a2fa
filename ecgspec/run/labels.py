"""``--labels TABLE --label-key COLUMN``: a table's rows joined to records, as typed columns.

Pure (no HDF5, no torch): :func:`read_labels` reads a CSV, TSV or (with pyarrow) Parquet table
and checks it, :meth:`LabelTable.row_of` finds a record's row, :meth:`LabelTable.columns` gives
the ``/records/labels/<column>`` values of a list of records.

Matching: a row matches a record when its key equals the record's name
(``records500/00000/00001_hr``), or, when no key in the table holds a ``/``, the record's file
name (``40689238``, the last part of its name). Typing, per column: int64 where every value is
an integer, float64 where every value is a number or empty (empty: NaN), str otherwise; a
record without a row reads NaN (so an integer column becomes float64 when a record has no row)
or ``""``. Every problem is one :class:`LabelError` line, raised before any record is read.
"""

from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..errors import LabelError, one_line

__all__ = ["LabelError", "LabelTable", "read_labels", "Match", "match_records", "join_labels"]

_INT = re.compile(r"[+-]?\d+")
_INT64 = 2**63


@dataclass(frozen=True)
class LabelTable:
    """A labels table read and typed: ``values[column]`` one per row (int, float or str), ``kinds``
    ``"int"``, ``"float"`` or ``"str"``; rows found by key (first row of a key in ``index``)."""

    path: str
    key: str
    keys: tuple[str, ...]
    values: dict[str, list[Any]]
    kinds: dict[str, str]
    index: dict[str, int] = field(repr=False)
    repeated: dict[str, tuple[int, int]] = field(repr=False)  # key -> its first two rows (1-based, header not counted)

    @property
    def by_name(self) -> bool:
        """Whether keys are whole record names (some key holds a ``/``), else names or file names."""
        return any("/" in k for k in self.keys)

    def row_of(self, name: str) -> int | None:
        """The row matching record ``name`` (see the module's rules), None if none; a LabelError when
        its key is in two rows."""
        key = name if name in self.index or self.by_name else name.rsplit("/", 1)[-1]
        row = self.index.get(key)
        if row is not None and key in self.repeated:
            first, second = self.repeated[key]
            raise LabelError(f"labels: {self.path}: key {key!r} (record {name}) is in rows {first} and {second}"
                             f" of column {self.key!r}; a key must name one row")
        return row

    def columns(self, names: Sequence[str]) -> dict[str, np.ndarray]:
        """Each label column for records ``names``: int64, float64 (NaN without a row) or str (``""``)."""
        rows = [self.row_of(str(n)) for n in names]
        matched = all(r is not None for r in rows)
        out = {}
        for column, kind in self.kinds.items():
            values = self.values[column]
            if kind == "str":
                out[column] = np.array(["" if r is None else values[r] for r in rows], dtype=object)
            elif kind == "int" and matched:
                out[column] = np.array([values[r] for r in rows], dtype=np.int64)
            else:
                out[column] = np.array([math.nan if r is None else values[r] for r in rows], dtype=np.float64)
        return out


@dataclass(frozen=True)
class Match:
    """How the records of a run matched: how many have a row, and those without (in record order)."""

    matched: int
    unmatched: list[str]


def match_records(table: LabelTable, names: Sequence[str]) -> Match:
    """Which of ``names`` have a row; a LabelError for one whose key is in two rows."""
    unmatched = [n for n in names if table.row_of(n) is None]
    return Match(len(names) - len(unmatched), unmatched)


def join_labels(table: LabelTable, names: Sequence[str], required: bool) -> tuple[Match, list[tuple[str, str]]]:
    """How ``names`` match ``table``, and with ``required`` (``--labels-required``) a ``(name, message)``
    problem for each record without a row, which the run then skips and lists under /errors."""
    match = match_records(table, names)
    message = f"has no row in {table.path} (--labels-required; column {table.key})"
    return match, [(name, message) for name in match.unmatched] if required else []


def read_labels(path: str | Path, key: str | None) -> LabelTable:
    """Read and type the table at ``path`` (``.parquet``/``.pq``: Parquet through pyarrow; ``.tsv``/``.tab``
    or a header line with tabs and no commas: TSV; else CSV); ``key`` names its key column."""
    path = Path(path)
    if not key:
        raise LabelError(f"labels: {path} needs --label-key COLUMN (label_key:), the column holding record names")
    if path.suffix.lower() in (".parquet", ".pq"):
        header, rows = _read_parquet(path)
    else:
        header, rows = _read_text(path)
    if key not in header:
        shown = ", ".join(header[:20]) + (", ..." if len(header) > 20 else "")
        raise LabelError(f"labels: {path} has no column {key!r} (columns: {shown})")
    return _typed(str(path), key, header, rows)


def _read_text(path: Path) -> tuple[list[str], list[list[Any]]]:
    """Header and rows of a CSV or TSV file, cells as str."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            text = fh.read()
    except OSError as exc:
        raise LabelError(f"labels: cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise LabelError(f"labels: cannot read {path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    first = text.split("\n", 1)[0]
    tabs = path.suffix.lower() in (".tsv", ".tab") or ("\t" in first and "," not in first)
    try:
        table = list(csv.reader(text.splitlines(), delimiter="\t" if tabs else ",", strict=True))
    except csv.Error as exc:
        raise LabelError(f"labels: cannot read {path}: {exc}") from None
    if not table or not any(table[0]):
        raise LabelError(f"labels: cannot read {path}: it is empty (no header line)")
    header = [h.strip() for h in table[0]]
    rows = []
    for number, row in enumerate(table[1:], start=2):
        if not row:
            continue
        if len(row) != len(header):
            raise LabelError(f"labels: cannot read {path}: line {number} has {len(row)} fields, the header {len(header)}")
        rows.append([cell.strip() for cell in row])
    return header, rows


def _read_parquet(path: Path) -> tuple[list[str], list[list[Any]]]:
    """Header and rows of a Parquet file: integers and floats as Python numbers, the rest as str."""
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise LabelError(f"labels: reading Parquet ({path.name}) needs pyarrow: pip install ecgspec[parquet]") from None
    try:
        table = pq.read_table(path)
    except Exception as exc:  # noqa: BLE001 - pyarrow's errors have no common base worth naming
        reason = one_line(exc)
        raise LabelError(f"labels: cannot read {path}: {reason}") from None
    columns = [_arrow_values(table.column(i)) for i in range(table.num_columns)]
    return [str(n) for n in table.column_names], [list(row) for row in zip(*columns)]


def _arrow_values(column: Any) -> list[Any]:
    import pyarrow as pa

    values = column.to_pylist()
    if pa.types.is_integer(column.type) or pa.types.is_floating(column.type):
        return ["" if v is None else v for v in values]
    return ["" if v is None else str(v) for v in values]


def _typed(path: str, key: str, header: list[str], rows: list[list[Any]]) -> LabelTable:
    """The table with each column but the key typed, keys as str, repeated keys noted."""
    k = header.index(key)
    keys = tuple(_key_text(row[k]) for row in rows)
    index: dict[str, int] = {}
    repeated: dict[str, tuple[int, int]] = {}
    for i, name in enumerate(keys):
        if name == "":
            continue
        if name in index:
            repeated.setdefault(name, (index[name] + 1, i + 1))  # 1-based rows (the header not counted)
        else:
            index[name] = i
    values, kinds = {}, {}
    for j, column in enumerate(header):
        if j == k or column in values:
            continue
        kinds[column], values[column] = _typed_column([row[j] for row in rows])
    return LabelTable(path, key, keys, values, kinds, index, repeated)


def _key_text(value: Any) -> str:
    """A key cell as a record name: an integral float (Parquet's 40689238.0) without its ``.0``."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _typed_column(cells: list[Any]) -> tuple[str, list[Any]]:
    """("int", ints) where every cell is an integer within int64; ("float", floats, NaN for empty) where
    every cell is a number or empty; else ("str", str)."""
    if cells and all(_is_int(c) for c in cells):
        return "int", [int(c) for c in cells]
    floats = [_float(c) for c in cells]
    if all(f is not None for f in floats):
        return "float", floats
    return "str", ["" if c is None else str(c) for c in cells]


def _is_int(cell: Any) -> bool:
    if isinstance(cell, bool):
        return False
    if isinstance(cell, int):
        return -_INT64 <= cell < _INT64
    return isinstance(cell, str) and _INT.fullmatch(cell) is not None and -_INT64 <= int(cell) < _INT64


def _float(cell: Any) -> float | None:
    """The cell as a number (empty: NaN), None when it is not one."""
    if isinstance(cell, bool):
        return None
    if isinstance(cell, (int, float)):
        return float(cell)
    if cell == "":
        return math.nan
    try:
        return float(cell)
    except ValueError:
        return None
