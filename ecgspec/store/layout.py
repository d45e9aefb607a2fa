"""The HDF5 layout that :mod:`ecgspec.store.writer` and :mod:`ecgspec.store.reader` share; no torch here.

Layout (a contract with the pipeline and the readers)::

    /spectrograms        (n_windows, *window_shape) float32|float16, chunked by whole windows
    /windows/record      (n_windows,) int64    row in /records the window came from
    /windows/start       (n_windows,) int64    first sample of the window at the config fs
    /windows/qc          (n_windows,) uint8    quality flags (ecgspec.signal.quality), attrs["bits"] JSON
    /records/<field>     (n_records,)          one column per :class:`RecordRow` field
    /records/meta/<key>, /records/labels/<column> (n_records,)  header fields, joined labels
                                               (written at finish: :mod:`ecgspec.store.record_groups`)
    /errors/name, /errors/message (n_errors,) str   records skipped and why
    /frequencies         (n_bins,) float64     bin centre frequencies
    /frames/time, /frames/edge (n_frames,)     each output frame's centre (s), whether padding shapes it
    attrs: config (JSON), window_shape, n_fft, win_length, hop_length, ecgspec_version, complete

    /committed           (3,) int64            records, windows and errors written and flushed so far

Crash safety: a run writes ``OUTPUT.partial`` in HDF5's SWMR mode and only the writer's
``finish`` renames it over OUTPUT, so OUTPUT is always absent, the old file or the finished
new one. A record's windows are written before its ``/records`` row; at each commit point
the writer flushes everything, then writes ``/committed``. The committed records of an
unfinished file are the first ``/committed[0]`` rows and their windows the first
``/committed[1]`` (:func:`committed`); what follows them is dropped by ``--resume``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import time
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from ..errors import OutputError
from . import staged, tails
from .lowlevel import filters, finishing_elsewhere, open_for_write_elsewhere, open_uncached
from .schema import (  # re-exported here
    CODECS,
    COLUMN_CHUNK,
    COMPRESSIONS,
    COUNTER,
    GZIP_LEVEL,
    HDF5_CHUNK_BYTES,
    LEGACY,
    LOCK,
    PARTIAL,
    REQUIRED,
    SIGNAL_COLUMNS,
    STORE_DTYPES,
    RecordRow,
    lead_fs_text,
    normalised_config,
)
from .swmr import writer_alive

__all__ = [
    "COMPRESSIONS",
    "ERROR_COLUMNS",
    "FRAME_COLUMNS",
    "RECORD_COLUMNS",
    "MASK_COLUMNS",
    "REQUIRED",
    "STORE_DTYPES",
    "WINDOW_COLUMNS",
    "OutputError",
    "RecordRow",
    "clip_to_stored",
    "expected_output_bytes",
    "committed",
    "compression_filters",
    "compression_name",
    "config_difference",
    "normalised_config",
    "open_for_reading",
    "partial_path",
]

LOCK_WAIT = 5.0  # seconds a reader waits for a writer's HDF5 file lock
READ_CACHE_BYTES = 16 << 20  # holds several chunks, so random access does not re-read them
STR = h5py.string_dtype("utf-8")


_COLUMN_DTYPES = {"str": STR, "float": np.float64, "int": np.int64, "tuple": np.bool_}
RECORD_COLUMNS: dict[str, Any] = {f.name: _COLUMN_DTYPES[f.type] for f in dataclasses.fields(RecordRow)}
MASK_COLUMNS = tuple(f.name for f in dataclasses.fields(RecordRow) if f.type == "tuple")  # (n_records, n_leads)
WINDOW_COLUMNS: dict[str, Any] = {"record": np.int64, "start": np.int64, "qc": np.uint8}  # /windows/<name>
FRAME_COLUMNS: dict[str, Any] = {"time": np.float64, "edge": np.bool_}  # /frames/<name>, one per output frame
# What a file written before a column reads as (committed()): unknown shares are NaN.
_RECORD_FILL: dict[str, Any] = {"filled_share": np.nan, "flat_leads": "", "clipped_share": np.nan, "comments": "",
                                 "start_time": "", "fields": ""}
ERROR_COLUMNS: dict[str, Any] = {"name": STR, "message": STR}
# the string columns of each table: a partial file stages their values (ecgspec.store.staged)
STRING_COLUMNS = {table: tuple(k for k, dtype in columns.items() if dtype is STR)
                  for table, columns in (("records", RECORD_COLUMNS), ("errors", ERROR_COLUMNS))}


# -- file naming -------------------------------------------------------------------------------


def partial_path(output: str | os.PathLike[str]) -> Path:
    """``OUTPUT.partial``: where a run writes until it finishes."""
    output = Path(output)
    return output.with_name(output.name + PARTIAL)


def lock_path(output: Path) -> Path:
    """``OUTPUT.partial.lock``: the writer's lock file (:class:`ecgspec.store.swmr.WriterLock`)."""
    return output.with_name(output.name + LOCK)


