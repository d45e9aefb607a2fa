"""HDF5 output, reading side: :func:`open` gives a :class:`SpectrogramFile`, :func:`describe` a summary.

Importing this module does not import torch (``ecgspec info`` stays fast): only indexing a
:class:`SpectrogramFile` does, to hand back tensors.
"""

from __future__ import annotations

import json
import operator
import os
import time
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable

import h5py
import numpy as np

from ..engine import frames as fr
from ..signal.quality import flag_counts, flag_mask
from .layout import (
    REQUIRED,
    OutputError,
    committed,
    committed_counts,
    compression_name,
    is_partial_name,
    missing_sources,
    open_for_reading,
    read_column,
)
from .probe import needs_probe, probe

if TYPE_CHECKING:
    import torch

__all__ = ["SpectrogramFile", "open", "describe"]

SWMR_RETRIES = 20  # reopenings of a file being written when a read races the writer

class _Attribute:
    """A read-only property for the root attribute of the same name, converted by ``convert``."""

    def __init__(self, convert: Callable[[Any], Any], doc: str) -> None:
        self.convert = convert
        self.__doc__ = doc

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: SpectrogramFile | None, owner: type | None = None) -> Any:
        if obj is None:
            return self
        return self.convert(obj._h5().attrs[self.name])


def _shape(value: Any) -> tuple[int, ...]:
    return tuple(int(n) for n in value)


