"""The writer's start on disk: what earlier runs left is refused, discarded or adopted, and a kept file reopened.

:mod:`ecgspec.store.leftovers` reads the leftovers without changing them; this module acts on them
(deletes them, or moves a finished OUTPUT back to ``OUTPUT.partial``) and reopens the kept
file for appending after its committed records, its strings staged (:mod:`ecgspec.store.staged`).
:class:`ecgspec.store.writer.SpectrogramWriter` calls it while it holds the writer lock
(:mod:`ecgspec.store.swmr`), so no live writer has these files open. Also how the writer opens
its files (:data:`LIBVER`, the chunk cache); no torch here.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any, Callable

import h5py
import numpy as np

from ..errors import one_line
from . import staged, tails
from .checksums import checksum_keywords, seal_strings
from .layout import COUNTER, RECORD_COLUMNS, STRING_COLUMNS, WINDOW_COLUMNS, committed, fsync_folder, legacy_paths, partial_path
from .leftovers import UNUSABLE, Kept, inspect_kept, refuse_leftovers
from .lowlevel import clear_status_flags
from .new_file import growing
from .schema import BITS_ATTR, COLUMN_CHUNK, LIBVER, SIGNAL_COLUMNS
from .signals import cut_after, signal_end

__all__ = ["WRITE_CACHE_BYTES", "open_for_writing", "reopen", "take_over_leftovers"]

WRITE_CACHE_BYTES = 64 << 20  # keeps partly filled chunks of small windows in memory between appends

Settings = tuple[dict[str, Any], tuple[int, ...], np.dtype]  # a run's config, window shape and stored dtype


def open_for_writing(path: Path, mode: str) -> h5py.File:
    """``path`` opened as the writer writes it: the 1.10 format, a chunk cache of WRITE_CACHE_BYTES."""
    return h5py.File(path, mode, libver=LIBVER, rdcc_nbytes=WRITE_CACHE_BYTES)


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
    the kept records dropped, ``/errors`` emptied (the run lists its errors again), the strings of
    the rows to come staged, the kept rows' tails recorded (a last chunk a kill tore healed first:
    :mod:`.tails`), SWMR on."""
    clear_status_flags(partial)  # safe: we hold the lock, so no live writer has it open
    file = open_for_writing(partial, "a")
    try:
        tails.heal(file)  # a last chunk torn by a kill, its committed rows intact: written anew before it is cut
        _add_missing_columns(file, kept, frames)
        for name in ("spectrograms", *(f"windows/{k}" for k in WINDOW_COLUMNS)):
            if name in file:  # a signals file has no /spectrograms
                file[name].resize(kept.windows, axis=0)
        if "signals" in file:
            cut_after(file, signal_end(file, kept.records))
        for key in (*RECORD_COLUMNS, *SIGNAL_COLUMNS):
            if key not in STRING_COLUMNS["records"] and key in file["records"]:
                file["records"][key].resize(kept.records, axis=0)
        for table, n in (("records", kept.records), ("errors", 0)):
            staged.stage(file, table, STRING_COLUMNS[table], n)
        file.attrs["complete"] = False
        seal_strings(file)  # the kept rows' CRCs, where a finished file's covered more
        tails.create(file, growing(file))
        tails.record(file, (kept.records, kept.windows, 0), signal_end(file, kept.records) if "signals" in file else 0)
        file[COUNTER][:] = (kept.records, kept.windows, 0)
        file.swmr_mode = True
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
            file[group].create_dataset(key, data=values, maxshape=(None, *wide), chunks=(COLUMN_CHUNK, *wide),
                                      **checksum_keywords(dtype))
    if "bits" not in file["windows/qc"].attrs:
        file["windows/qc"].attrs["bits"] = BITS_ATTR
    for name, values in frames.items():
        if f"frames/{name}" not in file:
            file.create_dataset(f"frames/{name}", data=values, **checksum_keywords(values.dtype))
