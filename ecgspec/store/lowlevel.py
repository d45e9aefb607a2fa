"""HDF5 mechanism below h5py's high-level API, and HDF5 behaviour its API does not promise, in one place.

The crash-safety policy (what a partial file holds, when it is trusted, resumed or started
over) lives in :mod:`.writer`, :mod:`.resume`, :mod:`.leftovers` and :mod:`.staged`, which use
h5py's high-level API and this module. Everything here relies on something beyond that API:

- the superblock's bytes (HDF5 file format specification, superblock versions 2 and 3) and
  its lookup3 checksum: a writer that dies leaves its status flags set, HDF5 then refuses to
  open the file for writing, and no API clears them (``h5clear -s`` does, with a private
  property): :func:`clear_status_flags`, :func:`status_flags`, :func:`superblock_version`;
- the wording of HDF5's error messages (it raises no distinct error classes for these):
  :func:`open_for_write_elsewhere`, :func:`finishing_elsewhere`, :func:`lock_unsupported`;
- what shrinking a chunked dataset does to the cut part of a chunk it keeps (fills it with the
  fill value, reading nothing the cells pointed to): :func:`cut_rows`;
- h5py's low-level API (``h5py.h5d``, ``h5p``, ``h5o``, ``h5s``; a dataset's ``id``): a
  dataset opened without a chunk cache (:func:`open_uncached`), filter pipelines
  (:func:`filters`), datasets made like another whatever its filters (:func:`create_like`),
  chunks copied as stored bytes (:func:`copy_stored_chunks`), dataset names listed without
  opening each (:func:`dataset_names`);
- where HDF5 keeps a chunk checked by Fletcher32 alone (its values as they are in memory, then the
  4-byte checksum) and that it rewrites such a chunk at its own address: a chunk's values read
  unchecked (:func:`unchecked_chunk`), for a flush torn while it rewrote the chunk
  (:mod:`.tails`).

:data:`VERIFIED` names the h5py and HDF5 versions on which tests/store/test_lowlevel.py found
each of these to hold (that test fails on any other pair until it is checked and added there);
``pyproject.toml`` bounds h5py to them. No torch here.
"""

from __future__ import annotations

import errno
import math
import os
import struct
from pathlib import Path
from typing import Callable, Iterator

import h5py
import numpy as np

__all__ = ["VERIFIED", "clear_status_flags", "copy_stored_chunks", "create_like", "cut_rows", "dataset_names",
           "filters", "finishing_elsewhere", "lock_unsupported", "lookup3", "open_for_write_elsewhere",
           "open_uncached", "status_flags", "superblock_version", "unchecked_chunk"]

VERIFIED = (("3.16.0", "2.0.0"),)
"""(h5py, HDF5) pairs on which every reliance above was checked by tests/store/test_lowlevel.py."""

# -- the superblock (file format specification, superblock versions 2 and 3, at byte 0) ----------

SIGNATURE = b"\x89HDF\r\n\x1a\n"
_M = 0xFFFFFFFF


def _rot(x: int, k: int) -> int:
    return ((x << k) | (x >> (32 - k))) & _M


def lookup3(data: bytes, initval: int = 0) -> int:
    """Bob Jenkins' lookup3 ``hashlittle`` of ``data``: HDF5's metadata checksum (H5_checksum_lookup3)."""
    length = len(data)
    a = b = c = (0xDEADBEEF + length + initval) & _M
    i = 0
    while length > 12:
        x, y, z = struct.unpack_from("<3I", data, i)
        a, b, c = (a + x) & _M, (b + y) & _M, (c + z) & _M
        a = (a - c) & _M; a ^= _rot(c, 4); c = (c + b) & _M  # noqa: E702 - lookup3's mix, as published
        b = (b - a) & _M; b ^= _rot(a, 6); a = (a + c) & _M  # noqa: E702
        c = (c - b) & _M; c ^= _rot(b, 8); b = (b + a) & _M  # noqa: E702
        a = (a - c) & _M; a ^= _rot(c, 16); c = (c + b) & _M  # noqa: E702
        b = (b - a) & _M; b ^= _rot(a, 19); a = (a + c) & _M  # noqa: E702
        c = (c - b) & _M; c ^= _rot(b, 4); b = (b + a) & _M  # noqa: E702
        i += 12
        length -= 12
    if length == 0:
        return c
    x, y, z = struct.unpack("<3I", data[i:] + bytes(12 - length))
    a, b, c = (a + x) & _M, (b + y) & _M, (c + z) & _M
    c ^= b; c = (c - _rot(b, 14)) & _M  # noqa: E702 - lookup3's final, as published
    a ^= c; a = (a - _rot(c, 11)) & _M  # noqa: E702
    b ^= a; b = (b - _rot(a, 25)) & _M  # noqa: E702
    c ^= b; c = (c - _rot(b, 16)) & _M  # noqa: E702
    a ^= c; a = (a - _rot(c, 4)) & _M  # noqa: E702
    b ^= a; b = (b - _rot(a, 14)) & _M  # noqa: E702
    c ^= b; c = (c - _rot(b, 24)) & _M  # noqa: E702
    return c


