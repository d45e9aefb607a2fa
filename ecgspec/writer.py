"""HDF5 output, writing side: :class:`SpectrogramWriter` appends windows and records; no torch here.

The layout and the crash-safety rules are in :mod:`ecgspec.layout`. ``--resume`` reads the
results of earlier runs through :class:`_Source` and copies their complete records instead
of recomputing them.
"""

from __future__ import annotations

import dataclasses
import json
import os
from importlib import metadata
from pathlib import Path
from typing import Any, Iterable

import h5py
import numpy as np

from .layout import (
    ERROR_COLUMNS,
    FRAME_COLUMNS,
    RECORD_COLUMNS,
    STORE_DTYPES,
    WINDOW_COLUMNS,
    OutputError,
    RecordRow,
    committed,
    compression_filters,
    config_difference,
    free_previous_path,
    normalised_config,
    open_for_reading,
    partial_path,
    previous_paths,
)
from .quality import BITS_ATTR

__all__ = ["SpectrogramWriter"]

HDF5_CHUNK_BYTES = 2 << 20  # target size of a /spectrograms chunk (whole windows)
COPY_BYTES = 64 << 20  # most spectrogram bytes one copy_record step holds in memory
WRITE_CACHE_BYTES = 64 << 20  # keeps partly filled chunks of small windows in memory between appends
COLUMN_CHUNK = 4096  # rows per chunk of the one-dimensional columns


class _Source:
    """A previous output, read-only, whose complete records ``--resume`` copies instead of recomputing."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.file = open_for_reading(path)
        try:
            self.config = json.loads(self.file.attrs["config"])
            self.records, self.windows = committed(self.file)
            self.spectrograms = self.file["spectrograms"]
        except Exception:
            self.file.close()
            raise
        self.offsets = np.concatenate(([0], np.cumsum(self.records["n_windows"])))
        self.rows = {name: i for i, name in enumerate(self.records["name"])}

    def mismatch(self, config: dict[str, Any], window_shape: tuple[int, ...], dtype: np.dtype) -> str | None:
        """Why this source's values cannot be reused by a run with these settings, or None."""
        difference = config_difference(self.config, config)
        if difference is not None:
            return difference
        if self.spectrograms.shape[1:] != window_shape:
            return f"window shape was {self.spectrograms.shape[1:]}, now {window_shape}"
        if self.spectrograms.dtype != dtype:
            return f"stored dtype was {self.spectrograms.dtype}, now {dtype}"
        return None

    def row(self, index: int) -> RecordRow:
        values = {k: self.records[k][index] for k in RECORD_COLUMNS}
        return RecordRow(**{k: v.item() if isinstance(v, np.generic) else v for k, v in values.items()})


def _close_all(sources: Iterable[_Source]) -> None:
    for source in sources:
        source.file.close()


def _open_sources(
    paths: Iterable[Path], config: dict[str, Any], window_shape: tuple[int, ...], dtype: np.dtype, warnings: list[str]
) -> list[_Source]:
    """Open each existing path as a source (unreadable ones skipped, with a warning); refuse another config."""
    sources = []
    for path in paths:
        if not path.exists():
            continue
        try:
            sources.append(_Source(path))
        except (OSError, KeyError, ValueError, TypeError) as exc:
            warnings.append(f"ignoring {path}: unreadable ({exc}); its records are computed again")
    for source in sources:
        reason = source.mismatch(config, window_shape, dtype)
        if reason is not None:
            _close_all(sources)
            raise OutputError(f"{source.path} was written with a different config: {reason}")
    return sources


def _refuse_leftovers(output: Path, leftovers: list[Path]) -> None:
    """Without --overwrite or --resume, an existing output or partial file is an error."""
    if output.exists():
        raise OutputError(f"{output} exists; pass --overwrite to replace it or --resume to continue")
    if leftovers:
        raise OutputError(
            f"{leftovers[0]} is left by an interrupted run; pass --resume to continue it or --overwrite to discard it"
        )


