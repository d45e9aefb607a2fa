"""``--targets VOCAB``: which classes a vocabulary has, which source codes each class merges, and each
record's row of ``/records/targets``.

A :class:`Vocabulary` reads one or more ``/records`` columns (named as :attr:`SpectrogramFile.records`
names them: ``meta/Dx``, ``labels/scp_codes``), takes each record's codes from its cells
(:mod:`.codes`) and sets a class where one of its codes is among the class's. Vocabularies:

- ``cinc2021``, ``cinc2020``: the challenges' scored classes from the header's ``Dx`` codes (:mod:`.cinc`);
- ``ptbxl:TASK``: the PTB-XL benchmark's tasks from ``scp_codes`` and ``scp_statements.csv`` (:mod:`.ptbxl`);
- ``code15``: CODE-15%'s six abnormalities, a boolean column of ``exams.csv`` each;
- ``codes:COLUMN``: the codes a ``labels/...`` or ``meta/...`` column holds; its classes are the codes
  seen in at least ``min_count`` of the file's records, sorted: they depend on the records.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from . import cinc, ptbxl
from .codes import code_list, dict_keys, flag
from .spec import CODE15, parse_spec

__all__ = ["TargetTable", "Vocabulary", "from_config", "vocabulary_of"]


@dataclass(frozen=True)
class TargetTable:
    """``/records/targets`` of some records: ``matrix`` (n_records, n_classes) uint8, the class names, the
    source codes each class merges, and the vocabulary asked for."""

    matrix: np.ndarray
    classes: tuple[str, ...]
    codes: tuple[tuple[str, ...], ...]
    vocabulary: str


@dataclass(frozen=True)
class Vocabulary:
    """A vocabulary: ``columns`` read (``kind``: ``list`` a code list per cell, ``dict`` a dict literal's keys,
    ``flags`` a boolean column per code), ``classes`` and their ``codes`` (None: the codes seen, kept
    where at least ``min_count`` records hold them). ``source`` says where the classes come from;
    ``known``, where not empty, every code a record may hold (the rest is an error in its table)."""

    name: str
    source: str
    columns: tuple[str, ...]
    kind: str
    classes: tuple[str, ...] | None
    codes: tuple[tuple[str, ...], ...] = ()
    min_count: int = 1
    known: frozenset[str] = frozenset()  # every code the source table defines (PTB-XL's statements); empty: any

    @property
    def derived(self) -> bool:
        """Whether the classes are the codes a run's records hold (``codes:``), not a published list."""
        return self.classes is None

    @property
    def from_headers(self) -> bool:
        """Whether the codes come from the records' header fields (known once each record is read)."""
        return all(c.startswith("meta/") for c in self.columns)

    def config(self) -> dict[str, Any]:
        """What the root ``config`` attribute holds of it: the vocabulary, its source (and ``min_count``)."""
        return {"vocabulary": self.name, "source": self.source, **({"min_count": self.min_count} if self.derived else {})}

    def record_codes(self, cells: Sequence[Any]) -> tuple[str, ...]:
        """The codes of one record, from its cells of :attr:`columns`; ValueError for a malformed cell."""
        if self.kind == "flags":
            return tuple(c.split("/", 1)[1] for c, cell in zip(self.columns, cells) if flag(cell))
        return (dict_keys if self.kind == "dict" else code_list)(cells[0])

    @cached_property
    def _index(self) -> dict[str, tuple[int, ...]]:
        """Source code -> the classes it sets."""
        index: dict[str, tuple[int, ...]] = {}
        for i, codes in enumerate(self.codes):
            for code in codes:
                index[code] = (*index.get(code, ()), i)
        return index

    def has_class(self, codes: Sequence[str]) -> bool:
        """Whether a record with ``codes`` has a class (``codes:``: any code at all, whatever ``min_count``)."""
        return bool(codes) if self.derived else any(c in self._index for c in codes)

    def table(self, columns: Mapping[str, np.ndarray], n: int) -> TargetTable:
        """``/records/targets`` of ``n`` records whose ``/records`` columns are ``columns`` (a column they lack
        is empty; a malformed cell, which a run checks before reading in its table, holds no code)."""
        cells = [columns[c] if c in columns else np.full(n, "", dtype=object) for c in self.columns]
        found = [self._lenient(row) for row in zip(*cells)] if cells else []
        vocabulary = self if not self.derived else self._seen(found)
        matrix = np.zeros((n, len(vocabulary.codes)), dtype=np.uint8)
        for row, codes in enumerate(found):
            for code in codes:
                matrix[row, list(vocabulary._index.get(code, ()))] = 1
        return TargetTable(matrix, tuple(vocabulary.classes or ()), vocabulary.codes, self.name)

    def _lenient(self, cells: Sequence[Any]) -> tuple[str, ...]:
        try:
            return self.record_codes(cells)
        except ValueError:
            return ()

    def _seen(self, found: list[tuple[str, ...]]) -> Vocabulary:
        """This vocabulary with the codes of ``found`` held by at least ``min_count`` records as its classes."""
        counts: dict[str, int] = {}
        for codes in found:
            for code in codes:
                counts[code] = counts.get(code, 0) + 1
        classes = tuple(sorted(c for c, k in counts.items() if k >= self.min_count))
        return Vocabulary(self.name, self.source, self.columns, self.kind, classes, tuple((c,) for c in classes))


def vocabulary_of(spec: str, min_count: int | None = None, statements: str | Path | None = None) -> Vocabulary:
    """The vocabulary ``spec`` names (checked by :func:`parse_spec`); ``ptbxl:`` reads ``statements``
    (a LabelError line when it is missing or malformed)."""
    kind, arg = parse_spec(spec)
    if kind in cinc.CHALLENGES:
        classes, codes = cinc.challenge_classes(kind)
        source = f"meta/Dx; PhysioNet/CinC Challenge {kind[-4:]} dx_mapping_scored.csv and weights.csv"
        return Vocabulary(spec, source, ("meta/Dx",), "list", classes, codes)
    if kind == "code15":
        return Vocabulary(spec, "labels/" + ", labels/".join(CODE15) + "; CODE-15% exams.csv",
                          tuple(f"labels/{c}" for c in CODE15), "flags", CODE15, tuple((c,) for c in CODE15))
    if kind == "ptbxl":
        path = Path(statements) if statements is not None else Path("scp_statements.csv")
        rows = ptbxl.read_statements(path)
        classes, codes = ptbxl.task_classes(rows, arg)
        source = f"labels/scp_codes; {path.name} sha256:{ptbxl.statements_digest(path)}"
        return Vocabulary(spec, source, ("labels/scp_codes",), "dict", classes, codes,
                          known=frozenset(s.code for s in rows))
    count = 1 if min_count is None else int(min_count)
    return Vocabulary(spec, arg, (arg,), "list", None, (), count)


def from_config(config: Mapping[str, Any]) -> Vocabulary | None:
    """The ``codes:`` vocabulary a file's config names (what a merge recomputes), None for a published one."""
    targets = config.get("targets")
    if not targets or not str(targets.get("vocabulary", "")).startswith("codes:"):
        return None
    return vocabulary_of(targets["vocabulary"], targets.get("min_count"))
