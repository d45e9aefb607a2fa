"""Opening any WFDB record: its header says whether it is single-segment (:mod:`.record`) or
multi-segment (:mod:`.segments`), which reads its segments as single-segment records."""

from __future__ import annotations

from ..base import Record, RecordRef
from .header import MasterHeader
from .record import open_single, open_slow, read_header
from .segments import open_multi_segment

__all__ = ["open_wfdb"]


def open_wfdb(ref: RecordRef) -> Record:
    """Open a WFDB record: single-segment (fast or through wfdb) or multi-segment."""
    h = read_header(ref.path)
    if h is None:
        return open_slow(ref)
    if isinstance(h, MasterHeader):
        return open_multi_segment(ref, h)
    return open_single(ref, h)
