"""HDF5 output, writing side: :class:`SpectrogramWriter` appends windows and records; no torch here.

The layout and the crash-safety rules are in :mod:`ecgspec.store.layout`. The file is written in
HDF5's SWMR mode, so that it stays valid however the process dies and can be read while it
grows; ``--resume`` continues it in place (:mod:`ecgspec.store.resume` takes over and reopens what
earlier runs left, :mod:`ecgspec.store.swmr` keeps to one live writer); a new file is laid out by
:mod:`ecgspec.store.new_file`, finished by :mod:`ecgspec.store.finishing`.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from ..errors import DiskFull, one_line
from . import finishing, signals, staged, tails
from .layout import (
    COUNTER,
    FRAME_COLUMNS,
    MASK_COLUMNS,
    RECORD_COLUMNS,
    STRING_COLUMNS,
    WINDOW_COLUMNS,
    OutputError,
    RecordRow,
    compression_filters,
    fsync_folder,
    lock_path,
    normalised_config,
    partial_path,
)
from .leftovers import UNUSABLE, Kept, check_folder
from .new_file import checked_dtype, checked_shape, lay_out
from .record_groups import LabelColumns
from .resume import WRITE_CACHE_BYTES, open_for_writing, reopen, take_over_leftovers
from .schema import LIBVER, SIGNAL_COLUMNS
from .signals import SignalAppends, signal_end
from .swmr import LockHeld, WriterLock
from .targets import Targets

__all__ = ["DiskFull", "SpectrogramWriter"]

SPACE_RESERVE = 8 << 20  # free bytes kept for the metadata a flush and close still write


class SpectrogramWriter(SignalAppends):
    """Writes one output file: windows, then the record they belong to, from one thread, in order.

    Everything goes to ``OUTPUT.partial``; :meth:`finish` renames it over OUTPUT. With
    ``resume=True`` an earlier run's file is continued in place: ``OUTPUT.partial`` (an
    interrupted run) or else OUTPUT (a finished one, renamed to ``OUTPUT.partial`` until
    finish). Its committed records are kept (:attr:`done_names`, :attr:`next_record_row`),
    whatever followed them and its ``/errors`` are dropped. ``overwrite=True`` discards any
    leftovers of earlier runs; OUTPUT itself is replaced by finish(). A live writer of the
    same OUTPUT (its lock held) is refused.

    Spectrograms must come in the stored dtype (:func:`ecgspec.store.layout.clip_to_stored` makes
    them so): the writer never casts. ``durable=True`` fsyncs at each commit point (:meth:`flush`)
    and around the final rename, so a machine crash loses at most what followed the last one.

    As a context manager, leaving the block closes the writer (keeping the partial file for
    ``--resume``) unless :meth:`finish` was called: finishing is never automatic.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        window_shape: tuple[int, ...],
        dtype: str = "float32",
        frequencies: np.ndarray,
        attrs: dict[str, Any],
        compression: str | None = None,
        overwrite: bool = False,
        resume: bool = False,
        durable: bool = True,
        frames: dict[str, Any] | None = None,
        expected_bytes: int = 0,
        labels: LabelColumns | None = None,
    ) -> None:
        self.output = Path(path)
        self.partial = partial_path(self.output)
        self.window_shape = checked_shape(window_shape)
        self.dtype = checked_dtype(dtype)
        if overwrite and resume:
            raise OutputError("pass either --overwrite or --resume, not both")
        self.durable = durable
        self.expected_bytes = expected_bytes  # what the caller expects the run to write, for the disk-full message
        self.labels = labels  # record names -> /records/labels columns, written at finish
        self.targets: Targets | None = None  # the records' columns -> /records/targets, written at finish
        self.warnings: list[str] = []
        self._config = normalised_config(attrs["config"])
        self.signals = signals.is_signals(self._config)  # /signals, windows without spectrograms (ecgspec.store.signals)
        self._frames = {k: np.asarray(v, dtype=FRAME_COLUMNS[k]) for k, v in (frames or {}).items()}
        filters = compression_filters(compression)
        check_folder(self.output)
        self._lock: WriterLock | None = self._take_lock()
        self._file, kept = self._open(overwrite, resume, frequencies, attrs, filters)
        self.done_names = kept.names  # records kept from the earlier run (resume)
        self.repaired = kept.repaired  # records of the earlier run whose rows failed their checksum
        self.warnings += kept.repair_warnings(self.partial)
        self._fd = os.open(self.partial, os.O_RDONLY)  # for fsync; the same inode after the rename
        self._start_counts(kept)

    # -- setting up --------------------------------------------------------------------------

    def _take_lock(self) -> WriterLock:
        """The writer lock of OUTPUT; a live writer holding it is an OutputError naming it."""
        try:
            return WriterLock(lock_path(self.output))
        except LockHeld as exc:
            raise OutputError(f"{self.partial}: another run is writing it: {exc}") from None

    def _open(
        self, overwrite: bool, resume: bool, frequencies: np.ndarray, attrs: dict[str, Any], filters: dict[str, Any]
    ) -> tuple[h5py.File, Kept]:
        """Take over what earlier runs left (:mod:`ecgspec.store.resume`) and open the partial file, continued or
        new; return it with what it keeps. The lock is released when this fails."""
        try:
            from_partial = self.partial.exists()
            kept = take_over_leftovers(self.output, overwrite=overwrite, resume=resume, durable=self.durable,
                                       settings=(self._config, self.window_shape, self.dtype),
                                       warn=self.warnings.append)
            if kept is not None:
                try:
                    return reopen(self.partial, kept, self._frames), kept
                except UNUSABLE as exc:  # damage that reading it did not meet, but writing does
                    self._not_continued(exc, from_partial)
            return self._create(np.asarray(frequencies, dtype=np.float64), attrs, filters), Kept(frozenset(), 0, 0)
        except BaseException:
            self._lock.release()  # type: ignore[union-attr]  # taken just before, in __init__
            raise

    def _not_continued(self, exc: BaseException, from_partial: bool) -> None:
        """A kept file that HDF5 cannot reopen for writing: a partial file is started over (with a warning),
        a finished OUTPUT (renamed for the resume) is an OutputError: it is not deleted."""
        what = one_line(exc)
        if not from_partial:
            raise OutputError(f"{self.output} (as {self.partial} for the resume) cannot be continued: {what};"
                              f" rename it back, or pass --overwrite to start again") from exc
        self.warnings.append(f"ignoring {self.partial}: cannot be continued ({what}); its records are computed again")
        self.partial.unlink()

    def _start_counts(self, kept: Kept) -> None:
        """The append path's counts and queues, starting from what the file keeps."""
        # each dataset appended to, opened once and held: HDF5 drops a dataset's chunk cache when its last handle
        # closes, and a checksummed chunk was then checked, written and read back whole at every append
        names = ["signals" if self.signals else "spectrograms", COUNTER, *(f"windows/{k}" for k in WINDOW_COLUMNS),
                 *(f"records/{k}" for k in (*RECORD_COLUMNS, *SIGNAL_COLUMNS) if k not in STRING_COLUMNS["records"]
                   and f"records/{k}" in self._file)]
        self._handles = {name: self._file[name] for name in names}
        self._counter = self._handles[COUNTER]
        self._n_windows = self._n_committed_windows = kept.windows
        self._n_records = kept.records
        self._n_errors = 0
        self._signal_end = self._committed_signal = signal_end(self._file, kept.records) if self.signals else 0
        self._tail_rows = np.empty(0, dtype=np.int64)  # /windows/record of the uncommitted windows
        self._queued: dict[str, list[dict[str, Any]]] = {}  # rows not yet appended (see _append)
        self._unflushed = 0  # bytes given to HDF5 since the last flush (may sit in its chunk cache)
        self._flushed_blocks = os.fstat(self._fd).st_blocks * 512  # the file's allocated bytes at that flush
        self._written = 0

    def _create(self, frequencies: np.ndarray, attrs: dict[str, Any], filters: dict[str, Any]) -> h5py.File:
        """The new partial file with every dataset empty and the attributes set (complete=False), in SWMR mode."""
        try:
            file = open_for_writing(self.partial, "w-")
        except OSError as exc:
            raise OutputError(f"cannot create {self.partial}: {exc}") from exc
        try:
            lay_out(file, self.window_shape, self.dtype, self._config, self._frames, frequencies, attrs, filters)
            file.swmr_mode = True  # every dataset and attribute exists before: SWMR allows no new ones
        except BaseException:
            file.close()
            self.partial.unlink()
            raise
        return file

    # -- writing -----------------------------------------------------------------------------

    @property
    def next_record_row(self) -> int:
        """The ``/records`` row the next committed record gets: its windows carry this in /windows/record."""
        return self._n_records

    def write_windows(
        self, records: np.ndarray, starts: np.ndarray, spectrograms: np.ndarray | None, qc: np.ndarray | None = None
    ) -> None:
        """Append windows: their record rows (not yet committed), start samples, spectrograms and
        quality flags (:mod:`ecgspec.signal.quality`; None: all 0).

        Windows of several records may share a call (in record order); each is one slice write.
        ``spectrograms`` must have the stored dtype: a ValueError says so otherwise. A signals file
        takes None (its windows' spectrograms are computed as they are read).
        """
        records = np.asarray(records, dtype=np.int64)
        starts = np.asarray(starts, dtype=np.int64)
        if (spectrograms is None) != self.signals:
            raise ValueError("write_windows: a signals file takes no spectrograms, a spectrogram file needs them")
        values = np.zeros((len(starts), *self.window_shape), self.dtype) if spectrograms is None else \
            np.ascontiguousarray(spectrograms)
        n = len(values)
        qc = np.zeros(n, dtype=np.uint8) if qc is None else np.asarray(qc, dtype=np.uint8)
        if records.shape != (n,) or starts.shape != (n,) or qc.shape != (n,) or values.shape[1:] != self.window_shape:
            raise ValueError(
                f"write_windows: got records {records.shape}, starts {starts.shape}, qc {qc.shape},"
                f" spectrograms {values.shape}; need (n,), (n,), (n,), (n, {', '.join(map(str, self.window_shape))})"
            )
        if values.dtype != self.dtype:
            raise ValueError(
                f"write_windows: got {values.dtype} spectrograms for a {self.dtype} file;"
                " convert them with ecgspec.store.layout.clip_to_stored first"
            )
        if n and records.min() < self._n_records:
            raise ValueError(f"write_windows: record row {records.min()} is already committed")
        self._reserve((0 if self.signals else values.nbytes) + 16 * n)
        end = self._n_windows + n
        for name, data in ((("spectrograms", values),) if not self.signals else ()) + (
                ("windows/record", records), ("windows/start", starts), ("windows/qc", qc)):
            dataset = self._handles[name]
            dataset.resize(end, axis=0)
            dataset[self._n_windows : end] = data
        self._n_windows = end
        self._tail_rows = np.concatenate([self._tail_rows, records])

    def commit_record(self, row: RecordRow) -> int:
        """Append ``row`` to /records once its ``row.n_windows`` windows are written; return its row index."""
        index = self._n_records
        start, end = self._n_committed_windows, self._n_committed_windows + row.n_windows
        if end > self._n_windows:
            raise ValueError(
                f"commit_record {row.name!r}: claims {row.n_windows} windows, only"
                f" {self._n_windows - start} written since the previous record"
            )
        if not np.all(self._tail_rows[: row.n_windows] == index):
            raise ValueError(f"commit_record {row.name!r}: its windows do not all carry record row {index}")
        self._tail_rows = self._tail_rows[row.n_windows :]
        self._append("records", {**vars(row), **self._signal_row()})  # vars: asdict's deep copy costs 20 us a record
        self._n_committed_windows = end
        self._n_records += 1
        return index

    def discard_windows(self, n: int) -> None:
        """Drop the last ``n`` windows written, all uncommitted: those of a record that failed part way."""
        pending = self._n_windows - self._n_committed_windows
        if not 0 <= n <= pending:
            raise ValueError(f"discard_windows: got {n}, only {pending} windows are uncommitted")
        end = self._n_windows - n
        for name in ((() if self.signals else ("spectrograms",)) + tuple(f"windows/{k}" for k in WINDOW_COLUMNS)):
            self._handles[name].resize(end, axis=0)
        self._n_windows = end
        self._tail_rows = self._tail_rows[: len(self._tail_rows) - n]

    def discard_record(self, row: int) -> int:
        """Drop every window written for record ``row``, which will not be committed (it failed part
        way); return how many. The writer knows which windows are whose: callers need not count."""
        self._drop_uncommitted_signal()
        n = int(np.count_nonzero(self._tail_rows == row))
        if n and not np.all(self._tail_rows[len(self._tail_rows) - n :] == row):
            raise ValueError(f"discard_record: the windows of record row {row} are not the last written")
        self.discard_windows(n)
        return n

    def add_error(self, name: str, message: str) -> None:
        """Record that ``name`` was skipped and why."""
        self._append("errors", {"name": name, "message": message})

    def _append(self, group: str, values: dict[str, Any]) -> None:
        """Queue a row of /records or /errors; :meth:`_write_rows` appends queued rows in bulk.

        One resize and one write per column for many rows: per-row appends cost about
        2 ms a record in h5py calls, mostly holding the GIL. A row queued but not yet
        written is simply not committed if the process dies: resume recomputes it.
        """
        self._queued.setdefault(group, []).append(values)

    def _write_rows(self) -> None:
        """Append the queued rows: their strings to ``/staged`` (:mod:`ecgspec.store.staged`), the rest to
        their columns."""
        for group, rows in self._queued.items():
            staged.write(self._file, group, rows)
            for key in rows[0] if rows else ():
                if key in STRING_COLUMNS[group]:
                    continue
                dataset = self._handles[f"{group}/{key}"]
                n = dataset.shape[0]
                dataset.resize(n + len(rows), axis=0)
                values = [row[key] for row in rows]
                if key in MASK_COLUMNS and group == "records":  # a row without masks: every lead read, none derived
                    values = [v if len(v) else (key == "lead_mask",) * dataset.shape[1] for v in values]
                dataset[n:] = np.array(values, dtype=dataset.dtype)
            if group == "errors":
                self._n_errors += len(rows)
            rows.clear()

    def _reserve(self, nbytes: int) -> None:
        """Raise DiskFull, before HDF5 writes anything, when ``nbytes`` more would leave too little for the next
        commit point.

        HDF5 does not survive a failed write (a full disk crashed the process, leaving a torn
        file), so the run stops while what the next commit point still writes fits: the
        chunks HDF5's cache holds (given to it since the last flush, less what already reached
        the file: the free space already counts that) and the metadata of a flush and close.
        """
        free = shutil.disk_usage(self.partial.parent).free
        short = nbytes + self._pending_bytes() + SPACE_RESERVE - free
        if short > 0:
            whole_run = self.expected_bytes - self._written + SPACE_RESERVE - free
            raise DiskFull(
                f"no space left in {self.partial.parent}: {_size(free)} free; the rest of the run needs about"
                f" {_size(max(short, whole_run))} more; free some and rerun with --resume to continue"
            )
        self._unflushed += nbytes
        self._written += nbytes

    def _pending_bytes(self) -> int:
        """Bytes given to HDF5 since the last flush that have not reached the file (at most its chunk cache)."""
        landed = os.fstat(self._fd).st_blocks * 512 - self._flushed_blocks
        return min(max(0, self._unflushed - landed), WRITE_CACHE_BYTES)

    def flush(self) -> None:
        """A commit point: push everything written so far to the file (and with ``durable``, to the disk),
        then count it in ``/committed``; a process or machine dying afterwards loses only what follows."""
        self._write_rows()
        self._file.flush()
        if self.durable:
            os.fsync(self._fd)
            _drop_cached(self._fd)
        tails.record(self._file, (self._n_records, self._n_committed_windows, self._n_errors), self._committed_signal)
        self._counter[:] = (self._n_records, self._n_committed_windows, self._n_errors)
        self._counter.flush()
        self._unflushed = 0
        self._flushed_blocks = os.fstat(self._fd).st_blocks * 512

    # -- ending ------------------------------------------------------------------------------

    def finish(self) -> Path:
        """Mark the file complete and move it over OUTPUT (fsynced before and after); return OUTPUT."""
        pending = self._n_windows - self._n_committed_windows
        if pending:
            raise ValueError(f"finish: {pending} windows written but their record never committed")
        self.flush()
        work = finishing.prepare(self._file, self._n_records, self._n_errors, self.labels)
        self._reserve(work.nbytes)  # a full disk stops the run here, the file valid to its last commit
        self._file.close()
        self._file, self._handles = None, {}
        # attributes cannot change in SWMR mode; HDF5's own file lock is not needed (we hold ours)
        # and would fail while a reader has the file open
        with h5py.File(self.partial, "a", libver=LIBVER, locking=False) as file:
            self.warnings += finishing.complete(file, work, self.targets)
        if self.durable:
            os.fsync(self._fd)
        os.replace(self.partial, self.output)
        if self.durable:
            fsync_folder(self.output.parent)
        self._release()
        return self.output

    def close(self) -> None:
        """Flush and close without finishing: the partial file stays for ``--resume``. Idempotent."""
        try:
            if self._file:
                self.flush()
        finally:
            if self._file:
                self._file.close()
                self._file = None
            self._release()

    def _release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def __enter__(self) -> SpectrogramWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _size(nbytes: int) -> str:
    """``nbytes`` in MB below 10 GB (``820 MB``), else in GB (``12.4 GB``): decimal units, as ``df -H``."""
    return f"{max(0, nbytes) / 1e6:.0f} MB" if nbytes < 10e9 else f"{nbytes / 1e9:.1f} GB"


def _drop_cached(fd: int) -> None:
    """Let the kernel drop the file's pages from its cache once they are on disk: a run writes far more
    than the machine's memory (MIMIC-IV-ECG: 1.9 TB), and its own written pages would otherwise push
    the records it still has to read out of the cache, the run slowing as the output grows."""
    if hasattr(os, "posix_fadvise"):
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)

