"""What earlier runs left beside an output, read without changing it: what ``--resume`` keeps, and refusals.

:class:`ecgspec.store.writer.SpectrogramWriter` decides with these what to do with ``OUTPUT`` and
``OUTPUT.partial``; :func:`resumable_names` lets a caller know what a resume will skip before
it starts (the free-space check counts only the rest).
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from .layout import COUNTER, OutputError, committed, committed_counts, config_difference, open_for_reading, partial_path
from .lowlevel import superblock_version
from .probe import Unanswered, probe
from .verify import damaged_records, record_names, scan

__all__ = ["UNUSABLE", "Kept", "check_folder", "inspect_kept", "refuse_leftovers", "resumable_names"]


@dataclasses.dataclass(frozen=True)
class Kept:
    """What an earlier run's file holds that ``--resume`` keeps: its committed records."""

    names: frozenset[str]
    records: int
    windows: int
    repaired: tuple[str, ...] = ()  # committed records whose rows failed their checksum: computed again

    def repair_warnings(self, path: Path) -> list[str]:
        """The warning naming the records a resume computes again for their damage (none if none)."""
        if not self.repaired:
            return []
        names = ", ".join(self.repaired[:5]) + (" ..." if len(self.repaired) > 5 else "")
        return [f"{path}: {len(self.repaired)} records failed their checksum (damaged: {names});"
                " they and the records after them are computed again"]


def _mismatch(file: h5py.File, config: dict[str, Any], window_shape: tuple[int, ...], dtype: np.dtype) -> str | None:
    """Why ``file``'s values cannot be continued by a run with these settings, or None."""
    difference = config_difference(json.loads(file.attrs["config"]), config)
    if difference is not None:
        return difference
    values = file["spectrograms"] if "spectrograms" in file else file["signals"]  # the config says which
    shape = tuple(int(n) for n in file.attrs["window_shape"]) if "signals" in file else values.shape[1:]
    if shape != window_shape:
        return f"window shape was {shape}, now {window_shape}"
    if values.dtype != dtype:
        return f"stored dtype was {values.dtype}, now {dtype}"
    return None


def inspect_kept(path: Path, settings: tuple[dict[str, Any], tuple[int, ...], np.dtype] | None = None,
                 values: bool = True) -> Kept:
    """Read ``path`` (without changing it) for what a resume keeps; ``settings`` (config, window shape,
    dtype) must match the file's, else OutputError. Any other exception means the file cannot be resumed:
    not HDF5, written by ecgspec before 0.2 (no SWMR superblock, no /committed), or damaged (among it
    :class:`~ecgspec.errors.Unanswered`: a child process reading it first did not finish in time).

    Every block of a partial file's committed values is checked (:mod:`ecgspec.store.verify`): the kept
    records end before the first one whose rows fail their checksum; it and those after are computed
    again. Of a finished file (records added to it), only the last block of each dataset, which
    appending rewrites: reading back a whole finished file would cost about as much as writing it
    (0.8x a fresh run of the seed config), every reader checks the rest, and ``ecgspec verify`` all.
    ``values=False`` leaves the spectrograms' values unchecked (what the free-space check asks).
    """
    version = superblock_version(path)
    if version != 3:
        raise ValueError("not an HDF5 file" if version is None else "written by an older ecgspec")
    probe(path, _kept_tables)  # HDF5 may loop forever on a damaged file: a child reads it first, with a deadline
    with open_for_reading(path) as file:
        reason = _mismatch(file, *settings) if settings else None
        kept = _kept(file, spectrograms=values) if reason is None else None
    if reason is not None:
        raise OutputError(f"{path} was written with a different config: {reason}")
    return kept


def _kept_tables(path: Path) -> None:
    """What the probe's child reads: all :func:`inspect_kept` reads but the spectrograms' values (raw chunks,
    which HDF5 reads without looping, and the file's bulk)."""
    with open_for_reading(path) as file:
        _kept(file, spectrograms=False)


def _rewritten(name: str) -> bool:
    """Datasets a resume does not keep: ``/errors`` (listed again) and those finishing writes anew."""
    return name.startswith(("errors/", "staged/errors/", "staged/tails", "records/labels/", "records/targets"))


def _kept(file: h5py.File, spectrograms: bool) -> Kept:
    """What a resume keeps of ``file``: its committed records before the first damaged one."""
    if COUNTER not in file:
        raise KeyError("no /committed")
    counts = committed_counts(file)
    finished = bool(file.attrs.get("complete", False))  # a finished file: only the blocks appending rewrites
    damage, _ = scan(file, counts, skip=lambda name: _rewritten(name) or (not spectrograms and name == "spectrograms"),
                     tail=finished)
    rows, other = damaged_records(file, damage, counts[0])
    if other:
        raise ValueError(f"{other[0].text()} fail their checksum")
    first = int(rows[0]) if len(rows) else counts[0]
    records, windows = committed(file, (first, *counts[1:]))
    owners = np.repeat(np.arange(len(records["name"])), records["n_windows"])
    file.visititems(_visited)  # every object's header and group heaps: damage a resume would carry on
    if not np.array_equal(windows["record"], owners):
        raise ValueError("/windows/record does not follow /records/n_windows")
    return Kept(frozenset(records["name"].tolist()), len(records["name"]), len(owners),
                tuple(record_names(file, rows.tolist())))


def _visited(name: str, obj: object) -> None:
    """Nothing: visiting an object reads its metadata (HDF5 checks it), which is the point."""


UNUSABLE = (Unanswered, OSError, KeyError, ValueError, TypeError, RuntimeError)  # what inspecting a damaged file raises


def resumable_names(output: str | os.PathLike[str]) -> frozenset[str]:
    """Names of the records ``--resume`` would keep (from ``OUTPUT.partial``, else OUTPUT); changes nothing."""
    output = Path(output)
    for path in (partial_path(output), output):
        if path.exists():
            try:
                return inspect_kept(path, values=False).names
            except UNUSABLE:
                continue
    return frozenset()


def refuse_leftovers(output: Path, leftovers: list[Path]) -> None:
    """Without --overwrite or --resume, an existing output or partial file is an error."""
    if output.exists():
        raise OutputError(f"{output} exists; pass --overwrite to replace it or --resume to continue")
    if leftovers:
        raise OutputError(
            f"{leftovers[0]} is left by an interrupted run; pass --resume to continue it or --overwrite to discard it"
        )


def check_folder(output: Path) -> None:
    folder = output.parent
    if not folder.is_dir():
        raise OutputError(f"{output}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"{output}: folder {folder} is not writable")
    if output.is_dir():
        raise OutputError(f"{output} is a folder; give a file path for the output")
