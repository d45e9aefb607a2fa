"""Finding records on disk: INPUT folders (searched recursively), files, and ``-`` for paths on stdin.

The pieces of a multi-segment WFDB record (its ``_layout`` header and segment headers) are not
records of their own when a master header found in the same run names them: a folder of
MIMIC-style records yields whole records.

Fast on trees of a million records: folders are listed with ``os.scandir`` (no ``stat`` per file,
no ``realpath``: a file is known by its absolute path, and only symbolic links are resolved), the
folders of a tree still unwalked after half a second in parallel where the caller gives a map,
and a header is opened only where a master header may name it: WFDB keeps a record's segments
in its master header's folder, so only folders holding two or more headers are looked into,
their headers read by a pool of threads.

A file is a record by its extension, in any case (``.XML`` as ``.xml``; :mod:`.registry` says
which). What a folder search passes over is counted by extension (lower case, ``""`` for none):
every file that is no record, less the signal and annotation files of the WFDB headers beside it
(a file ``NAME.*`` where ``NAME.hea`` is in its folder), the tables of a dataset (a CSV of no lead
names, an HDF5 file that is no CODE-15% part) counted too; hidden files and folders are neither
searched nor counted.
"""

from __future__ import annotations

import os
import sys
import time
from collections import Counter, deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence, TextIO

from .base import RecordRef
from .registry import KINDS, expected, kind_of, record_name, suffix_of
from .wfdb.header import segment_headers

_ORDER = {suffix: i for i, suffix in enumerate(KINDS)}


@dataclass
class Discovery:
    """What a search found: the records (sorted by name), the problems as (name, reason), and the
    files of the folders searched that it passed over, by extension (``{".pdf": 3, "": 1}``, the
    most first, then by extension)."""

    refs: list[RecordRef]
    problems: list[tuple[str, str]]
    passed_over: dict[str, int] = field(default_factory=dict)


def _named(path: Path, kind: str | None = None) -> list[Path]:
    """The record files ``path`` names without its extension (``data/100`` -> ``data/100.hea``), the
    extension in any case, in the registry's order; only those of ``kind`` when given."""
    try:
        names = os.listdir(path.parent)
    except OSError:
        return []
    found = [n for n in names if record_name(n) == path.name and n != path.name and kind_of(n) and
             (kind is None or kind_of(n) == kind)]
    return [path.parent / n for n in sorted(found, key=lambda n: (_ORDER[suffix_of(n)], n))]


def _resolve_file(path: Path) -> list[Path] | str:
    """The record file(s) a file INPUT names, or the reason it names none."""
    if path.is_file():
        if kind_of(path.name):
            return [path]
        header = _named(path.with_suffix(""), "wfdb")[:1]  # a .dat/.mat/.xyz signal file of a WFDB record
        return header or f"unknown file type: {path} (expected a {expected()} record)"
    return _named(path) or f"no such file or folder: {path}"


SCAN_THREADS = 8  # header reads at once (I/O bound: the GIL is released while the kernel reads)

File = tuple[str, str, str]  # (record name, path as named, identity: see _identity)
Found = tuple[str, str, str, "int | None"]  # a File and the record's row in a many-record file (else None)
Walked = tuple[list[File], Counter]  # the record files of some folders, and the files passed over by extension


def _identity(path: str) -> str:
    """What tells two named files apart: the absolute path, a symbolic link's target resolved."""
    return os.path.realpath(path) if os.path.islink(path) else os.path.abspath(path)


MapFn = Callable[..., list]  # map(func, items, *args) -> func(chunk, *args) over chunks of items, joined in order
SERIAL_SECONDS = 0.5  # a walk still going after this long hands its folders left to ``map_fn``
SPLIT_FOLDERS = 64  # ... when that many are left to walk


