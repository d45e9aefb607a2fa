"""A summary of an output, finished or not, for ``ecgspec info`` (re-exported as ``ecgspec.describe``);
no torch here."""

from __future__ import annotations

import os
from typing import Any

from ..errors import OutputError, one_line
from ..signal.quality import flag_counts
from .checksums import is_checksummed
from .layout import compression_name
from .reader import SpectrogramFile
from .signals import signal_summary
from .targets import class_counts

__all__ = ["describe", "summarise"]


def describe(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A summary of an output, finished or not: what ``ecgspec info`` prints (``--json``: this dict).

    Parameters
    ----------
    path : str or PathLike
        An ``ecgspec extract`` output, or its ``.partial`` file (read first by a child process
        within a deadline).

    Returns
    -------
    dict
        ``path``, ``complete``, ``records``, ``windows``, ``errors`` (counts), ``qc`` (windows
        per quality flag), ``window_shape``, ``dtype``, ``compression``, ``config``, ``meta`` and
        ``labels`` (column names), ``targets`` (the vocabulary and each class's record count),
        ``size_bytes``, ``ecgspec_version``, ``checksummed`` (the file's values carry checksums:
        ``ecgspec verify`` checks them).

    Raises
    ------
    OutputError
        A file HDF5 cannot read (damaged?) or that is no ecgspec output.

    Examples
    --------
    >>> import ecgspec
    >>> summary = ecgspec.describe("out.h5")
    >>> summary["records"], summary["windows"], summary["complete"]
    (10, 10, True)
    """
    try:
        return summarise(path)
    except (OSError, KeyError, ValueError, TypeError, RuntimeError) as exc:  # h5py's errors on a damaged file
        raise OutputError(f"cannot read {path}: {one_line(exc)}"
                          " (damaged?)") from exc


def summarise(path: str | os.PathLike[str]) -> dict[str, Any]:
    """:func:`describe` without turning h5py's errors into an OutputError."""
    with SpectrogramFile(path, allow_partial=True) as file:
        records, windows, errors = len(file.records["name"]), len(file), len(file.errors)
        signals = file.config.get("store") == "signals"
        values = file._h5()["signals" if signals else "spectrograms"]  # after: reading the tables may reopen the file
        return {
            "path": str(file.path),
            "complete": file.complete,
            "records": records,
            "windows": windows,
            "errors": errors,
            "qc": flag_counts(file.qc) if "qc" in file._h5()["windows"] else None,
            "window_shape": list(file.window_shape),
            "store": "signals" if signals else "spectrograms",
            "dtype": str(values.dtype),
            "compression": compression_name(values),
            **(signal_summary(values, file.window_shape) if signals else {}),
            "checksummed": is_checksummed(file._h5()),  # Fletcher32 and string CRCs (ecgspec verify checks them)
            "config": file.config,
            "meta": sorted(k.removeprefix("meta/") for k in file.records if k.startswith("meta/")),
            "labels": sorted(k.removeprefix("labels/") for k in file.records if k.startswith("labels/")),
            "targets": class_counts(file._h5(), records),
            "size_bytes": file.path.stat().st_size,
            "ecgspec_version": file.ecgspec_version,
        }