class SpectrogramFile:
    """An output, read lazily; a map-style Dataset of ``(spectrogram tensor, record_name, start)``.

    ``DataLoader`` takes it as it is (map-style datasets are duck-typed: ``__len__`` and
    ``__getitem__``); it does not subclass ``torch.utils.data.Dataset`` so that reading a
    file's summary needs no torch. Safe with ``DataLoader(num_workers > 0)``: it pickles as
    its path alone and each process opens its own HDF5 handle on first use (h5py handles must
    not cross a fork). Spectrograms keep the stored dtype (float32 or float16).

    Rows are in the order records were added: a file made by one run is sorted by record
    name; records added later by ``--resume`` follow, in their own sorted order. Each window
    names its record (``/windows/record``), so going by names gives what one run over all
    the inputs would.

    ``allow_partial=True`` also reads an unfinished output, even while ``extract`` is still
    writing it (HDF5 SWMR): it shows the records committed when it was opened or last
    :meth:`refresh`-ed, a consistent view that only grows. Such a file is first read by a child
    process within a deadline (:mod:`ecgspec.store.probe`): one that does not answer in time is damaged,
    an OutputError, never waited on.

    ``exclude`` leaves out the windows carrying any of the given quality flags (names such as
    ``("flat", "clipped")`` or a bitmask, see :mod:`ecgspec.signal.quality`): ``len``, indices and
    :attr:`windows` then count the windows kept only.
    """

    def __init__(self, path: str | os.PathLike[str], *, allow_partial: bool = False,
                 exclude: int | str | Iterable[str] = 0) -> None:
        self.path = Path(path)
        self.allow_partial = allow_partial
        self.exclude = flag_mask(exclude)
        self._file: h5py.File | None = None
        self._pid: int | None = None
        if allow_partial and needs_probe(self.path):
            probe(self.path, _describe)  # HDF5 may loop forever on a damaged partial: a child reads it first
        if not allow_partial and (is_partial_name(self.path) or not self.complete):
            self.close()
            raise OutputError(
                f"{self.path} is unfinished (an interrupted run?); finish it with --resume,"
                " or open it with allow_partial=True to read its complete records"
            )
        if self.exclude and "qc" not in self._h5()["windows"]:
            self.close()
            raise OutputError(f"{self.path} was written before quality flags (no /windows/qc); cannot exclude by them")

    def _h5(self) -> h5py.File:
        if self._file is None or self._pid != os.getpid():
            try:
                file = open_for_reading(self.path)
            except OSError as exc:
                raise OutputError(f"cannot read {self.path}: {exc}") from exc
            missing = next((name for name in REQUIRED if name not in file), None)
            if missing is not None or "config" not in file.attrs:
                file.close()
                raise OutputError(f"{self.path}: not an ecgspec output (no {missing or 'config attribute'})")
            lost = missing_sources(file["spectrograms"], self.path.parent)  # a virtual file's parts (merge --virtual)
            if lost:
                file.close()
                raise OutputError(f"{self.path}: the part files its virtual /spectrograms reads are missing: "
                                  f"{', '.join(lost)} (relative to {self.path.parent}); move the folder as a whole")
            self._file, self._pid = file, os.getpid()
        return self._file

    def __getstate__(self) -> dict[str, Any]:
        """Only the path travels: each process opens its own handle."""
        return {"path": self.path, "allow_partial": self.allow_partial, "exclude": self.exclude, "_file": None,
                "_pid": None}

    # -- Dataset -----------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.windows["record"])

    def __getitem__(self, index: int) -> tuple[torch.Tensor, str, int]:
        import torch

        i = operator.index(index)
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"window {index} out of range for {n} windows")
        i %= n
        values = self.spectrograms[int(self._kept[i])]
        name = self.records["name"][self.windows["record"][i]]
        return torch.from_numpy(values), str(name), int(self.windows["start"][i])

    # -- contents ----------------------------------------------------------------------------

    @property
    def spectrograms(self) -> h5py.Dataset:
        """The ``/spectrograms`` dataset, to slice without loading it all."""
        return self._h5()["spectrograms"]

    @cached_property
    def _tables(self) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], int, np.ndarray]:
        """The committed /records columns, the kept windows' columns, the number of committed /errors
        rows, and each kept window's row in /spectrograms."""
        records, windows, n_errors = self._committed_tables()
        kept = np.flatnonzero((windows["qc"] & self.exclude) == 0)
        if len(kept) < len(windows["qc"]):
            windows = {k: v[kept] for k, v in windows.items()}
        return records, windows, n_errors, kept

    @property
    def _kept(self) -> np.ndarray:
        return self._tables[3]

    def _committed_tables(self) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], int]:
        """The committed /records and /windows columns, and the number of committed /errors rows."""
        if not self._h5().swmr_mode:
            return (*committed(self._h5()), committed_counts(self._h5())[2])
        # A file being written. An SWMR handle cannot read what was allocated after it opened
        # ("address past end of allocation"): count the committed rows, then reopen, so the
        # handle that reads them (and the spectrograms) sees all of them.
        for attempt in range(SWMR_RETRIES):
            try:
                counts = committed_counts(self._h5())
                self.close()
                return (*committed(self._h5(), counts), counts[2])
            except OSError:
                self.close()
                if attempt == SWMR_RETRIES - 1:
                    raise
                time.sleep(0.01)
        raise AssertionError("unreachable")

    @property
    def records(self) -> dict[str, np.ndarray]:
        """The ``/records`` columns (complete records only), names decoded to ``str``."""
        return self._tables[0]

    @property
    def windows(self) -> dict[str, np.ndarray]:
        """``record``, ``start`` and ``qc`` of each window (of a complete record, not excluded)."""
        return self._tables[1]

    @property
    def qc(self) -> np.ndarray:
        """The quality flags of each window (:mod:`ecgspec.signal.quality`; 0 in files written before them)."""
        return self.windows["qc"]

    @cached_property
    def frame_times(self) -> np.ndarray:
        """Seconds from a window's first sample to the centre of each frame (``/frames/time``)."""
        file = self._h5()
        if "frames/time" in file:
            return file["frames/time"][:]
        return np.array(self._geometry.times())  # a file from before /frames: the same arithmetic, from its config

    @cached_property
    def edge_frames(self) -> np.ndarray:
        """Whether each frame weighs a reflect-padded sample (``/frames/edge``)."""
        file = self._h5()
        if "frames/edge" in file:
            return file["frames/edge"][:]
        return np.array(self._geometry.edges(), dtype=bool)

    @cached_property
    def _geometry(self) -> fr.Geometry:
        c = self.config
        return fr.Geometry(c["n_samples"], c["fs"], self.win_length, self.hop_length, self.n_fft, c.get("feature_fs"))

    @cached_property
    def errors(self) -> list[tuple[str, str]]:
        """``(name, message)`` of each skipped record."""
        n_errors = self._tables[2]  # first: it may reopen the handle
        group = self._h5()["errors"]
        n = min(n_errors, group["name"].shape[0], group["message"].shape[0])
        return list(zip(read_column(group["name"], n).tolist(), read_column(group["message"], n).tolist()))

    @cached_property
    def frequencies(self) -> np.ndarray:
        """Bin centre frequencies in Hz."""
        return self._h5()["frequencies"][:]

    @cached_property
    def config(self) -> dict[str, Any]:
        """The effective config of the run that wrote the file."""
        return json.loads(self._h5().attrs["config"])

    window_shape = _Attribute(_shape, "Shape of one window's spectrogram.")
    n_fft = _Attribute(int, "FFT size of the STFT.")
    win_length = _Attribute(int, "STFT window length in samples at the config fs.")
    hop_length = _Attribute(int, "STFT hop in samples at the config fs.")
    ecgspec_version = _Attribute(str, "Version of ecgspec that wrote the file.")

    def refresh(self) -> None:
        """Take in what a running ``extract`` committed since this file was opened (or last refreshed)."""
        for name in ("_tables", "errors"):
            self.__dict__.pop(name, None)
        self.close()

    @property
    def complete(self) -> bool:
        """True only once the writer finished the file."""
        return bool(self._h5().attrs.get("complete", False))

    # -- lifetime ----------------------------------------------------------------------------

    def close(self) -> None:
        """Close this process's handle; a later access reopens it."""
        if self._file is not None and self._pid == os.getpid():
            self._file.close()
        self._file = None

    def __enter__(self) -> SpectrogramFile:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def open(  # noqa: A001
    path: str | os.PathLike[str], *, allow_partial: bool = False, exclude: int | str | Iterable[str] = 0
) -> SpectrogramFile:
    """Open a finished output (an unfinished one, even one being written, only with ``allow_partial=True``),
    leaving out the windows flagged ``exclude`` (e.g. ``("flat", "clipped")``).

    Rows are in the order records were added: one run's file is sorted by record name, and
    records added later with ``--resume`` follow in their own sorted order. Every window sits
    beside its ``/windows`` and ``/records`` rows, so a reader going by names sees what one
    run over all the inputs would give.
    """
    return SpectrogramFile(path, allow_partial=allow_partial, exclude=exclude)


def describe(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A summary of an output (finished or not) for ``ecgspec info``; a file HDF5 cannot read is an OutputError."""
    try:
        return _describe(path)
    except (OSError, KeyError, ValueError, TypeError, RuntimeError) as exc:  # h5py's errors on a damaged file
        raise OutputError(f"cannot read {path}: {' '.join(str(exc).split()) or type(exc).__name__}"
                          " (damaged?)") from exc


def _describe(path: str | os.PathLike[str]) -> dict[str, Any]:
    with SpectrogramFile(path, allow_partial=True) as file:
        records, windows, errors = len(file.records["name"]), len(file), len(file.errors)
        spectrograms = file.spectrograms  # after: reading the tables of a running output reopens the file
        return {
            "path": str(file.path),
            "complete": file.complete,
            "records": records,
            "windows": windows,
            "errors": errors,
            "qc": flag_counts(file.qc) if "qc" in file._h5()["windows"] else None,
            "window_shape": list(file.window_shape),
            "dtype": str(spectrograms.dtype),
            "compression": compression_name(spectrograms),
            "config": file.config,
            "size_bytes": file.path.stat().st_size,
            "ecgspec_version": file.ecgspec_version,
        }
