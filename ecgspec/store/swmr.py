"""What resuming an HDF5 file in SWMR mode needs beyond h5py: the writer lock and the superblock flags.

An output is written in HDF5's single-writer/multiple-reader mode (``libver="latest"``,
superblock version 3). While a writer has it open, HDF5 marks the superblock's status
flags; a writer that dies (SIGKILL, power loss) leaves them set, and HDF5 then refuses
to open the file for writing ("file is already open for write"). ``h5clear -s`` clears
them; :func:`clear_status_flags` does the same in pure Python (no HDF5 tools needed).

Clearing the flags of a file that a live writer still has open would let two writers
corrupt it, so every writer first takes :class:`WriterLock`: an exclusive ``flock`` on
``OUTPUT.partial.lock``. The kernel drops an flock when its holder dies, however it dies,
so a lock that can be taken means no live writer: its holder is gone and its flags are
stale. (flock works on local filesystems and, on Linux, over NFS as a POSIX lock; a
writer on another host whose lease has not yet expired still counts as live.)
"""

from __future__ import annotations

import fcntl
import os
import socket
import struct
from pathlib import Path

from ..errors import LockHeld

__all__ = ["WriterLock", "LockHeld", "clear_status_flags", "lookup3", "status_flags", "superblock_version"]

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


def superblock_version(path: Path) -> int | None:
    """The HDF5 superblock version at the start of ``path``, or None when it is no HDF5 file."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(9)
    except OSError:
        return None
    return head[8] if len(head) == 9 and head.startswith(SIGNATURE) else None


def clear_status_flags(path: Path) -> bool:
    """Clear a v2/v3 superblock's status flags, as ``h5clear -s --increment`` does; return whether it changed.

    Layout (HDF5 file format spec, superblock v2/v3, at byte 0): signature (8), version (1),
    size of offsets O (1), size of lengths (1), status flags (1), then four O-byte addresses
    (base, superblock extension, end-of-file address, root object header) and a lookup3
    checksum of everything before it. A killed writer may leave the end-of-file address
    below the file's size; it is raised to the size so HDF5 does not call the file truncated.
    Raises ValueError when the superblock is not one this can clear or its checksum is wrong.
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


class WriterLock:
    """An exclusive ``flock`` on ``path`` (created if needed), held until :meth:`release`.

    The lock file holds the holder's pid and host, for the message another writer gets.
    After taking the lock, the file is checked to still be the one at ``path`` (a finishing
    writer unlinks it while holding the lock); otherwise the attempt starts again.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        for _ in range(10):
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
                os.close(fd)
                raise LockHeld(f"{holder} is writing it (lock {path})") from None
            try:
                same = os.fstat(fd).st_ino == os.stat(path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                os.ftruncate(fd, 0)
                os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode(), 0)
                self._fd: int | None = fd
                return
            os.close(fd)
        raise LockHeld(f"cannot take the lock {path}: it keeps being replaced")

    def release(self, unlink: bool = True) -> None:
        """Drop the lock (deleting the lock file first, while still held). Idempotent."""
        if self._fd is None:
            return
        if unlink:
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass
        os.close(self._fd)
        self._fd = None


def status_flags(path: Path) -> int:
    """A v2/v3 superblock's status flags (set while a writer has the file open, and after it was killed);
    0 for other files, unreadable ones included."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(12)
    except OSError:
        return 0
    return head[11] if len(head) == 12 and head.startswith(SIGNATURE) and head[8] in (2, 3) else 0
