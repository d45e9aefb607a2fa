"""Choosing a record's channels: all of them, by lead name (``--leads``) or by index (``--channels``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from ..errors import ConfigError
from ..readers import Record, RecordError, RecordRef, open_record
from .lead_sets import lead_key  # defined there, with the names it compares

if TYPE_CHECKING:
    from .record_layout import RecordLayout
    from .spec import ReadSpec

__all__ = ["open_selected", "open_layout", "select_channels", "lead_key", "match_leads"]


def match_leads(names: Sequence[str], wanted: Sequence[str]) -> list[int | None]:
    """For each wanted lead, its index among ``names`` (compared by :func:`lead_key`), None where absent."""
    keys = [lead_key(name) for name in names]
    return [keys.index(k) if k in keys else None for k in map(lead_key, wanted)]


def select_channels(
    leads: Sequence[str],
    wanted: Sequence[str] | None,
    n_channels: int,
    n_signals: int | None = None,
    *,
    channels: Sequence[int] | None = None,
) -> list[int]:
    """Indices (header order) of the record's channels to use, in output order.

    ``wanted`` picks lead names (see :func:`lead_key`), ``channels`` picks 0-based indices;
    with neither, the record must have exactly ``n_channels`` signals, used in file order.
    ``n_signals`` is the record's signal count (``header.n_signals``); it defaults to
    ``len(leads)``, so pass it for records without lead names (``leads == ()``, ``.npy``).
    Raises ConfigError (a ValueError) for a config error (both given, or a count other than ``n_channels``)
    and RecordError when the record does not have the leads or indices.
    """
    n_signals = len(leads) if n_signals is None else n_signals
    picked = wanted if wanted is not None else channels
    if wanted is not None and channels is not None:
        raise ConfigError("leads and channels: give one of them, not both")
    if picked is None:
        if n_signals != n_channels:
            raise RecordError(
                f"has {n_signals} signals, expected n_channels={n_channels}; use --leads or --channels to pick them"
            )
        return list(range(n_channels))
    if len(picked) != n_channels:
        what = "leads" if wanted is not None else "channels"
        raise ConfigError(f"{what}: {len(picked)} given {list(picked)} but n_channels={n_channels}")
    if channels is not None:
        return _by_index(channels, n_signals)
    return _by_name(leads, wanted)


def _by_index(channels: Sequence[int], n_signals: int) -> list[int]:
    outside = [c for c in channels if not 0 <= c < n_signals]
    if outside:
        raise RecordError(f"has {n_signals} signals, so channel {outside[0]} is out of range (0..{n_signals - 1})")
    return [int(c) for c in channels]


def _by_name(leads: Sequence[str], wanted: Sequence[str]) -> list[int]:
    if not leads:
        raise RecordError("has no lead names, so --leads cannot pick from it; use --channels")
    picked = match_leads(leads, wanted)
    if None in picked:
        raise RecordError(f"has no lead {wanted[picked.index(None)]} (leads: {', '.join(leads)})")
    return picked  # type: ignore[return-value]


def open_selected(ref: RecordRef, spec: ReadSpec) -> tuple[Record, list[int]]:
    """Open a record (its header; see :func:`ecgspec.readers.open_record`) and choose its channels
    as ``spec`` says: what a run and a dry run (``extract --dry-run``) both start with."""
    record = open_record(ref, input_fs=spec.record_fs, stated_fs=spec.input_fs)
    header = record.header
    channels = select_channels(header.leads, spec.leads, spec.n_channels, n_signals=header.n_signals,
                               channels=spec.channels)
    return record, channels


def open_layout(ref: RecordRef, spec: ReadSpec) -> tuple[Record, RecordLayout]:
    """Open a record and work out its layout (:mod:`ecgspec.signal.record_layout`): the signals to
    read and what becomes of them (``--lead-set``, ``--units``, ``--preprocess``); RecordError as
    :func:`open_selected`, or for a record with none of the set's leads or a unit --units cannot convert."""
    from .record_layout import record_layout

    if spec.lead_set is None:
        record, channels = open_selected(ref, spec)
    else:
        record, channels = open_record(ref, input_fs=spec.record_fs), None
    header = record.header
    layout = record_layout(header.leads, header.units, channels, lead_set=spec.lead_set,
                           aliases=spec.lead_aliases, derive=spec.derive_leads, to_mv=spec.to_mv,
                           preprocess=spec.preprocess)
    return record, layout
