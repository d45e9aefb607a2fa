"""PTB-XL's label aggregations, as the benchmark of Strodthoff et al. (2021) computes them
(``code/utils/utils.py``, ``compute_label_aggregations`` and ``select_data``), from the dataset's
``scp_statements.csv``.

A record's statements are the keys of its ``scp_codes`` (``{'NORM': 100.0, 'SR': 0.0}``), whatever
their likelihood. ``all``: every statement; ``diagnostic``, ``form``, ``rhythm``: the statements
whose flag of that name is 1.0; ``subdiagnostic``, ``superdiagnostic``: a diagnostic statement's
``diagnostic_subclass`` or ``diagnostic_class`` (none where it is empty). Classes are sorted by
name, as the benchmark's ``MultiLabelBinarizer`` sorts them, and a task's vocabulary is the whole
statements table's (the benchmark's, on the full dataset), so class indices never depend on which
records a run saw.
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from pathlib import Path

from ..errors import LabelError

__all__ = ["TASKS", "Statement", "read_statements", "task_classes", "statements_digest"]

TASKS = ("all", "diagnostic", "subdiagnostic", "superdiagnostic", "form", "rhythm")
FLAGS = ("diagnostic", "form", "rhythm")
COLUMNS = (*FLAGS, "diagnostic_class", "diagnostic_subclass")


@dataclass(frozen=True)
class Statement:
    """One row of ``scp_statements.csv``: the statement code, its three flags and its two diagnostic classes."""

    code: str
    diagnostic: bool
    form: bool
    rhythm: bool
    diagnostic_class: str
    diagnostic_subclass: str


def read_statements(path: str | Path) -> tuple[Statement, ...]:
    """The statements of ``scp_statements.csv`` at ``path`` (the code in the first, unnamed column); a
    one-line LabelError naming the file, and the row or column, when it is missing or malformed."""
    path = Path(path)
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            table = list(csv.reader(fh, strict=True))
    except OSError as exc:
        raise LabelError(f"targets: cannot read the PTB-XL statements {path}: {exc.strerror or exc}"
                         " (give its path with --ptbxl-statements)") from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise LabelError(f"targets: cannot read the PTB-XL statements {path}: {exc}") from None
    if not table:
        raise LabelError(f"targets: {path} is empty; PTB-XL's scp_statements.csv has a header and 71 rows")
    header = [h.strip() for h in table[0]]
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise LabelError(f"targets: {path} has no column {missing[0]!r}; PTB-XL's scp_statements.csv has"
                         f" {', '.join(COLUMNS)} after the statement code")
    at = {c: header.index(c) for c in COLUMNS}
    rows = [(number, row) for number, row in enumerate(table[1:], start=2) if any(cell.strip() for cell in row)]
    statements = tuple(_statement(path, number, row, at, len(header)) for number, row in rows)
    if not statements:
        raise LabelError(f"targets: {path} holds no statement (a header only)")
    codes = [s.code for s in statements]
    repeated = next((c for c in codes if codes.count(c) > 1), None)
    if repeated is not None:
        raise LabelError(f"targets: {path}: statement {repeated!r} is in two rows")
    return statements


def _statement(path: Path, number: int, row: list[str], at: dict[str, int], width: int) -> Statement:
    if len(row) != width:
        raise LabelError(f"targets: {path}: line {number} has {len(row)} fields, the header {width}")
    code = row[0].strip()
    if not code:
        raise LabelError(f"targets: {path}: line {number} has no statement code (first column)")
    flags = {name: _flag(path, number, name, row[at[name]]) for name in FLAGS}
    return Statement(code, **flags, diagnostic_class=row[at["diagnostic_class"]].strip(),
                     diagnostic_subclass=row[at["diagnostic_subclass"]].strip())


def _flag(path: Path, number: int, name: str, cell: str) -> bool:
    """A flag cell as pandas reads it and the benchmark tests it (``== 1.0``): a number or empty."""
    text = cell.strip()
    if not text:
        return False
    try:
        return float(text) == 1.0
    except ValueError:
        raise LabelError(f"targets: {path}: line {number}: {name} is {text!r}; it must be 1.0 or empty") from None


def task_classes(statements: tuple[Statement, ...], task: str) -> tuple[tuple[str, ...], tuple[tuple[str, ...], ...]]:
    """``(classes, codes)`` of PTB-XL task ``task``: its class names sorted, and the statement codes each merges."""
    members: dict[str, list[str]] = {}
    for s in statements:
        name = _class_of(s, task)
        if name:
            members.setdefault(name, []).append(s.code)
    classes = tuple(sorted(members))
    return classes, tuple(tuple(sorted(members[c])) for c in classes)


def _class_of(s: Statement, task: str) -> str:
    """The class statement ``s`` counts as in ``task`` ("" for none)."""
    if task == "all":
        return s.code
    if task in FLAGS:
        return s.code if getattr(s, task) else ""
    if not s.diagnostic:
        return ""
    return s.diagnostic_subclass if task == "subdiagnostic" else s.diagnostic_class


def statements_digest(path: str | Path) -> str:
    """The first 16 hex digits of the statements file's SHA-256: which table a file's classes came from."""
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]
    except OSError as exc:
        raise LabelError(f"targets: cannot read the PTB-XL statements {path}: {exc.strerror or exc}") from None
