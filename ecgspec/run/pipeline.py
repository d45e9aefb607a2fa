"""``extract``: records in, spectrograms out, as four overlapped stages.

1. reader workers (threads) open records, pick leads, fill gaps, resample and cut
   windows, a few records ahead of the rest, each into a small bounded queue;
2. the main thread packs windows of consecutive records into full batches;
3. the engine turns each batch into spectrograms (pinned memory and
   non-blocking copies on CUDA);
4. a writer thread appends them to the HDF5 file in whole-batch slices.

The stages themselves are in :mod:`ecgspec.run.stages`; this module runs them in one process
(:mod:`ecgspec.run.api` is the public API, and picks this or :mod:`ecgspec.run.cluster`). Records are handled in sorted name order and every result reaches the
writer in that order, so the file is the same whatever the timing. A record that
cannot be used is reported and listed under ``/errors``; it never costs the other records.
"""

from __future__ import annotations

import contextlib
import queue
import signal
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Mapping, Sequence, TextIO, Tuple

from tqdm import tqdm

from ..engine.config import InputConfig
from ..errors import ExtractError, Interrupted, RecordFailed
from ..readers import RecordRef
from ..store.layout import normalised_config
from ..store.leftovers import resumable_names
from ..store.writer import SpectrogramWriter
from ..targets.vocabulary import Vocabulary
from .failures import FAIL_FAST_RECORDS, Failures, StoppedEarly, TooManyErrors, left_out, stopped_early
from .labels import LabelTable, join_labels, read_labels
from .options import ExtractOptions, effective_config
from .plan import find_some_records
from .progress import progress_bar
from .readahead import Prefetch, reader_stage
from .reading import ReadFailed, RecordRead
from .runtime import StopFlag, engine_threads, run_scope
from .shard import select as select_part
from .space import check_free_space, expected_run_bytes
from .targets import load_targets, skip_without_class

if TYPE_CHECKING:  # torch is imported once the readers have started (see _run)
    from ..engine.spectrogram import SpectrogramInput
    from .stages import Batcher, WriterThread

__all__ = ["run_local", "run_records", "RunControl", "ExtractResult", "ExtractError", "Interrupted", "RecordFailed"]

@dataclass
class ExtractResult:
    """What a run did: the summary printed at the end (and by ``--json``)."""

    output: str
    records: int = 0
    windows: int = 0
    empty: List[str] = field(default_factory=list)
    errors: List[Tuple[str, str]] = field(default_factory=list)
    resumed: int = 0  # records kept in the output from a previous run (--resume), not in `records`
    nan_skipped: int = 0  # windows skipped for too many missing samples
    seconds: float = 0.0
    window_shape: Tuple[int, ...] = ()
    labels_matched: int | None = None  # with --labels: records of the run that have a row
    labels_unmatched: int = 0  # and those without one
    labels_first_unmatched: str | None = None
    discovery_seconds: float = 0.0  # finding the records (and, with --shard, picking the part)
    shares: Dict[str, float] = field(default_factory=dict)  # reading/engine/writing: each stage's share of the run

    @property
    def windows_per_second(self) -> float:
        return self.windows / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> Dict[str, Any]:
        out = asdict(self)
        out["errors"] = [{"name": n, "message": m} for n, m in self.errors]
        out["windows_per_second"] = round(self.windows_per_second, 1)
        out["seconds"] = round(self.seconds, 3)
        out["discovery_seconds"] = round(self.discovery_seconds, 3)
        out["shares"] = {k: round(v, 3) for k, v in self.shares.items()}
        return out

    def summary_line(self) -> str:
        resumed = f", {self.resumed} records kept from the previous run" if self.resumed else ""
        return (
            f"ecgspec: {self.records} records read, {self.windows} windows written, "
            f"{len(self.empty)} records without windows, {len(self.errors)} skipped{resumed}, "
            f"{self.seconds:.1f} s, {self.windows_per_second:.1f} windows/s{self._labels_text()}"
        )

    def _labels_text(self) -> str:
        if self.labels_matched is None:
            return ""
        total = self.labels_matched + self.labels_unmatched
        first = f" (first without: {self.labels_first_unmatched})" if self.labels_first_unmatched else ""
        return f"; labels matched {self.labels_matched} of {total} records{first}"


def stderr_log(message: str) -> None:
    tqdm.write(message, file=sys.stderr)


def _interrupted(stop: StopFlag, output: str | Path, kept: int) -> Interrupted:
    """The Interrupted error for a stopped run, saying what was kept and how to go on."""
    where = (f"{kept} records written so far are kept in {output}.partial;"
             if kept >= 0 else "nothing was written;")
    return Interrupted(f"interrupted: {where} run the same command with --resume to continue",
                       stop.signum or signal.SIGINT)


@dataclass
class RunControl:
    """How a run treats an existing output and reports its progress; nothing here changes the values written."""

    overwrite: bool = False  # replace OUTPUT (and any partial file)
    resume: bool = False  # continue OUTPUT.partial, or add new records to OUTPUT
    progress: bool = False  # a tqdm bar on stderr
    log_every: float = 0.0  # without the bar: a progress line on stderr every this many seconds (0: none)
    stdin: TextIO | None = None  # where the input "-" reads record paths
    log: Callable[[str], None] = stderr_log  # per-record messages and warnings
    space_check: bool = True  # stop before writing when the expected output exceeds the free space


