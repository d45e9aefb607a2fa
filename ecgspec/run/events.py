"""The reading stage's events: what a reader (thread or process) says about one record, in order.

A record's events are zero or more :class:`Windows`, then one :class:`RecordRead` (read in full) or
one :class:`ReadFailed` (unusable; the windows before it are the run's to discard). They are
typed, and the run tells them apart by type. A :class:`Windows` may lend memory that is not the
run's (a reader process's shared-memory slot): the run calls :meth:`Windows.release` once it has
copied the windows, and the slot is the reader's again. No torch, no h5py here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..store.schema import RecordRow

__all__ = ["ReadEvent", "ReadFailed", "RecordRead", "SignalBlock", "WindowRows", "Windows"]


@dataclass
class Windows:
    """``k`` windows of a record: int64 (k,) first samples at the config's rate, float32 (k, C, n)
    values, uint8 (k,) quality flags. ``values`` may be a view of a shared-memory slot, valid until
    :meth:`release`; ``on_release`` hands it back (None: the arrays are the event's own)."""

    starts: np.ndarray
    values: np.ndarray
    qc: np.ndarray
    on_release: Callable[[], None] | None = None

    def __len__(self) -> int:
        return len(self.starts)

    def release(self) -> None:
        """The run is done with ``values`` (copied them into a batch): hand their memory back, once."""
        done, self.on_release = self.on_release, None
        if done is not None:
            done()


@dataclass(frozen=True)
class WindowRows:
    """``--store signals``: ``k`` windows' first samples (int64 (k,)) and quality flags (uint8 (k,)), without
    their values (the file keeps the record's signal, :class:`SignalBlock`)."""

    starts: np.ndarray
    qc: np.ndarray


@dataclass(frozen=True)
class SignalBlock:
    """``--store signals``: the next samples of a record's prepared signal, float32 (t, n_leads); a record's
    blocks, in order, are its whole signal (:func:`ecgspec.signal.prepared.iter_prepared`)."""

    values: np.ndarray


@dataclass(frozen=True)
class RecordRead:
    """A record read in full: its ``/records`` row, and the windows it skipped for missing samples."""

    row: RecordRow
    nan_skipped: int


@dataclass(frozen=True)
class ReadFailed:
    """A record that cannot be used, and why (one line)."""

    message: str


ReadEvent = Windows | WindowRows | SignalBlock | RecordRead | ReadFailed
END_EVENTS = (RecordRead, ReadFailed)  # the last event of a record
