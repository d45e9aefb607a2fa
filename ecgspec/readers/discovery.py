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
"""

from __future__ import annotations

import os
import sys
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Iterable, Sequence, TextIO

from .base import RecordRef
from .wfdb.header import segment_headers

KINDS = {".hea": "wfdb", ".npy": "npy", ".npz": "npz", ".edf": "edf", ".bdf": "edf", ".csv": "csv",
         ".hdf5": "code15", ".h5": "code15",
         **{suffix: "clinical" for suffix in (".xml", ".dcm", ".scp", ".ecg", ".mwf", ".mfer", ".mfr")}}
EXPECTED = ".hea, .npy, .npz, .edf, .bdf, .csv, .hdf5/.h5 (CODE-15%), .xml, .dcm, .scp, .ecg or .mwf"



def _record_name(path: Path) -> str:
    """A file INPUT's record name: its file name without a known extension."""
    return path.stem if path.suffix in KINDS else path.name


def _resolve_file(path: Path) -> list[Path] | str:
    """The record file(s) a file INPUT names, or the reason it names none."""
    if path.is_file():
        if path.suffix in KINDS:
            return [path]
        header = path.with_suffix(".hea")  # a .dat/.mat/.xyz signal file of a WFDB record
        if header.is_file():
            return [header]
        return f"unknown file type: {path} (expected a {EXPECTED} record)"
    found = [Path(f"{path}{ext}") for ext in KINDS if Path(f"{path}{ext}").is_file()]
    return found or f"no such file or folder: {path}"


SCAN_THREADS = 8  # header reads at once (I/O bound: the GIL is released while the kernel reads)

File = tuple[str, str, str]  # (record name, path as named, identity: see _identity)
Found = tuple[str, str, str, "int | None"]  # a File and the record's row in a many-record file (else None)


def _identity(path: str) -> str:
    """What tells two named files apart: the absolute path, a symbolic link's target resolved."""
    return os.path.realpath(path) if os.path.islink(path) else os.path.abspath(path)


MapFn = Callable[..., list]  # map(func, items, *args) -> func(chunk, *args) over chunks of items, joined in order
SERIAL_SECONDS = 0.5  # a walk still going after this long hands its folders left to ``map_fn``
SPLIT_FOLDERS = 64  # ... when that many are left to walk


def _walk(folder: Path, map_fn: MapFn | None = None) -> list[File]:
    """Every record file under ``folder``, hidden files and folders skipped (symbolic links to
    folders are not followed, as ``os.walk`` does not). A tree that takes longer than
    :data:`SERIAL_SECONDS` to walk has the folders left walked by ``map_fn`` (processes), if given."""
    top = os.fspath(folder)
    found: list[File] = []
    pending = deque([top])
    deadline = time.monotonic() + SERIAL_SECONDS
    names = _Names(top)
    while pending:
        if map_fn is not None and len(pending) >= SPLIT_FOLDERS and time.monotonic() > deadline:
            return found + map_fn(_walk_folders, list(pending), top)
        found += names.scan(pending.popleft(), pending)
    return found


def _walk_folders(folders: list[str], top: str) -> list[File]:
    """Every record file under each of ``folders``, named relative to ``top`` (a part of :func:`_walk`)."""
    found: list[File] = []
    names = _Names(top)
    for folder in folders:
        pending = [folder]
        while pending:
            found += names.scan(pending.pop(), pending)
    return found


def _suffix(name: str) -> str:
    """``os.path.splitext(name)[1]`` at a fraction of its cost (a tree of a million files asks it for
    each): the last component's extension, leading dots not counted."""
    dot = name.rfind(".")
    if dot <= 0:
        return ""
    start = name.rfind("/") + 1
    return name[dot:] if name[start:dot].strip(".") else ""


class _Names:
    """How the files under ``top`` are named: relative to it, and known by their absolute path."""

    def __init__(self, top: str) -> None:
        self.cut = len(os.path.join(top, ""))
        self.absolute = os.path.join(os.path.abspath(top), "")

    def scan(self, current: str, pending: "deque[str] | list[str]") -> list[File]:
        """The record files in folder ``current``; its folders added to ``pending``."""
        try:
            entries = list(os.scandir(current))
        except OSError:
            return []  # unreadable folder: passed over, as os.walk does
        found: list[File] = []
        for entry in entries:
            name = entry.name
            if name.startswith("."):
                continue
            if entry.is_dir(follow_symlinks=False):
                pending.append(entry.path)
                continue
            ext = _suffix(name)
            if ext in KINDS:
                rel = entry.path[self.cut:]
                identity = os.path.realpath(entry.path) if entry.is_symlink() else self.absolute + rel
                found.append((rel[: len(rel) - len(ext)].replace(os.sep, "/"), entry.path, identity))
        return found


