"""``extract``: records in, spectrograms out, as four overlapped stages.

1. reader workers (threads) open records, pick leads, fill gaps, resample and cut
   windows, a few records ahead of the rest, each into a small bounded queue;
2. the main thread packs windows of consecutive records into full batches;
3. the engine turns each batch into spectrograms (pinned memory and
   non-blocking copies on CUDA);
4. a writer thread appends them to the HDF5 file in whole-batch slices.

Records are handled in sorted name order and every result reaches the writer in
that order, so the file is the same whatever the timing. A record that cannot be
used is reported and listed under ``/errors``; it never costs the other records.
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import sys
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import AbstractSet, Any, Callable, Deque, Dict, Iterator, List, Mapping, Optional, Sequence, TextIO, Tuple, Union

import numpy as np
import torch
from tqdm import tqdm

from . import __version__
from .config import ENGINE_KEYS, ExtractOptions, InputConfig, build_settings, effective_config, load_yaml, resolve_device
from .engine import SpectrogramInput
from .layout import OutputError, RecordRow, lead_fs_text
from .leads import select_channels
from .records import Record, RecordError, RecordRef, find_records, open_record
from .space import check_free_space, expected_run_bytes
from .leftovers import resumable_names
from .writer import SpectrogramWriter
from .windowing import WindowStats, iter_windows

__all__ = ["extract", "run_extract", "ExtractResult", "ExtractError", "Interrupted", "RecordFailed"]

F16_MAX = float(np.finfo(np.float16).max)
BLOCK_SAMPLES = 1 << 18  # raw samples per channel read at once from a long record
QUEUE_BLOCKS = 2  # blocks buffered per record ahead of the batcher
FLUSH_SECONDS = 2.0
SWITCH_INTERVAL = 5e-4  # seconds; see _switch_interval


class ExtractError(Exception):
    """A fatal problem: nothing to read, or the run could not go on. One-line message."""


class RecordFailed(ExtractError):
    """``on_error="fail"`` met a bad record."""


class Interrupted(ExtractError):
    """Stopped by SIGINT/SIGTERM; what was written is in the partial file."""

    def __init__(self, message: str, signum: int) -> None:
        super().__init__(message)
        self.signum = signum


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

    @property
    def windows_per_second(self) -> float:
        return self.windows / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> Dict[str, Any]:
        out = asdict(self)
        out["errors"] = [{"name": n, "message": m} for n, m in self.errors]
        out["windows_per_second"] = round(self.windows_per_second, 1)
        out["seconds"] = round(self.seconds, 3)
        return out

    def summary_line(self) -> str:
        resumed = f", {self.resumed} records kept from the previous run" if self.resumed else ""
        return (
            f"ecgspec: {self.records} records read, {self.windows} windows written, "
            f"{len(self.empty)} records without windows, {len(self.errors)} skipped{resumed}, "
            f"{self.seconds:.1f} s, {self.windows_per_second:.1f} windows/s"
        )


# --- stage 1: reading ----------------------------------------------------------------------


@dataclass
class _Done:
    record: Record
    leads: str
    stats: WindowStats
    n_windows: int
    lead_fs: str


@dataclass
class _Failed:
    message: str


def _put(q: "queue.Queue[Any]", item: Any, stop: threading.Event) -> bool:
    """Put unless the run is stopping; never blocks forever on an abandoned queue."""
    while not stop.is_set():
        try:
            q.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def _read_record(
    ref: RecordRef, config: InputConfig, options: ExtractOptions, out: "queue.Queue[Any]", stop: threading.Event
) -> None:
    """Worker: stream one record's windows into ``out``, then a _Done or _Failed."""
    try:
        record = open_record(ref, input_fs=options.input_fs or config.sampling_rate)
        header = record.header
        channels = select_channels(header.leads, options.leads, config.n_channels, n_signals=header.n_signals,
                                   channels=options.channels)
        stats = WindowStats()
        stride = options.stride or config.n_samples
        n_windows = 0
        for starts, windows in iter_windows(
            record, channels, config.sampling_rate, config.n_samples, stride, options.max_nan, BLOCK_SAMPLES, stats
        ):
            if not _put(out, (starts, windows), stop):
                return
            n_windows += len(starts)
        names = ",".join(header.leads[c] if header.leads else str(c) for c in channels)
        _put(out, _Done(record, names, stats, n_windows, lead_fs_text(header.rate(c) for c in channels)), stop)
    except RecordError as exc:
        _put(out, _Failed(str(exc)), stop)
    except Exception as exc:  # noqa: BLE001 - any reader failure is this record's, not the run's
        _put(out, _Failed(f"{type(exc).__name__}: {' '.join(str(exc).split())}"), stop)