def _head(path: Path, n: int) -> bytes:
    """The first ``n`` bytes of ``path`` (fewer for a shorter file; none for an unreadable one)."""
    try:
        with open(path, "rb") as fh:
            return fh.read(n)
    except OSError:
        return b""


def superblock_version(path: Path) -> int | None:
    """The HDF5 superblock version at the start of ``path``, or None when it is no HDF5 file."""
    head = _head(path, 9)
    return head[8] if len(head) == 9 and head.startswith(SIGNATURE) else None


def status_flags(path: Path) -> int:
    """A v2/v3 superblock's status flags (set while a writer has the file open, and after it was killed);
    0 for other files, unreadable ones included."""
    head = _head(path, 12)
    return head[11] if len(head) == 12 and head.startswith(SIGNATURE) and head[8] in (2, 3) else 0


def clear_status_flags(path: Path) -> bool:
    """Clear a v2/v3 superblock's status flags, as ``h5clear -s --increment`` does; return whether it changed.

    Layout: signature (8), version (1), size of offsets O (1), size of lengths (1), status
    flags (1), then four O-byte addresses (base, superblock extension, end-of-file address,
    root object header) and a lookup3 checksum of everything before it. A killed writer may
    leave the end-of-file address below the file's size; it is raised to the size so HDF5
    never allocates over bytes the file already holds. Raises ValueError when the superblock
    is not one this can clear or its checksum is wrong.
    """
    with open(path, "r+b") as fh:
        block = bytearray(fh.read(48))
        if len(block) < 12 or not block.startswith(SIGNATURE) or block[8] not in (2, 3):
            raise ValueError("not an HDF5 file with a version 2 or 3 superblock")
        width = block[9]
        if width not in (4, 8) or len(block) < 12 + 4 * width + 4:
            raise ValueError(f"unexpected size of offsets {width}")
        end = 12 + 4 * width
        (stored,) = struct.unpack_from("<I", block, end)
        if stored != lookup3(bytes(block[:end])):
            raise ValueError("superblock checksum mismatch")
        fmt = "<Q" if width == 8 else "<I"
        eoa_at = 12 + 2 * width
        (eoa,) = struct.unpack_from(fmt, block, eoa_at)
        size = os.fstat(fh.fileno()).st_size
        if block[11] == 0 and eoa >= size:
            return False
        block[11] = 0
        struct.pack_into(fmt, block, eoa_at, max(eoa, size))
        struct.pack_into("<I", block, end, lookup3(bytes(block[:end])))
        fh.seek(0)
        fh.write(block[: end + 4])
        fh.flush()
        os.fsync(fh.fileno())
    return True


# -- HDF5's error messages ---------------------------------------------------------------------

_LOCK_ERRNOS = (errno.ENOLCK, errno.ENOSYS)
_LOCK_ERRNO_TEXTS = tuple(f"errno = {code}," for code in _LOCK_ERRNOS) + ("No locks available",
                                                                          "Function not implemented")


def open_for_write_elsewhere(exc: BaseException) -> bool:
    """Whether opening a file failed because a writer has it open (or died with it open): its superblock's
    status flags are set, so only a read in SWMR mode (or clearing them) gets in."""
    return "already open for write" in str(exc)


def finishing_elsewhere(exc: BaseException) -> bool:
    """Whether opening a file failed because a writer holds it without SWMR for a moment (laying it out,
    or finishing it): HDF5's own file lock is taken, or its SWMR flag is not set yet."""
    text = str(exc)
    return "unable to lock file" in text or "not already open for SWMR writing" in text


def lock_unsupported(exc: BaseException) -> bool:
    """Whether ``exc`` is HDF5 failing to take its file lock because the filesystem has no locks
    (ENOLCK, ENOSYS: NFS without a lock daemon, some parallel filesystems)."""
    text = str(exc)
    return "unable to lock file" in text and (getattr(exc, "errno", None) in _LOCK_ERRNOS
                                              or any(t in text for t in _LOCK_ERRNO_TEXTS))


# -- datasets ----------------------------------------------------------------------------------


