"""``--targets VOCAB``: the run's vocabulary (:mod:`ecgspec.targets.vocabulary`) resolved and checked
before any record is read, and ``--targets-required``'s skips.

A vocabulary reading ``--labels`` (``ptbxl:TASK``, ``code15``, ``codes:labels/...``) has each of the
table's cells it reads checked first: a missing column, a cell that is not a dict literal, a list
or a boolean, a PTB-XL statement the statements table lacks are each one LabelError line naming
the table, row and column. Its records without a class are known then too, and skipped before
reading; a vocabulary reading header fields (``cinc2021``, ``codes:meta/...``) learns a record's
codes when the record is opened (:func:`require_class`).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Sequence

from ..errors import LabelError, RecordError
from ..readers import Header, RecordRef
from ..store.schema import column_name
from ..targets.vocabulary import Vocabulary, vocabulary_of
from .labels import LabelTable
from .options import ExtractOptions

__all__ = ["load_targets", "skip_without_class", "require_class", "required_class"]


def load_targets(options: ExtractOptions, table: LabelTable | None) -> Vocabulary | None:
    """The run's vocabulary (None without ``--targets``; ``ptbxl:`` reads its statements table), every
    cell of ``table`` it reads checked."""
    if options.targets is None:
        return None
    vocabulary = vocabulary_of(options.targets, options.min_count, options.ptbxl_statements)
    if vocabulary is not None and not vocabulary.from_headers and table is not None:
        _check_table(vocabulary, table)
    return vocabulary


def _table_columns(vocabulary: Vocabulary) -> list[str]:
    return [c.split("/", 1)[1] for c in vocabulary.columns]


def _check_table(vocabulary: Vocabulary, table: LabelTable) -> None:
    """A LabelError line for a column the vocabulary reads that ``table`` lacks, or a cell it cannot read."""
    names = _table_columns(vocabulary)
    missing = next((n for n in names if n not in table.values), None)
    if missing is not None:
        shown = ", ".join(list(table.values)[:20])
        raise LabelError(f"targets: {vocabulary.name} reads column {missing!r}, which {table.path} lacks"
                         f" (columns: {shown})")
    for row, cells in enumerate(zip(*(table.values[n] for n in names))):
        where = f"targets: {table.path} row {row + 1} ({table.key} {table.keys[row]!r})"
        for name, cell in zip(names, cells):
            try:
                codes = _cell_codes(vocabulary, name, cell)
            except ValueError as exc:
                raise LabelError(f"{where}: column {name!r}: {exc} ({_expected(vocabulary)})") from None
            unknown = next((c for c in codes if vocabulary.known and c not in vocabulary.known), None)
            if unknown is not None:
                raise LabelError(f"{where}: {name} key {unknown!r} is not a statement of the PTB-XL statements table")


def _cell_codes(vocabulary: Vocabulary, name: str, cell: Any) -> tuple[str, ...]:
    """The codes of one cell of column ``name`` (a flags vocabulary's cell alone)."""
    if vocabulary.kind == "flags":
        return vocabulary.record_codes([cell if c == f"labels/{name}" else "" for c in vocabulary.columns])
    return vocabulary.record_codes([cell])


def _expected(vocabulary: Vocabulary) -> str:
    return {"dict": "PTB-XL's scp_codes are dict literals, {'NORM': 100.0, 'SR': 0.0}",
            "flags": "CODE-15%'s columns hold True or False",
            "list": "a code list: comma-, semicolon- or space-separated, or a list or dict literal"}[vocabulary.kind]


def skip_without_class(vocabulary: Vocabulary | None, table: LabelTable | None, refs: Sequence[RecordRef],
                       problems: Sequence[tuple[str, str]], required: bool
                       ) -> tuple[Sequence[RecordRef], Sequence[tuple[str, str]]]:
    """With ``--targets-required`` and a vocabulary reading ``--labels``: the records whose row gives no class
    (or that have no row) become problems (listed under /errors); ``refs`` and ``problems`` otherwise."""
    if not required or vocabulary is None or vocabulary.from_headers or table is None:
        return refs, problems
    names = _table_columns(vocabulary)
    missing = []
    for ref in refs:
        row = table.row_of(ref.name)
        codes = () if row is None else vocabulary.record_codes([table.values[n][row] for n in names])
        if not vocabulary.has_class(codes):
            missing.append((ref.name, _no_class(vocabulary)))
    skipped = {name for name, _ in missing}
    return [r for r in refs if r.name not in skipped], [*problems, *missing]


def _no_class(vocabulary: Vocabulary) -> str:
    return f"has no class of {vocabulary.name} (--targets-required)"


@lru_cache(maxsize=8)
def _header_vocabulary(spec: str, min_count: int | None) -> Vocabulary | None:
    """The vocabulary ``spec`` names where it reads header fields (it reads no file then), else None."""
    vocabulary = vocabulary_of(spec, min_count) if not spec.startswith(("ptbxl:", "code15")) else None
    return vocabulary if vocabulary is not None and vocabulary.from_headers else None


def required_class(options: ExtractOptions) -> tuple[str, int | None] | None:
    """What :func:`require_class` checks a record's header against: ``(VOCAB, --min-count)`` with
    ``--targets-required``, None otherwise."""
    return (options.targets, options.min_count) if options.targets_required and options.targets else None


def require_class(header: Header, required: tuple[str, int | None] | None) -> None:
    """With ``--targets-required`` (``required``, see :func:`required_class`) and a vocabulary reading header
    fields: a RecordError for a record whose fields give no class (the run skips it before reading its samples)."""
    if required is None:
        return
    vocabulary = _header_vocabulary(*required)
    if vocabulary is None:
        return
    fields: dict[str, str] = {}
    for key, value in header.meta:  # as /records/meta joins them (ecgspec.store.record_groups.meta_columns)
        key = "meta/" + column_name(key)
        fields[key] = f"{fields[key]}\n{value}" if key in fields else value
    try:
        codes = vocabulary.record_codes([fields.get(c, "") for c in vocabulary.columns])
    except ValueError:
        codes = ()
    if not vocabulary.has_class(codes):
        raise RecordError(_no_class(vocabulary))
