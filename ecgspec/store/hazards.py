"""Errors users meet on shared filesystems, turned into one line saying what to do; h5py only once one came.

HDF5 locks every file it opens (``flock``). Some shared filesystems (NFS without a lock
daemon, some parallel filesystems) refuse: HDF5 then fails with "unable to lock file" and
errno ENOLCK ("No locks available") or ENOSYS ("Function not implemented"). Setting
``HDF5_USE_FILE_LOCKING=FALSE`` in the environment of every process that opens the files
(each Dask worker too) turns the lock off; ecgspec never has two writers on one file, and its
own ``.partial`` naming keeps readers off unfinished files.
"""

from __future__ import annotations

from ..errors import one_line

__all__ = ["file_locking_hint"]


def _chain(exc: BaseException):
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def file_locking_hint(exc: BaseException) -> str | None:
    """One line for an HDF5 file-locking failure anywhere in ``exc``'s chain, or None if it is not one."""
    from .lowlevel import lock_unsupported  # HDF5's wording: imported (with h5py) only once an error came

    for link in _chain(exc):
        if lock_unsupported(link):
            return (f"{one_line(exc)}; this filesystem (NFS or another shared one?) does not support HDF5's file locks:"
                    " set HDF5_USE_FILE_LOCKING=FALSE in the environment (of every worker on a cluster) and run again")
    return None
