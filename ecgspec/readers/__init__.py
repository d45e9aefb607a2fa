"""Reading ECG records: WFDB (single-rate, multi-frequency, multi-segment), ``.npy``/``.npz``, and
EDF/EDF+/BDF (with the ``edf`` extra). :func:`find_records` finds them, :func:`open_record` reads a
header and checks the record can be read, :meth:`Record.read` returns a slice of its signals.

Everything that makes a record unusable surfaces as a :class:`RecordError` with a one-line reason,
at :func:`open_record` where the header and file sizes show it, so the pipeline reports it per
record and goes on. Reads are sliced, so a 24-hour record never has to sit in memory whole
(``.npz`` is the exception: a zip member cannot be memory-mapped). wfdb is imported only for the
WFDB records the numpy decoders do not cover, edfio only for EDF files.
"""

from __future__ import annotations

from .base import Header, Record, RecordError, RecordRef, one_line
from .discovery import KINDS, find_records

__all__ = ["RecordError", "RecordRef", "Header", "Record", "find_records", "open_record", "KINDS"]


def open_record(ref: RecordRef, input_fs: float | None = None) -> Record:
    """Open a record reading only its header, and check it can be read in full: raises
    RecordError for an unreadable header, missing, empty or truncated signal files (or segments),
    no signals, no samples, a rate <= 0, or an array of the wrong shape or dtype.

    ``input_fs`` is the sampling rate of ``.npy`` records (which store none); the other kinds
    carry their own. A WFDB header without a rate means 250 Hz (the WFDB default); one without a
    length is a RecordError.
    """
    try:
        if ref.kind == "wfdb":
            from .wfdb.dispatch import open_wfdb

            return open_wfdb(ref)
        if ref.kind in ("npy", "npz"):
            from .numpy import open_npy, open_npz

            return open_npy(ref, input_fs) if ref.kind == "npy" else open_npz(ref)
        if ref.kind == "edf":
            from .edf import open_edf

            return open_edf(ref)
    except OSError as exc:
        raise RecordError(f"cannot read {ref.path.name}: {exc.strerror or one_line(exc)}") from None
    raise ValueError(f"unknown record kind {ref.kind!r}; expected one of {sorted(set(KINDS.values()))}")