def _prefetch(
    refs: Sequence[RecordRef], skip: Callable[[RecordRef], bool], start: Callable[[RecordRef], "queue.Queue[Any]"],
    depth: int,
) -> Iterator[Tuple[RecordRef, Optional["queue.Queue[Any]"]]]:
    """Yield each ref with its output queue, keeping ``depth`` records started ahead (None: skipped)."""
    ahead: Deque[Tuple[RecordRef, Optional["queue.Queue[Any]"]]] = deque()
    for ref in refs:
        ahead.append((ref, None if skip(ref) else start(ref)))
        while len(ahead) > depth or (ahead and ahead[0][1] is None):
            yield ahead.popleft()
    while ahead:
        yield ahead.popleft()


# --- stage 2/3: batching and the engine -------------------------------------------------------


class _Batcher:
    """Packs windows of consecutive records into full engine batches and keeps events in order.

    Spectrograms go into a small pool of reused host buffers (pinned on CUDA), which the
    writer hands back once written: no large allocation per batch, and at most
    ``n_buffers`` batches in flight, which bounds memory.
    """

    def __init__(
        self, engine: SpectrogramInput, window_shape: Tuple[int, ...], batch_size: int, store_dtype: str,
        n_buffers: int = 3,
    ) -> None:
        self.engine = engine
        self.emit: Callable[[tuple], None] = lambda item: None  # set to the writer's put
        pin = engine.device.type == "cuda"
        self.buffer = torch.empty((batch_size, engine.n_channels, engine.n_samples), dtype=torch.float32, pin_memory=pin)
        dtype = torch.float16 if store_dtype == "float16" else torch.float32
        self.free: "queue.Queue[torch.Tensor]" = queue.Queue()
        for _ in range(n_buffers):
            self.free.put(torch.empty((batch_size, *window_shape), dtype=dtype, pin_memory=pin))
        # The engine writes straight into a pool buffer, or (CUDA, float16 storage) into one
        # reused staging tensor on its device, copied out after.
        direct = not pin and dtype == engine.dtype
        self.staging = None if direct else torch.empty((batch_size, *window_shape), dtype=engine.dtype,
                                                       device=engine.device)
        self.rows = np.empty(batch_size, dtype=np.int64)
        self.starts = np.empty(batch_size, dtype=np.int64)
        self.fill = 0
        self.after: List[tuple] = []  # events that must follow the buffered windows
        self.windows = 0

    def add(self, row: int, starts: np.ndarray, windows: np.ndarray) -> None:
        src = torch.from_numpy(windows)
        done = 0
        while done < len(starts):
            take = min(len(starts) - done, len(self.rows) - self.fill)
            sl = slice(self.fill, self.fill + take)
            self.buffer[sl].copy_(src[done : done + take])
            self.rows[sl] = row
            self.starts[sl] = starts[done : done + take]
            self.fill += take
            done += take
            if self.fill == len(self.rows):
                self.flush()

    def event(self, item: tuple) -> None:
        """Queue an event after the buffered windows (commits), or at once if none are buffered."""
        if self.fill:
            self.after.append(item)
        else:
            self.emit(item)

    def drop_tail(self, row: int) -> int:
        """Remove buffered windows of record ``row`` (always the last in the buffer); return how many."""
        keep = self.fill
        while keep and self.rows[keep - 1] == row:
            keep -= 1
        dropped, self.fill = self.fill - keep, keep
        return dropped

    def flush(self) -> None:
        if self.fill:
            n = self.fill
            pooled = self.free.get()
            out = pooled[:n]
            x = self.buffer[:n].to(self.engine.device, non_blocking=True)
            if self.staging is None:
                self.engine(x, out=out)
            else:
                spec = self.engine(x, out=self.staging[:n])
                if out.dtype == torch.float16:  # clip to float16's largest finite value (power is never < 0)
                    spec.clamp_(max=F16_MAX)
                out.copy_(spec)
            self.emit(("windows", self.rows[:n].copy(), self.starts[:n].copy(), pooled, n))
            self.windows += n
            self.fill = 0
        for item in self.after:
            self.emit(item)
        self.after = []


