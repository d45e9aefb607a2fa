"""HDF5 output: :class:`SpectrogramWriter` appends windows and records, :func:`open` reads them back.

Layout (a contract with the pipeline and the readers)::

    /spectrograms        (n_windows, *window_shape) float32|float16, chunked by whole windows
    /windows/record      (n_windows,) int64    row in /records the window came from
    /windows/start       (n_windows,) int64    first sample of the window at the config fs
    /records/<field>     (n_records,)          one column per :class:`RecordRow` field
    /errors/name, /errors/message (n_errors,) str   records skipped and why
    /frequencies         (n_bins,) float64     bin centre frequencies
    attrs: config (JSON), window_shape, n_fft, win_length, hop_length, ecgspec_version, complete

Crash safety: a run writes ``OUTPUT.partial`` and only :meth:`SpectrogramWriter.finish`
renames it over OUTPUT, so OUTPUT is always absent, the old file or the finished new one.
A record's windows are written before its ``/records`` row, so the committed records of an
interrupted file are the first ``n`` rows (``n`` = shortest ``/records`` column) and their
windows the first ``sum(n_windows[:n])``; ``--resume`` copies those instead of recomputing.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import json
import operator
import os
from functools import cached_property
from importlib import metadata
from pathlib import Path
from typing import Any, Iterable

import h5py
import numpy as np
import torch
from torch.utils.data import Dataset

from .config import STORE_DTYPES

__all__ = ["OutputError", "RecordRow", "SpectrogramWriter", "SpectrogramFile", "open", "describe", "partial_path"]

PARTIAL = ".partial"
PREVIOUS = ".partial.prev"
CHUNK_BYTES = 2 << 20  # target size of a /spectrograms chunk (whole windows)
COPY_BYTES = 64 << 20  # most spectrogram bytes one copy_record step holds in memory
WRITE_CACHE_BYTES = 64 << 20  # keeps partly filled chunks of small windows in memory between appends
READ_CACHE_BYTES = 16 << 20  # holds several chunks, so random access does not re-read them
COMPRESSIONS = ("none", "lzf", "gzip", "zstd", "blosc2")
_STR = h5py.string_dtype("utf-8")
_COLUMN_CHUNK = 4096


class OutputError(Exception):
    """A fatal problem with the output file; the message is one line meant for the user."""


@dataclasses.dataclass(frozen=True)
class RecordRow:
    """One ``/records`` row: a record whose windows are all written."""

    name: str
    source: str
    fs: float
    n_samples: int
    leads: str
    n_windows: int
    nan_filled: int
    lead_fs: str  # each lead's own rate, comma-separated in output order (files before it: filled from fs)


def lead_fs_text(rates: Iterable[float]) -> str:
    """The ``/records/lead_fs`` value: each rate as the shortest decimal that reads back exactly."""
    return ",".join(repr(float(rate)) for rate in rates)


_COLUMN_DTYPES = {"str": _STR, "float": np.float64, "int": np.int64}
RECORD_COLUMNS: dict[str, Any] = {f.name: _COLUMN_DTYPES[f.type] for f in dataclasses.fields(RecordRow)}


def partial_path(output: str | os.PathLike[str]) -> Path:
    """``OUTPUT.partial``: where a run writes until it finishes."""
    output = Path(output)
    return output.with_name(output.name + PARTIAL)


def _previous_paths(output: Path) -> list[Path]:
    """Partial files of earlier interrupted runs, renamed aside by ``--resume`` (``OUTPUT.partial.prev*``)."""
    prefix = output.name + PREVIOUS
    return sorted(p for p in output.parent.iterdir() if p.name.startswith(prefix))


def _free_previous_path(output: Path) -> Path:
    """The first unused name of ``OUTPUT.partial.prev``, ``.prev2``, ... (a resumed run may be killed too)."""
    names = (f"{output.name}{PREVIOUS}{k if k > 1 else ''}" for k in itertools.count(1))
    return next(output.with_name(n) for n in names if not output.with_name(n).exists())


def _is_partial_name(path: Path) -> bool:
    return path.name.endswith(PARTIAL) or PREVIOUS in path.name


def _register_plugins() -> None:
    """Make hdf5plugin's filters (zstd, blosc2) readable when it is installed."""
    with contextlib.suppress(ImportError):
        import hdf5plugin  # noqa: F401