def cut_rows(dataset: h5py.Dataset, n: int) -> None:
    """Cut ``dataset`` (chunked along rows) to ``n`` rows, the cells of the chunk holding row ``n`` that
    lie past it emptied first.

    A writer killed while it wrote variable-length strings (finishing a file, with SWMR off)
    may leave cells past the dataset's recorded length pointing at global-heap objects that
    never reached the file, or sit in a torn collection; writing over such a cell later makes
    HDF5 free its old object, reading the collection, and fail or loop. Growing the dataset
    over the whole chunk and shrinking it back makes HDF5 fill the cut cells with the fill
    value, without reading what they pointed to.
    """
    if n > dataset.shape[0]:
        raise ValueError(f"cut_rows: {dataset.name} has {dataset.shape[0]} rows, fewer than {n}")
    rows = dataset.chunks[0]
    edge = math.ceil(n / rows) * rows
    if edge > dataset.shape[0]:
        dataset.resize(edge, axis=0)
    dataset.resize(n, axis=0)


def open_uncached(dataset: h5py.Dataset) -> h5py.Dataset:
    """``dataset`` closed and opened anew without a chunk cache (so HDF5 reads a selection straight into the
    caller's array). HDF5 shares an open dataset's object, and its cache, among a file's openings of it:
    the caller holds no other opening."""
    file, name = dataset.file, dataset.name
    dataset.id.close()
    access = h5py.h5p.create(h5py.h5p.DATASET_ACCESS)
    access.set_chunk_cache(0, 0, 1.0)
    return h5py.Dataset(h5py.h5d.open(file.id, name.encode(), access))


def filters(dataset: h5py.Dataset) -> list[tuple[int, int, tuple[int, ...]]]:
    """``dataset``'s filter pipeline, each filter as (id, flags, values): plugin filters too, which h5py's
    high-level properties do not name."""
    plist = dataset.id.get_create_plist()
    return [tuple(plist.get_filter(i)[:3]) for i in range(plist.get_nfilters())]


def create_like(parent: h5py.Group, name: str, source: h5py.Dataset, shape: tuple[int, ...],
                maxshape: tuple[int | None, ...]) -> h5py.Dataset:
    """A dataset ``name`` in ``parent`` of ``source``'s type and creation properties (chunks, every filter,
    plugins included, fill value) with this shape and maximum shape (None: unlimited)."""
    space = h5py.h5s.create_simple(shape, tuple(h5py.h5s.UNLIMITED if m is None else m for m in maxshape))
    dsid = h5py.h5d.create(parent.id, name.encode(), source.id.get_type(), space, dcpl=source.id.get_create_plist())
    return h5py.Dataset(dsid)


def copy_stored_chunks(source: h5py.Dataset, target: h5py.Dataset, offset: int, rows: int) -> None:
    """Copy ``source``'s chunks holding rows ``[0, rows)`` (whole chunks) to ``target`` from row ``offset``
    on, as stored (no decompression): the two must have the same chunks and filters, ``offset`` a multiple
    of the chunk's rows."""
    zeros = (0,) * (source.ndim - 1)
    buffer = None  # one buffer for every chunk: a fresh one each (MiBs) costs the kernel more than the copy
    for start in range(0, rows, source.chunks[0]):
        size = source.id.get_chunk_info_by_coord((start, *zeros)).size
        if buffer is None or len(buffer) < size:
            buffer = np.empty(size, dtype=np.uint8)
        mask, data = source.id.read_direct_chunk((start, *zeros), out=buffer)
        target.id.write_direct_chunk((offset + start, *zeros), data[:size], mask)


def dataset_names(file: h5py.File, keep: Callable[[str], bool]) -> Iterator[str]:
    """The paths of ``file``'s datasets that ``keep`` accepts, found without opening each object (a merge of
    100 parts lists them all)."""
    found: list[str] = []

    def visit(name: bytes, info: h5py.h5o.ObjInfo) -> None:
        if info.type == h5py.h5o.TYPE_DATASET and keep(name.decode()):
            found.append(name.decode())

    h5py.h5o.visit(file.id, visit, info=True)
    return iter(found)


def unchecked_chunk(dataset: h5py.Dataset, row: int) -> np.ndarray | None:
    """The values of ``dataset``'s chunk that starts at ``row``, as stored, their checksum not checked: the
    chunk's shape (rows past the dataset's end too); None where the dataset has filters other than
    Fletcher32 (its stored bytes are not its values), its chunks do not span its other dimensions, or
    the chunk was never written."""
    if [f[0] for f in filters(dataset)] != [h5py.h5z.FILTER_FLETCHER32] or dataset.chunks[1:] != dataset.shape[1:]:
        return None
    offset = (row, *(0,) * (dataset.ndim - 1))
    info = dataset.id.get_chunk_info_by_coord(offset)
    size = int(np.prod(dataset.chunks)) * dataset.dtype.itemsize
    if info.byte_offset is None or info.size != size + 4:
        return None
    _, data = dataset.id.read_direct_chunk(offset)
    return np.frombuffer(data, dtype=dataset.dtype, count=int(np.prod(dataset.chunks))).reshape(dataset.chunks)