# --- stage 4: writing -------------------------------------------------------------------------


class _WriterThread(threading.Thread):
    """Applies events to the store in order; the first exception is kept for the main thread."""

    def __init__(self, store: SpectrogramWriter, release: Callable[[torch.Tensor], None]) -> None:
        super().__init__(name="ecgspec-writer", daemon=True)
        self.store = store
        self.release = release  # hands a written batch's buffer back to the batcher's pool
        # Unbounded: memory is bounded by the batcher's buffer pool, and a bounded queue made
        # the main thread wait on a thread hand-off for each small event (2 ms a record).
        self.events: "queue.Queue[Optional[tuple]]" = queue.Queue()
        self.error: Optional[BaseException] = None

    def run(self) -> None:
        last_flush = time.monotonic()
        while True:
            item = self.events.get()
            if item is None:
                return
            try:
                if self.error is None:  # after a failure, only hand buffers back
                    self._apply(item)
                    if time.monotonic() - last_flush > FLUSH_SECONDS:
                        self.store.flush()
                        last_flush = time.monotonic()
            except BaseException as exc:  # noqa: BLE001 - reported by the main thread
                self.error = exc
            finally:
                if item[0] == "windows":
                    self.release(item[3])

    def _apply(self, item: tuple) -> None:
        kind = item[0]
        if kind == "windows":
            _, rows, starts, pooled, n = item
            self.store.write_windows(rows, starts, pooled[:n].numpy())
        elif kind == "commit":
            self.store.commit_record(item[1])
        elif kind == "error":
            _, name, message, written = item
            if written:
                self.store.discard_windows(written)
            self.store.add_error(name, message)

    def put(self, item: tuple) -> None:
        if self.error is not None:
            raise _write_failed(self.store.output, self.error) from self.error
        self.events.put(item)

    def close(self) -> None:
        """Write what is queued, then stop the thread."""
        if self.is_alive():
            self.events.put(None)
            self.join()


# --- the run ----------------------------------------------------------------------------------


def stderr_log(message: str) -> None:
    tqdm.write(message, file=sys.stderr)


class _StopFlag:
    """SIGINT/SIGTERM set a flag the main loop checks; handlers restored afterwards."""

    def __init__(self) -> None:
        self.signum: Optional[int] = None
        self.event = threading.Event()
        self._old: Dict[int, Any] = {}

    def __enter__(self) -> "_StopFlag":
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        self.signum = signum
        self.event.set()

    def __exit__(self, *exc: Any) -> None:
        for sig, handler in self._old.items():
            signal.signal(sig, handler)


def run_extract(
    inputs: Sequence[Union[str, Path]],
    output: Union[str, Path],
    config: InputConfig,
    options: ExtractOptions,
    *,
    overwrite: bool = False,
    resume: bool = False,
    progress: bool = False,
    stdin: Optional[TextIO] = None,
    log: Callable[[str], None] = stderr_log,
    space_check: bool = True,
) -> ExtractResult:
    """Run the extraction with settings already checked (see :func:`extract` for the friendly form).

    ``space_check``: stop before writing when the expected output exceeds the free space.

    SIGINT/SIGTERM are caught for the whole run (in the main thread): the run stops
    cleanly and raises :class:`Interrupted`, leaving what was written in ``OUTPUT.partial``.
    """
    with _StopFlag() as stop, _switch_interval(SWITCH_INTERVAL), _engine_threads(config):
        return _run(inputs, output, config, options, stop, overwrite=overwrite, resume=resume,
                    progress=progress, stdin=stdin, log=log, space_check=space_check)


@contextlib.contextmanager
def _switch_interval(seconds: float) -> Iterator[None]:
    """Hand the GIL over more often during the run, restoring Python's setting after.

    The engine thread releases the GIL for each torch operation and must get it back
    from reader threads; at Python's default 5 ms interval a busy reader stalls it for
    most of that time (measured: 2-4x slower engine batches beside one busy thread).
    """
    old = sys.getswitchinterval()
    sys.setswitchinterval(seconds)
    try:
        yield
    finally:
        sys.setswitchinterval(old)


