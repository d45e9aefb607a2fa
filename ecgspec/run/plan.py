"""``extract --dry-run``: what a run would do, learnt from the records' headers; nothing is written.

Each record is opened as a run opens it (:func:`ecgspec.signal.leads.open_layout`: the header, the
signal files' sizes, the channel choice) and its windows are counted with the run's own
arithmetic (:func:`ecgspec.signal.windowing.count_windows`); no signal is decoded and torch is not
imported. The counts are exact unless the run meets what only the samples show: windows
skipped for missing samples (``--max-nan``), values too large, a signal file that cannot be
decoded. The output's size is :func:`ecgspec.store.layout.expected_output_bytes`, uncompressed.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence, TextIO

from ..errors import ExtractError, one_line
from ..readers import Discovery, RecordError, RecordRef, discover
from ..readers.base import NOTE_KEYS
from ..readers.registry import expected
from ..signal.leads import open_layout
from ..signal.spec import ReadSpec
from ..signal.windowing import count_windows
from ..store.layout import compression_filters, expected_output_bytes
from .failures import Failures
from .labels import join_labels, read_labels
from .limits import LIMITS, Limits
from .settings import Settings
from .targets import load_targets, require_class, skip_without_class

__all__ = ["Plan", "dry_run", "find_some_records", "outcomes", "planned_windows"]


@dataclass
class Plan:
    """What ``extract`` would do; :meth:`to_dict` is the ``--dry-run --json`` object (keys in README)."""

    output: str
    window_shape: tuple[int, ...]
    dtype: str
    compression: str | None
    records: int = 0  # found, those discovery rejects included
    windows: int = 0
    empty: list[str] = field(default_factory=list)  # would be read, shorter than one window
    skipped: list[tuple[str, str]] = field(default_factory=list)
    output_exists: bool = False
    seconds: float = 0.0
    reasons: list[dict[str, Any]] = field(default_factory=list)
    labels: Any = None  # with --labels: how the records matched (ecgspec.labels.Match)
    passed_over: dict[str, int] = field(default_factory=dict)  # files the search skipped as no records, by extension
    notes: dict[str, int] = field(default_factory=lambda: dict.fromkeys(NOTE_KEYS, 0))  # records read with each note

    @property
    def output_bytes(self) -> int:
        return expected_output_bytes(self.windows, self.window_shape, self.dtype, self.records - len(self.skipped),
                                     len(self.skipped))

    def to_dict(self) -> dict[str, Any]:
        return {
            "records": self.records, "records_read": self.records - len(self.skipped), "records_empty": len(self.empty),
            "records_skipped": len(self.skipped), "windows": self.windows, "window_shape": list(self.window_shape),
            "dtype": self.dtype, "compression": self.compression, "output": self.output,
            "output_exists": self.output_exists, "output_bytes": self.output_bytes,
            "skipped": [{"name": n, "message": m} for n, m in self.skipped], "skip_reasons": self.reasons,
            "seconds": round(self.seconds, 3), "passed_over": self.passed_over, **self.notes,
            **self._labels_dict(),
        }

    def _labels_dict(self) -> dict[str, Any]:
        if self.labels is None:  # as extract --json says it: null, 0, null
            return {"labels_matched": None, "labels_unmatched": 0, "labels_first_unmatched": None}
        return {"labels_matched": self.labels.matched, "labels_unmatched": len(self.labels.unmatched),
                "labels_first_unmatched": self.labels.unmatched[0] if self.labels.unmatched else None}

    def summary_lines(self) -> list[str]:
        size = self.output_bytes
        shape = f"({', '.join(map(str, self.window_shape))})"
        exists = f"; {self.output} exists (the run needs --overwrite or --resume)" if self.output_exists else ""
        return [
            f"ecgspec: dry run, nothing written: {self.records} records found, {self.records - len(self.skipped)} to read"
            f" ({len(self.empty)} shorter than a window), {len(self.skipped)} to skip{passed_over_text(self.passed_over)}",
            f"ecgspec: {self.windows} windows of {shape} {self.dtype}, output about {size / 2**20:.1f} MiB"
            f" ({size} bytes){' before compression' if self.compression not in (None, 'none') else ''}{exists}",
        ] + [f"ecgspec: {n} records read although their files depart from the format ({key} in /records/meta)"
             for key, n in self.notes.items() if n]


def planned_windows(ref: RecordRef, spec: ReadSpec) -> int:
    """Windows the run would cut from ``ref`` (see the module's docstring); RecordError if it would skip it."""
    return _planned(ref, spec)[0]


def _planned(ref: RecordRef, spec: ReadSpec) -> tuple[int, tuple[str, ...]]:
    """:func:`planned_windows`, and the notes the record's reader made (the ``NOTE_KEYS`` in its meta)."""
    record, layout = open_layout(ref, spec)
    require_class(record.header, spec.required_class)
    notes = tuple(key for key, _ in record.header.meta if key in NOTE_KEYS)
    return count_windows(record.header, layout.channels, spec.cut.fs, spec.cut.window, spec.cut.stride), notes


def _outcome(ref: RecordRef, spec: ReadSpec) -> tuple[int, tuple[str, ...]] | str:
    """:func:`_planned`'s windows and notes, or why ``ref`` would be skipped (as the run words it)."""
    try:
        return _planned(ref, spec)
    except RecordError as exc:
        return str(exc)
    except Exception as exc:  # noqa: BLE001 - as the run: any reader failure is the record's
        return f"{type(exc).__name__}: {one_line(exc)}"


def find_some_records(inputs: Sequence[str | Path], stdin: TextIO | None,
                      workers: int = 0) -> tuple[list[RecordRef], list[tuple[str, str]]]:
    """:func:`find_some`'s records and problems."""
    found = find_some(inputs, stdin, workers)
    return found.refs, found.problems


def find_some(inputs: Sequence[str | Path], stdin: TextIO | None, workers: int = 0) -> Discovery:
    """:func:`~ecgspec.readers.discover`, or an ExtractError when it finds none (naming the first
    problem and the files it passed over); ``workers`` processes walk the folders of a large tree
    (0: this process alone)."""
    found = discover(inputs, stdin=stdin, map_fn=_process_map(workers))
    if not found.refs:
        detail = f": {found.problems[0][0]}: {found.problems[0][1]}" if found.problems else ""
        seen = f" (records are {expected()})" if found.passed_over else ""
        raise ExtractError(f"no records found in {', '.join(map(str, inputs))}{detail}"
                           f"{passed_over_text(found.passed_over)}{seen}")
    return found


def passed_over_text(passed_over: dict[str, int]) -> str:
    """``; 4 other files passed over (.pdf 3, .txt 1)`` ("" when none)."""
    if not passed_over:
        return ""
    counts = ", ".join(f"{ext or 'no extension'} {n}" for ext, n in passed_over.items())
    return f"; {sum(passed_over.values())} other files passed over ({counts})"


def _process_map(workers: int) -> Callable[..., list[Any]] | None:
    """``map_fn(func, items, *args)`` in ``workers`` processes, or None (none, or none allowed here).
    The processes' forkserver is started at once: it starts up while the first folders are walked,
    and is ready for the run's reader processes or the dry run's header reading after."""
    if not workers:
        return None
    from .workers import map_in_processes, processes_allowed, start_server

    if not processes_allowed():
        return None
    start_server()
    return lambda func, items, *args: map_in_processes(func, items, workers, *args)


def _outcome_list(refs: Sequence[RecordRef], spec: ReadSpec) -> list[tuple | str]:
    return [_outcome(ref, spec) for ref in refs]


def outcomes(refs: Sequence[RecordRef], spec: ReadSpec, workers: int, limits: Limits = LIMITS) -> list[tuple | str]:
    """:func:`_outcome` of every ref, in order: in ``workers`` processes (threads with 0, or for fewer
    records than ``limits.process_min_records``)."""
    if workers == 0 or len(refs) < limits.process_min_records:
        with ThreadPoolExecutor(limits.read_threads, thread_name_prefix="ecgspec-plan") as pool:
            return list(pool.map(lambda r: _outcome(r, spec), refs))
    from .workers import map_in_processes

    return map_in_processes(_outcome_list, refs, workers, spec, chunk=limits.map_chunk)


def dry_run(
    inputs: Sequence[str | Path], output: str | Path, settings: Settings,
    stdin: TextIO | None = None, log: Callable[[str], None] = lambda line: None,
) -> Plan:
    """Plan a run: find the records, read their headers (``--workers`` processes), count.

    ``log`` gets a ``would skip NAME: reason`` line for the first records of each reason and a
    count line for the rest (as the run reports failures). Raises ExtractError when no record is found.
    """
    t0 = time.perf_counter()
    options = settings.options
    compression_filters(options.compression)  # a bad name fails here as it would in the run
    table = read_labels(options.labels, options.label_key) if options.labels is not None else None
    targets = load_targets(options, table)
    found = find_some(inputs, stdin, options.workers)
    refs, problems = found.refs, found.problems
    plan = Plan(str(output), settings.window_shape, options.dtype, options.compression,
                records=len(refs) + len(problems), output_exists=Path(output).exists(), passed_over=found.passed_over)
    if table is not None:
        plan.labels, missing = join_labels(table, [r.name for r in refs], options.labels_required)
        skipped = {name for name, _ in missing}
        refs, problems = [r for r in refs if r.name not in skipped], [*problems, *missing]
    refs, problems = skip_without_class(targets, table, refs, problems, options.targets_required)
    failures = Failures(log, fail_fast=0, prefix="ecgspec: would skip")
    for name, message in problems:
        plan.skipped.append((name, message))
        failures.failed(name, message)
    for ref, outcome in zip(refs, outcomes(refs, settings.read, options.workers, settings.limits)):
        if isinstance(outcome, str):
            plan.skipped.append((ref.name, outcome))
            failures.failed(ref.name, outcome)
        else:
            windows, notes = outcome
            plan.windows += windows
            if windows == 0:
                plan.empty.append(ref.name)
            for key in notes:
                plan.notes[key] += 1
    failures.close()
    plan.reasons = failures.by_reason()
    plan.seconds = time.perf_counter() - t0
    return plan
