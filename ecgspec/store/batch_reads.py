"""Batched reading of an opened output: DataLoader's ``__getitems__`` and the items it hands out; no torch at import.

:class:`BatchedReads` is the part of :class:`~ecgspec.store.reader.SpectrogramFile` that turns
indices into items: each run of consecutive windows is one HDF5 read into one batch array, whose
rows the items' tensors are (:mod:`ecgspec.store.batching` hands that array on uncopied). A
signals file computes the batch instead (:class:`~ecgspec.store.signal_file.SignalView` overrides
:meth:`BatchedReads._read_batch`).
"""

from __future__ import annotations

import operator
from functools import cached_property
from pathlib import Path
from typing import Any, Sequence

import h5py
import numpy as np

from . import tails
from .verify import chunk_error

__all__ = ["BatchedReads"]


class BatchedReads:
    """Items from indices, for a class that has ``_kept``, ``windows``, ``records``, ``columns``, ``_h5()``
    and ``_dataset`` (:class:`~ecgspec.store.reader.SpectrogramFile`)."""

    def __getitem__(self, index: int) -> tuple[Any, ...]:
        return self.__getitems__([index])[0]

    def __getitems__(self, indices: Sequence[int]) -> list[Any]:
        """The items of ``indices``, in that order: DataLoader's batched fetch. Each run of consecutive
        windows is one HDF5 read into one batch array, whose rows the items' tensors are; DataLoader's
        default collate then hands that array on without stacking a copy (:mod:`ecgspec.store.batching`)."""
        import torch

        from .batching import Window, WindowColumns

        positions = self._positions(indices)
        tensor = self._read_batch(positions)
        specs = tensor.unbind(0)
        items = self._items
        names, starts = items["name"][positions].tolist(), items["start"][positions]
        if not self.columns:
            tensor._ecgspec_fields = (names, torch.from_numpy(starts))  # the collated batch's (batching)
            return list(map(Window, specs, names, starts.tolist()))
        starts = starts.tolist()
        extra = zip(*(_values(items[c][positions]) for c in self.columns))
        return list(map(WindowColumns, specs, names, starts, (dict(zip(self.columns, v)) for v in extra)))

    def _read_batch(self, positions: np.ndarray) -> Any:
        """The spectrograms of the kept windows at ``positions``, as one batch tensor (see :meth:`__getitems__`)."""
        from .batching import batch_array

        dataset = self._spectrograms()
        values, tensor = batch_array((len(positions), *dataset.shape[1:]), dataset.dtype)
        self._read_rows(dataset, self._kept[positions], values, self.path)
        return tensor

    def _positions(self, indices: Sequence[int]) -> np.ndarray:
        """``indices`` as int64 positions in 0..len-1 (negatives from the end); IndexError outside."""
        n = len(self._kept)
        positions = np.fromiter((operator.index(i) for i in indices), dtype=np.int64, count=len(indices))
        if len(positions) and (positions.min() < -n or positions.max() >= n):
            bad = next(int(i) for i in positions if not -n <= i < n)
            raise IndexError(f"window {bad} out of range for {n} windows")
        return np.where(positions < 0, positions + n, positions)

    @staticmethod
    def _read_rows(dataset: h5py.Dataset, rows: np.ndarray, out: np.ndarray, path: Path) -> None:
        """``/spectrograms`` rows ``rows`` into ``out``: one read per run of consecutive rows. A damaged chunk
        (its checksum fails, and it is not a partial file's torn last chunk: :mod:`.tails`) is an OutputError
        naming its records and the repair (:func:`chunk_error`)."""
        if not len(rows):
            return
        bounds = [0, *(np.flatnonzero(np.diff(rows) != 1) + 1).tolist(), len(rows)]
        for a, b in zip(bounds[:-1], bounds[1:]):
            first = int(rows[a])
            try:
                dataset.read_direct(out, np.s_[first:first + b - a], np.s_[a:b])
            except OSError as exc:
                try:  # a partial file's last chunk torn by a kill, its committed rows intact (.tails)
                    out[a:b] = tails.read(dataset, first, first + b - a)
                except OSError:
                    raise chunk_error(dataset.file, path, first, first + b - a) from exc

    def _spectrograms(self) -> h5py.Dataset:
        """This process's ``/spectrograms`` for batched reads: kept per handle (looked up each time while SWMR)."""
        file = self._h5()
        return self._dataset if self._dataset is not None else file["spectrograms"]

    @cached_property
    def _items(self) -> dict[str, np.ndarray]:
        """Per kept window: its record's name, its start, and each of ``columns``."""
        rows = self.windows["record"]
        out = {"name": np.asarray(self.records["name"], dtype=object)[rows], "start": self.windows["start"]}
        for column in self.columns:
            values = self.records[column]
            out[column] = values[rows] if values.ndim == 1 else values.astype(np.float32)[rows]  # targets: float32
        return out



def _values(column: np.ndarray) -> list[Any]:
    """The items' values of a column: Python values, or a tensor a row (a 2-D column: ``targets``)."""
    if column.ndim == 1:
        return column.tolist()
    import torch

    return list(torch.from_numpy(np.ascontiguousarray(column)).unbind(0))