@contextlib.contextmanager
def _engine_threads(config: InputConfig) -> Iterator[None]:
    """On CPU, leave one core to the reader and writer threads for the run.

    The writer's copy into the page cache needs a core of its own; torch's threads
    spinning beside it cost more than they gave (2 cores: 1 engine thread ran the
    2,000-record bench 15-25% faster than 2, on a third less CPU time).
    """
    old = torch.get_num_threads()
    if resolve_device(config.get("device")).type == "cpu":
        torch.set_num_threads(max(1, min(old, (os.cpu_count() or 2) - 1)))
    try:
        yield
    finally:
        torch.set_num_threads(old)


def _write_failed(output: Union[str, Path], error: BaseException) -> ExtractError:
    """The one-line error for a failed write: the store's own message (a full disk, ...) as it is."""
    if isinstance(error, OutputError):
        return ExtractError(str(error))
    return ExtractError(f"writing {output} failed: {error}")


def _interrupted(stop: "_StopFlag", output: Union[str, Path], kept: int) -> Interrupted:
    """The Interrupted error for a stopped run, saying what was kept and how to go on."""
    where = (f"{kept} records written so far are kept in {output}.partial;"
             if kept >= 0 else "nothing was written;")
    return Interrupted(f"interrupted: {where} run the same command with --resume to continue",
                       stop.signum or signal.SIGINT)


def _run(
    inputs: Sequence[Union[str, Path]],
    output: Union[str, Path],
    config: InputConfig,
    options: ExtractOptions,
    stop: "_StopFlag",
    *,
    overwrite: bool,
    resume: bool,
    progress: bool,
    stdin: Optional[TextIO],
    log: Callable[[str], None],
    space_check: bool = True,
) -> ExtractResult:
    """:func:`run_extract`'s body, with the signal flag already installed."""
    t0 = time.perf_counter()
    refs, problems = find_records(inputs, stdin=stdin)
    if not refs:
        detail = f": {problems[0][0]}: {problems[0][1]}" if problems else ""
        raise ExtractError(f"no records found in {', '.join(map(str, inputs))}{detail}")
    engine = SpectrogramInput(config)
    window_shape = tuple(engine.compute_input_shape((1, config.n_channels, config.n_samples))[1:])
    result = ExtractResult(output=str(output), window_shape=window_shape)
    attrs = {
        "config": effective_config(config, options),
        "n_fft": engine.n_fft,
        "win_length": engine.win_length,
        "hop_length": engine.hop_length,
        "ecgspec_version": __version__,
    }
    batcher = _Batcher(engine, window_shape, options.batch_size, options.dtype)  # allocates before any file is made
    if stop.signum is not None:
        raise _interrupted(stop, output, -1)
    expected = 0
    if space_check:
        done = resumable_names(output) if resume else frozenset()
        expected = expected_run_bytes([r for r in refs if r.name not in done], config, options, window_shape)
        check_free_space(Path(output), expected)
    store = SpectrogramWriter(
        output, window_shape=window_shape, dtype=options.dtype, frequencies=engine.frequencies,
        attrs=attrs, compression=options.compression, overwrite=overwrite, resume=resume,
    )
    store.expected_bytes = expected  # for the disk-full message
    writer = _WriterThread(store, release=batcher.free.put)
    batcher.emit = writer.put
    try:
        for warning in store.warnings:
            log(f"ecgspec: warning: {warning}")
        writer.start()
        with tqdm(total=len(refs) + len(problems), unit="rec", disable=not progress, file=sys.stderr,
                  dynamic_ncols=True) as bar:
            _feed(refs, problems, config, options, store.done_names, store.next_record_row, batcher, result, stop,
                  bar, log)
        writer.close()
        if writer.error is not None:
            raise _write_failed(output, writer.error) from writer.error
        if stop.signum is not None:
            store.close()
            raise _interrupted(stop, output, store.next_record_row)
        store.finish()
    except BaseException:
        writer.close()
        with contextlib.suppress(Exception):  # the first error is the one to report
            store.close()
        raise
    result.seconds = time.perf_counter() - t0
    return result


