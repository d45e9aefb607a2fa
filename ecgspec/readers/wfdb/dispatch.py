"""Opening any WFDB record: its header says whether it is single-segment (:mod:`.record`) or
multi-segment (:mod:`.segments`), which reads its segments as single-segment records."""

from __future__ import annotations

from ..base import Record, RecordRef
from .header import MasterHeader
from .record import described, open_single, open_slow, read_header_text
from .segments import open_multi_segment

__all__ = ["open_wfdb"]


def open_wfdb(ref: RecordRef) -> Record:
    """Open a WFDB record: single-segment (fast or through wfdb) or multi-segment; the header's
    comments, ``key: value`` fields and start time ride along in its Header."""
    h, comments = read_header_text(ref.path)
    if h is None:
        return open_slow(ref)
    record = open_multi_segment(ref, h) if isinstance(h, MasterHeader) else open_single(ref, h)
    return described(record, comments, h.base_date, h.base_time, h.warnings)