def _filters(compression: str | None) -> dict[str, Any]:
    """``create_dataset`` keywords for a compression name; plugin codecs need hdf5plugin."""
    if compression is not None and not isinstance(compression, str):  # e.g. `compression: 1` in YAML
        raise OutputError(f"compression: got {compression!r}, must be one of {', '.join(COMPRESSIONS)}")
    name = (compression or "none").lower()
    if name not in COMPRESSIONS:
        raise OutputError(f"compression: got {compression!r}, must be one of {', '.join(COMPRESSIONS)}")
    if name == "none":
        return {}
    if name == "lzf":
        return {"compression": "lzf"}
    if name == "gzip":
        return {"compression": "gzip", "compression_opts": 4}
    try:
        import hdf5plugin
    except ImportError:
        raise OutputError(f"compression {name!r} needs hdf5plugin: pip install hdf5plugin") from None
    if name == "zstd":
        return dict(hdf5plugin.Zstd(clevel=3))
    return dict(hdf5plugin.Blosc2(cname="zstd", clevel=5, filters=hdf5plugin.Blosc2.SHUFFLE))


_CODEC_NAMES = {h5py.h5z.FILTER_DEFLATE: "gzip", h5py.h5z.FILTER_LZF: "lzf", 32015: "zstd", 32026: "blosc2"}
_NOT_CODECS = {h5py.h5z.FILTER_SHUFFLE, h5py.h5z.FILTER_FLETCHER32, h5py.h5z.FILTER_SCALEOFFSET}


def _compression_name(dataset: h5py.Dataset) -> str | None:
    """The compression of ``dataset`` as ``compression=`` names it (plugin ids included), None if none."""
    plist = dataset.id.get_create_plist()
    codes = [plist.get_filter(i)[0] for i in range(plist.get_nfilters())]
    names = [_CODEC_NAMES.get(code, f"filter {code}") for code in codes if code not in _NOT_CODECS]
    return ",".join(names) or None


def _normalised_config(config: Any) -> dict[str, Any]:
    """The config as stored JSON reads back, so two runs' configs compare equal value for value."""
    return json.loads(json.dumps(dict(config), sort_keys=True, default=str))


_ABSENT = object()


def _first_difference(old: dict[str, Any], new: dict[str, Any]) -> str | None:
    """The first key (sorted) whose value differs between two configs, or None."""
    keys = sorted(old.keys() | new.keys())
    return next((k for k in keys if old.get(k, _ABSENT) != new.get(k, _ABSENT)), None)


def _show(value: Any) -> str:
    return "absent" if value is _ABSENT else json.dumps(value)


