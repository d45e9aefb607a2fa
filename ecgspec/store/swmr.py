"""The writer lock: at most one live writer of an output, and a dead writer told from a live one.

An output is written in HDF5's single-writer/multiple-reader mode (superblock version 3).
While a writer has it open, HDF5 marks the superblock's status flags; a writer that dies
(SIGKILL, power loss) leaves them set, and HDF5 then refuses to open the file for writing
("file is already open for write") until they are cleared
(:func:`ecgspec.store.lowlevel.clear_status_flags`).

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
import re
import socket
from pathlib import Path

from ..errors import LockHeld

__all__ = ["WriterLock", "LockHeld", "writer_alive"]


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


def writer_alive(path: Path) -> bool:
    """Whether the writer that lock file ``path`` names may still run, for a reader deciding whether to wait for
    it: a process of this host that exists and is not a zombie, or any process of another host (which this
    one cannot see). No lock file, or one naming nobody: no writer. (Taking the lock to find out would make
    a writer starting at that moment refuse to.)"""
    try:
        found = re.match(r"pid (\d+) on (\S+)", path.read_text())
    except OSError:
        return False
    if found is None or found[2] != socket.gethostname():
        return found is not None
    try:
        with open(f"/proc/{found[1]}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
    except OSError:  # no /proc (not Linux): whether the process exists
        try:
            os.kill(int(found[1]), 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass
        return True
