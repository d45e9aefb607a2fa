"""Every stored value of an output checked against its checksum, and the damage named by record; no torch here.

:mod:`ecgspec.store.checksums` says what is checksummed. :func:`scan` reads every block of
rows of every dataset (a chunk's rows for chunked datasets, :data:`STRING_BLOCK` rows for
strings) and returns those that fail; :func:`damaged_records` names the records whose rows
they hold: ``ecgspec verify`` prints them, ``--resume`` computes them again
(:func:`ecgspec.store.leftovers.inspect_kept`) and the loader's error names them
(:func:`chunk_error`).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Callable, Iterable

import h5py
import numpy as np

from ..errors import OutputError, one_line
from . import staged, tails
from .checksums import STRING_BLOCK, damaged_string_blocks, is_checksummed
from .layout import COUNTER, committed, committed_counts, open_for_reading
from .probe import probe
from .signals import SIGNALS, signal_end

__all__ = ["Damage", "Report", "chunk_error", "damaged_records", "scan", "verify_file"]

VIRTUAL_ROWS = 256  # rows read at a time from a virtual dataset (its sources' chunks are not its own)
READ_ERRORS = (OSError, ValueError, KeyError, IndexError, RuntimeError, TypeError, UnicodeDecodeError)  # h5py on damage
REPAIR = "rerun the extract command that wrote it with --resume: it computes them again"


@dataclasses.dataclass(frozen=True)
class Damage:
    """Rows ``[start, stop)`` of dataset ``name`` that fail their checksum or cannot be read; ``table``: whose
    rows they are (``windows``, ``records``, ``errors``; ``file`` for the rest: frequencies, frames, counters;
    a partial file's staged strings (:mod:`ecgspec.store.staged`): ``staged`` for the cell ends, a row a
    table row from its ``first_row``, ``text`` for the bytes, whose ``start``, ``stop`` are bytes)."""

    name: str
    start: int
    stop: int
    table: str

    def text(self) -> str:
        return f"/{self.name} {'bytes' if self.table == 'text' else 'rows'} {self.start}-{self.stop - 1}"


def table_of(name: str) -> str:
    """Whose rows dataset ``name`` holds: a window's, a record's, an error's, or the file's."""
    top = name.split("/", 1)[0]
    if name == "spectrograms" or top == "windows":
        return "windows"
    if top == staged.STAGED and name != tails.TAILS:  # staged/<table>/ends, staged/<table>/text
        return "errors" if name.split("/")[1] == "errors" else "staged" if name.endswith("/ends") else "text"
    return top if top in ("records", "errors") else "file"


def _datasets(file: h5py.File) -> list[str]:
    found: list[str] = []
    file.visititems(lambda name, obj: found.append(name) if isinstance(obj, h5py.Dataset) else None)
    return found


def block_rows(dataset: h5py.Dataset) -> int:
    """The rows a block of ``dataset`` holds: a chunk's (HDF5 checks a chunk whole), else a few of a virtual
    dataset, else all (a contiguous dataset, of files written before checksums)."""
    return dataset.chunks[0] if dataset.chunks else VIRTUAL_ROWS if dataset.is_virtual else max(dataset.shape[0], 1)


def damaged_blocks(dataset: h5py.Dataset, n: int, first: int = 0) -> tuple[list[tuple[int, int]], int]:
    """The blocks of rows in ``[first, n)`` of ``dataset`` that fail to read (a checksum, a codec, or the
    chunk's index), and how many blocks were read: one chunk's rows at a time, into one buffer. ``first``
    is on a block's edge."""
    n = min(n, dataset.shape[0]) if dataset.shape else 1
    if h5py.check_string_dtype(dataset.dtype):
        return damaged_string_blocks(dataset, n, first), len(range(first, n, STRING_BLOCK))
    if not dataset.shape:
        return _read_all(dataset), 1
    step = block_rows(dataset)
    buffer = np.empty((min(step, max(n - first, 0)), *dataset.shape[1:]), dtype=dataset.dtype)
    out = []
    for start in range(first, n, step):
        stop = min(start + step, n)
        try:
            dataset.read_direct(buffer, np.s_[start:stop], np.s_[0 : stop - start])
        except READ_ERRORS:
            if not tails.verified_tail(dataset, start, stop):  # (a partial's last chunk torn by a kill: intact)
                out.append((start, stop))
    return out, len(range(first, n, step))


def _read_all(dataset: h5py.Dataset) -> list[tuple[int, int]]:
    try:
        dataset[()]
    except READ_ERRORS:
        return [(0, 1)]
    return []


def scan(file: h5py.File, counts: tuple[int, int, int] | None = None,
         skip: Callable[[str], bool] = lambda name: False, tail: bool = False) -> tuple[list[Damage], int]:
    """Every dataset of ``file`` read block by block (``skip``: names left out), its rows cut to ``counts``
    (records, windows, errors; default :func:`~ecgspec.store.layout.committed_counts`); the damaged blocks
    and how many blocks were read. A dataset that cannot even be opened is damaged whole. ``tail``: each
    dataset's last block only (what appending rows rewrites)."""
    records, windows, errors = counts if counts is not None else committed_counts(file)
    limits = {"records": records, "windows": windows, "errors": errors, **_staged_limits(file, records)}
    if SIGNALS in file:  # the committed records' signals
        limits[SIGNALS] = _signal_rows(file, records)
    damage, blocks = [], 0
    for name in _datasets(file):
        if skip(name):
            continue
        table = table_of(name)
        try:
            dataset = file[name]
            n = limits.get(name, limits.get(table, dataset.shape[0] if dataset.shape else 1))
            found, read = damaged_blocks(dataset, n, _last_block(dataset, n) if tail else 0)
        except READ_ERRORS:
            found, read = [(0, max(limits.get(table, 1), 1))], 1
        blocks += read
        damage += [Damage(name, a, b, table) for a, b in found]
    return damage, blocks


def _staged_limits(file: h5py.File, n_records: int) -> dict[str, int]:
    """The rows of ``/staged/records/ends`` and the bytes of its ``text`` that the first ``n_records`` records
    hold (none where the file stages nothing; the whole text where its last end cannot be read)."""
    first = staged.first_row(file, "records")
    if first is None:
        return {}
    rows = max(n_records - first, 0)
    ends = f"{staged.STAGED}/records/ends"
    try:
        size = int(tails.read(file[ends], rows - 1, rows)[0, -1]) if rows else 0
    except READ_ERRORS:
        size = file[f"{staged.STAGED}/records/text"].shape[0]
    return {ends: rows, f"{staged.STAGED}/records/text": size}


def _signal_rows(file: h5py.File, n_records: int) -> int:
    """The ``/signals`` rows the first ``n_records`` records hold (all where their offsets cannot be read)."""
    try:
        return signal_end(file, n_records)
    except READ_ERRORS:
        return file[SIGNALS].shape[0]


def _last_block(dataset: h5py.Dataset, n: int) -> int:
    """The first row of the block holding row ``n - 1`` of ``dataset`` (0 for none)."""
    if not dataset.shape:
        return 0
    step = STRING_BLOCK if h5py.check_string_dtype(dataset.dtype) else block_rows(dataset)
    last = min(n, dataset.shape[0]) - 1
    return max(0, last - last % step)


def window_owners(file: h5py.File, start: int, stop: int, n_records: int) -> np.ndarray | None:
    """The ``/records`` rows whose windows lie in ``[start, stop)``: from ``/records/n_windows`` (what a reader
    goes by), else ``/windows/record``; None where neither reads."""
    try:
        ends = np.cumsum(file["records/n_windows"][:n_records])
        first, last = np.searchsorted(ends, [start, stop - 1], side="right")
        return np.arange(first, min(last, n_records - 1) + 1)
    except READ_ERRORS:
        pass
    try:
        rows = np.unique(file["windows/record"][start:stop])
        return rows[(rows >= 0) & (rows < n_records)]
    except READ_ERRORS:
        return None


def text_owners(file: h5py.File, start: int, stop: int) -> np.ndarray | None:
    """The staged rows (from ``first_row``) whose cells lie in bytes ``[start, stop)`` of the staged text;
    None where the cells' ends cannot be read."""
    try:
        ends = file[f"{staged.STAGED}/records/ends"][()][:, -1]
    except READ_ERRORS:
        return None
    begins = np.concatenate(([0], ends[:-1]))
    return np.flatnonzero((begins < stop) & (ends > start))


def damaged_records(file: h5py.File, damage: Iterable[Damage], n_records: int) -> tuple[np.ndarray, list[Damage]]:
    """The sorted ``/records`` rows whose stored values some of ``damage`` holds, and the damage that names no
    record (the file's own datasets, ``/errors``, windows whose owners cannot be read)."""
    rows: set[int] = set()
    other: list[Damage] = []
    first = staged.first_row(file, "records") or 0
    for d in damage:
        if d.table == "records":
            rows.update(range(d.start, min(d.stop, n_records)))
        elif d.table == "staged":
            rows.update(range(first + d.start, min(first + d.stop, n_records)))
        elif d.table == "text" and (owners := text_owners(file, d.start, d.stop)) is not None:
            rows.update((owners + first).tolist())
        elif d.table == "windows" and (owners := window_owners(file, d.start, d.stop, n_records)) is not None:
            rows.update(owners.tolist())
        else:
            other.append(d)
    return np.array(sorted(rows), dtype=np.int64), other


def record_names(file: h5py.File, rows: Iterable[int]) -> list[str]:
    """The names of ``/records`` rows ``rows`` (a partial file's staged ones too); ``row N`` where the name
    itself cannot be read."""
    rows = list(rows)
    try:
        names = staged.read(file, "records", max(rows, default=-1) + 1, ("name",))["name"]
    except READ_ERRORS:
        names = _names_one_by_one(file, rows)
    return [str(names[row]) if row < len(names) and names[row] is not None else f"row {row}" for row in rows]


def _names_one_by_one(file: h5py.File, rows: list[int]) -> list[str | None]:
    """Each of ``rows``' names that can be read from ``/records/name`` (None where not), at its row."""
    out: list[str | None] = [None] * (max(rows, default=-1) + 1)
    for row in rows:
        try:
            out[row] = file["records/name"].asstr()[row]
        except READ_ERRORS:
            pass
    return out


@dataclasses.dataclass
class Report:
    """What :func:`verify_file` found: the damage, the records it holds, and what was checked."""

    path: str
    checksummed: bool
    complete: bool
    records: int
    blocks: int
    damage: list[Damage]
    damaged: list[str]  # the damaged records' names (``row N`` where the name is damaged too)
    other: list[Damage]  # damage that names no record

    def lines(self) -> list[str]:
        """The report for stderr: a line per damaged block, then one summing it up."""
        out = [f"{self.path}: {d.text()} fail their checksum" for d in self.damage]
        if not self.damage:
            out.append(f"{self.path}: {self.records} records, {self.blocks} blocks checked, no damage")
            return out
        what = f"{len(self.damaged)} damaged records" + (f" and damage to {', '.join(d.text() for d in self.other)}"
                                                          if self.other else "")
        out.append(f"{self.path}: {what} in {len(self.damage)} of {self.blocks} blocks; to repair it, {REPAIR}"
                   + (" (the damage outside the records: with --overwrite)" if self.other else ""))
        return out

    def to_dict(self) -> dict[str, object]:
        return {"path": self.path, "checksummed": self.checksummed, "complete": self.complete,
                "records": self.records, "blocks": self.blocks, "damaged_records": self.damaged,
                "damage": [dataclasses.asdict(d) for d in self.damage]}


def committed_readable(file: h5py.File, counts: tuple[int, int, int]) -> tuple[dict[str, np.ndarray],
                                                                              dict[str, np.ndarray]]:
    """:func:`~ecgspec.store.layout.committed`, or where a chunk of those rows fails its checksum in a partial
    file (a writer killed inside a flush tears the chunk it was rewriting: its committed rows then read
    as damaged) the records before the first damaged one. A finished file's damage is an OutputError."""
    try:
        return committed(file, counts)
    except OSError as exc:
        tables = ("records/", "windows/", f"{staged.STAGED}/records/")
        damage, _ = scan(file, counts, skip=lambda name: name == "spectrograms" or not name.startswith(tables))
        rows, _ = damaged_records(file, damage, counts[0])
        if file.attrs.get("complete", False) or not len(rows):
            raise OutputError(f"{file.filename}: {one_line(exc)}: damaged; `ecgspec verify {file.filename}` names"
                              f" the records, and {REPAIR}") from exc
        return committed(file, (int(rows[0]), *counts[1:]))


def _structure(path: Path) -> None:
    """What verifying reads besides the numeric chunks (every object's metadata, the counters, the strings):
    what HDF5 may loop on, read first in a child within a deadline (:func:`~ecgspec.store.probe.probe`)."""
    with open_for_reading(path) as file:
        counts = committed_counts(file)
        scan(file, counts, skip=lambda name: not h5py.check_string_dtype(file[name].dtype))


def verify_file(path: str | os.PathLike[str]) -> Report:
    """Check every block of ``path``'s values; a file HDF5 cannot read at all is an OutputError (one line)."""
    path = Path(path)
    if not path.is_file():
        raise OutputError(f"{path}: no such file")
    probe(path, _structure)  # HDF5 may loop forever on a damaged file: a child reads it first, with a deadline
    try:
        with open_for_reading(path) as file:
            if COUNTER not in file or "records" not in file:
                raise OutputError(f"{path}: not an ecgspec output (no /{COUNTER} or /records)")
            counts = committed_counts(file)
            damage, blocks = scan(file, counts)
            rows, other = damaged_records(file, damage, counts[0])
            return Report(str(path), is_checksummed(file), bool(file.attrs.get("complete", False)), counts[0], blocks,
                          damage, record_names(file, rows.tolist()), other)
    except OutputError:
        raise
    except READ_ERRORS as exc:
        raise OutputError(f"{path}: cannot read it ({one_line(exc)}): damaged, or not an ecgspec output") from exc


def chunk_error(file: h5py.File, path: object, start: int, stop: int) -> OutputError:
    """The loader's error for windows ``[start, stop)`` of ``/spectrograms`` that failed to read: the damaged
    chunks among them, the records whose windows they hold, and how to repair them."""
    dataset = file["spectrograms"]
    step = block_rows(dataset)
    found, _ = damaged_blocks(dataset, stop + (-stop) % step, start - start % step)  # the whole chunks
    n_records = committed_counts(file)[0]
    rows: set[int] = set()
    for a, b in found:
        owners = window_owners(file, a, b, n_records)
        rows.update(owners.tolist() if owners is not None else [])
    names = record_names(file, sorted(rows))
    where = ", ".join(f"/spectrograms rows {a}-{b - 1}" for a, b in found) or f"/spectrograms rows {start}-{stop - 1}"
    held = f": the windows of {', '.join(names[:10])}{' ...' if len(names) > 10 else ''}" if names else ""
    return OutputError(f"{path}: {where} fail their checksum (damaged){held}; `ecgspec verify {path}` lists every"
                       f" damaged record; to repair them, {REPAIR}")