def _to_stored(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Cast to the stored dtype; finite values beyond its range (and infinities) clip to +-max, never inf.

    float16 tops out at 65504, below many ECG power values, so a plain cast would turn
    those into inf silently; clipping keeps them the largest float16 instead. NaN stays NaN.
    """
    if values.dtype.kind == "f" and values.dtype.itemsize > dtype.itemsize:
        limit = float(np.finfo(dtype).max)
        values = np.clip(values, -limit, limit)
    return np.ascontiguousarray(values, dtype=dtype)


def _read_column(dataset: h5py.Dataset, n: int) -> np.ndarray:
    """The first ``n`` values, strings decoded to ``str``."""
    if h5py.check_string_dtype(dataset.dtype):
        return dataset.asstr()[:n]
    return dataset[:n]


def _committed(file: h5py.File) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The complete records of ``file`` and their windows, ignoring an interrupted record's tail.

    Raises ValueError when the file holds fewer windows than its records claim (a damaged file).
    """
    stored = [k for k in RECORD_COLUMNS if k in file["records"]]
    n = min(file["records"][k].shape[0] for k in stored)
    records = {k: _read_column(file["records"][k], n) for k in stored}
    if "lead_fs" not in records:  # a file from before /records/lead_fs: every lead was read at /records/fs
        n_leads = json.loads(file.attrs["config"])["n_channels"]
        records["lead_fs"] = np.array([lead_fs_text([fs] * n_leads) for fs in records["fs"]], dtype=object)
    n_windows = int(records["n_windows"].sum())
    lengths = [file[p].shape[0] for p in ("windows/record", "windows/start", "spectrograms")]
    if min(lengths) < n_windows:
        raise ValueError(f"its records claim {n_windows} windows but it holds {min(lengths)}")
    windows = {k: file["windows"][k][:n_windows] for k in ("record", "start")}
    return records, windows


_LAYOUT = ("spectrograms", "windows/record", "windows/start", "records/name", "records/n_windows", "frequencies")


def _open_h5(path: Path) -> h5py.File:
    """``path`` read-only, with plugin codecs available and a chunk cache fit for random access."""
    _register_plugins()
    return h5py.File(path, "r", rdcc_nbytes=READ_CACHE_BYTES)


class _Source:
    """A previous output, read-only, whose complete records ``--resume`` copies instead of recomputing."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.file = _open_h5(path)
        try:
            self.config = json.loads(self.file.attrs["config"])
            self.records, self.windows = _committed(self.file)
            self.spectrograms = self.file["spectrograms"]
        except Exception:
            self.file.close()
            raise
        self.offsets = np.concatenate(([0], np.cumsum(self.records["n_windows"])))
        self.rows = {name: i for i, name in enumerate(self.records["name"])}

    def mismatch(self, config: dict[str, Any], window_shape: tuple[int, ...], dtype: np.dtype) -> str | None:
        """Why this source's values cannot be reused by a run with these settings, or None."""
        key = _first_difference(self.config, config)
        if key is not None:
            return f"field {key} was {_show(self.config.get(key, _ABSENT))}, now {_show(config.get(key, _ABSENT))}"
        if self.spectrograms.shape[1:] != window_shape:
            return f"window shape was {self.spectrograms.shape[1:]}, now {window_shape}"
        if self.spectrograms.dtype != dtype:
            return f"stored dtype was {self.spectrograms.dtype}, now {dtype}"
        return None

    def row(self, index: int) -> RecordRow:
        values = {k: self.records[k][index] for k in RECORD_COLUMNS}
        return RecordRow(**{k: v.item() if isinstance(v, np.generic) else v for k, v in values.items()})


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
        self._config = _normalised_config(attrs["config"])
        filters = _filters(compression)
        _check_folder(self.output)
        self._sources = self._take_over_leftovers(overwrite, resume)
        try:
            self._file = self._create(np.asarray(frequencies, dtype=np.float64), attrs, filters)
        except BaseException:
            self._close_sources()
            raise
        self._n_windows = 0
        self._n_committed_windows = 0
        self._n_records = 0
        self._tail_rows = np.empty(0, dtype=np.int64)  # /windows/record of the uncommitted windows
        self._queued: dict[str, list[dict[str, Any]]] = {}  # rows not yet appended (see _append)

    # -- setting up --------------------------------------------------------------------------

    def _take_over_leftovers(self, overwrite: bool, resume: bool) -> list[_Source]:
        """Refuse, discard or adopt what earlier runs left, per the flags; return the resume sources."""
        leftovers = [p for p in (self.partial, *_previous_paths(self.output)) if p.exists()]
        if overwrite:
            for p in leftovers:
                p.unlink()
            return []
        if not resume:
            if self.output.exists():
                raise OutputError(f"{self.output} exists; pass --overwrite to replace it or --resume to continue")
            if leftovers:
                raise OutputError(
                    f"{leftovers[0]} is left by an interrupted run; pass --resume to continue it"
                    " or --overwrite to discard it"
                )
            return []
        # check every source's config before moving anything, so a refused resume changes no file
        sources = self._open_sources([*_previous_paths(self.output), self.partial, self.output])
        if self.partial.exists():
            aside = _free_previous_path(self.output)
            self.partial.rename(aside)  # an open source keeps reading the renamed file
            for source in sources:
                if source.path == self.partial:
                    source.path = aside
        return sources

    def _open_sources(self, paths: Iterable[Path]) -> list[_Source]:
        """Open each existing path as a source; unreadable ones are skipped with a warning."""
        sources = []
        for path in paths:
            if not path.exists():
                continue
            try:
                sources.append(_Source(path))
            except (OSError, KeyError, ValueError, TypeError) as exc:
                self.warnings.append(f"ignoring {path}: unreadable ({exc}); its records are computed again")
        for source in sources:
            reason = source.mismatch(self._config, self.window_shape, self.dtype)
            if reason is not None:
                for s in sources:
                    s.file.close()
                raise OutputError(f"{source.path} was written with a different config: {reason}")
        return sources

    def _create(self, frequencies: np.ndarray, attrs: dict[str, Any], filters: dict[str, Any]) -> h5py.File:
        """The new partial file with every dataset empty and the attributes set (complete=False)."""
        try:
            file = h5py.File(self.partial, "w-", rdcc_nbytes=WRITE_CACHE_BYTES)
        except OSError as exc:
            raise OutputError(f"cannot create {self.partial}: {exc}") from exc
        try:
            self._lay_out(file, frequencies, attrs, filters)
        except BaseException:
            file.close()
            self.partial.unlink()
            raise
        return file

    def _lay_out(
        self, file: h5py.File, frequencies: np.ndarray, attrs: dict[str, Any], filters: dict[str, Any]
    ) -> None:
        per_chunk = max(1, CHUNK_BYTES // self._window_bytes)
        file.create_dataset(
            "spectrograms",
            shape=(0, *self.window_shape),
            maxshape=(None, *self.window_shape),
            chunks=(per_chunk, *self.window_shape),
            dtype=self.dtype,
            **filters,
        )
        columns = {"windows/record": np.int64, "windows/start": np.int64, "errors/name": _STR, "errors/message": _STR}
        columns.update({f"records/{k}": dtype for k, dtype in RECORD_COLUMNS.items()})
        for name, dtype in columns.items():
            file.create_dataset(name, shape=(0,), maxshape=(None,), chunks=(_COLUMN_CHUNK,), dtype=dtype)
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
    def windows_committed(self) -> int:
        """Windows of committed records in the new file, copied ones included."""
        return self._n_committed_windows

    @property
    def next_record_row(self) -> int:
        """The ``/records`` row the next committed record gets: its windows carry this in /windows/record."""
        return self._n_records

    def write_windows(self, records: np.ndarray, starts: np.ndarray, spectrograms: np.ndarray) -> None:
        """Append windows: their record rows (not yet committed), start samples and spectrograms.

        Windows of several records may share a call (in record order); each is one slice write.
        """
        records = np.asarray(records, dtype=np.int64)
        starts = np.asarray(starts, dtype=np.int64)
        values = _to_stored(np.asarray(spectrograms), self.dtype)
        n = len(values)
        if records.shape != (n,) or starts.shape != (n,) or values.shape[1:] != self.window_shape:
            raise ValueError(
                f"write_windows: got records {records.shape}, starts {starts.shape}, spectrograms {values.shape};"
                f" need (n,), (n,), (n, {', '.join(map(str, self.window_shape))})"
            )
        if n and records.min() < self._n_records:
            raise ValueError(f"write_windows: record row {records.min()} is already committed")
        end = self._n_windows + n
        for name, data in (("spectrograms", values), ("windows/record", records), ("windows/start", starts)):
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
        for name in ("spectrograms", "windows/record", "windows/start"):
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
            self.write_windows(records, source.windows["start"][lo:hi], source.spectrograms[lo:hi])
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
        self._close_sources()
        os.replace(self.partial, self.output)
        for path in _previous_paths(self.output):
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
            self._close_sources()

    def _close_sources(self) -> None:
        for source in self._sources:
            source.file.close()

    def __enter__(self) -> SpectrogramWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class SpectrogramFile(Dataset):
    """A finished output, read lazily; a ``torch`` Dataset of ``(spectrogram, record_name, start)``.

    Safe with ``DataLoader(num_workers > 0)``: it pickles as its path alone and each process
    opens its own HDF5 handle on first use (h5py handles must not cross a fork).
    Spectrograms keep the stored dtype (float32 or float16).
    """

    def __init__(self, path: str | os.PathLike[str], *, allow_partial: bool = False) -> None:
        self.path = Path(path)
        self.allow_partial = allow_partial
        self._file: h5py.File | None = None
        self._pid: int | None = None
        if not allow_partial and (_is_partial_name(self.path) or not self.complete):
            self.close()
            raise OutputError(
                f"{self.path} is unfinished (an interrupted run?); finish it with --resume,"
                " or open it with allow_partial=True to read its complete records"
            )

    def _h5(self) -> h5py.File:
        if self._file is None or self._pid != os.getpid():
            try:
                file = _open_h5(self.path)
            except OSError as exc:
                raise OutputError(f"cannot read {self.path}: {exc}") from exc
            missing = next((name for name in _LAYOUT if name not in file), None)
            if missing is not None or "config" not in file.attrs:
                file.close()
                raise OutputError(f"{self.path}: not an ecgspec output (no {missing or 'config attribute'})")
            self._file, self._pid = file, os.getpid()
        return self._file

    def __getstate__(self) -> dict[str, Any]:
        """Only the path travels: each process opens its own handle."""
        return {"path": self.path, "allow_partial": self.allow_partial, "_file": None, "_pid": None}

    # -- Dataset -----------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.windows["record"])

    def __getitem__(self, index: int) -> tuple[torch.Tensor, str, int]:
        i = operator.index(index)
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"window {index} out of range for {n} windows")
        i %= n
        values = self.spectrograms[i]
        name = self.records["name"][self.windows["record"][i]]
        return torch.from_numpy(values), str(name), int(self.windows["start"][i])

    # -- contents ----------------------------------------------------------------------------

    @property
    def spectrograms(self) -> h5py.Dataset:
        """The ``/spectrograms`` dataset, to slice without loading it all."""
        return self._h5()["spectrograms"]

    @cached_property
    def _tables(self) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        return _committed(self._h5())

    @property
    def records(self) -> dict[str, np.ndarray]:
        """The ``/records`` columns (complete records only), names decoded to ``str``."""
        return self._tables[0]

    @property
    def windows(self) -> dict[str, np.ndarray]:
        """``record`` and ``start`` of each window of a complete record."""
        return self._tables[1]

    @cached_property
    def errors(self) -> list[tuple[str, str]]:
        """``(name, message)`` of each skipped record."""
        group = self._h5()["errors"]
        n = min(group["name"].shape[0], group["message"].shape[0])
        return list(zip(_read_column(group["name"], n).tolist(), _read_column(group["message"], n).tolist()))

    @cached_property
    def frequencies(self) -> np.ndarray:
        """Bin centre frequencies in Hz."""
        return self._h5()["frequencies"][:]

    @cached_property
    def config(self) -> dict[str, Any]:
        """The effective config of the run that wrote the file."""
        return json.loads(self._h5().attrs["config"])

    @property
    def window_shape(self) -> tuple[int, ...]:
        return tuple(int(n) for n in self._h5().attrs["window_shape"])

    @property
    def n_fft(self) -> int:
        return int(self._h5().attrs["n_fft"])

    @property
    def win_length(self) -> int:
        return int(self._h5().attrs["win_length"])

    @property
    def hop_length(self) -> int:
        return int(self._h5().attrs["hop_length"])

    @property
    def ecgspec_version(self) -> str:
        return str(self._h5().attrs["ecgspec_version"])

    @property
    def complete(self) -> bool:
        """True only once the writer finished the file."""
        return bool(self._h5().attrs.get("complete", False))

    # -- lifetime ----------------------------------------------------------------------------

    def close(self) -> None:
        """Close this process's handle; a later access reopens it."""
        if self._file is not None and self._pid == os.getpid():
            self._file.close()
        self._file = None

    def __enter__(self) -> SpectrogramFile:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def open(path: str | os.PathLike[str], *, allow_partial: bool = False) -> SpectrogramFile:  # noqa: A001
    """Open a finished output (an unfinished one only with ``allow_partial=True``)."""
    return SpectrogramFile(path, allow_partial=allow_partial)


def describe(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A summary of an output (finished or not) for ``ecgspec info``."""
    with SpectrogramFile(path, allow_partial=True) as file:
        spectrograms = file.spectrograms
        return {
            "path": str(file.path),
            "complete": file.complete,
            "records": len(file.records["name"]),
            "windows": len(file),
            "errors": len(file.errors),
            "window_shape": list(file.window_shape),
            "dtype": str(spectrograms.dtype),
            "compression": _compression_name(spectrograms),
            "config": file.config,
            "size_bytes": file.path.stat().st_size,
            "ecgspec_version": file.ecgspec_version,
        }