def _lock_of(path: Path) -> Path:
    """The writer lock of the output that ``path`` is, or is the partial file of."""
    name = path.name[: -len(PARTIAL)] if path.name.endswith(PARTIAL) else path.name
    return lock_path(path.with_name(name))


def legacy_paths(output: Path) -> list[Path]:
    """``OUTPUT.partial.prev*`` files left by ``--resume`` of ecgspec before 0.2."""
    prefix = output.name + LEGACY
    return sorted(p for p in output.parent.iterdir() if p.name.startswith(prefix))


def is_partial_name(path: Path) -> bool:
    """Whether ``path`` is named as an unfinished output (``.partial``, or an old ``.partial.prev*``)."""
    return path.name.endswith(PARTIAL) or LEGACY in path.name


def fsync_folder(folder: Path) -> None:
    """Make a rename or unlink in ``folder`` durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def missing_sources(dataset: h5py.Dataset, folder: Path) -> list[str]:
    """The source files of a virtual dataset that are not there (relative to ``folder``, the file's own)."""
    if not dataset.is_virtual:
        return []
    names = {source.file_name for source in dataset.virtual_sources()}
    return sorted(n for n in names if n != "." and not (folder / n).is_file())


# -- compression -------------------------------------------------------------------------------


def register_plugins() -> None:
    """Make hdf5plugin's filters (zstd, blosc2) readable when it is installed."""
    with contextlib.suppress(ImportError):
        import hdf5plugin  # noqa: F401


def compression_filters(compression: str | None) -> dict[str, Any]:
    """``create_dataset`` keywords for a compression name; plugin codecs need hdf5plugin."""
    name = compression.lower() if isinstance(compression, str) else "none" if compression is None else compression
    if name not in COMPRESSIONS:  # also e.g. `compression: 1` in YAML
        raise OutputError(f"compression: got {compression!r}, must be one of {', '.join(COMPRESSIONS)}")
    if name == "none":
        return {}
    if name == "lzf":
        return {"compression": "lzf"}
    if name == "gzip":
        return {"compression": "gzip", "compression_opts": GZIP_LEVEL}
    try:
        import hdf5plugin
    except ImportError:
        raise OutputError(f"compression {name!r} needs hdf5plugin: pip install hdf5plugin") from None
    if name == "zstd":
        return dict(hdf5plugin.Zstd(clevel=3))
    return dict(hdf5plugin.Blosc2(cname="zstd", clevel=5, filters=hdf5plugin.Blosc2.SHUFFLE))


_CODEC_NAMES = {code: name for name, code in CODECS.items() if code is not None}
_NOT_CODECS = {h5py.h5z.FILTER_SHUFFLE, h5py.h5z.FILTER_FLETCHER32, h5py.h5z.FILTER_SCALEOFFSET}


def compression_name(dataset: h5py.Dataset) -> str | None:
    """The compression of ``dataset`` as ``compression=`` names it (plugin ids included), None if none."""
    codes = [code for code, _, _ in filters(dataset)]
    names = [_CODEC_NAMES.get(code, f"filter {code}") for code in codes if code not in _NOT_CODECS]
    return ",".join(names) or None


# -- size -------------------------------------------------------------------------------------

# HDF5's own structures beyond the datasets' chunks, fitted on real outputs (h5py 3, libver
# earliest): superblock, object headers and attributes; the global heap holding the strings
# (its first collections once any record is written, then each record's strings); each chunk's
# entry in its dataset's B-tree.
FILE_OVERHEAD_BYTES = 20 << 10
RECORDS_HEAP_BYTES = 24 << 10
RECORD_HEAP_BYTES = 200
ERROR_HEAP_BYTES = 100
CHUNK_INDEX_BYTES = 72
VLEN_BYTES = 16  # a variable-length string's slot in its dataset (length + heap id)


def _chunked_bytes(n: int, per_chunk: int, item_bytes: int) -> int:
    """Bytes an uncompressed chunked dataset of ``n`` items takes: whole chunks only."""
    return -(-n // per_chunk) * per_chunk * item_bytes


def expected_output_bytes(
    n_windows: int, window_shape: tuple[int, ...], dtype: str, n_records: int, n_errors: int = 0,
    signals: tuple[int, int, int] | None = None,
) -> int:
    """The size of an uncompressed output holding these windows, records and errors: every
    dataset's allocated chunks exactly (HDF5 allocates whole chunks), plus the file's own
    structures (within a few KB on real outputs). The one estimate of an output's size,
    for ``extract --dry-run`` and the free-space check. ``signals``: a ``--store signals`` file's
    ``/signals`` in place of the spectrograms, as (samples, leads, samples a chunk)."""
    if signals is not None:
        samples, leads, per_chunk = signals
        item, n_items = leads * np.dtype(dtype).itemsize, samples
    else:
        item = math.prod(window_shape) * np.dtype(dtype).itemsize
        per_chunk, n_items = max(1, HDF5_CHUNK_BYTES // item), n_windows
    total = _chunked_bytes(n_items, per_chunk, item) + -(-n_items // per_chunk) * CHUNK_INDEX_BYTES
    for n, columns in ((n_windows, WINDOW_COLUMNS), (n_records, RECORD_COLUMNS), (n_errors, ERROR_COLUMNS)):
        for column_dtype in columns.values():
            item = VLEN_BYTES if h5py.check_string_dtype(np.dtype(column_dtype)) else np.dtype(column_dtype).itemsize
            total += _chunked_bytes(n, COLUMN_CHUNK, item)
    heap = (RECORDS_HEAP_BYTES if n_records else 0) + n_records * RECORD_HEAP_BYTES + n_errors * ERROR_HEAP_BYTES
    return total + FILE_OVERHEAD_BYTES + heap


# -- the config attribute ----------------------------------------------------------------------


_ABSENT = object()


def _show(value: Any) -> str:
    return "absent" if value is _ABSENT else json.dumps(value)


def config_difference(old: dict[str, Any], new: dict[str, Any]) -> str | None:
    """``field KEY was OLD, now NEW`` for the first key (sorted) whose value differs, or None if none does."""
    keys = sorted(old.keys() | new.keys())
    key = next((k for k in keys if old.get(k, _ABSENT) != new.get(k, _ABSENT)), None)
    if key is None:
        return None
    return f"field {key} was {_show(old.get(key, _ABSENT))}, now {_show(new.get(key, _ABSENT))}"


# -- values ------------------------------------------------------------------------------------


def clip_to_stored(values: Any, dtype: Any) -> Any:
    """``values`` made safe to store as ``dtype``: values beyond its finite range (and infinities) clip to +-max.

    float16 tops out at 65504, below many ECG power values, so a plain cast would turn
    those into inf silently; clipping keeps them the largest float16 instead. NaN stays NaN.
    This is the one place where that happens. A NumPy array comes back as a contiguous array
    of ``dtype``; a torch tensor is clamped in place and returned in its own dtype, for the
    caller to copy into its buffer of the stored dtype (so this module needs no torch).
    ``dtype`` is a NumPy dtype, its name, or a torch dtype.
    """
    target = np.dtype(str(dtype).removeprefix("torch.") if type(dtype).__module__ == "torch" else dtype)
    limit = float(np.finfo(target).max)
    if isinstance(values, np.ndarray):
        if values.dtype.kind == "f" and values.dtype.itemsize > target.itemsize:
            values = np.clip(values, -limit, limit)
        return np.ascontiguousarray(values, dtype=target)
    if values.is_floating_point() and values.element_size() > target.itemsize:
        values.clamp_(-limit, limit)
    return values


# -- reading -----------------------------------------------------------------------------------


def open_for_reading(path: Path) -> h5py.File:
    """``path`` read-only, with plugin codecs available and a chunk cache fit for random access.

    A file a writer has open (or one whose writer was killed) only opens in SWMR read mode;
    that handle's datasets must be refreshed to see the writer's progress (:func:`committed`).
    While a writer lays a file out it holds HDF5's file lock for a few milliseconds, and while
    it finishes one (:mod:`ecgspec.store.finishing`) it has the file open
    without SWMR: opening waits for either, up to ``LOCK_WAIT`` seconds, while that writer lives (one
    killed there left the file so: only ``--resume`` opens it).
    """
    register_plugins()
    deadline = time.monotonic() + LOCK_WAIT
    while True:
        try:
            try:
                return h5py.File(path, "r", rdcc_nbytes=READ_CACHE_BYTES)
            except OSError as exc:
                if not open_for_write_elsewhere(exc):
                    raise
            return h5py.File(path, "r", swmr=True, rdcc_nbytes=READ_CACHE_BYTES)
        except OSError as exc:
            if not finishing_elsewhere(exc) or time.monotonic() > deadline or not writer_alive(_lock_of(path)):
                raise
            time.sleep(0.02)


def uncached_if_raw(file: h5py.File, name: str) -> h5py.Dataset:
    """Dataset ``name`` of ``file`` without a chunk cache when it is stored uncompressed (Fletcher32 alone
    or no filter): HDF5 then reads a selection straight from the file into the caller's array (an
    unfiltered one) or checks each chunk it reads once, where the file's cache (``READ_CACHE_BYTES``)
    would copy each whole chunk through itself first (1.5x the time of a batch of 64 windows). A
    compressed dataset keeps the file's cache, which saves decompressing a chunk again for each of
    its windows. The setting holds for the file's other openings of the dataset while this one is
    open (HDF5 shares the object)."""
    dataset = file[name]
    return dataset if compression_name(dataset) else open_uncached(dataset)


def _refreshed(file: h5py.File, name: str) -> h5py.Dataset:
    dataset = file[name]
    if file.swmr_mode:
        dataset.refresh()
    return dataset


def committed_counts(file: h5py.File) -> tuple[int, int, int]:
    """(records, windows, errors) flushed at the writer's last commit point; rows beyond may be torn.

    Files without ``/committed`` (ecgspec before 0.2) count their columns' shortest length.
    """
    if COUNTER in file:
        return tuple(int(v) for v in _refreshed(file, COUNTER)[:3])  # type: ignore[return-value]
    records = min(file["records"][k].shape[0] for k in RECORD_COLUMNS if k in file["records"])
    windows = min(file["windows"][k].shape[0] for k in WINDOW_COLUMNS)
    errors = min(file["errors"][k].shape[0] for k in ERROR_COLUMNS)
    return records, windows, errors


def committed(
    file: h5py.File, counts: tuple[int, int, int] | None = None
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The complete records of ``file`` (``/records`` columns) and their windows (``/windows`` columns).

    The records counted by ``/committed``, cut further to the longest prefix whose windows
    every dataset holds: a reader of a running output may see the datasets grow in any
    order, so a shorter dataset means "not yet", never an error. ``counts``: the
    :func:`committed_counts` read before (through another handle; see the reader).
    """
    n, _, _ = counts or committed_counts(file)
    stored = [k for k in (*RECORD_COLUMNS, *SIGNAL_COLUMNS) if k in file["records"]]
    numbers = [k for k in stored if k not in STRING_COLUMNS["records"]]
    n = min([n] + [_refreshed(file, f"records/{k}").shape[0] for k in numbers])
    texts = staged.read(file, "records", n, STRING_COLUMNS["records"])  # the public datasets' rows, then the staged
    n = min(n, len(texts["name"]))
    stored_windows = [k for k in WINDOW_COLUMNS if k in file["windows"]]
    lengths = [_refreshed(file, f"windows/{k}").shape[0] for k in stored_windows]
    held = min(lengths + [_refreshed(file, name).shape[0] for name in ("spectrograms",) if name in file])
    per_record = tails.read(file["records"]["n_windows"], 0, n)  # (a torn flush: .tails)
    n = int(np.searchsorted(np.cumsum(per_record), held, side="right")) if n else 0
    records = {k: texts[k][:n] if k in texts else tails.read(file["records"][k], 0, n) for k in stored}
    n_windows = int(records["n_windows"].sum())
    windows = {k: tails.read(file["windows"][k], 0, n_windows) for k in stored_windows}
    return upgraded(file, records, windows)


def upgraded(file: h5py.File, records: dict[str, np.ndarray],
             windows: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The committed columns of ``file`` with what a file of an older layout lacks filled in as this
    layout means it: the one place older files are read as today's (``layout_version`` says which
    layout a file has; files written before it have none and are filled column by column)."""
    n, n_windows = len(records["name"]), int(records["n_windows"].sum())
    n_leads = json.loads(file.attrs["config"])["n_channels"]
    if "lead_fs" not in records:  # before /records/lead_fs: every lead was read at /records/fs
        records["lead_fs"] = np.array([lead_fs_text([fs] * n_leads) for fs in records["fs"]], dtype=object)
    for key, value in _RECORD_FILL.items():  # before the quality columns and the header fields
        if key not in records:
            records[key] = np.full(n, value, dtype=object if isinstance(value, str) else np.float64)
    for key in MASK_COLUMNS:  # before the lead masks: every lead read, none derived
        if key not in records:
            records[key] = np.full((n, n_leads), key == "lead_mask", dtype=bool)
    for key, dtype in WINDOW_COLUMNS.items():  # before /windows/qc: 0 (not checked)
        if key not in windows:
            windows[key] = np.zeros(n_windows, dtype)
    return records, windows