def _walk(folder: Path, map_fn: MapFn | None = None) -> Walked:
    """Every record file under ``folder`` and the files passed over, hidden files and folders
    skipped (symbolic links to folders are not followed, as ``os.walk`` does not). A tree that
    takes longer than :data:`SERIAL_SECONDS` to walk has the folders left walked by ``map_fn``
    (processes), if given."""
    top = os.fspath(folder)
    found: list[File] = []
    passed: Counter = Counter()
    pending = deque([top])
    deadline = time.monotonic() + SERIAL_SECONDS
    names = _Names(top)
    while pending:
        if map_fn is not None and len(pending) >= SPLIT_FOLDERS and time.monotonic() > deadline:
            for more, more_passed in map_fn(_walk_folders, list(pending), top):
                found += more
                passed += more_passed
            break
        found += names.scan(pending.popleft(), pending, passed)
    return found, passed


def _walk_folders(folders: list[str], top: str) -> list[Walked]:
    """What :func:`_walk` finds under each of ``folders``, named relative to ``top``, as one item."""
    found: list[File] = []
    passed: Counter = Counter()
    names = _Names(top)
    for folder in folders:
        pending = [folder]
        while pending:
            found += names.scan(pending.pop(), pending, passed)
    return [(found, passed)]


class _Names:
    """How the files under ``top`` are named: relative to it, and known by their absolute path."""

    def __init__(self, top: str) -> None:
        self.cut = len(os.path.join(top, ""))
        self.absolute = os.path.join(os.path.abspath(top), "")

    def scan(self, current: str, pending: "deque[str] | list[str]", passed: Counter) -> list[File]:
        """The record files in folder ``current``; its folders added to ``pending``, the files it
        passes over counted in ``passed``."""
        try:
            entries = list(os.scandir(current))
        except OSError:
            return []  # unreadable folder: passed over, as os.walk does
        found: list[File] = []
        others, headers = [], set()
        for entry in entries:
            name = entry.name
            if name.startswith("."):
                continue
            if entry.is_dir(follow_symlinks=False):
                pending.append(entry.path)
                continue
            ext = suffix_of(name)
            if ext in KINDS:
                rel = entry.path[self.cut:]
                identity = os.path.realpath(entry.path) if entry.is_symlink() else self.absolute + rel
                found.append((rel[: len(rel) - len(ext)].replace(os.sep, "/"), entry.path, identity))
                if ext == ".hea":
                    headers.add(name[:-4])
            else:
                others.append((entry, ext))
        if others:
            _count_others(others, headers, passed)
        return found


def _count_others(others: list, headers: set[str], passed: Counter) -> None:
    """Count by extension the files of a folder that are no record (``others``: entries and their
    extensions), less those of its WFDB records (``NAME.*`` beside a header ``NAME.hea``, in
    ``headers``) and symbolic links to folders."""
    for entry, ext in others:
        if entry.name[: len(entry.name) - len(ext)] in headers or (entry.is_symlink() and entry.is_dir()):
            continue
        passed[ext] += 1


def _expand(files: list[File], problems: list[tuple[str, str]], explicit: bool, passed: Counter) -> list[Found]:
    """Each record of ``files``: a CODE-15% part is one record a row (``name/exam_id``), other files
    one record (row None). A broken part is a problem; an HDF5 file that is no part (an ecgspec
    output) is passed over (counted in ``passed``), or a problem when named ``explicit``-ly; so is,
    in a folder, a CSV whose header row names no leads (a dataset's table of labels)."""
    out: list[Found] = []
    for name, path, identity in files:
        kind = kind_of(path)
        if kind == "csv" and not explicit:
            from .csv_records import names_leads

            if not names_leads(Path(path)):
                passed[suffix_of(path)] += 1  # a dataset's table (labels.csv), not a record
                continue
        if kind != "code15":
            out.append((name, path, identity, None))
            continue
        from .code15 import members

        rows = members(Path(path), explicit)
        if isinstance(rows, str):
            problems.append((name, rows))
        elif rows is None:
            passed[suffix_of(path)] += 1
        else:
            out += [(f"{name}/{exam_id}", path, identity, row) for row, exam_id in rows]
    return out


