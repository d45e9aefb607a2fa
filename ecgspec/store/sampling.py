"""Training-set helpers over an opened output: :func:`split` (grouped, leak-free parts, stratified by
classes or by published folds) and
:class:`BlockSampler` (shuffled blocks of consecutive windows, so that shuffled batches are
still a few long HDF5 reads). Imports torch: reached only through ``ecgspec.split`` and
``SpectrogramFile.sampler``.
"""

from __future__ import annotations

from typing import Any, Iterator, Sequence

import numpy as np
from torch.utils.data import Sampler, Subset

from ..targets.splits import fold_parts, grouped_parts, stratified_parts

__all__ = ["BlockSampler", "WindowSubset", "split"]


class BlockSampler(Sampler[int]):
    """Every index of ``range(n)`` once, in shuffled blocks of consecutive indices.

    Blocks of up to ``block`` indices (``0..block-1``, ``block..2*block-1``, ...; the last one
    shorter), in a random order drawn from ``seed`` and the epoch: a DataLoader batch of
    ``block`` windows is then one HDF5 read, yet the order changes from epoch to epoch. Made by
    ``SpectrogramFile.sampler`` and ``WindowSubset.sampler``.

    Parameters
    ----------
    n : int
        The number of indices (the Dataset's length).
    block : int, default 64
        Indices a block; use the DataLoader's ``batch_size``.
    shuffle : bool, default True
        Shuffle the blocks; False keeps file order.
    seed : int, default 0
        With the epoch (:meth:`set_epoch`, as ``DistributedSampler``), the blocks' order.

    Raises
    ------
    ValueError
        ``block`` is not an integer >= 1.

    Examples
    --------
    >>> from ecgspec import BlockSampler
    >>> list(BlockSampler(7, block=3, seed=0))
    [6, 0, 1, 2, 3, 4, 5]
    """

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


def split(dataset: Any, by: str | None = "record", fractions: Sequence[float] = (0.8, 0.1, 0.1), seed: int = 0,
          *, stratify: str | None = None, folds: str | None = None,
          parts: Sequence[Sequence[Any]] | None = None) -> list[WindowSubset]:
    """Partition an opened output's windows into parts, no group (a patient, a record) in two.

    Three ways: by fractions, the groups dealt at random (``by``); the same with every class's
    share balanced too (``stratify``); or by published folds (``folds``).

    Parameters
    ----------
    dataset : SpectrogramFile
        An opened output (:func:`ecgspec.open`), with its ``exclude``/``where`` choices.
    by : str or None, default "record"
        The ``/records`` column whose values are the groups (``"labels/patient_id"``); ``None``
        or ``"record"`` groups by record.
    fractions : sequence of float, default (0.8, 0.1, 0.1)
        Each part's share of the windows; shares >= 0 adding up to 1.
    seed : int, default 0
        The groups' order: the same seed gives the same parts. The groups, shuffled, go one by one
        into the part furthest below its share, so no part passes its share by more than one
        group and sizes come as close to the fractions as whole groups allow.
    stratify : str, optional
        A ``/records`` column whose classes each part should hold in its share: a 2-D column's
        columns (``"targets"``) or a 1-D column's values (``"labels/sex"``). Grouped iterative
        stratification (Sechidis et al. 2011, over whole groups, as PTB-XL's folds were made),
        counted in windows: the class held by the fewest unplaced groups goes first, each of its
        groups (largest first) into the part that still wants the most of that class.
    folds : str, optional
        A ``/records`` column of published folds (``"labels/strat_fold"``): part ``p`` holds the
        records whose value is in ``parts[p]``; ``by``, ``fractions`` and ``seed`` are not used.
    parts : sequence of sequences, optional
        With ``folds``: the values of each part (PTB-XL: ``(range(1, 9), (9,), (10,))``); None
        makes each value its own part. Records whose value is in no part are in none.

    Returns
    -------
    list of WindowSubset
        One torch ``Subset`` of ``dataset`` a part, its indices sorted (file order), each with a
        :meth:`~WindowSubset.sampler` of its own.

    Raises
    ------
    ValueError
        A column ``dataset`` lacks (the message names its columns), fractions that are not
        shares adding up to 1, ``folds`` with ``stratify``, a fold value in two parts or one no
        record has.

    Examples
    --------
    >>> import ecgspec
    >>> with ecgspec.open("out.h5") as ds:
    ...     train, val, test = ecgspec.split(ds, fractions=(0.6, 0.2, 0.2), seed=0)
    ...     print(len(train), len(val), len(test))
    6 2 2
    """
    rows = np.asarray(dataset.windows["record"], dtype=np.int64)
    n = int(rows.max()) + 1 if len(rows) else 0
    if folds is not None:
        if stratify is not None:
            raise ValueError("split: give folds= or stratify=, not both: published folds are already chosen")
        record_part, count = fold_parts(_record_column(dataset, folds, n), parts, folds)
        return _subsets(dataset, record_part[rows], count)
    shares = _checked_fractions(fractions)
    windows = np.bincount(rows, minlength=n)
    used = np.flatnonzero(windows)
    keys = np.arange(n) if by is None or by == "record" else _record_column(dataset, by, n)
    if keys.dtype == object:
        keys = keys.astype(str)
    values, group = np.unique(keys[used], return_inverse=True)
    sizes = np.bincount(group.reshape(-1), weights=windows[used], minlength=len(values))
    if stratify is None:
        part_of = grouped_parts(sizes, shares, seed)
    else:
        held = _classes(_record_column(dataset, stratify, n))[used] * windows[used, None]
        counts = np.zeros((len(values), held.shape[1]))
        np.add.at(counts, group.reshape(-1), held)
        part_of = stratified_parts(sizes, counts, shares, seed)
    record_part = np.full(n, -1, dtype=np.int64)
    record_part[used] = part_of[group.reshape(-1)]
    return _subsets(dataset, record_part[rows], len(shares))


def _subsets(dataset: Any, window_part: np.ndarray, count: int) -> list[WindowSubset]:
    return [WindowSubset(dataset, np.flatnonzero(window_part == p).tolist()) for p in range(count)]


def _record_column(dataset: Any, name: str, n: int) -> np.ndarray:
    """The first ``n`` values of the /records column ``name`` (a ValueError naming the columns where absent)."""
    records = dataset.records
    if name not in records:
        raise ValueError(f"split: {name!r} is not a /records column (columns: {', '.join(sorted(records))})")
    return np.asarray(records[name])[:n]


def _classes(values: np.ndarray) -> np.ndarray:
    """Each record's classes as a 0/1 matrix: a 2-D column as it is, a 1-D one one-hot by its values."""
    if values.ndim == 2:
        return values.astype(np.float64)
    _, index = np.unique(values.astype(str) if values.dtype == object else values, return_inverse=True)
    return np.eye(int(index.max()) + 1 if len(index) else 0)[index.reshape(-1)]


def _checked_fractions(fractions: Sequence[float]) -> np.ndarray:
    shares = np.asarray(fractions, dtype=np.float64)
    if shares.ndim != 1 or not len(shares) or not np.all(np.isfinite(shares)) or np.any(shares < 0) \
            or abs(shares.sum() - 1) > 1e-6:
        raise ValueError(f"fractions: got {tuple(fractions)}, must be shares >= 0 adding up to 1")
    return shares
