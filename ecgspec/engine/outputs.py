"""Output tensors for engine calls without ``out=``: new to the caller, recycled memory underneath.

A fresh CPU tensor of a seed-config batch (64 windows, 151 MB) costs its pages' faults on first
write, about as long as computing it: torch asks for plain 4 kB pages, and freed blocks that large
go back to the kernel. NumPy asks for huge pages (a 151 MB array and its first write: 19 against
131 ms for ``torch.empty`` here), and a pool of such arrays is handed out again once the caller has
let go of every tensor made from it: nothing to fault in at all. A DataLoader that receives a new
batch each step, as from any dataset, then costs what a reused ``out=`` buffer costs.

Other devices allocate through torch, whose caching allocators already recycle memory.
"""

from __future__ import annotations

import math
import threading
import weakref
from typing import Callable, List, Optional, Sequence

import numpy as np
import torch

__all__ = ["OutputPool", "POOL_SLOTS", "POOL_MAX_BYTES"]

POOL_SLOTS = 2
"""Buffers kept: a training loop holds one batch while the next is computed."""

POOL_MAX_BYTES = 1 << 30
"""Outputs larger than this are allocated (with huge pages) but not kept: the pool holds at most
``POOL_SLOTS`` times this while the engine lives."""


class OutputPool:
    """Up to :data:`POOL_SLOTS` CPU buffers; :meth:`empty` returns a tensor on a free one.

    A buffer is free when the NumPy view its last tensor was made from is gone, which happens
    only once no tensor, view or array refers to that memory any more (``torch.from_numpy``
    keeps the view alive). Thread-safe.
    """

    def __init__(self) -> None:
        self._buffers: List[np.ndarray] = []
        self._handed: List[Callable[[], Optional[np.ndarray]]] = []
        self._lock = threading.Lock()

    def __reduce__(self) -> tuple:
        """Pickled or copied (a DataLoader's workers, ``copy.deepcopy`` of the engine): a new, empty pool,
        as buffers belong to one process and to the tensors already handed out from them."""
        return (OutputPool, ())

    def empty(self, shape: Sequence[int], dtype: torch.dtype) -> torch.Tensor:
        """An uninitialised contiguous CPU tensor of ``shape`` and ``dtype`` (float32 or float64)."""
        np_dtype = np.dtype(str(dtype).replace("torch.", ""))
        size = math.prod(shape)
        with self._lock:
            slot = self._slot(size, np_dtype) if size * np_dtype.itemsize <= POOL_MAX_BYTES else None
            if slot is None:  # too large to keep, or every buffer busy: the caller's alone
                view = np.empty(size, np_dtype)
            else:
                view = self._buffers[slot][:size]
                self._handed[slot] = weakref.ref(view)
        return torch.from_numpy(view).view(tuple(shape))

    def _slot(self, size: int, dtype: np.dtype) -> Optional[int]:
        """A free slot with at least ``size`` elements of ``dtype``: one that fits, else a free or new slot
        given a new buffer; None when all :data:`POOL_SLOTS` are busy."""
        free = [i for i, handed in enumerate(self._handed) if handed() is None]
        for i in free:
            if self._buffers[i].dtype == dtype and self._buffers[i].size >= size:
                return i
        if not free and len(self._buffers) < POOL_SLOTS:
            self._buffers.append(np.empty(0, dtype))
            self._handed.append(_nothing)
            free.append(len(self._buffers) - 1)
        if not free:
            return None
        self._buffers[free[0]] = np.empty(size, dtype)
        return free[0]


def _nothing() -> None:
    """The hand-out record of a slot never handed out."""
    return None
