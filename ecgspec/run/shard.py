"""Splitting one run into N parts (``--shard K/N``), and what names a part; no torch, no h5py here.

A run's records are its sorted record list (as :func:`ecgspec.readers.find_records` gives it).
Part K of N is a contiguous slice of that list, balanced by expected work: each record weighs
the bytes of its files (the header and signal files sharing its name in its folder, segment
files ``NAME_*`` included), which tracks its samples closely for a given format and costs one
directory listing per folder, no header parsing (800,000 records list in seconds). Every
machine given the same inputs computes the same split, so a SLURM array job needs no
coordination.

Each part is a complete ecgspec file whose root attributes name the part and the whole run
(:data:`PART_ATTRS`): ``run_digest`` is a SHA-256 of the full sorted record list (names and
sources), the discovery problems and the effective config, so ``ecgspec merge`` can tell which
parts belong together and which are missing. Discovery problems (missing inputs, duplicate
names) go to part 0, which is where a single run lists them: first in ``/errors``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from ..engine.checks import whole_numbers
from ..errors import ShardError
from ..store.schema import PART_ATTRS

__all__ = ["PART_ATTRS", "Part", "parse_shard", "parse_cluster", "local_workers", "record_weights",
           "split", "run_digest", "plan", "part_name"]

_LOCAL = re.compile(r"local:(\d+)")


def parse_shard(value: Any) -> tuple[int, int]:
    """``"K/N"``, ``(K, N)`` or ``[K, N]`` -> ``(K, N)`` with 0 <= K < N."""
    if isinstance(value, str):
        match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", value)
        pair = (int(match.group(1)), int(match.group(2))) if match else None
    elif isinstance(value, (tuple, list)) and len(value) == 2 and all(isinstance(v, int) for v in value):
        pair = (int(value[0]), int(value[1]))
    else:
        pair = None
    if pair is None or not 0 <= pair[0] < pair[1]:
        raise ShardError(f"shard: got {value!r}, must be K/N with 0 <= K < N (e.g. 0/4)")
    return pair


def parse_cluster(value: Any) -> str:
    """``local:N``, an address (``tcp://HOST:PORT``, any ``SCHEME://``) or a scheduler file (``*.json``)."""
    text = str(value).strip() if isinstance(value, (str, os.PathLike)) else ""
    local = local_workers(text)
    if local is not None and local >= 1:
        return text
    if re.fullmatch(r"[a-z][a-z0-9+]*://\S+", text) or (text.endswith(".json") and local is None):
        return text
    raise ShardError(f"cluster: got {value!r}, must be local:N (N >= 1), tcp://HOST:PORT or a scheduler file .json")


def local_workers(spec: str) -> int | None:
    """N of a ``local:N`` cluster spec; None for an address or a scheduler file."""
    match = _LOCAL.fullmatch(spec)
    return int(match.group(1)) if match else None


def _folder_sizes(folder: Path) -> dict[str, int]:
    """Bytes of the files in ``folder`` by stem; a stem ``A_B`` also counts towards ``A`` (segments)."""
    sizes: dict[str, int] = {}
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return sizes
    for entry in entries:
        try:
            if not entry.is_file():
                continue
            size = entry.stat().st_size
        except OSError:
            continue
        stem = Path(entry.name).stem
        sizes[stem] = sizes.get(stem, 0) + size
        if "_" in stem:
            owner = "\0" + stem.rsplit("_", 1)[0]  # kept apart from a record of that name's own files
            sizes[owner] = sizes.get(owner, 0) + size
    return sizes


def record_weights(paths: Sequence[Path]) -> list[int]:
    """Expected work of each record: the bytes of its files (>= 1), one directory listing per folder;
    a file holding several records (a CODE-15% part) shared among them."""
    listings: dict[Path, dict[str, int]] = {}
    sharing = Counter(paths)
    weights = []
    for path in paths:
        folder = path.parent
        if folder not in listings:
            listings[folder] = _folder_sizes(folder)
        sizes = listings[folder]
        weights.append(max(1, (sizes.get(path.stem, 0) + sizes.get("\0" + path.stem, 0)) // sharing[path]))
    return weights


def split(weights: Sequence[int], n: int) -> list[tuple[int, int]]:
    """``n`` contiguous ``(start, stop)`` slices of ``weights`` of about equal sums.

    A record goes to the part its weight's midpoint falls in (integer arithmetic, so every
    machine agrees): each part's sum is within one record's weight of ``total / n``. A part
    may be empty when there are fewer records than parts or one record outweighs a part.
    """
    total = sum(weights)
    owner, cum = [], 0
    for w in weights:
        owner.append(min(n - 1, ((2 * cum + w) * n) // (2 * total)) if total else 0)
        cum += w
    bounds, start = [], 0
    for k in range(n):
        stop = start
        while stop < len(owner) and owner[stop] == k:
            stop += 1
        bounds.append((start, stop))
        start = stop
    return bounds


def run_digest(records: Sequence[tuple[str, str]], problems: Sequence[tuple[str, str]],
               config: Mapping[str, Any]) -> str:
    """SHA-256 (hex) naming a whole run: its sorted (name, source) list, discovery problems and effective config."""
    text = json.dumps({"records": [list(r) for r in records], "problems": [list(p) for p in problems],
                       "config": whole_numbers(dict(config))}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass
class Part:
    """Part ``index`` of ``count``: its records (``start:stop`` of the run's list), problems and root attributes."""

    index: int
    count: int
    start: int
    stop: int
    problems: list[tuple[str, str]]
    attrs: dict[str, Any]


def plan(records: Sequence[tuple[str, Path]], problems: Sequence[tuple[str, str]], count: int,
         config: Mapping[str, Any]) -> list[Part]:
    """The ``count`` parts of a run over ``records`` ((name, path), sorted), with their attributes."""
    digest = run_digest([(name, str(path)) for name, path in records], problems, config)
    parts = []
    for k, (start, stop) in enumerate(split(record_weights([p for _, p in records]), count)):
        attrs = {"part_index": k, "part_count": count, "run_digest": digest, "run_records": len(records)}
        parts.append(Part(k, count, start, stop, list(problems) if k == 0 else [], attrs))
    return parts


def part_name(index: int, count: int) -> str:
    """``part-K-of-N.h5``: a part's file name under ``OUTPUT.parts/``."""
    return f"part-{index}-of-{count}.h5"


def select(refs: Sequence[Any], problems: Sequence[tuple[str, str]], shard: tuple[int, int] | None,
           config: Mapping[str, Any]) -> tuple[list[Any], list[tuple[str, str]], dict[str, Any]]:
    """Part ``shard = (K, N)`` of a run's refs (each with ``.name``, ``.path``): its refs, problems and attributes.

    Without a shard: everything, and no part attributes.
    """
    if shard is None:
        return list(refs), list(problems), {}
    k, n = shard
    part = plan([(ref.name, ref.path) for ref in refs], problems, n, config)[k]
    return list(refs[part.start:part.stop]), part.problems, part.attrs
