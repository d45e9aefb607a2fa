"""HDF5 output, reading side: :func:`open` gives a :class:`SpectrogramFile`, :func:`ecgspec.store.summary.describe` a summary.

Importing this module does not import torch (``ecgspec info`` stays fast): only indexing a
:class:`SpectrogramFile` does, to hand back tensors.
"""

from __future__ import annotations

import json
import os
import time
from functools import cached_property
from pathlib import Path
from typing import Any, Callable, Iterable

import h5py
import numpy as np

from ..signal.quality import flag_mask
from .axes import Axes
from .batch_reads import BatchedReads
from .layout import (
    REQUIRED,
    OutputError,
    committed,
    committed_counts,
    is_partial_name,
    missing_sources,
    open_for_reading,
    uncached_if_raw,
)
from .probe import needs_probe, probe
from .record_groups import read_groups, record_mask
from .root_attrs import RootAttribute as _Attribute
from .root_attrs import shape as _shape
from .signal_file import SignalView
from .staged import read as read_strings
from .targets import file_classes, read_targets
from .verify import committed_readable

__all__ = ["SignalFile", "SpectrogramFile", "open"]

Where = Callable[[dict[str, np.ndarray]], Any]  # the /records table -> a boolean mask over records

SWMR_RETRIES = 20  # reopenings of a file being written when a read races the writer


