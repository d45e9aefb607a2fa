"""Checksums of the stored values, so that a damaged file is never read as good data; no torch here.

HDF5 keeps checksums of its own structures (file format 1.10) but none of raw data by default:
a flipped bit in a chunk of ``/spectrograms`` reads back as a different number. So every
numeric dataset of the output is written with HDF5's Fletcher32 filter (after any compression):
reading a damaged chunk then fails (``filter returned failure during read``) instead of
returning wrong values, whoever reads it (h5py, MATLAB, ``ecgspec.open``).

HDF5 refuses filters on variable-length strings ("not suitable for filters"), and their text
lives in global-heap collections that carry no checksum. Each string dataset of a finished
file therefore holds ``attrs["crc32"]``: the CRC-32 (zlib's) of each block of
:data:`STRING_BLOCK` rows, over the block's values as UTF-8 joined by NUL (HDF5's strings hold
no NUL), and ``attrs["crc32_rows"]``: the rows they cover (rows a running ``--resume`` added
after them are checked by the partial file's own checksummed columns). The root attribute
``checksummed`` (true) says a file was written so; files written before have none and read as
before (:func:`is_checksummed`). Checking them is :mod:`ecgspec.store.verify`'s.
"""

from __future__ import annotations

import zlib
from typing import Any, Sequence

import h5py
import numpy as np

__all__ = ["ROOT_ATTR", "STRING_ATTR", "STRING_BLOCK", "block_crcs", "checksum_keywords", "damaged_string_blocks",
           "is_checksummed", "seal_strings", "string_datasets"]

ROOT_ATTR = "checksummed"  # root attribute: true where every numeric dataset has Fletcher32 and strings their CRCs
STRING_ATTR = "crc32"  # a string dataset's CRC-32 per block of rows
ROWS_ATTR = "crc32_rows"  # the rows those blocks cover
STRING_BLOCK = 4096  # rows a string CRC covers (the columns' chunk)
ENABLED = True  # an internal switch for the benchmark's "without" (benchmarks/bench_checksums.py), not an option


def checksum_keywords(dtype: Any) -> dict[str, bool]:
    """``create_dataset`` keywords that checksum a dataset of ``dtype``: Fletcher32 for numbers (h5py chunks a
    dataset given data for it), nothing for variable-length strings (HDF5 allows no filter on them)."""
    return {} if not ENABLED or h5py.check_string_dtype(np.dtype(dtype)) else {"fletcher32": True}


def is_checksummed(file: h5py.File) -> bool:
    """Whether ``file`` was written with checksums (its root attribute ``checksummed``; absent before)."""
    return bool(file.attrs.get(ROOT_ATTR, False))


def block_crcs(values: Sequence[str]) -> np.ndarray:
    """The CRC-32 of each block of :data:`STRING_BLOCK` values, joined by NUL as UTF-8 (uint32)."""
    n = len(values)
    out = np.empty(-(-n // STRING_BLOCK), dtype=np.uint32)
    for i, start in enumerate(range(0, n, STRING_BLOCK)):
        out[i] = zlib.crc32("\0".join(values[start : start + STRING_BLOCK]).encode())
    return out


def string_datasets(file: h5py.File) -> list[str]:
    """The paths of ``file``'s string datasets (stored ones: a virtual dataset's are its sources')."""
    found: list[str] = []

    def visit(name: str, obj: object) -> None:
        if isinstance(obj, h5py.Dataset) and h5py.check_string_dtype(obj.dtype) and not obj.is_virtual:
            found.append(name)

    file.visititems(visit)
    return found


def seal_strings(file: h5py.File) -> None:
    """Write every string dataset's block CRCs over the rows it holds now (``file`` open for writing, SWMR off):
    at finish, and where a resume cut the rows its CRCs covered. Only the blocks from the first row its
    CRCs did not cover are read (rows are only ever added or cut at the end): adding 5% of records to a
    large file reads 5% of its strings."""
    if not ENABLED:
        return
    for name in string_datasets(file):
        dataset = file[name]
        n = dataset.shape[0]
        old = dataset.attrs.get(STRING_ATTR)
        covered = int(dataset.attrs.get(ROWS_ATTR, 0)) if old is not None else 0
        keep = min(covered, n) // STRING_BLOCK if old is not None and len(old) == -(-covered // STRING_BLOCK) else 0
        values = dataset.asstr()[keep * STRING_BLOCK :].tolist() if n > keep * STRING_BLOCK else []
        kept = np.asarray(old[:keep] if keep else [], dtype=np.uint32)
        dataset.attrs[STRING_ATTR] = np.concatenate([kept, block_crcs(values)])
        dataset.attrs[ROWS_ATTR] = np.int64(n)


def damaged_string_blocks(dataset: h5py.Dataset, n: int | None = None, first: int = 0) -> list[tuple[int, int]]:
    """The blocks of rows (``[start, stop)``, in ``[first, n)``; ``first`` on a block's edge) of a string dataset
    whose values fail their CRC or cannot be read; ``[]`` where the dataset has no CRCs (then only whether
    they read is checked)."""
    n = dataset.shape[0] if n is None else min(n, dataset.shape[0])
    crcs = dataset.attrs.get(STRING_ATTR)
    covered = int(dataset.attrs.get(ROWS_ATTR, 0)) if crcs is not None else 0
    if crcs is not None and len(crcs) != -(-covered // STRING_BLOCK):
        return [(0, n)] if n else []  # the CRCs do not match their own row count: none can be trusted
    out = []
    for start in range(first, n, STRING_BLOCK):
        stop, i = min(start + STRING_BLOCK, n), start // STRING_BLOCK
        try:
            values = dataset.asstr()[start : min(start + STRING_BLOCK, max(covered, stop))].tolist()
        except (OSError, ValueError, UnicodeDecodeError, RuntimeError):
            out.append((start, stop))
            continue
        block_end = min(start + STRING_BLOCK, covered)
        if start < covered and zlib.crc32("\0".join(values[: block_end - start]).encode()) != int(crcs[i]):
            out.append((start, stop))
    return out
