"""The per-window quality flags' bits (``/windows/qc``), as plain literals: the file's contract, whose
home is the layer that computes the flags (:mod:`.quality`); the store writes them from here
(:mod:`ecgspec.store.schema`). Nothing but the standard library, so that the schema stays light."""

from __future__ import annotations

import json

__all__ = ["BITS_ATTR", "QC_BITS"]

QC_BITS = {"filled": 1, "flat": 2, "clipped": 4, "missing_lead": 8}  # /windows/qc: each flag's bit
BITS_ATTR = json.dumps({str(bit): name for name, bit in QC_BITS.items()})  # /windows/qc attrs["bits"]