class SpectrogramFile(BatchedReads, Axes):
    """An output, read lazily: a map-style Dataset of windows for ``torch.utils.data.DataLoader``.

    Made by :func:`open`. Item ``i`` is a named tuple ``Window(spectrogram, name, start)``: the
    window's spectrogram as a tensor of the stored dtype (float32 or float16), its record's name,
    and its first sample at the config's ``fs``; with ``columns``, a ``WindowColumns`` whose fourth
    field is a dict of those columns' values. DataLoader batches them into the same named tuple,
    reading each run of consecutive windows with one HDF5 read into one batch array
    (:meth:`__getitems__`), which the collate hands on without a copy.

    Parameters
    ----------
    path, allow_partial, exclude, where, columns
        As :func:`open`'s, which makes it (one home for what they mean).

    Attributes
    ----------
    window_shape : tuple of int
        One window's spectrogram shape (a root attribute of the file, as the four below).
    n_fft, win_length, hop_length : int
        The STFT's sizes, in samples at the config's ``fs``.
    ecgspec_version : str
        The version that wrote the file.

    Raises
    ------
    OutputError
        The file is not an ecgspec output, cannot be read, is unfinished (without
        ``allow_partial``), lacks a column of ``columns``, or lacks the ``/windows/qc`` that
        ``exclude`` needs; a virtual file's parts are missing. Reading a damaged chunk (its
        checksum fails) raises it too, naming the records it holds and the repair.

    Notes
    -----
    It does not subclass ``torch.utils.data.Dataset`` (map-style datasets are duck-typed), so
    reading a file's summary needs no torch. It is safe with ``DataLoader(num_workers > 0)``: it
    pickles as its path and choices, and each process opens its own HDF5 handle on first use.
    Rows are in the order records were added: one run's file is sorted by record name; records
    added by ``--resume`` follow, in their own sorted order.

    Examples
    --------
    >>> import ecgspec
    >>> from torch.utils.data import DataLoader
    >>> with ecgspec.open("out.h5") as ds:
    ...     spec, name, start = ds[0]
    ...     batch = next(iter(DataLoader(ds, batch_size=4)))
    >>> name, start, tuple(spec.shape), tuple(batch.spectrogram.shape), batch.name[:2]
    ('E07500', 0, (2, 64, 38), (4, 2, 64, 38), ['E07500', 'E07501'])
    """

    def __init__(self, path: str | os.PathLike[str], *, allow_partial: bool = False,
                 exclude: int | str | Iterable[str] = 0, where: Where | None = None,
                 columns: Iterable[str] | None = None) -> None:
        self.path = Path(path)
        self.allow_partial = allow_partial
        self.exclude = flag_mask(exclude)
        self.where = where
        self.columns = tuple(columns or ())
        self._record_mask: np.ndarray | None = None  # where's mask, once computed (it travels to workers)
        self._file: h5py.File | None = None
        self._pid: int | None = None
        self._dataset: h5py.Dataset | None = None
        if allow_partial and needs_probe(self.path):
            probe(self.path, _read_all)  # HDF5 may loop forever on a damaged partial: a child reads it first
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
            values = "signals" if "signals" in file else "spectrograms"  # extract --store signals: no spectrograms
            required = (values, *(name for name in REQUIRED if name != "spectrograms"))
            missing = next((name for name in required if name not in file), None)
            if missing is not None or "config" not in file.attrs:
                file.close()
                raise OutputError(f"{self.path}: not an ecgspec output (no {missing or 'config attribute'})")
            # opened first, and kept: HDF5 shares one dataset object among a file's handles to it, so
            # its chunk cache (none where unfiltered: uncached_if_raw) is set by the first opening. Not
            # for a file being written (SWMR): a dataset kept open across the writer's growth failed
            # to read its chunk index ("can't insert duplicate key"); it is looked up at each read
            dataset = file[values] if file.swmr_mode else uncached_if_raw(file, values)
            lost = missing_sources(dataset, self.path.parent)  # a virtual file's parts (merge --virtual)
            if lost:
                file.close()
                raise OutputError(f"{self.path}: the part files its virtual /spectrograms reads are missing: "
                                  f"{', '.join(lost)} (relative to {self.path.parent}); move the folder as a whole")
            self._file, self._pid, self._dataset = file, os.getpid(), None if file.swmr_mode else dataset
        return self._file

    def __getstate__(self) -> dict[str, Any]:
        """The path and the choices travel (``where`` as its mask over records, packed to bits, not the
        function): each process opens its own handle and reads the tables again."""
        if self.where is not None and self._record_mask is None:
            self._tables  # noqa: B018  # computes the mask
        mask = None if self._record_mask is None else (np.packbits(self._record_mask), len(self._record_mask))
        return {"path": self.path, "allow_partial": self.allow_partial, "exclude": self.exclude,
                "columns": self.columns, "mask": mask}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.path, self.allow_partial, self.exclude = state["path"], state["allow_partial"], state["exclude"]
        self.columns, self.where = state["columns"], None
        mask = state["mask"]
        self._record_mask = None if mask is None else np.unpackbits(mask[0], count=mask[1]).astype(bool)
        self._file = self._pid = self._dataset = None

    # -- Dataset -----------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._kept)

    def sampler(self, shuffle: bool = True, block: int = 64, seed: int = 0) -> Any:
        """A torch Sampler over this Dataset's windows: every index once, in blocks of up to ``block``
        consecutive windows, the blocks in a random order (``shuffle``) that :meth:`set_epoch` changes.
        With ``batch_size=block`` each batch is one HDF5 read (two where it spans the last, shorter block)."""
        from .sampling import BlockSampler

        return BlockSampler(len(self), block=block, shuffle=shuffle, seed=seed)

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
        records.update(read_groups(self._h5(), records))
        records.update(read_targets(self._h5(), len(records["name"])))  # (n_records, n_classes) uint8
        keep = (windows["qc"] & self.exclude) == 0
        if self.where is not None or self._record_mask is not None:
            keep &= self._where_mask(records)[windows["record"]]
        missing = [c for c in self.columns if c not in records]
        if missing:
            raise OutputError(f"{self.path}: columns: no /records column {missing[0]!r}"
                              f" (columns: {', '.join(sorted(records))})")
        kept = np.flatnonzero(keep)
        if len(kept) < len(windows["qc"]):
            windows = {k: v[kept] for k, v in windows.items()}
        return records, windows, n_errors, kept

    def _where_mask(self, records: dict[str, np.ndarray]) -> np.ndarray:
        """``where(records)`` as a boolean array, one per record (kept: a worker gets it with the state)."""
        if self._record_mask is None:
            self._record_mask = record_mask(self.where, records, self.path)  # type: ignore[arg-type]
        n, have = len(records["name"]), len(self._record_mask)
        return self._record_mask[:n] if have >= n else np.pad(self._record_mask, (0, n - have))  # later records: out

    @property
    def _kept(self) -> np.ndarray:
        return self._tables[3]

    def _committed_tables(self) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], int]:
        """The committed /records and /windows columns, and the number of committed /errors rows."""
        if not self._h5().swmr_mode:
            counts = committed_counts(self._h5())
            return (*committed_readable(self._h5(), counts), counts[2])
        # A file being written. An SWMR handle cannot read what was allocated after it opened
        # ("address past end of allocation"): count the committed rows, then reopen, so the
        # handle that reads them (and the spectrograms) sees all of them.
        for attempt in range(SWMR_RETRIES):
            try:
                counts = committed_counts(self._h5())
                self.close()
                read = committed_readable if attempt == SWMR_RETRIES - 1 else committed  # (a torn chunk: retried)
                return (*read(self._h5(), counts), counts[2])
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
    def errors(self) -> list[tuple[str, str]]:
        """``(name, message)`` of each skipped record."""
        n_errors = self._tables[2]  # first: it may reopen the handle
        texts = read_strings(self._h5(), "errors", n_errors, ("name", "message"))
        return list(zip(texts["name"].tolist(), texts["message"].tolist()))

    @property
    def classes(self) -> list[str]:
        """The class names of ``/records/targets`` (``--targets``), in column order; ``[]`` without."""
        return file_classes(self._h5())

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
        for name in ("_tables", "errors", "_items"):
            self.__dict__.pop(name, None)
        if self.where is not None:
            self._record_mask = None  # asked again of the records then committed
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
        self._file = self._dataset = None

    def __enter__(self) -> SpectrogramFile:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class SignalFile(SignalView, SpectrogramFile):
    """A signals file (``extract --store signals``) as the same Dataset, its spectrograms computed as read
    (:class:`~ecgspec.store.signal_file.SignalView`)."""