def _expand(files: list[File], problems: list[tuple[str, str]], explicit: bool) -> list[Found]:
    """Each record of ``files``: a CODE-15% part is one record a row (``name/exam_id``), other files
    one record (row None). A broken part is a problem; an HDF5 file that is no part (an ecgspec
    output) is passed over, or a problem when named ``explicit``-ly; so is, in a folder, a CSV
    whose header row names no leads (a dataset's table of labels)."""
    out: list[Found] = []
    for name, path, identity in files:
        kind = KINDS.get(_suffix(path))
        if kind == "csv" and not explicit:
            from .csv_records import names_leads

            if not names_leads(Path(path)):
                continue  # a dataset's table (labels.csv), not a record
        if kind != "code15":
            out.append((name, path, identity, None))
            continue
        from .code15 import members

        rows = members(Path(path), explicit)
        if isinstance(rows, str):
            problems.append((name, rows))
        elif rows is not None:
            out += [(f"{name}/{exam_id}", path, identity, row) for row, exam_id in rows]
    return out


def _candidates(inputs: Sequence[str | os.PathLike], stdin: TextIO | None,
                map_fn: MapFn | None = None) -> tuple[list[Found], list]:
    """Expand INPUTs (folders, files, ``-`` for paths on stdin) into records found and problems."""
    found: list[Found] = []
    problems: list[tuple[str, str]] = []
    for item in inputs:
        if os.fspath(item) == "-":
            lines = (line.strip() for line in (stdin or sys.stdin))
            more, more_problems = _candidates([line for line in lines if line and line != "-"], None, map_fn)
            found += more
            problems += more_problems
            continue
        path = Path(item)
        if path.is_dir():
            found += _expand(_walk(path, map_fn), problems, explicit=False)
            continue
        files = _resolve_file(path)
        if isinstance(files, str):
            problems.append((_record_name(path), files))
        else:
            found += _expand([(_record_name(f), str(f), _identity(str(f))) for f in files], problems, explicit=True)
    return found, problems


def _shared_folders(found: Iterable[Found]) -> list[str]:
    """The headers found that share their folder with another header: the only ones a master
    header may name (its segments are in its folder)."""
    by_folder: dict[str, list[str]] = {}
    for _name, path, _identity, _row in found:
        if path.endswith(".hea"):
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


def find_records(
    inputs: Sequence[str | os.PathLike], stdin: TextIO | None = None, map_fn: MapFn | None = None,
) -> tuple[list[RecordRef], list[tuple[str, str]]]:
    """Records named by ``inputs``: record paths (with or without extension), folders searched
    recursively for the files of :data:`KINDS` (``*.hea``, ``*.npy``, ``*.edf``, ``*.csv``, CODE-15%
    ``*.hdf5``, clinical ``*.xml``/``*.dcm``/``*.scp``, ...), or ``-`` for paths read from ``stdin``
    (``sys.stdin`` when None), one a line, each handled like an INPUT. A CODE-15% part is one
    record a row, named ``<part name>/<exam_id>``.

    ``map_fn`` (``map_fn(func, items, *args)``: ``func(chunk, *args)`` over chunks of ``items``,
    joined in order, such as :func:`ecgspec.run.workers.map_in_processes` bound to its processes)
    walks the folders left of a large tree in parallel; the result is the same without it.

    Returns (refs sorted by name, problems as (name, reason)); never raises for a bad input.
    The same file named twice is read once; two files with one name keep the first by path
    and report the others as duplicates. Segment and layout headers of a multi-segment record
    found in the same run are left out (the master header stands for them).
    """
    found, problems = _candidates(inputs, stdin, map_fn)
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
            refs[name] = RecordRef(name, Path(path), KINDS[_suffix(path)], row)
    return [refs[name] for name in sorted(refs)], problems
