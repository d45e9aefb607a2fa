"""Which part each group goes to: at random (sizes only), stratified by classes, or by published folds.

Pure NumPy over groups (a patient, a record: what must not be in two parts): ``sizes`` (G,) the
windows of each group, ``counts`` (G, K) how many of them hold each class. :func:`stratified_parts`
is iterative multi-label stratification (Sechidis, Tsoumakas and Vlahavas, ECML PKDD 2011) over
whole groups, as the PTB-XL folds were made (``stratisfy.py`` of the PTB-XL benchmark): the class
held by the fewest unplaced groups is placed first, each of its groups (largest first) into the
part that still wants the most of that class, ties to the part wanting the most windows; groups
without a class then fill the parts furthest below their share. :func:`class_share_error`
measures how far each class's shares across the parts fall from the fractions.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

__all__ = ["grouped_parts", "stratified_parts", "fold_parts", "class_share_error"]


def grouped_parts(sizes: np.ndarray, shares: np.ndarray, seed: int) -> np.ndarray:
    """Each group's part: the groups, shuffled by ``seed``, one by one into the part furthest below its share
    (no part passes its share by more than one group)."""
    order = np.random.default_rng(seed).permutation(len(sizes))
    part_of = np.empty(len(sizes), dtype=np.int64)
    _fill(order, np.asarray(sizes, dtype=np.float64), shares * float(np.sum(sizes)), part_of)
    return part_of


def _fill(order: np.ndarray, sizes: np.ndarray, room: np.ndarray, part_of: np.ndarray) -> None:
    """Groups ``order``, in turn, into the part with the most ``room`` left (``room`` is updated)."""
    for g in order.tolist():
        part = int(np.argmax(room))
        part_of[g] = part
        room[part] -= sizes[g]


def stratified_parts(sizes: np.ndarray, counts: np.ndarray, shares: np.ndarray, seed: int) -> np.ndarray:
    """Each group's part, so that every class's windows spread across the parts as ``shares`` do (see the
    module doc); ``seed`` orders groups that tie. Deterministic for a seed."""
    sizes = np.asarray(sizes, dtype=np.float64)
    counts = np.asarray(counts, dtype=np.float64).reshape(len(sizes), -1)
    rank = np.empty(len(sizes), dtype=np.int64)
    rank[np.random.default_rng(seed).permutation(len(sizes))] = np.arange(len(sizes))
    want = shares[:, None] * counts.sum(axis=0)[None, :]  # (parts, classes): windows of each class still wanted
    room = shares * sizes.sum()
    part_of = np.full(len(sizes), -1, dtype=np.int64)
    unplaced = counts > 0
    while unplaced.any():
        left = unplaced.sum(axis=0)
        k = int(np.argmin(np.where(left > 0, left, np.iinfo(np.int64).max)))  # the rarest class still unplaced
        groups = np.flatnonzero(unplaced[:, k])
        for g in groups[np.lexsort((rank[groups], -counts[groups, k]))].tolist():
            part = _neediest(want[:, k], room)
            part_of[g] = part
            want[part] -= counts[g]
            room[part] -= sizes[g]
            unplaced[g] = False
    rest = np.flatnonzero(part_of < 0)
    _fill(rest[np.argsort(rank[rest])], sizes, room, part_of)
    return part_of


def _neediest(want: np.ndarray, room: np.ndarray) -> int:
    """The part wanting the most of a class; of those that tie, the one with the most room (then the first)."""
    tied = np.flatnonzero(want == want.max())
    return int(tied[np.argmax(room[tied])])


def fold_parts(values: np.ndarray, parts: Sequence[Sequence[Any]] | None, column: str) -> tuple[np.ndarray, int]:
    """Each record's part by its fold value (``values``, e.g. ``labels/strat_fold``): part ``p`` holds the
    records whose value is in ``parts[p]`` (-1: in no part); ``parts=None`` makes each value seen its own
    part, in sorted order. Returns the parts and their number; ValueError for a value in two parts or in no
    record."""
    numeric = values.dtype.kind in "iuf"
    keys = values.astype(np.float64) if numeric else values.astype(str)
    present = keys[~np.isnan(keys)] if numeric else keys[keys != ""]
    if parts is None:
        parts = [[v] for v in np.unique(present).tolist()]
    part_of = np.full(len(values), -1, dtype=np.int64)
    seen: dict[Any, int] = {}
    for p, members in enumerate(parts):
        for value in members:
            key = _fold_key(value, numeric, column)
            if key in seen:
                raise ValueError(f"split: parts: {value!r} is in parts {seen[key]} and {p}")
            seen[key] = p
            hit = keys == key
            if not hit.any():
                shown = ", ".join(map(str, np.unique(present).tolist()[:20]))
                raise ValueError(f"split: parts: no record has {column} = {value!r} (values: {shown})")
            part_of[hit] = p
    return part_of, len(parts)


def _fold_key(value: Any, numeric: bool, column: str) -> Any:
    if not numeric:
        return str(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"split: parts: {value!r} is not a number, and {column} holds numbers") from None


def class_share_error(part_of: np.ndarray, counts: np.ndarray, shares: np.ndarray) -> float:
    """How far the classes' shares across the parts fall from ``shares``: over the classes some group holds,
    the mean of ``sum_p |part p's share of the class's windows - shares[p]|`` (0: every class split exactly
    as the fractions; 2: as far as can be)."""
    counts = np.asarray(counts, dtype=np.float64)
    totals = counts.sum(axis=0)
    held = totals > 0
    per_part = np.stack([counts[part_of == p].sum(axis=0) for p in range(len(shares))])[:, held] / totals[held]
    return float(np.abs(per_part - np.asarray(shares)[:, None]).sum(axis=0).mean()) if held.any() else 0.0