def _candidates(inputs: Sequence[str | os.PathLike], stdin: TextIO | None,
                map_fn: MapFn | None = None) -> tuple[list[Found], list, Counter]:
    """Expand INPUTs (folders, files, ``-`` for paths on stdin) into records found, problems and
    the files passed over by extension."""
    found: list[Found] = []
    problems: list[tuple[str, str]] = []
    passed: Counter = Counter()
    for item in inputs:
        if os.fspath(item) == "-":
            lines = (line.strip() for line in (stdin or sys.stdin))
            more, more_problems, more_passed = _candidates([line for line in lines if line and line != "-"], None, map_fn)
            found += more
            problems += more_problems
            passed += more_passed
            continue
        path = Path(item)
        if path.is_dir():
            files, walked = _walk(path, map_fn)
            passed += walked
            found += _expand(files, problems, False, passed)
            continue
        files = _resolve_file(path)
        if isinstance(files, str):
            problems.append((record_name(path.name), files))
        else:
            named = [(record_name(f.name), str(f), _identity(str(f))) for f in files]
            found += _expand(named, problems, True, passed)
    return found, problems, passed


def _shared_folders(found: Iterable[Found]) -> list[str]:
    """The headers found that share their folder with another header: the only ones a master
    header may name (its segments are in its folder)."""
    by_folder: dict[str, list[str]] = {}
    for _name, path, _identity, _row in found:
        if kind_of(path) == "wfdb":
            by_folder.setdefault(os.path.dirname(path), []).append(path)
    return [p for group in by_folder.values() if len(group) > 1 for p in group]


def _segment_pieces(found: list[Found]) -> set[str]:
    """Identities (:func:`_identity`) of the headers that the master headers among ``found`` name."""
    candidates = _shared_folders(found)
    if not candidates:
        return set()
    with ThreadPoolExecutor(SCAN_THREADS, thread_name_prefix="ecgspec-scan") as pool:
        named_lists = list(pool.map(segment_headers, map(Path, candidates), chunksize=64))
    pieces: set[str] = set()
    masters: set[str] = set()
    for path, named in zip(candidates, named_lists):
        if named:
            masters.add(_identity(path))
            pieces.update(_identity(str(p)) for p in named)
    return pieces - masters


def discover(
    inputs: Sequence[str | os.PathLike], stdin: TextIO | None = None, map_fn: MapFn | None = None,
) -> Discovery:
    """Records named by ``inputs``: record paths (with or without extension), folders searched
    recursively for the files of :data:`~ecgspec.readers.registry.KINDS` (``*.hea``, ``*.npy``,
    ``*.edf``, ``*.csv``, CODE-15% ``*.hdf5``, clinical ``*.xml``/``*.dcm``/``*.scp``, ..., the
    extension in any case), or ``-`` for paths read from ``stdin`` (``sys.stdin`` when None), one a
    line, each handled like an INPUT. A CODE-15% part is one record a row, named ``<part name>/<exam_id>``.

    ``map_fn`` (``map_fn(func, items, *args)``: ``func(chunk, *args)`` over chunks of ``items``,
    joined in order, such as :func:`ecgspec.run.workers.map_in_processes` bound to its processes)
    walks the folders left of a large tree in parallel; the result is the same without it.

    Never raises for a bad input. The same file named twice is read once; two files with one name
    keep the first by path and report the others as duplicates. Segment and layout headers of a
    multi-segment record found in the same run are left out (the master header stands for them).
    """
    found, problems, passed = _candidates(inputs, stdin, map_fn)
    pieces = _segment_pieces(found)
    refs: dict[str, RecordRef] = {}
    seen: set[tuple[str, int | None]] = set()
    for name, path, identity, row in sorted(found, key=lambda item: (item[0], item[1], item[3] or 0)):
        if (identity, row) in seen or identity in pieces:
            continue
        seen.add((identity, row))
        if name in refs:
            problems.append((name, f"duplicate record name, already read from {refs[name].path}"))
        else:
            refs[name] = RecordRef(name, Path(path), kind_of(path) or "", row)
    passed_over = dict(sorted(passed.items(), key=lambda item: (-item[1], item[0])))  # most first, then by name
    return Discovery([refs[name] for name in sorted(refs)], problems, passed_over)


def find_records(
    inputs: Sequence[str | os.PathLike], stdin: TextIO | None = None, map_fn: MapFn | None = None,
) -> tuple[list[RecordRef], list[tuple[str, str]]]:
    """:func:`discover`'s records (sorted by name) and problems as (name, reason)."""
    found = discover(inputs, stdin, map_fn)
    return found.refs, found.problems
