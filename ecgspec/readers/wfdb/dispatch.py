"""Opening any WFDB record: its header says whether it is single-segment (:mod:`.record`) or
multi-segment (:mod:`.segments`), which reads its segments as single-segment records."""

from __future__ import annotations

from ..base import Record, RecordError, RecordRef
from .header import MasterHeader
from .record import WfdbRecord, described, open_single, open_slow, read_header_text
from .segments import open_multi_segment

__all__ = ["open_wfdb"]


def open_wfdb(ref: RecordRef) -> Record:
    """Open a WFDB record: single-segment (fast or through wfdb) or multi-segment; the header's
    comments, ``key: value`` fields and start time ride along in its Header."""
    h, comments = read_header_text(ref.path)
    if h is None:
        _named_for_wfdb(ref)
        return open_slow(ref)
    record = open_multi_segment(ref, h) if isinstance(h, MasterHeader) else open_single(ref, h)
    if isinstance(record, WfdbRecord):
        _named_for_wfdb(ref)
    return described(record, comments, h.base_date, h.base_time, h.warnings)


def _named_for_wfdb(ref: RecordRef) -> None:
    """RecordError for a record only wfdb reads whose header is not named ``NAME.hea`` (``.HEA``):
    wfdb finds a header by its record name, the extension written in lower case."""
    if ref.path.suffix != ".hea":
        raise RecordError(f"wfdb reads this record (a header or format ecgspec does not decode itself) only from a"
                          f" header named {ref.path.stem}.hea, not {ref.path.name}")
