"""The committed rows in each growing dataset's last chunk, checked at every commit point by a CRC of its own,
so that a writer killed while it rewrote that chunk loses none of them; no torch here.

Fletcher32 (:mod:`.checksums`) checks a chunk whole, and HDF5 writes a chunk whole: each commit
point (:meth:`ecgspec.store.writer.SpectrogramWriter.flush`) rewrites the last chunk of every
dataset that grows with the records, and that chunk holds rows committed before. A kill inside
that write leaves the chunk's pages partly old and partly new. Its committed rows are the same
bytes in both, but its checksum fails, and every reader would then lose them. So, after a commit
point's rows reach the file and before ``/committed`` counts them, the writer records for each
such dataset its committed rows and the CRC-32 (zlib's) of those in its last chunk, as stored
(C order)::

    /staged/tails   (n_datasets, 2) int64   each dataset's committed rows r, and the CRC-32 of its
                                            rows [r - 1 - (r - 1) % chunk, r)
    attrs: datasets (JSON list of the datasets' paths, fixed-length bytes)

A read of committed rows that fails its checksum in that chunk (:func:`read`) takes the chunk as
stored, unchecked (:func:`ecgspec.store.lowlevel.unchecked_chunk`; an uncompressed dataset's only),
and keeps its committed rows where they match their CRC; a resume writes such a chunk anew
(:func:`heal`). A kill before the record is written leaves the previous one, which matches the
previous ``/committed``: the rows are only trusted against the record of the counts that trust them.
``/staged`` is deleted when the file is finished (:mod:`.staged`), this with it.
"""

from __future__ import annotations

import json
import zlib
from typing import Sequence

import h5py
import numpy as np

from .checksums import checksum_keywords
from .lowlevel import unchecked_chunk
from .schema import STAGED

__all__ = ["TAILS", "create", "heal", "read", "record", "table_of_rows", "verified_tail"]

TAILS = f"{STAGED}/tails"


def table_of_rows(name: str) -> str:
    """Whose count says how many rows of growing dataset ``name`` are committed: ``records``, ``windows``,
    ``errors``, ``signals`` (the rows of the committed records' signals), or ``written`` (a partial's staged
    strings, of which a commit point writes only the committed ones)."""
    top = name.split("/", 1)[0]
    return {"spectrograms": "windows", STAGED: "written"}.get(top, top)


def create(file: h5py.File, names: Sequence[str]) -> None:
    """The record of ``names``' committed tails, none yet (SWMR off: it creates a dataset); replaces any."""
    if TAILS in file:
        del file[TAILS]
    tails = file.create_dataset(TAILS, data=np.zeros((len(names), 2), dtype=np.int64), **checksum_keywords(np.int64))
    tails.attrs["datasets"] = np.bytes_(json.dumps(list(names)))  # fixed-length: no global-heap object


def _first(rows: int, dataset: h5py.Dataset) -> int:
    """The first row of the chunk holding row ``rows - 1`` (0 for none)."""
    return max(rows - 1, 0) // dataset.chunks[0] * dataset.chunks[0]


def record(file: h5py.File, counts: tuple[int, int, int], signal_rows: int) -> None:
    """Record each dataset's committed rows and their last chunk's CRC; ``counts``: the committed records,
    windows and errors (``/committed``'s), ``signal_rows``: the committed records' ``/signals`` rows. Read
    back from the writer's chunk cache, it costs a copy of each last chunk."""
    tails = file.get(TAILS)
    if tails is None:
        return
    rows_of = {"records": counts[0], "windows": counts[1], "errors": counts[2], "signals": signal_rows}
    names = json.loads(tails.attrs["datasets"])
    values = np.zeros((len(names), 2), dtype=np.int64)
    for i, name in enumerate(names):
        dataset = file[name]
        rows = dataset.shape[0] if table_of_rows(name) == "written" else int(rows_of[table_of_rows(name)])
        values[i] = rows, zlib.crc32(np.ascontiguousarray(dataset[_first(rows, dataset) : rows]).tobytes())
    tails[:] = values
    tails.flush()


def _recorded(file: h5py.File) -> dict[str, tuple[int, int]]:
    """Each dataset's recorded committed rows and CRC; empty where the file records none (finished, or written
    before tails) or the record itself cannot be read (then nothing is trusted beyond the checksums)."""
    tails = file.get(TAILS)
    try:
        names = json.loads(tails.attrs["datasets"]) if tails is not None else []
        return {name: (int(rows), int(crc)) for name, (rows, crc) in zip(names, tails[()].tolist())} if names else {}
    except (OSError, ValueError, KeyError):
        return {}


def _verified(dataset: h5py.Dataset, rows: int, crc: int) -> tuple[int, np.ndarray] | None:
    """The first row of ``dataset``'s chunk holding row ``rows - 1`` and its ``rows`` committed rows there as
    stored, where they match ``crc``; None otherwise."""
    first = _first(rows, dataset)
    chunk = unchecked_chunk(dataset, first) if rows else None
    if chunk is None or rows - first > len(chunk):
        return None
    kept = chunk[: rows - first]
    return (first, kept) if zlib.crc32(np.ascontiguousarray(kept).tobytes()) == crc else None


def _tail(dataset: h5py.Dataset) -> tuple[int, np.ndarray] | None:
    """:func:`_verified` for ``dataset`` against its file's record; None where it has none."""
    recorded = _recorded(dataset.file).get(dataset.name.lstrip("/"))
    return None if recorded is None else _verified(dataset, *recorded)


def read(dataset: h5py.Dataset, start: int, stop: int) -> np.ndarray:
    """``dataset[start:stop]``; where that fails its checksum, the same rows with those of the last committed
    chunk taken as stored, if they match their CRC (else the error stands)."""
    stop = min(stop, dataset.shape[0])
    try:
        return dataset[start:stop]
    except OSError:
        tail = _tail(dataset)
        if tail is None or not tail[0] < stop <= tail[0] + len(tail[1]):
            raise
        first, kept = tail
        head = dataset[start:first] if start < first else kept[:0]
        return np.concatenate([head, kept[max(start - first, 0) : stop - first]])


def verified_tail(dataset: h5py.Dataset, start: int, stop: int) -> bool:
    """Whether rows ``[start, stop)`` of ``dataset``, which fail their checksum, are within its last committed
    chunk and its committed rows there match their CRC (rows past them are not committed: not read)."""
    tail = _tail(dataset)
    return tail is not None and tail[0] <= start and stop <= tail[0] + len(tail[1])


def heal(file: h5py.File) -> None:
    """Write anew (SWMR off) each last committed chunk whose checksum fails and whose committed rows match their
    CRC, with those rows: the chunk cut away (HDF5 drops a chunk wholly past the end without reading it), then
    its rows written back, checksummed. A resume does this before it cuts or appends rows."""
    for name, (rows, crc) in _recorded(file).items():
        dataset = file[name]
        if not rows:
            continue
        first = _first(rows, dataset)
        try:
            dataset[first:rows]
            continue
        except OSError:
            tail = _verified(dataset, rows, crc)
        if tail is None:
            continue  # damaged beyond a torn tail: the resume's checks keep the records before it
        dataset.resize(first, axis=0)
        dataset.resize(rows, axis=0)
        dataset[first:rows] = tail[1]
