"""What a run does to one record's signals between resampling and the windows: units to mV, the
lead set's layout (zeros, derived leads) and torch_ecg's preprocessing, as one object the
windowing applies to each span it reads (:func:`ecgspec.windowing.iter_flagged_windows`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .lead_sets import LeadPlan, mv_scale, plan_leads
from .preprocess import Preprocess

__all__ = ["RecordLayout", "record_layout"]


@dataclass(frozen=True)
class RecordLayout:
    """One record's layout: the signals read (``channels``, header order) become the output's leads."""

    channels: tuple[int, ...]  # the record's signals read, in the order the windowing gets them
    plan: LeadPlan | None = None  # --lead-set; None: the signals read are the output, in order
    scales: tuple[float, ...] | None = None  # --units mV: each signal read's factor to millivolts
    preprocess: Preprocess | None = None

    @property
    def n_out(self) -> int:
        return len(self.plan.leads) if self.plan is not None else len(self.channels)

    @property
    def missing(self) -> bool:
        """Some lead of the set is zero-filled (every window gets qc bit ``missing_lead``)."""
        return self.plan is not None and not bool(self.plan.present.all())

    @property
    def changes_values(self) -> bool:
        return self.plan is not None or self.scales is not None

    def arrange(self, signal: np.ndarray) -> np.ndarray:
        """float32 (n_out, T): ``signal`` (len(channels), T) scaled to mV and laid out in the set's order."""
        if self.scales is not None:
            signal = signal * np.asarray(self.scales, dtype=np.float32)[:, None]
        if self.plan is not None:
            signal = self.plan.assemble(signal)
        return signal

    def output_name(self, names: Sequence[str], row: int) -> str:
        """The output lead's name for signal-read ``row`` (the lead it fills, else its own name)."""
        channel = self.channels[row]
        if self.plan is not None and channel in self.plan.sources:
            return self.plan.leads[self.plan.sources.index(channel)]
        return names[channel] if names else str(channel)


def record_layout(
    leads: Sequence[str],
    units: Sequence[str],
    channels: Sequence[int] | None,
    *,
    lead_set: Sequence[str] | None = None,
    aliases: dict | None = None,
    derive: bool = False,
    to_mv: bool = False,
    preprocess: Preprocess | None = None,
) -> RecordLayout:
    """The layout of a record with these lead names and units: ``channels`` are the signals picked
    by ``--leads``/``--channels`` (unused with ``lead_set``, whose plan picks them). RecordError for
    a record with none of the set's leads, or, with ``to_mv``, a signal read whose unit is no voltage."""
    plan = None
    if lead_set is not None:
        plan = plan_leads(leads, lead_set, aliases, derive)
        channels = plan.reads
    picked = tuple(int(c) for c in channels or ())
    scales = None
    if to_mv:
        scales = tuple(mv_scale(units[c] if c < len(units) else None, leads[c] if leads else str(c)) for c in picked)
    return RecordLayout(picked, plan, scales, preprocess)