def run_local(
    inputs: Sequence[str | Path], output: str | Path, config: InputConfig, options: ExtractOptions,
    control: RunControl | None = None,
) -> ExtractResult:
    """The whole run in this process (:func:`ecgspec.run.api.run_extract` picks this or a cluster).

    SIGINT/SIGTERM are caught for the whole run (in the main thread): the run stops
    cleanly and raises :class:`Interrupted`, leaving what was written in ``OUTPUT.partial``.
    """
    control = control or RunControl()
    with run_scope() as stop:
        t0 = time.perf_counter()
        table = load_labels(options)  # its errors come before any work
        targets = load_targets(options, table)
        refs, problems = find_some_records(inputs, control.stdin, options.workers)
        stored_config = normalised_config(effective_config(config, options))
        refs, problems, part_attrs = select_part(refs, problems, options.shard, stored_config)
        result = _run(refs, problems, output, config, options, control, stop, part_attrs,
                      discovery=time.perf_counter() - t0, labels=table, targets=targets)
    result.seconds = time.perf_counter() - t0
    return result


def run_records(
    refs: Sequence[RecordRef], problems: Sequence[Tuple[str, str]], output: str | Path, config: InputConfig,
    options: ExtractOptions, control: RunControl | None = None, attrs: Mapping[str, Any] | None = None,
) -> ExtractResult:
    """Extract the records ``refs`` (found already, sorted) into ``output``; ``attrs``: extra root attributes.

    What a cluster task runs for its part (:mod:`ecgspec.run.cluster`).
    """
    control = control or RunControl()
    with run_scope() as stop:
        labels = load_labels(options)
        return _run(refs, problems, output, config, options, control, stop, attrs or {}, labels=labels,
                    targets=load_targets(options, labels))


def load_labels(options: ExtractOptions) -> LabelTable | None:
    """The ``--labels`` table read and checked (a LabelError line for a bad one), None without one."""
    return read_labels(options.labels, options.label_key) if options.labels is not None else None


def _join_labels(table: LabelTable | None, refs: Sequence[RecordRef], problems: Sequence[Tuple[str, str]],
                 options: ExtractOptions, result: ExtractResult) -> Tuple[Sequence[RecordRef], Sequence[Tuple[str, str]]]:
    """Match the records to ``table``'s rows (counted in ``result``); with ``labels_required`` the records
    without a row become problems (listed under /errors)."""
    if table is None:
        return refs, problems
    match, missing = join_labels(table, [r.name for r in refs], options.labels_required)
    result.labels_matched, result.labels_unmatched = match.matched, len(match.unmatched)
    result.labels_first_unmatched = match.unmatched[0] if match.unmatched else None
    if not missing:
        return refs, problems
    skipped = {name for name, _ in missing}
    return [r for r in refs if r.name not in skipped], [*problems, *missing]


def _run(
    refs: Sequence[RecordRef], problems: Sequence[Tuple[str, str]], output: str | Path, config: InputConfig,
    options: ExtractOptions, control: RunControl, stop: StopFlag, part_attrs: Mapping[str, Any], *,
    discovery: float = 0.0, labels: LabelTable | None = None, targets: Vocabulary | None = None,
) -> ExtractResult:
    """Start the readers, then build the other stages in data-flow order (memory first, then the
    file), feed them, and finish the file. ``discovery``: the seconds it took to find ``refs``, for
    the report; ``labels``: the --labels table; ``targets``: the --targets vocabulary."""
    result = ExtractResult(output=str(output), window_shape=config.window_shape, discovery_seconds=discovery)
    refs, problems = _join_labels(labels, refs, problems, options, result)
    refs, problems = skip_without_class(targets, labels, refs, problems, options.targets_required)
    with reader_stage(config, options, stop.event) as (start, depth):
        # the first records are read while torch is imported and the engine and the file are made;
        # a resume learns which records the file keeps from the file, so its reading waits for it
        early = None if control.resume else Prefetch(refs, start, depth)
        with engine_threads(config):
            store, writer, batcher = _build(refs, output, config, options, control, stop, part_attrs, discovery,
                                            labels, targets)
            records = early or Prefetch(refs, start, depth, skip=store.done_names)
            _compute(records, len(refs), problems, output, options, control, stop, result,
                     store, writer, batcher)
    return result


def _build(
    refs: Sequence[RecordRef], output: str | Path, config: InputConfig, options: ExtractOptions,
    control: RunControl, stop: StopFlag, part_attrs: Mapping[str, Any], discovery: float,
    labels: LabelTable | None, targets: Vocabulary | None = None,
) -> Tuple[SpectrogramWriter, "WriterThread", "Batcher"]:
    """The store, its writer thread and the batcher with the engine and its batch buffers (made
    before any file is)."""
    from ..engine.spectrogram import SpectrogramInput
    from .stages import BatchBuffers, Batcher, StageClock, WriterThread

    engine = SpectrogramInput(config)
    buffers = BatchBuffers(engine, config.window_shape, options.batch_size, options.dtype)
    if stop.signum is not None:
        raise _interrupted(stop, output, -1)
    store = _open_store(refs, output, config, options, control, engine, part_attrs)
    store.labels = labels.columns if labels is not None else None
    store.targets = targets.table if targets is not None else None
    clock = StageClock(discovery=discovery)
    writer = WriterThread(store, release=buffers.free.put, clock=clock)
    return store, writer, Batcher(engine, buffers, emit=writer.put, clock=clock)


