"""What reading a record into windows needs, as one frozen value: :class:`ReadSpec`.

The run resolves its settings once (:mod:`ecgspec.run.settings`) and hands each reader thread or
process this, and only this: how windows are cut (:class:`~ecgspec.signal.windowing.Cut`) and which
signals become the output's leads (``--leads``/``--channels`` or ``--lead-set``, ``--units``,
``--preprocess``). The signal layer reads it and never the command's options. No torch here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Mapping

from .windowing import Cut

if TYPE_CHECKING:
    from .preprocess import Preprocess

__all__ = ["Cut", "ReadSpec"]


@dataclass(frozen=True)
class ReadSpec:
    """How every record of a run is read: ``cut`` (rate, window, stride, ``--max-nan``, block size,
    quality flags) and the lead choice; see :func:`ecgspec.signal.leads.open_layout`."""

    cut: Cut
    n_channels: int  # signals a window holds (--leads/--channels give as many; without them a record must have so many)
    input_fs: float | None = None  # --input-fs: the rate of records that state none, and CODE-15%'s stated rate
    leads: tuple[str, ...] | None = None  # --leads: signals picked by name
    channels: tuple[int, ...] | None = None  # --channels: signals picked by 0-based index
    lead_set: tuple[str, ...] | None = None  # --lead-set: the output's leads, placed by name
    lead_aliases: Mapping[str, str] | None = None  # a record's lead name -> a lead of lead_set
    derive_leads: bool = False  # limb leads a record lacks computed from two of I, II, III
    to_mv: bool = False  # --units mV
    preprocess: Preprocess | None = None  # torch_ecg's steps after resampling
    # --targets-required with a vocabulary read from header fields: (VOCAB, --min-count); the reading
    # stage skips a record whose fields give no class before reading its samples (ecgspec.run.targets)
    required_class: tuple[str, int | None] | None = None
    signals: bool = False  # --store signals: the windows' starts and flags, then the record's whole signal

    @property
    def record_fs(self) -> float:
        """The rate of records that state none (``.npy``, ``.csv``): ``--input-fs``, else the windows' rate."""
        return self.input_fs or self.cut.fs
