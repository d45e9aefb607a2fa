"""Comparing two outputs record by record, whatever their row order (records added by --resume follow the others)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ecgspec.store import reader


def by_name(path: Path) -> dict[str, tuple]:
    """Each record's row and its windows (starts, spectrograms), by record name."""
    with reader.open(path) as ds:
        rows = [dict(zip(ds.records, values)) for values in zip(*ds.records.values())]
        ends = np.cumsum(ds.records["n_windows"])
        out = {}
        for row, end in zip(rows, ends):
            first = end - row["n_windows"]
            out[row["name"]] = (row, ds.windows["start"][first:end].tolist(), ds.spectrograms[first:end])
        return out


def assert_same_by_name(a: Path, b: Path) -> None:
    """Same records (rows, window starts and values, by name), errors and attributes; rows in any order."""
    ra, rb = by_name(a), by_name(b)
    assert sorted(ra) == sorted(rb)
    for name in ra:
        assert ra[name][:2] == rb[name][:2], name
        assert np.array_equal(ra[name][2], rb[name][2]), name
    with reader.open(a) as da, reader.open(b) as db:
        assert da.errors == db.errors and da.config == db.config and da.complete and db.complete