def _feed(
    refs: Sequence[RecordRef], problems: Sequence[Tuple[str, str]], config: InputConfig, options: ExtractOptions,
    done: AbstractSet[str], row: int, batcher: "_Batcher", result: ExtractResult, stop: "_StopFlag", bar: tqdm,
    log: Callable[[str], None],
) -> None:
    """Stages 1-3: read records in order (a few ahead, in threads), batch and compute them.

    Records in ``done`` (kept in the output by an earlier run) are skipped; the others take
    /records rows from ``row`` on. Problems and bad records are reported through ``log``
    and kept in ``result.errors``.
    """

    def fail(name: str, message: str, written: int = 0) -> None:
        result.errors.append((name, message))
        log(f"ecgspec: skipped {name}: {message}")
        batcher.event(("error", name, message, written))
        if options.on_error == "fail":
            raise RecordFailed(f"{name}: {message} (stopped by --on-error fail)")

    with ThreadPoolExecutor(options.workers, thread_name_prefix="ecgspec-read") as pool:

        def start(ref: RecordRef) -> "queue.Queue[Any]":
            q: "queue.Queue[Any]" = queue.Queue(maxsize=QUEUE_BLOCKS)
            pool.submit(_read_record, ref, config, options, q, stop.event)
            return q

        try:
            for name, message in problems:
                fail(name, message)
                bar.update(1)
            for ref, q in _prefetch(refs, lambda r: r.name in done, start, depth=2 * options.workers):
                if stop.signum is not None:
                    return
                if q is None:  # kept in the output by an earlier run
                    result.resumed += 1
                else:
                    row += _consume(ref, q, row, batcher, result, fail, stop)
                bar.update(1)
                bar.set_postfix(windows=batcher.windows, refresh=False)
            if stop.signum is None:
                batcher.flush()
        finally:
            stop.event.set()  # release workers still blocked on their queues
            pool.shutdown(wait=False, cancel_futures=True)  # and start no more reads


def _consume(
    ref: RecordRef, q: "queue.Queue[Any]", row: int, batcher: _Batcher, result: ExtractResult,
    fail: Callable[..., None], stop: "_StopFlag",
) -> int:
    """Move one record's windows into batches; return 1 if it takes a row in /records, else 0."""
    added = 0  # windows of this record given to the batcher
    while True:
        try:
            item = q.get(timeout=0.1)
        except queue.Empty:
            if stop.signum is not None:
                return 0
            continue
        if isinstance(item, tuple):
            batcher.add(row, *item)
            added += len(item[0])
        elif isinstance(item, _Failed):
            fail(ref.name, item.message, written=added - batcher.drop_tail(row))
            return 0
        else:
            header = item.record.header
            row_info = RecordRow(
                ref.name, str(ref.path), float(header.fs), int(header.n_samples), item.leads, item.n_windows,
                int(item.stats.nan_filled), lead_fs=item.lead_fs,
            )
            batcher.event(("commit", row_info))
            result.records += 1
            result.windows += item.n_windows
            result.nan_skipped += item.stats.nan_skipped
            if item.n_windows == 0:
                result.empty.append(ref.name)
            return 1


def extract(
    inputs: Union[str, Path, Sequence[Union[str, Path]]],
    output: Union[str, Path],
    config: Union[None, str, Path, Mapping[str, Any]] = None,
    *,
    overwrite: bool = False,
    resume: bool = False,
    progress: bool = False,
    stdin: Optional[TextIO] = None,
    log: Callable[[str], None] = stderr_log,
    space_check: bool = True,
    **options: Any,
) -> ExtractResult:
    """Extract spectrograms of every record under ``inputs`` into the HDF5 file ``output``.

    ``config``: a YAML path or a mapping of torch_ecg ``InputConfig`` keys (``n_bins``,
    ``fs``, ``n_samples``, ...; defaults are the seed config), optionally with an
    ``extract:`` mapping of options. ``options`` are the command's options by name
    (``leads``, ``channels``, ``stride``, ``batch_size``, ``device``, ``dtype``, ``compression``,
    ``input_fs``, ``max_nan``, ``on_error``, ``workers``) and override the config.

    >>> result = extract("../shared/data/cinc2021", "out.h5", {"n_bins": 64})  # doctest: +SKIP
    """
    if isinstance(inputs, (str, Path)):
        inputs = [inputs]
    file_data: Dict[str, Any] = {}
    if isinstance(config, (str, Path)):
        file_data = load_yaml(config)
    elif config is not None:
        file_data = dict(config)
    engine_keys = {k: options.pop(k) for k in list(options) if k in ENGINE_KEYS}
    cfg, opts = build_settings(file_data, engine_keys, options)
    return run_extract(
        list(inputs), output, cfg, opts, overwrite=overwrite, resume=resume, progress=progress, stdin=stdin, log=log,
        space_check=space_check,
    )

