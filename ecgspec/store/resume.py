"""The writer's start on disk: what earlier runs left is refused, discarded or adopted, and a kept file reopened.

:mod:`ecgspec.store.leftovers` reads the leftovers without changing them; this module acts on them
(deletes them, or moves a finished OUTPUT back to ``OUTPUT.partial``) and reopens the kept
file for appending after its committed records. :class:`ecgspec.store.writer.SpectrogramWriter`
calls it while it holds the writer lock (:mod:`ecgspec.store.swmr`), so no live writer has these
files open. Also how the writer opens its files (:data:`LIBVER`, the chunk cache); no torch here.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any, Callable

import h5py
import numpy as np

from ..errors import one_line
from .layout import COUNTER, ERROR_COLUMNS, RECORD_COLUMNS, WINDOW_COLUMNS, committed, fsync_folder, legacy_paths, partial_path
from .leftovers import UNUSABLE, Kept, inspect_kept, refuse_leftovers
from .schema import BITS_ATTR, COLUMN_CHUNK, LIBVER, SIGNAL_COLUMNS
from .signals import cut_after, signal_end
from .swmr import clear_status_flags

__all__ = ["WRITE_CACHE_BYTES", "open_for_writing", "reopen", "seal_heaps", "take_over_leftovers"]

WRITE_CACHE_BYTES = 64 << 20  # keeps partly filled chunks of small windows in memory between appends

Settings = tuple[dict[str, Any], tuple[int, ...], np.dtype]  # a run's config, window shape and stored dtype


def open_for_writing(path: Path, mode: str) -> h5py.File:
    """``path`` opened as the writer writes it: the 1.10 format, a chunk cache of WRITE_CACHE_BYTES."""
    return h5py.File(path, mode, libver=LIBVER, rdcc_nbytes=WRITE_CACHE_BYTES)


def seal_heaps(file: h5py.File) -> None:
    """Make HDF5 put the strings written from now on into new global-heap collections; call after a flush.

    A variable-length string lives in a global-heap collection (4 KiB or more, no checksum)
    and HDF5 adds new strings to any collection it holds in memory that has room. Such a
    collection, holding strings of committed rows, was rewritten whole at the next flush; a
    process killed inside that multi-page write left it torn, and HDF5 loops forever
    parsing a torn collection (zeros where an object header should be). HDF5 only fills
    collections it holds in its metadata cache, so evicting the (clean, just flushed) cache
    here leaves every committed collection as it is on disk, never written again: a torn
    write can only reach the strings of rows not yet committed. The cache is shrunk to its
    minimum for one access, then given back its size.
    """
    fid = file.id
    config = fid.get_mdc_config()
    size = fid.get_mdc_size()[0]  # the cache's current maximum, given back below
    config.set_initial_size, config.initial_size = True, _MDC_MIN
    config.min_size, config.max_size = _MDC_MIN, _MDC_MIN
    keep = fid.get_mdc_config()
    fid.set_mdc_config(config)
    try:
        file[COUNTER][:1]  # an access: the cache makes room for it, evicting every clean entry it can
    finally:
        keep.set_initial_size, keep.initial_size = True, max(size, keep.min_size)
        fid.set_mdc_config(keep)


_MDC_MIN = 1024  # HDF5's smallest metadata cache


def take_over_leftovers(
    output: Path, *, overwrite: bool, resume: bool, settings: Settings, durable: bool, warn: Callable[[str], None]
) -> Kept | None:
    """Refuse, discard or adopt what earlier runs left beside ``output``, per the flags; what a resume keeps, or None.

    Without ``resume`` leftovers are refused (or, with ``overwrite``, deleted). A resume
    inspects its candidates read-only first, so a refused one changes no file; ``warn`` is
    told of each file it ignores.
    """
    partial, legacy = partial_path(output), legacy_paths(output)
    if overwrite or not resume:
        if not overwrite:
            refuse_leftovers(output, [p for p in (partial, *legacy) if p.exists()])
        for p in (partial, *legacy):
            p.unlink(missing_ok=True)
        return None
    if partial.exists():  # its writer is dead (we hold the lock): what it left set goes
        with contextlib.suppress(OSError, ValueError):  # (not HDF5 v2/v3: inspecting says why)
            clear_status_flags(partial)  # a kill while reopening it left no SWMR flag to read by
    found = _first_resumable((partial, output), settings, warn)
    for p in legacy:
        warn(f"ignoring {p}: left by an older ecgspec; its records are computed again")
        p.unlink()
    if partial not in found:
        partial.unlink(missing_ok=True)
    if not found:
        return None
    if output in found:
        os.replace(output, partial)  # OUTPUT is complete or absent, never in between
        if durable:
            fsync_folder(output.parent)
    return next(iter(found.values()))


def _first_resumable(paths: tuple[Path, ...], settings: Settings, warn: Callable[[str], None]) -> dict[Path, Kept]:
    """The first of ``paths`` that a resume can continue, with what it keeps (empty: none); unreadable ones
    are warned of and passed over, a config mismatch raises (:func:`~ecgspec.store.leftovers.inspect_kept`)."""
    for path in paths:
        if path.exists():
            try:
                return {path: inspect_kept(path, settings)}
            except UNUSABLE as exc:
                what = getattr(exc, "reason", None) or one_line(exc)
                warn(f"ignoring {path}: unreadable ({what}); its records are computed again")
    return {}


def reopen(partial: Path, kept: Kept, frames: dict[str, np.ndarray]) -> h5py.File:
    """Open the partial file for writing: status flags of a dead writer cleared, the tail after
    the kept records dropped, ``/errors`` emptied (the run lists its errors again), SWMR on."""
    clear_status_flags(partial)  # safe: we hold the lock, so no live writer has it open
    file = open_for_writing(partial, "a")
    try:
        _add_missing_columns(file, kept, frames)
        for name in ("spectrograms", *(f"windows/{k}" for k in WINDOW_COLUMNS)):
            if name in file:  # a signals file has no /spectrograms
                file[name].resize(kept.windows, axis=0)
        if "signals" in file:
            cut_after(file, signal_end(file, kept.records))
        for group, columns, n in (("records", {**RECORD_COLUMNS, **SIGNAL_COLUMNS}, kept.records),
                                  ("errors", ERROR_COLUMNS, 0)):
            for key in columns:
                if key in file[group]:
                    _shrink(file[group][key], n)
        file.attrs["complete"] = False
        file[COUNTER][:] = (kept.records, kept.windows, 0)
        file.swmr_mode = True
        seal_heaps(file)
    except BaseException:
        file.close()
        raise
    return file


def _add_missing_columns(file: h5py.File, kept: Kept, frames: dict[str, np.ndarray]) -> None:
    """Datasets added to the layout since the file was written (``/records/lead_fs``, the quality
    columns, ``/windows/qc``, ``/frames``), filled for the kept rows as
    :func:`~ecgspec.store.layout.committed` reads them back; SWMR allows none later."""
    columns = [("records", k) for k in RECORD_COLUMNS if k not in file["records"]]
    columns += [("windows", k) for k in WINDOW_COLUMNS if k not in file["windows"]]
    if columns:
        tables = dict(zip(("records", "windows"), committed(file, (kept.records, kept.windows, 0))))
        for group, key in columns:
            dtype = (RECORD_COLUMNS if group == "records" else WINDOW_COLUMNS)[key]
            values = np.asarray(tables[group][key], dtype=dtype)
            wide = values.shape[1:]  # the lead masks: (n_records, n_leads)
            file[group].create_dataset(key, data=values, maxshape=(None, *wide), chunks=(COLUMN_CHUNK, *wide))
    if "bits" not in file["windows/qc"].attrs:
        file["windows/qc"].attrs["bits"] = BITS_ATTR
    for name, values in frames.items():
        if f"frames/{name}" not in file:
            file.create_dataset(f"frames/{name}", data=values)


def _shrink(dataset: h5py.Dataset, n: int) -> None:
    """Cut ``dataset`` to ``n`` rows; a string column's last chunk is rewritten as raw bytes, its cells past ``n``
    zeroed (empty).

    A killed writer may leave string cells past the end whose global-heap objects never
    reached the file, or sit in a torn collection (raw chunks are flushed before metadata).
    HDF5 frees the old object of a cell it overwrites, reading its collection, and fails, or
    loops on a torn one. Writing the kept cells back as raw bytes keeps them pointing at their
    own objects (no string is copied into a collection a later flush could tear) and leaves
    the cells after them empty.
    """
    edge = n - n % dataset.chunks[0]
    if not h5py.check_string_dtype(dataset.dtype) or edge == n:
        dataset.resize(n, axis=0)
        return
    _, raw = dataset.id.read_direct_chunk((edge,))
    cell = len(raw) // dataset.chunks[0]  # a cell's bytes on disk: length, collection address, object index
    kept = bytes(raw[: (n - edge) * cell])
    dataset.resize(edge, axis=0)
    dataset.resize(n, axis=0)
    dataset.id.write_direct_chunk((edge,), kept + bytes(len(raw) - len(kept)))
