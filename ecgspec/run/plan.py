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

from ..engine.config import InputConfig
from ..errors import ExtractError, one_line
from ..readers import RecordError, RecordRef, find_records
from ..readers.base import NOTE_KEYS
from ..signal.leads import open_layout
from ..signal.windowing import count_windows
from ..store.layout import compression_filters, expected_output_bytes
from .failures import Failures
from .labels import join_labels, read_labels
from .options import READ_THREADS, ExtractOptions

PROCESS_MIN_RECORDS = 2000  # fewer headers are read faster than processes start

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
            "seconds": round(self.seconds, 3), **self.notes, **self._labels_dict(),
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
            f" ({len(self.empty)} shorter than a window), {len(self.skipped)} to skip",
            f"ecgspec: {self.windows} windows of {shape} {self.dtype}, output about {size / 2**20:.1f} MiB"
            f" ({size} bytes){' before compression' if self.compression not in (None, 'none') else ''}{exists}",
        ] + [f"ecgspec: {n} records read although their files depart from the format ({key} in /records/meta)"
             for key, n in self.notes.items() if n]


def planned_windows(ref: RecordRef, config: InputConfig, options: ExtractOptions) -> int:
    """Windows the run would cut from ``ref`` (see the module's docstring); RecordError if it would skip it."""
    return _planned(ref, config, options)[0]


def _planned(ref: RecordRef, config: InputConfig, options: ExtractOptions) -> tuple[int, tuple[str, ...]]:
    """:func:`planned_windows`, and the notes the record's reader made (the ``NOTE_KEYS`` in its meta)."""
    record, layout = open_layout(ref, config, options)
    notes = tuple(key for key, _ in record.header.meta if key in NOTE_KEYS)
    return count_windows(record.header, layout.channels, config.sampling_rate, config.n_samples,
                         options.stride or config.n_samples), notes


def _outcome(ref: RecordRef, config: InputConfig, options: ExtractOptions) -> tuple[int, tuple[str, ...]] | str:
    """:func:`_planned`'s windows and notes, or why ``ref`` would be skipped (as the run words it)."""
    try:
        return _planned(ref, config, options)
    except RecordError as exc:
        return str(exc)
    except Exception as exc:  # noqa: BLE001 - as the run: any reader failure is the record's
        return f"{type(exc).__name__}: {one_line(exc)}"


def find_some_records(inputs: Sequence[str | Path], stdin: TextIO | None,
                      workers: int = 0) -> tuple[list[RecordRef], list[tuple[str, str]]]:
    """:func:`~ecgspec.readers.find_records`, or an ExtractError when it finds none (naming the first
    problem); ``workers`` processes walk the folders of a large tree (0: this process alone)."""
    refs, problems = find_records(inputs, stdin=stdin, map_fn=_process_map(workers))
    if not refs:
        detail = f": {problems[0][0]}: {problems[0][1]}" if problems else ""
        raise ExtractError(f"no records found in {', '.join(map(str, inputs))}{detail}")
    return refs, problems


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


def _outcome_list(refs: Sequence[RecordRef], config: InputConfig, options: ExtractOptions) -> list[tuple | str]:
    return [_outcome(ref, config, options) for ref in refs]


def outcomes(refs: Sequence[RecordRef], config: InputConfig, options: ExtractOptions) -> list[tuple | str]:
    """:func:`_outcome` of every ref, in order: in ``options.workers`` processes (threads with 0)."""
    if options.workers == 0 or len(refs) < PROCESS_MIN_RECORDS:
        with ThreadPoolExecutor(READ_THREADS, thread_name_prefix="ecgspec-plan") as pool:
            return list(pool.map(lambda r: _outcome(r, config, options), refs))
    from .workers import map_in_processes

    return map_in_processes(_outcome_list, refs, options.workers, config, options)


def dry_run(
    inputs: Sequence[str | Path], output: str | Path, config: InputConfig, options: ExtractOptions,
    stdin: TextIO | None = None, log: Callable[[str], None] = lambda line: None,
) -> Plan:
    """Plan a run: find the records, read their headers (``options.workers`` processes), count.

    ``log`` gets a ``would skip NAME: reason`` line for the first records of each reason and a
    count line for the rest (as the run reports failures). Raises ExtractError when no record is found.
    """
    t0 = time.perf_counter()
    compression_filters(options.compression)  # a bad name fails here as it would in the run
    table = read_labels(options.labels, options.label_key) if options.labels is not None else None
    refs, problems = find_some_records(inputs, stdin, options.workers)
    plan = Plan(str(output), tuple(config.window_shape), options.dtype, options.compression,
                records=len(refs) + len(problems), output_exists=Path(output).exists())
    if table is not None:
        plan.labels, missing = join_labels(table, [r.name for r in refs], options.labels_required)
        skipped = {name for name, _ in missing}
        refs, problems = [r for r in refs if r.name not in skipped], [*problems, *missing]
    failures = Failures(log, fail_fast=0, prefix="ecgspec: would skip")
    for name, message in problems:
        plan.skipped.append((name, message))
        failures.failed(name, message)
    for ref, outcome in zip(refs, outcomes(refs, config, options)):
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
