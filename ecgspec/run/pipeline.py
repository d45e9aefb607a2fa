"""``extract`` in one process: records in, spectrograms out, as three overlapped stages.

1. reading: reader processes (``--workers N``) or threads (``--workers 0``) open records, pick
   leads, fill gaps, resample and cut windows, records ahead of the rest
   (:mod:`ecgspec.run.backend`, whose docstring is the design note of ``run/``);
2. batching and the engine: the main thread packs windows of consecutive records into full
   batches and turns each into spectrograms (pinned memory and non-blocking copies on CUDA);
3. writing: a writer thread appends them to the HDF5 file in whole-batch slices.

The stages themselves are in :mod:`ecgspec.run.stages`; this module wires them with the run's
:class:`~ecgspec.run.settings.Settings`, resolved once by its caller (:mod:`ecgspec.run.api`, the
public API, which picks this or :mod:`ecgspec.run.cluster`). Records are handled in sorted name
order and every result reaches the writer in that order, so the file is the same whatever the
timing. A record that cannot be used is reported and listed under ``/errors``; it never costs
the other records.
"""

from __future__ import annotations

import contextlib
import signal
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, Mapping, Sequence, Tuple

from ..errors import ExtractError, Interrupted, RecordFailed
from ..readers import RecordRef
from ..store.leftovers import resumable_names
from ..store.writer import SpectrogramWriter
from ..targets.vocabulary import Vocabulary
from .backend import Prefetch, ReaderBackend, RecordEvents, ThreadBackend
from .events import ReadFailed, RecordRead, Windows
from .failures import FAIL_FAST_RECORDS, Failures, StoppedEarly, TooManyErrors, left_out, stopped_early
from .labels import LabelTable, join_labels, read_labels
from .plan import find_some_records
from .progress import progress_bar
from .result import ExtractResult, RunControl, stderr_log
from .runtime import StopFlag, engine_threads, run_scope
from .settings import Settings
from .shard import select as select_part
from .space import check_free_space, expected_run_bytes
from .targets import load_targets, skip_without_class
from .workers import ProcessBackend, processes_allowed

if TYPE_CHECKING:  # torch is imported once the readers have started (see _run)
    from ..engine.spectrogram import SpectrogramInput
    from .stages import Batcher, WriterThread

__all__ = ["run_local", "run_records", "RunControl", "ExtractResult", "ExtractError", "Interrupted", "RecordFailed",
           "stderr_log"]


def _interrupted(stop: StopFlag, output: str | Path, kept: int) -> Interrupted:
    """The Interrupted error for a stopped run, saying what was kept and how to go on."""
    where = (f"{kept} records written so far are kept in {output}.partial;"
             if kept >= 0 else "nothing was written;")
    return Interrupted(f"interrupted: {where} run the same command with --resume to continue",
                       stop.signum or signal.SIGINT)


def run_local(inputs: Sequence[str | Path], output: str | Path, settings: Settings,
              control: RunControl | None = None) -> ExtractResult:
    """The whole run in this process (:func:`ecgspec.run.api.run_settings` picks this or a cluster).

    SIGINT/SIGTERM are caught for the whole run (in the main thread): the run stops
    cleanly and raises :class:`Interrupted`, leaving what was written in ``OUTPUT.partial``.
    """
    control = control or RunControl()
    with run_scope(settings.limits.switch_interval) as stop:
        t0 = time.perf_counter()
        table = load_labels(settings)  # its errors come before any work
        targets = load_targets(settings.options, table)
        refs, problems = find_some_records(inputs, control.stdin, settings.options.workers)
        refs, problems, part_attrs = select_part(refs, problems, settings.options.shard, settings.stored)
        result = _run(refs, problems, output, settings, control, stop, part_attrs,
                      discovery=time.perf_counter() - t0, labels=table, targets=targets)
    result.seconds = time.perf_counter() - t0
    return result