def _compute(
    records: Prefetch, n_refs: int, problems: Sequence[Tuple[str, str]], output: str | Path, options: ExtractOptions,
    control: RunControl, stop: StopFlag, result: ExtractResult, store: SpectrogramWriter, writer: "WriterThread",
    batcher: "Batcher",
) -> None:
    """Feed every record through the batcher and the writer, and finish the file (or keep it partial)."""
    failures = Failures(control.log, max_errors=options.max_errors,
                        fail_fast=FAIL_FAST_RECORDS if options.on_error == "skip" else 0)
    try:
        for warning in store.warnings:
            control.log(f"ecgspec: warning: {warning}")
        writer.start()
        with progress_bar(n_refs + len(problems), control.progress, control.log_every, batcher.clock.text) as bar:
            _Run(options, batcher, result, stop, bar, failures).feed(problems, records, store.next_record_row)
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


def _root_attrs(
    engine: "SpectrogramInput", config: InputConfig, options: ExtractOptions, part_attrs: Mapping[str, Any]
) -> Dict[str, Any]:
    """The output's root attributes: the effective config, the STFT's sizes, the version, a part's own."""
    return {
        "config": effective_config(config, options),
        "n_fft": engine.n_fft,
        "win_length": engine.win_length,
        "hop_length": engine.hop_length,
        **part_attrs,
    }


def _open_store(
    refs: Sequence[RecordRef], output: str | Path, config: InputConfig, options: ExtractOptions,
    control: RunControl, engine: "SpectrogramInput", part_attrs: Mapping[str, Any],
) -> SpectrogramWriter:
    """The writer of ``output``, once the free space fits what the records a resume does not keep will take."""
    attrs = _root_attrs(engine, config, options, part_attrs)
    done = resumable_names(output) if control.resume else frozenset()
    expected = expected_run_bytes([r for r in refs if r.name not in done], config, options, config.window_shape)
    if control.space_check:  # without it, the estimate still says how much a full disk leaves the run short
        check_free_space(Path(output), expected)
    return SpectrogramWriter(
        output, window_shape=config.window_shape, dtype=options.dtype, frequencies=engine.frequencies, attrs=attrs,
        compression=options.compression, overwrite=control.overwrite, resume=control.resume,
        frames={"time": config.frame_times, "edge": config.edge_frames}, expected_bytes=expected,
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


class _Run:
    """Stages 1-3 of one run: take the records in order as they are read, batch and compute them.

    Holds what the feeding loop shares: the settings, the batcher, the result it tallies,
    the stop flag, the progress bar and the failures (which log them and may stop the run).
    """

    def __init__(
        self, options: ExtractOptions, batcher: "Batcher", result: ExtractResult, stop: StopFlag, bar: Any,
        failures: Failures,
    ) -> None:
        self.options, self.batcher, self.result = options, batcher, result
        self.stop, self.bar, self.failures = stop, bar, failures

    def feed(self, problems: Sequence[Tuple[str, str]], records: Prefetch, row: int) -> None:
        """Report ``problems``, then compute every record in order, its windows in /records rows from
        ``row`` on; those kept in the output by an earlier run (--resume) come without a stream."""
        for name, message in problems:
            self.fail(name, message)
            self.bar.update(1)
        for ref, q in records:
            if self.stop.signum is not None:
                return
            if q is None:  # kept in the output by an earlier run
                self.result.resumed += 1
                self.failures.succeeded()
            else:
                row += self.consume(ref, q, row)
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
        if self.options.on_error == "fail" and not left_out(message):
            self.failures.log(f"ecgspec: skipped {name}: {message}")
            raise RecordFailed(f"{name}: {message} (stopped by --on-error fail)")
        try:
            self.failures.failed(name, message)
        except TooManyErrors:
            self.batcher.flush()  # the records read so far are written: --resume goes on after them
            raise

    def consume(self, ref: RecordRef, q: "queue.Queue[Any]", row: int) -> int:
        """Move one record's windows into batches; return 1 if it takes a row in /records, else 0."""
        clock = self.batcher.clock
        while True:
            t0 = time.perf_counter()
            try:
                item = q.get(timeout=0.1)
            except queue.Empty:
                if self.stop.signum is not None:
                    return 0
                continue
            finally:
                clock.read_wait += time.perf_counter() - t0
            if isinstance(item, ReadFailed):
                self.fail(ref.name, item.message, row)
                return 0
            if isinstance(item, RecordRead):
                self.commit(item)
                return 1
            starts, windows, qc = item
            self.batcher.add(row, starts, windows, qc)

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
