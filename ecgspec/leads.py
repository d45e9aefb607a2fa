"""Choosing a record's leads by name. (Moved verbatim out of records.py; issue 8's R2 extends it.)"""

from __future__ import annotations

from typing import Sequence

from .readers import RecordError


def _lead_key(name: str) -> str:
    """Lead names compare without case or spaces: ``aVR`` is ``avr``, ``ECG 1`` is ``ecg1``."""
    return "".join(name.split()).casefold()


def select_channels(
    leads: Sequence[str], wanted: Sequence[str] | None, n_channels: int, n_signals: int | None = None
) -> list[int]:
    """Indices of the record's channels to use, in the order of ``wanted``.

    With ``wanted`` None the record must have exactly ``n_channels`` signals, used in file
    order. ``n_signals`` is the record's signal count (``header.n_signals``); it defaults to
    ``len(leads)``, so pass it for records without lead names (``leads == ()``, ``.npy``).
    Raises ValueError when ``len(wanted) != n_channels`` (a config error) and RecordError
    when the record does not have the leads.
    """
    n_signals = len(leads) if n_signals is None else n_signals
    if wanted is None:
        if n_signals != n_channels:
            raise RecordError(f"has {n_signals} signals, expected n_channels={n_channels}; use --leads to pick them")
        return list(range(n_channels))
    if len(wanted) != n_channels:
        raise ValueError(f"leads: {len(wanted)} names {list(wanted)} given but n_channels={n_channels}")
    if not leads:
        raise RecordError("has no lead names, so --leads cannot pick from it")
    keys = [_lead_key(name) for name in leads]
    picked = []
    for name in wanted:
        if _lead_key(name) not in keys:
            raise RecordError(f"has no lead {name} (leads: {', '.join(leads)})")
        picked.append(keys.index(_lead_key(name)))
    return picked
