"""The items an opened output hands out, and how DataLoader batches them without a copy.

An item is a :class:`Window` (a named tuple, so ``spec, name, start = ds[i]`` reads as before),
or a :class:`WindowColumns` with the ``columns=`` values. :meth:`SpectrogramFile.__getitems__`
reads a batch's windows into one array and hands out its rows; DataLoader's default collate
would then stack them into a second array (a copy of the whole batch: most of the time a batch
took). :func:`collate_windows`, registered in torch's ``default_collate_fn_map`` (the extension
point torch documents for ``default_collate``), sees that the rows are that one array's, in
order, and returns the array itself; anything else is collated as ``default_collate`` would.
In a DataLoader worker the array is allocated in shared memory, as ``default_collate`` does, so
passing the batch to the main process copies nothing either.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import torch
from torch.utils.data import get_worker_info
from torch.utils.data._utils.collate import collate, default_collate_fn_map

__all__ = ["Window", "WindowColumns", "batch_array", "collate_windows"]


class Window(NamedTuple):
    """One window: its spectrogram (the stored dtype), its record's name, its first sample at the config fs."""

    spectrogram: torch.Tensor
    name: str
    start: int


class WindowColumns(NamedTuple):
    """A :class:`Window` with the values of the /records columns asked for (``columns=``), by name."""

    spectrogram: torch.Tensor
    name: str
    start: int
    columns: dict[str, Any]


def batch_array(shape: tuple[int, ...], dtype: np.dtype) -> tuple[np.ndarray, torch.Tensor]:
    """A new uninitialised batch, as a NumPy array and a tensor sharing its memory; in a DataLoader
    worker, in shared memory (what ``default_collate`` does there), so the batch travels uncopied."""
    tensor_dtype = torch.from_numpy(np.empty(0, dtype=dtype)).dtype
    if get_worker_info() is not None:
        numel = int(np.prod(shape))
        storage = torch.empty(0, dtype=tensor_dtype)._typed_storage()._new_shared(numel)
        tensor = torch.empty(0, dtype=tensor_dtype).new(storage).resize_(shape)  # not a view: rows' _base is it
        return tensor.numpy(), tensor
    # NumPy's allocation, not torch.empty: glibc hands a freed batch's memory to the next one, where
    # torch's allocator returns it to the system and each batch pays for faulting its pages in again
    # (a 15 MB batch: 16 ms against 1.5 ms to allocate and fill, on the development machine)
    array = np.empty(shape, dtype=dtype)
    return array, torch.from_numpy(array)


def _whole(rows: list[torch.Tensor]) -> torch.Tensor | None:
    """The array ``rows`` are the rows of, all of them in order, or None when they are not."""
    base = rows[0]._base
    if base is None or base.dim() == 0 or base.shape[0] != len(rows) or not base.is_contiguous():
        return None
    if any(row._base is not base for row in rows) or rows[0].shape != base.shape[1:]:
        return None
    step, start = base.stride(0) * base.element_size(), base.data_ptr()
    if [row.data_ptr() for row in rows] != list(range(start, start + len(rows) * step, step)):
        return None
    return base


def collate_windows(batch: list[tuple[Any, ...]], *, collate_fn_map: dict | None = None) -> tuple[Any, ...]:
    """A batch of items as ``default_collate`` makes it (the same types), without copying spectrograms
    that are the rows of one batch array; the names and starts of such a batch come as
    :meth:`SpectrogramFile.__getitems__` made them (``_ecgspec_fields`` on the array)."""
    specs = [item[0] for item in batch]
    whole = _whole(specs)
    fields = getattr(whole, "_ecgspec_fields", None) if whole is not None else None
    if fields is not None and type(batch[0]) is Window:
        return Window(whole, *fields)
    columns = list(zip(*batch))[1:]
    stacked = whole if whole is not None else collate(specs, collate_fn_map=collate_fn_map)
    return type(batch[0])(stacked, *(collate(list(values), collate_fn_map=collate_fn_map) for values in columns))


default_collate_fn_map.update({Window: collate_windows, WindowColumns: collate_windows})