def run_records(
    refs: Sequence[RecordRef], problems: Sequence[Tuple[str, str]], output: str | Path, settings: Settings,
    control: RunControl | None = None, attrs: Mapping[str, Any] | None = None,
) -> ExtractResult:
    """Extract the records ``refs`` (found already, sorted) into ``output``; ``attrs``: extra root attributes.

    What a cluster task runs for its part (:mod:`ecgspec.run.cluster`).
    """
    control = control or RunControl()
    with run_scope(settings.limits.switch_interval) as stop:
        labels = load_labels(settings)
        return _run(refs, problems, output, settings, control, stop, attrs or {}, labels=labels,
                    targets=load_targets(settings.options, labels))


def load_labels(settings: Settings) -> LabelTable | None:
    """The ``--labels`` table read and checked (a LabelError line for a bad one), None without one."""
    options = settings.options
    return read_labels(options.labels, options.label_key) if options.labels is not None else None


def _join_labels(table: LabelTable | None, refs: Sequence[RecordRef], problems: Sequence[Tuple[str, str]],
                 required: bool, result: ExtractResult) -> Tuple[Sequence[RecordRef], Sequence[Tuple[str, str]]]:
    """Match the records to ``table``'s rows (counted in ``result``); with ``required`` (--labels-required)
    the records without a row become problems (listed under /errors)."""
    if table is None:
        return refs, problems
    match, missing = join_labels(table, [r.name for r in refs], required)
    result.labels_matched, result.labels_unmatched = match.matched, len(match.unmatched)
    result.labels_first_unmatched = match.unmatched[0] if match.unmatched else None
    if not missing:
        return refs, problems
    skipped = {name for name, _ in missing}
    return [r for r in refs if r.name not in skipped], [*problems, *missing]


def open_readers(settings: Settings) -> ReaderBackend:
    """The reading stage: ``--workers`` reader processes, or threads of this process with ``--workers 0``
    (or where this process may not start processes: a Dask worker's)."""
    workers = settings.options.workers
    if workers and processes_allowed():
        return ProcessBackend(workers, settings.read, settings.limits)
    return ThreadBackend(settings.read, settings.limits)


def _run(
    refs: Sequence[RecordRef], problems: Sequence[Tuple[str, str]], output: str | Path, settings: Settings,
    control: RunControl, stop: StopFlag, part_attrs: Mapping[str, Any], *,
    discovery: float = 0.0, labels: LabelTable | None = None, targets: Vocabulary | None = None,
) -> ExtractResult:
    """Start the readers, then build the other stages in data-flow order (memory first, then the
    file), feed them, and finish the file. ``discovery``: the seconds it took to find ``refs``, for
    the report; ``labels``: the --labels table; ``targets``: the --targets vocabulary."""
    result = ExtractResult(output=str(output), window_shape=settings.window_shape, discovery_seconds=discovery)
    refs, problems = _join_labels(labels, refs, problems, settings.options.labels_required, result)
    refs, problems = skip_without_class(targets, labels, refs, problems, settings.options.targets_required)
    with open_readers(settings) as readers:
        # the first records are read while torch is imported and the engine and the file are made;
        # a resume learns which records the file keeps from the file, so its reading waits for it
        early = None if control.resume else Prefetch(refs, readers)
        engine = _engine(settings)
        with engine_threads(engine.device):
            store, writer, batcher = _build(engine, refs, output, settings, control, stop, part_attrs, discovery,
                                            labels, targets)
            result.repaired = list(store.repaired)  # kept rows that failed their checksum: computed again
            records = early or Prefetch(refs, readers, skip=store.done_names)
            _compute(records, len(refs), problems, output, settings, control, stop, result, store, writer, batcher)
    return result


def _engine(settings: Settings) -> "SpectrogramInput":
    """The engine (imports torch; resolves the device, once)."""
    from ..engine.spectrogram import SpectrogramInput

    return SpectrogramInput(settings.config)