def _check_folder(output: Path) -> None:
    folder = output.parent
    if not folder.is_dir():
        raise OutputError(f"{output}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"{output}: folder {folder} is not writable")
    if output.is_dir():
        raise OutputError(f"{output} is a folder; give a file path for the output")


class SpectrogramWriter:
    """Writes one output file: windows, then the record they belong to, from one thread, in order.

    Everything goes to ``OUTPUT.partial``; :meth:`finish` renames it over OUTPUT. With
    ``resume=True`` the results of an interrupted run (``OUTPUT.partial``) and of a finished
    one (OUTPUT) become read-only sources: :attr:`done_names` says which records they hold
    complete and :meth:`copy_record` appends one as if it had been computed again.
    ``overwrite=True`` discards any leftovers of earlier runs; OUTPUT itself is replaced by finish().

    Spectrograms must come in the stored dtype (:func:`ecgspec.layout.clip_to_stored` makes
    them so): the writer never casts.

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
        frames: dict[str, Any] | None = None,
    ) -> None:
        self.output = Path(path)
        self.partial = partial_path(self.output)
        self.window_shape = tuple(int(n) for n in window_shape)
        if not self.window_shape or min(self.window_shape) < 1:
            raise ValueError(f"window_shape: got {window_shape!r}, must be non-empty with sizes >= 1")
        if str(dtype) not in STORE_DTYPES:
            raise OutputError(f"dtype: got {dtype!r}, must be one of {', '.join(STORE_DTYPES)}")
        if overwrite and resume:
            raise OutputError("pass either --overwrite or --resume, not both")
        self.dtype = np.dtype(str(dtype))
        self.warnings: list[str] = []
        self._config = normalised_config(attrs["config"])
        filters = compression_filters(compression)
        _check_folder(self.output)
        self._sources = self._take_over_leftovers(overwrite, resume)
        try:
            self._file = self._create(np.asarray(frequencies, dtype=np.float64), attrs, filters, frames or {})
        except BaseException:
            _close_all(self._sources)
            raise
        self._n_windows = 0
        self._n_committed_windows = 0
        self._n_records = 0
        self._tail_rows = np.empty(0, dtype=np.int64)  # /windows/record of the uncommitted windows
        self._queued: dict[str, list[dict[str, Any]]] = {}  # rows not yet appended (see _append)

    # -- setting up --------------------------------------------------------------------------

    def _take_over_leftovers(self, overwrite: bool, resume: bool) -> list[_Source]:
        """Refuse, discard or adopt what earlier runs left, per the flags; return the resume sources."""
        leftovers = [p for p in (self.partial, *previous_paths(self.output)) if p.exists()]
        if overwrite:
            for p in leftovers:
                p.unlink()
            return []
        if not resume:
            _refuse_leftovers(self.output, leftovers)
            return []
        # check every source's config before moving anything, so a refused resume changes no file
        paths = [*previous_paths(self.output), self.partial, self.output]
        sources = _open_sources(paths, self._config, self.window_shape, self.dtype, self.warnings)
        if self.partial.exists():
            aside = free_previous_path(self.output)
            self.partial.rename(aside)  # an open source keeps reading the renamed file
            for source in sources:
                if source.path == self.partial:
                    source.path = aside
        return sources

    def _create(
        self, frequencies: np.ndarray, attrs: dict[str, Any], filters: dict[str, Any], frames: dict[str, Any]
    ) -> h5py.File:
        """The new partial file with every dataset empty and the attributes set (complete=False)."""
        try:
            file = h5py.File(self.partial, "w-", rdcc_nbytes=WRITE_CACHE_BYTES)
        except OSError as exc:
            raise OutputError(f"cannot create {self.partial}: {exc}") from exc
        try:
            self._lay_out(file, frequencies, attrs, filters)
            for name, values in frames.items():  # /frames/time, /frames/edge: one value per output frame
                file.create_dataset(f"frames/{name}", data=np.asarray(values, dtype=FRAME_COLUMNS[name]))
        except BaseException:
            file.close()
            self.partial.unlink()
            raise
        return file

    def _lay_out(
        self, file: h5py.File, frequencies: np.ndarray, attrs: dict[str, Any], filters: dict[str, Any]
    ) -> None:
        per_chunk = max(1, HDF5_CHUNK_BYTES // self._window_bytes)
        file.create_dataset(
            "spectrograms",
            shape=(0, *self.window_shape),
            maxshape=(None, *self.window_shape),
            chunks=(per_chunk, *self.window_shape),
            dtype=self.dtype,
            **filters,
        )
        for group, columns in (("windows", WINDOW_COLUMNS), ("errors", ERROR_COLUMNS), ("records", RECORD_COLUMNS)):
            for name, dtype in columns.items():
                path = f"{group}/{name}"
                file.create_dataset(path, shape=(0,), maxshape=(None,), chunks=(COLUMN_CHUNK,), dtype=dtype)
        file["windows/qc"].attrs["bits"] = BITS_ATTR
        file.create_dataset("frequencies", data=frequencies, maxshape=(None,), chunks=(max(1, len(frequencies)),))
        for key, value in attrs.items():
            file.attrs[key] = value if key != "config" else json.dumps(self._config, sort_keys=True)
        file.attrs["window_shape"] = np.asarray(self.window_shape, dtype=np.int64)
        if "ecgspec_version" not in attrs:
            file.attrs["ecgspec_version"] = metadata.version("ecgspec")
        file.attrs["complete"] = False

    # -- writing -----------------------------------------------------------------------------

    @property
    def _window_bytes(self) -> int:
        return int(np.prod(self.window_shape)) * self.dtype.itemsize

    @property
    def next_record_row(self) -> int:
        """The ``/records`` row the next committed record gets: its windows carry this in /windows/record."""
        return self._n_records

    def write_windows(
        self, records: np.ndarray, starts: np.ndarray, spectrograms: np.ndarray, qc: np.ndarray | None = None
    ) -> None:
        """Append windows: their record rows (not yet committed), start samples, spectrograms and
        quality flags (:mod:`ecgspec.quality`; None: all 0).

        Windows of several records may share a call (in record order); each is one slice write.
        ``spectrograms`` must have the stored dtype: a ValueError says so otherwise.
        """
        records = np.asarray(records, dtype=np.int64)
        starts = np.asarray(starts, dtype=np.int64)
        values = np.ascontiguousarray(spectrograms)
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
                " convert them with ecgspec.layout.clip_to_stored first"
            )
        if n and records.min() < self._n_records:
            raise ValueError(f"write_windows: record row {records.min()} is already committed")
        end = self._n_windows + n
        for name, data in (("spectrograms", values), ("windows/record", records), ("windows/start", starts),
                           ("windows/qc", qc)):
            dataset = self._file[name]
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
        self._append("records", dataclasses.asdict(row))
        self._n_committed_windows = end
        self._n_records += 1
        return index

    def discard_windows(self, n: int) -> None:
        """Drop the last ``n`` windows written, all uncommitted: those of a record that failed part way."""
        pending = self._n_windows - self._n_committed_windows
        if not 0 <= n <= pending:
            raise ValueError(f"discard_windows: got {n}, only {pending} windows are uncommitted")
        end = self._n_windows - n
        for name in ("spectrograms", *(f"windows/{k}" for k in WINDOW_COLUMNS)):
            self._file[name].resize(end, axis=0)
        self._n_windows = end
        self._tail_rows = self._tail_rows[: len(self._tail_rows) - n]

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
        for group, rows in self._queued.items():
            for key in rows[0] if rows else ():
                dataset = self._file[group][key]
                n = dataset.shape[0]
                dataset.resize(n + len(rows), axis=0)
                dataset[n:] = np.array([row[key] for row in rows], dtype=dataset.dtype)
            rows.clear()

    def flush(self) -> None:
        """Push everything written so far to disk, so a SIGKILL afterwards loses only what follows."""
        self._write_rows()
        self._file.flush()

    # -- resuming ----------------------------------------------------------------------------

    @property
    def done_names(self) -> set[str]:
        """Records complete in some resume source: :meth:`copy_record` can take them over."""
        return {name for source in self._sources for name in source.rows}

    def copy_record(self, name: str) -> int:
        """Append record ``name`` (windows, then row) from a resume source, values unchanged; return its row."""
        source = next((s for s in self._sources if name in s.rows), None)
        if source is None:
            raise KeyError(f"copy_record: {name!r} is in no resume source")
        if self._n_windows != self._n_committed_windows:
            raise ValueError(f"copy_record {name!r}: commit the record whose windows were written first")
        row = source.rows[name]
        first, last = int(source.offsets[row]), int(source.offsets[row + 1])
        step = max(1, COPY_BYTES // self._window_bytes)
        for lo in range(first, last, step):
            hi = min(lo + step, last)
            records = np.full(hi - lo, self._n_records, dtype=np.int64)
            self.write_windows(records, source.windows["start"][lo:hi], source.spectrograms[lo:hi],
                               source.windows["qc"][lo:hi])
        return self.commit_record(source.row(row))

    # -- ending ------------------------------------------------------------------------------

    def finish(self) -> Path:
        """Mark the file complete, move it over OUTPUT, delete the partial files resumed from; return OUTPUT."""
        pending = self._n_windows - self._n_committed_windows
        if pending:
            raise ValueError(f"finish: {pending} windows written but their record never committed")
        self._write_rows()
        self._file.attrs["complete"] = True
        self._file.close()
        _close_all(self._sources)
        os.replace(self.partial, self.output)
        for path in previous_paths(self.output):
            path.unlink()
        return self.output

    def close(self) -> None:
        """Flush and close without finishing: the partial file stays for ``--resume``. Idempotent."""
        try:
            if self._file:
                self.flush()
        finally:
            if self._file:
                self._file.close()
            _close_all(self._sources)

    def __enter__(self) -> SpectrogramWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
