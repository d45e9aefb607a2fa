"""Comparing outputs: whole files dataset for dataset, records by name whatever their row order,
spectrograms within the parity tolerance, and input folders byte for byte."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Iterable

import h5py
import numpy as np

from ecgspec.store import reader

TOL = 1e-4  # parity with torch_ecg: max|ours - ref| <= TOL * max|ref|


def assert_close(got: np.ndarray, ref: np.ndarray) -> None:
    """Same shape, and within ``TOL`` of the reference's largest magnitude."""
    assert got.shape == ref.shape
    assert np.abs(got - ref).max() <= TOL * np.abs(ref).max()


def datasets(path: Path) -> dict[str, np.ndarray]:
    """Every dataset of an HDF5 file, and its root attributes under ``@name``."""
    out: dict[str, np.ndarray] = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: out.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
        for key, value in f.attrs.items():
            out[f"@{key}"] = np.asarray(value)
    return out


def assert_same(a: Path, b: Path, *, same_command: bool = True, ignore: Iterable[str] = ()) -> None:
    """Every dataset and root attribute equal, dtype too, root attributes named in ``ignore`` aside
    (a part's own attributes, say); with ``same_command=False`` (CLI against API, where
    ``--feature-fs 50`` is stored as 50.0 and ``feature_fs=50`` as 50) configs compare as numbers."""
    da, db = datasets(a), datasets(b)
    for key in ignore:
        da.pop(f"@{key}", None)
        db.pop(f"@{key}", None)
    assert sorted(da) == sorted(db)
    if not same_command:
        assert json.loads(str(da.pop("@config"))) == json.loads(str(db.pop("@config")))
    for key in da:
        assert da[key].dtype == db[key].dtype, key
        assert np.array_equal(da[key], db[key]), key


def by_name(path: Path) -> dict[str, tuple]:
    """Each record's row and its windows (starts, spectrograms), by record name."""
    with reader.open(path) as ds:
        rows = [{k: v.tolist() if isinstance(v, np.ndarray) else v for k, v in zip(ds.records, values)}
                for values in zip(*ds.records.values())]  # the lead masks are a row each
        ends = np.cumsum(ds.records["n_windows"])
        out = {}
        for row, end in zip(rows, ends):
            first = end - row["n_windows"]
            out[row["name"]] = (row, ds.windows["start"][first:end].tolist(), ds.spectrograms[first:end])
        return out


def assert_same_by_name(a: Path, b: Path) -> None:
    """Same records (rows, window starts and values, by name), errors and attributes; rows in any order
    (records added by --resume follow the others)."""
    ra, rb = by_name(a), by_name(b)
    assert sorted(ra) == sorted(rb)
    for name in ra:
        assert ra[name][:2] == rb[name][:2], name
        assert np.array_equal(ra[name][2], rb[name][2]), name
    with reader.open(a) as da, reader.open(b) as db:
        assert da.errors == db.errors and da.config == db.config and da.complete and db.complete


def column(f: h5py.File, name: str) -> list:
    """Column ``name`` of an open output's /records, strings decoded."""
    return [v.decode() if isinstance(v, bytes) else v for v in f[f"records/{name}"][:]]


def digest(folder: Path) -> dict[str, tuple[str, int]]:
    """sha256 and mtime (ns) of every file under ``folder``, by path relative to it: equal before and
    after a run when the run changed and added nothing there."""
    return {str(p.relative_to(folder)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}