def _build(
    engine: "SpectrogramInput", refs: Sequence[RecordRef], output: str | Path, settings: Settings,
    control: RunControl, stop: StopFlag, part_attrs: Mapping[str, Any], discovery: float, labels: LabelTable | None,
    targets: Vocabulary | None = None,
) -> Tuple[SpectrogramWriter, "WriterThread", "Batcher"]:
    """The store, its writer thread and the batcher with the engine and its batch buffers (made
    before any file is)."""
    from .stages import BatchBuffers, Batcher, StageClock, WriterThread

    options = settings.options
    buffers = BatchBuffers(engine, settings.window_shape, options.batch_size, options.dtype,
                           settings.limits.batch_buffers)
    if stop.signum is not None:
        raise _interrupted(stop, output, -1)
    store = _open_store(refs, output, settings, control, engine, part_attrs)
    store.labels = labels.columns if labels is not None else None
    store.targets = targets.table if targets is not None else None
    clock = StageClock(discovery=discovery)
    writer = WriterThread(store, release=buffers.free.put, clock=clock, flush_seconds=settings.limits.flush_seconds)
    return store, writer, Batcher(engine, buffers, emit=writer.put, clock=clock)


def _compute(
    records: Prefetch, n_refs: int, problems: Sequence[Tuple[str, str]], output: str | Path, settings: Settings,
    control: RunControl, stop: StopFlag, result: ExtractResult, store: SpectrogramWriter, writer: "WriterThread",
    batcher: "Batcher",
) -> None:
    """Feed every record through the batcher and the writer, and finish the file (or keep it partial)."""
    options = settings.options
    failures = Failures(control.log, max_errors=options.max_errors,
                        fail_fast=FAIL_FAST_RECORDS if options.on_error == "skip" else 0)
    try:
        for warning in store.warnings:
            control.log(f"ecgspec: warning: {warning}")
        writer.start()
        with progress_bar(n_refs + len(problems), control.progress, control.log_every, batcher.clock.text) as bar:
            feed = _Feed(options.on_error == "fail", settings.limits.poll_seconds, batcher, result, stop, bar, failures)
            feed.run(problems, records, store.next_record_row)
        failures.close()
        logged = len(store.warnings)
        _finish(store, writer, output, stop)
        for warning in store.warnings[logged:]:  # those of finishing the file
            control.log(f"ecgspec: warning: {warning}")
        result.shares = batcher.clock.shares()
    except BaseException as exc:
        writer.close()
        with contextlib.suppress(Exception):  # the first error is the one to report
            store.close()
        if isinstance(exc, StoppedEarly):
            raise stopped_early(exc, output, store.next_record_row, keep=control.resume) from None
        raise


def _root_attrs(engine: "SpectrogramInput", settings: Settings, part_attrs: Mapping[str, Any]) -> Dict[str, Any]:
    """The output's root attributes: the effective config, the STFT's sizes, a part's own."""
    return {
        "config": dict(settings.stored),
        "n_fft": engine.n_fft,
        "win_length": engine.win_length,
        "hop_length": engine.hop_length,
        **part_attrs,
    }


def _open_store(
    refs: Sequence[RecordRef], output: str | Path, settings: Settings, control: RunControl,
    engine: "SpectrogramInput", part_attrs: Mapping[str, Any],
) -> SpectrogramWriter:
    """The writer of ``output``, once the free space fits what the records a resume does not keep will take."""
    done = resumable_names(output) if control.resume else frozenset()
    expected = expected_run_bytes([r for r in refs if r.name not in done], settings)
    if control.space_check:  # without it, the estimate still says how much a full disk leaves the run short
        check_free_space(Path(output), expected)
    config, options = settings.config, settings.options
    return SpectrogramWriter(
        output, window_shape=settings.window_shape, dtype=options.dtype, frequencies=engine.frequencies,
        attrs=_root_attrs(engine, settings, part_attrs), compression=options.compression, overwrite=control.overwrite,
        resume=control.resume, frames={"time": config.frame_times, "edge": config.edge_frames},
        expected_bytes=expected,
    )


