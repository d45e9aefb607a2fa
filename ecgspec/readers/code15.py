"""CODE-15% and SaMi-Trop HDF5 parts (``exams_part*.hdf5``): many records in one file.

A part holds a 3-D ``tracings`` (N exams, samples, leads; 4096 x 12 at 400 Hz) and a 1-D
``exam_id`` of the same length. Each row is a record named ``<file stem>/<exam_id>``. The
recordings (7 s or 10 s) are zero-padded to 4096 samples at both ends: a record's samples are
its non-zero span. The last row of a part is empty with ``exam_id`` 0, and is not a record.

Discovery reads each part's ``exam_id`` once (:func:`members`); opening a record reads its one
row (h5py slices it from the file), so a 20 GB part is never loaded whole. An ecgspec output file
(``/spectrograms`` and an ``ecgspec_version`` attribute) is never taken for input.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np

from .base import Header, Record, RecordError, RecordRef, checked_header, one_line, record_errors

FS = 400.0  # CODE-15%'s rate, unless --input-fs says otherwise
LEADS = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
SUFFIXES = (".hdf5", ".h5")

_cache_lock = threading.Lock()
_exam_ids: dict[tuple[str, int, int], np.ndarray] = {}


def _h5py() -> Any:
    import h5py  # imported only when an HDF5 input is found

    return h5py


def _key(path: Path) -> tuple[str, int, int]:
    stat = path.stat()
    return str(path.resolve()), stat.st_mtime_ns, stat.st_size


def is_output(file: Any) -> bool:
    """Whether an open HDF5 file is an ecgspec output (see :mod:`ecgspec.store.layout`)."""
    return "spectrograms" in file and "ecgspec_version" in file.attrs


def _check_layout(file: Any) -> tuple[Any, Any]:
    """(tracings, exam_id) of a CODE-15%-layout file, RecordError when their shapes do not fit."""
    tracings, exam_id = file["tracings"], file["exam_id"]
    if not hasattr(tracings, "shape") or not hasattr(exam_id, "shape"):
        raise RecordError("tracings and exam_id must be datasets")
    if tracings.ndim != 3 or exam_id.ndim != 1 or tracings.shape[0] != exam_id.shape[0]:
        raise RecordError(f"tracings has shape {tracings.shape} and exam_id {exam_id.shape};"
                          " need (N, samples, leads) and (N,)")
    if tracings.dtype.kind not in "iuf" or exam_id.dtype.kind not in "iu":
        raise RecordError(f"tracings has dtype {tracings.dtype} and exam_id {exam_id.dtype}; need numbers, integers")
    return tracings, exam_id


def members(path: Path, explicit: bool) -> list[tuple[int, int]] | str | None:
    """(row, exam_id) of each record in a part; a one-line problem for a broken part (or, when the
    file was named ``explicit``-ly, for one that is not a part); None for a file to pass over.

    Rows with ``exam_id`` 0 whose samples are all 0 are not records. Reads ``exam_id`` once and
    keeps it for :func:`open_code15`.
    """
    h5py = _h5py()
    try:
        with h5py.File(path, "r") as file:
            if is_output(file):
                return "is an ecgspec output file, not records" if explicit else None
            if "tracings" not in file or "exam_id" not in file:
                return "holds no tracings and exam_id datasets (not a CODE-15% file)" if explicit else None
            tracings, exam_id = _check_layout(file)
            ids = exam_id[()].astype(np.int64)
            keep = ids != 0
            for r in np.flatnonzero(~keep).tolist():  # the empty last row: read, to be sure it is empty
                keep[r] = bool(np.any(tracings[r]))
            rows = np.flatnonzero(keep).tolist()
    except RecordError as exc:
        return f"CODE-15%: {exc}"
    except Exception as exc:  # noqa: BLE001 - h5py raises OSError, KeyError, ValueError, ... for a broken file
        return f"cannot read HDF5 file: {one_line(exc)}"
    with _cache_lock:
        _exam_ids[_key(path)] = ids
    return list(zip(rows, ids[rows].tolist()))


def _row_of(ref: RecordRef, exam_id: Any) -> int:
    """A ref's row: its own, or (a ref built from a stored name, as ``ecgspec plot`` does) the row
    of the exam id its name ends with."""
    if ref.row is not None:
        return ref.row
    with _cache_lock:
        ids = _exam_ids.get(_key(ref.path))
    if ids is None:
        ids = exam_id[()].astype(np.int64)
    wanted = ref.name.rsplit("/", 1)[-1]
    hits = np.flatnonzero(ids == int(wanted)) if wanted.lstrip("-").isdigit() else []
    if len(hits) != 1:
        raise RecordError(f"CODE-15%: {ref.path.name} has {len(hits)} rows of exam_id {wanted}")
    return int(hits[0])


def nonzero_span(samples: np.ndarray) -> tuple[int, int]:
    """``(first, stop)`` of the samples (rows) where any lead is non-zero: the recording inside the padding."""
    active = np.flatnonzero(np.any(samples != 0, axis=1))
    if active.size == 0:
        return 0, 0
    return int(active[0]), int(active[-1]) + 1


class Code15Record(Record):
    """One exam: its non-zero span, read once at open (one row of ``tracings``, 196 KB)."""

    def __init__(self, ref: RecordRef, header: Header, signal: np.ndarray) -> None:
        super().__init__(ref, header)
        self._signal = signal  # (leads, samples)

    def _read(self, start: int, stop: int, channels: list[int]) -> np.ndarray:
        return self._signal[channels, start:stop]


def open_code15(ref: RecordRef, fs: float | None) -> Record:
    """Open row ``ref.row`` of a CODE-15% part: its samples between the padding, at ``fs`` (400 Hz
    when None), leads in CODE-15%'s order; RecordError for a row of zeros or an unreadable file."""
    h5py = _h5py()
    with record_errors("CODE-15%: cannot read"):
        with h5py.File(ref.path, "r") as file:
            tracings, exam_id = _check_layout(file)
            row = _row_of(ref, exam_id)
            if not 0 <= row < tracings.shape[0]:
                raise RecordError(f"CODE-15%: row {row} is outside tracings' {tracings.shape[0]} rows")
            samples = tracings[row]
    first, stop = nonzero_span(samples)
    if stop == first:
        raise RecordError("CODE-15%: has no signal (every sample is 0)")
    signal = np.ascontiguousarray(samples[first:stop].T)
    n_leads = signal.shape[0]
    leads = LEADS if n_leads == len(LEADS) else ()
    return Code15Record(ref, checked_header(FS if fs is None else fs, stop - first, leads, n_leads), signal)
