"""Reading ECG records: WFDB (single-rate, multi-frequency, multi-segment), ``.npy``/``.npz``,
EDF/EDF+/BDF (with the ``edf`` extra), CSV, CODE-15%/SaMi-Trop HDF5 parts (many records a file),
and clinical files (GE MUSE, Philips, HL7 aECG, DICOM, SCP-ECG, ... with the ``clinical`` extra).
:func:`find_records` finds them, :func:`open_record` reads a header and checks the record can be
read, :meth:`Record.read` returns a slice of its signals.

Everything that makes a record unusable surfaces as a :class:`RecordError` with a one-line reason,
at :func:`open_record` where the header and file sizes show it, so the pipeline reports it per
record and goes on. Reads are sliced, so a 24-hour record never has to sit in memory whole
(``.npz``, ``.csv`` and clinical files are read whole at open: they are short, or a zip member
or a text format cannot be sliced). wfdb is imported only for the
WFDB records the numpy decoders do not cover, edfio only for EDF files, h5py only for HDF5 inputs,
ecgdatakit only for clinical files.
"""

from __future__ import annotations

from .base import Header, Record, RecordError, RecordRef, one_line
from .discovery import Discovery, discover, find_records
from .registry import FORMATS, KINDS, Format, Request, Unhandled, kind_of, read

__all__ = ["RecordError", "RecordRef", "Header", "Record", "find_records", "discover", "Discovery", "open_record",
           "KINDS", "FORMATS", "Format", "Unhandled", "kind_of"]


def open_record(ref: RecordRef, input_fs: float | None = None, *, stated_fs: float | None = None) -> Record:
    """Open a record reading only its header, and check it can be read in full: raises
    RecordError for an unreadable header, missing, empty or truncated signal files (or segments),
    no signals, no samples, a rate <= 0, or an array of the wrong shape or dtype.

    The reader is the registry's choice (:mod:`.registry`: by the record's kind, its file's
    extension in any case and, among clinical formats, what the file's first bytes say).
    ``input_fs`` is the sampling rate of ``.npy`` and ``.csv`` records (which store none); the
    other kinds carry their own. ``stated_fs`` is the rate the user stated (``--input-fs``), which
    replaces a kind's default: CODE-15%'s 400 Hz. A WFDB header without a rate means 250 Hz (the
    WFDB default); one without a length is a RecordError.
    """
    try:
        return read(ref, Request(input_fs=input_fs, stated_fs=stated_fs))
    except OSError as exc:
        raise RecordError(f"cannot read {ref.path.name}: {exc.strerror or one_line(exc)}") from None