def _finish(store: SpectrogramWriter, writer: "WriterThread", output: str | Path, stop: StopFlag) -> None:
    """Drain the writer thread, then finish the file; a stopped run keeps it partial and raises Interrupted."""
    writer.close()
    if writer.error is not None:
        from .stages import write_failed

        raise write_failed(output, writer.error) from writer.error
    if stop.signum is not None:
        store.close()
        raise _interrupted(stop, output, store.next_record_row)
    store.finish()


class _Feed:
    """Stages 1-2 of one run: take the records in order as they are read, batch and compute them.

    Holds what the feeding loop shares: ``fail_stops`` (``--on-error fail``), how long to wait for
    an event before looking at the stop flag, the batcher, the result it tallies, the stop flag,
    the progress bar and the failures (which log them and may stop the run).
    """

    def __init__(self, fail_stops: bool, poll_seconds: float, batcher: "Batcher", result: ExtractResult,
                 stop: StopFlag, bar: Any, failures: Failures) -> None:
        self.fail_stops, self.poll_seconds = fail_stops, poll_seconds
        self.batcher, self.result = batcher, result
        self.stop, self.bar, self.failures = stop, bar, failures

    def run(self, problems: Sequence[Tuple[str, str]], records: Prefetch, row: int) -> None:
        """Report ``problems``, then compute every record in order, its windows in /records rows from
        ``row`` on; those kept in the output by an earlier run (--resume) come without events."""
        for name, message in problems:
            self.fail(name, message)
            self.bar.update(1)
        for ref, events in records:
            if self.stop.signum is not None:
                return
            if events is None:  # kept in the output by an earlier run
                self.result.resumed += 1
                self.failures.succeeded()
            else:
                row += self.consume(ref, events, row)
            self.bar.update(1)
            self.bar.set_postfix(windows=self.batcher.windows, refresh=False)
        if self.stop.signum is None:
            self.batcher.flush()

    def fail(self, name: str, message: str, row: int | None = None) -> None:
        """Report a record that cannot be used; ``row``: the /records row its windows carry, if it got
        that far (the batcher drops those it holds, the writer those it has)."""
        from .stages import RecordSkipped

        self.result.errors.append((name, message))
        self.batcher.event(RecordSkipped(name, message, None if row is None else self.batcher.discard(row)))
        if self.fail_stops and not left_out(message):
            self.failures.log(f"ecgspec: skipped {name}: {message}")
            raise RecordFailed(f"{name}: {message} (stopped by --on-error fail)")
        try:
            self.failures.failed(name, message)
        except TooManyErrors:
            self.batcher.flush()  # the records read so far are written: --resume goes on after them
            raise

    def consume(self, ref: RecordRef, events: RecordEvents, row: int) -> int:
        """Move one record's windows into batches; return 1 if it takes a row in /records, else 0."""
        clock = self.batcher.clock
        while True:
            t0 = time.perf_counter()
            event = events.get(self.poll_seconds)
            clock.read_wait += time.perf_counter() - t0
            if event is None:
                if self.stop.signum is not None:
                    return 0
            elif isinstance(event, Windows):
                try:
                    self.batcher.add(row, event.starts, event.values, event.qc)  # copies them
                finally:
                    event.release()
            elif isinstance(event, RecordRead):
                self.commit(event)
                return 1
            else:
                assert isinstance(event, ReadFailed), event
                self.fail(ref.name, event.message, row)
                return 0

    def commit(self, read: RecordRead) -> None:
        """A record read in full: its row follows its windows, and the result counts it."""
        from .stages import CommitRecord

        self.batcher.event(CommitRecord(read.row))
        self.result.records += 1
        self.result.windows += read.row.n_windows
        self.result.nan_skipped += read.nan_skipped
        self.failures.succeeded()
        if read.row.n_windows == 0:
            self.result.empty.append(read.row.name)
