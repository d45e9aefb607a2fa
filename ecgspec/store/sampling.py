"""Training-set helpers over an opened output: :func:`split` (grouped, leak-free parts) and
:class:`BlockSampler` (shuffled blocks of consecutive windows, so that shuffled batches are
still a few long HDF5 reads). Imports torch: reached only through ``ecgspec.split`` and
``SpectrogramFile.sampler``.
"""

from __future__ import annotations

from typing import Any, Iterator, Sequence

import numpy as np
from torch.utils.data import Sampler, Subset

__all__ = ["BlockSampler", "WindowSubset", "split"]


class BlockSampler(Sampler[int]):
    """Every index of ``range(n)`` once, in blocks of up to ``block`` consecutive indices (``0..block-1``,
    ``block..2*block-1``, ...), the blocks in a random order drawn from ``seed`` and the epoch
    (:meth:`set_epoch`, as ``DistributedSampler``); ``shuffle=False`` keeps them in order."""

    def __init__(self, n: int, block: int = 64, shuffle: bool = True, seed: int = 0) -> None:
        if isinstance(block, bool) or not isinstance(block, (int, np.integer)) or block < 1:
            raise ValueError(f"block: got {block!r}, must be an integer >= 1")
        self.n, self.block, self.shuffle, self.seed, self.epoch = int(n), int(block), shuffle, int(seed), 0

    def set_epoch(self, epoch: int) -> None:
        """Draw the blocks' order of ``epoch`` next time (each epoch its own, the same for the same seed)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.n

    def __iter__(self) -> Iterator[int]:
        starts = np.arange(0, self.n, self.block)
        if self.shuffle:
            starts = starts[np.random.default_rng((self.seed, self.epoch)).permutation(len(starts))]
        for start in starts.tolist():
            yield from range(start, min(start + self.block, self.n))


class WindowSubset(Subset):
    """A part of an opened output (:func:`split`): a torch Subset (batched reads pass through its
    ``__getitems__``), indices sorted, with a :meth:`sampler` of its own."""

    def sampler(self, shuffle: bool = True, block: int = 64, seed: int = 0) -> BlockSampler:
        """:class:`BlockSampler` over this part: its windows are in file order, so blocks stay consecutive
        runs in the file wherever whole records of the part follow each other."""
        return BlockSampler(len(self), block=block, shuffle=shuffle, seed=seed)


def split(dataset: Any, by: str | None = "record", fractions: Sequence[float] = (0.8, 0.1, 0.1),
          seed: int = 0) -> list[WindowSubset]:
    """Partition an opened output's windows into parts of about ``fractions`` of them, no value of
    the /records column ``by`` (``"labels/subject_id"``) in two parts; ``by=None`` (or ``"record"``)
    splits by record. Deterministic for a seed: the groups, shuffled by ``seed``, go one by one into
    the part furthest below its share, so no part passes its share by more than one group and sizes
    come as close to the fractions as whole groups allow."""
    shares = _checked_fractions(fractions)
    groups = _groups(dataset, by)
    values, inverse, counts = np.unique(groups, return_inverse=True, return_counts=True)
    order = np.random.default_rng(seed).permutation(len(values))
    targets = shares * len(groups)
    sizes = np.zeros(len(shares))
    part_of = np.empty(len(values), dtype=np.int64)
    for g in order.tolist():
        part = int(np.argmax(targets - sizes))
        part_of[g] = part
        sizes[part] += counts[g]
    window_part = part_of[inverse.reshape(-1)]
    return [WindowSubset(dataset, np.flatnonzero(window_part == p).tolist()) for p in range(len(shares))]


def _checked_fractions(fractions: Sequence[float]) -> np.ndarray:
    shares = np.asarray(fractions, dtype=np.float64)
    if shares.ndim != 1 or not len(shares) or not np.all(np.isfinite(shares)) or np.any(shares < 0) \
            or abs(shares.sum() - 1) > 1e-6:
        raise ValueError(f"fractions: got {tuple(fractions)}, must be shares >= 0 adding up to 1")
    return shares


def _groups(dataset: Any, by: str | None) -> np.ndarray:
    """Each window's group: the ``by`` value of its record (its /records row for ``by=None``)."""
    rows = dataset.windows["record"]
    if by is None or by == "record":
        return rows
    records = dataset.records
    if by not in records:
        raise ValueError(f"split: by={by!r} is not a /records column (columns: {', '.join(sorted(records))})")
    values = np.asarray(records[by])
    if values.dtype == object:
        values = values.astype(str)
    return values[rows]