def open(  # noqa: A001
    path: str | os.PathLike[str], *, allow_partial: bool = False, exclude: int | str | Iterable[str] = 0,
    where: Where | None = None, columns: Iterable[str] | None = None, device: Any = None, crop: str | None = None,
    stride: int | None = None, seed: int = 0,
) -> SpectrogramFile:
    """Open an ``ecgspec extract`` output as a Dataset of its windows.

    Parameters
    ----------
    path : str or PathLike
        An ``ecgspec extract`` output.
    allow_partial : bool, default False
        Also read an unfinished output, even one ``extract`` is still writing: the records
        committed when it was opened or last :meth:`refresh`-ed, a view that only grows. Such a
        file is first read by a child process within a deadline (HDF5 can loop forever on a
        damaged file).
    exclude : int, str or iterable of str, default 0
        Leave out the windows carrying any of these quality flags: names (``("flat",
        "clipped")``) or a bitmask (``6``); ``len``, indices and ``windows`` then count the
        windows kept.
    where : callable, optional
        Takes :attr:`records` (every ``/records`` column by name, ``meta/<key>``,
        ``labels/<column>`` and ``targets`` included) and returns a boolean mask over records:
        only their windows are kept. With DataLoader workers the mask travels, not the function.
    columns : iterable of str, optional
        :attr:`records` columns to add to each item: an item is then ``(spectrogram, name,
        start, {column: value})``; ``"targets"`` gives the record's class row as a float32 tensor.
    device : str or torch.device, optional
        A signals file (``extract --store signals``) only: where each batch's spectrograms are
        computed (one engine call a batch); None: the CPU of the process that reads the batch.
    crop : {"random"} or None, default None
        A signals file only: one random window-long crop a record, drawn from ``seed``, the epoch
        (``ds.set_epoch``) and the record's row, in place of the stored windows.
    stride : int, optional
        A signals file only: every crop starting at a multiple of ``stride`` samples from the
        record's start, a record's crops together (test-time windows).
    seed : int, default 0
        With ``crop="random"``: the crops' draw.

    Returns
    -------
    SpectrogramFile
        The Dataset (``len``, indexing, ``DataLoader``), with the file's tables and attributes:
        ``records``, ``windows``, ``qc``, ``classes``, ``errors``, ``config``, ``window_shape``,
        ``frequencies``, ``frame_times``, ``edge_frames``. A context manager; ``close()`` closes
        this process's handle.

    Raises
    ------
    OutputError
        Not an ecgspec output, unreadable or damaged, unfinished without ``allow_partial``, a
        missing column, or missing parts of a virtual file; ``device``, ``crop`` or ``stride`` for a
        file of spectrograms; later, a damaged chunk read.

    Examples
    --------
    >>> import ecgspec
    >>> with ecgspec.open("out.h5", exclude=("flat", "clipped"), columns=("meta/Sex",)) as ds:
    ...     spec, name, start, columns = ds[0]
    ...     print(len(ds), ds.window_shape, name, columns)
    10 (2, 64, 38) E07500 {'meta/Sex': 'Male'}
    """
    file = SpectrogramFile(path, allow_partial=allow_partial, exclude=exclude, where=where, columns=columns)
    if file.config.get("store") == "signals":
        return SignalFile.adopt(file, device=device, crop=crop, stride=stride, seed=seed)
    if device is not None or crop is not None or stride is not None:
        file.close()
        raise OutputError(f"{path} stores spectrograms: device, crop and stride need a file of signals"
                          " (extract --store signals)")
    return file


def _read_all(path: str | os.PathLike[str]) -> None:
    """What a probe's child reads of a partial file before this process opens it (:mod:`.probe`)."""
    with SpectrogramFile(path, allow_partial=True) as file:
        values = file._h5()["signals" if file.config.get("store") == "signals" else "spectrograms"]
        len(file.records["name"]), len(file), len(file.errors), values.dtype, file.config  # noqa: B018
