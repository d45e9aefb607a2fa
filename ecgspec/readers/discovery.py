"""Finding records on disk: INPUT folders (searched recursively), files, and ``-`` for paths on stdin.

The pieces of a multi-segment WFDB record (its ``_layout`` header and segment headers) are not
records of their own when a master header found in the same run names them: a folder of
MIMIC-style records yields whole records.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Sequence, TextIO

from .base import RecordRef
from .wfdb.header import segment_headers

KINDS = {".hea": "wfdb", ".npy": "npy", ".npz": "npz", ".edf": "edf", ".bdf": "edf", ".csv": "csv",
         ".hdf5": "code15", ".h5": "code15",
         **{suffix: "clinical" for suffix in (".xml", ".dcm", ".scp", ".ecg", ".mwf", ".mfer", ".mfr")}}
EXPECTED = ".hea, .npy, .npz, .edf, .bdf, .csv, .hdf5/.h5 (CODE-15%), .xml, .dcm, .scp, .ecg or .mwf"

Found = tuple[str, Path, "int | None"]  # (record name, file, row in a many-record file)


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


def _walk(folder: Path) -> list[tuple[str, Path]]:
    """(name, path) of every record file under ``folder``, hidden files and folders skipped."""
    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for file in files:
            path = Path(root, file)
            if not file.startswith(".") and path.suffix in KINDS:
                found.append((path.relative_to(folder).with_suffix("").as_posix(), path))
    return found


def _expand(pairs: list[tuple[str, Path]], problems: list[tuple[str, str]], explicit: bool) -> list[Found]:
    """(name, path, row) of each record: a CODE-15% part is one record a row (``name/exam_id``),
    other files one record (row None). A broken part is a problem; an HDF5 file that is no part
    (an ecgspec output) is passed over, or a problem when named ``explicit``-ly; so is, in a
    folder, a CSV whose header row names no leads (a dataset's table of labels)."""
    out: list[Found] = []
    for name, path in pairs:
        kind = KINDS.get(path.suffix)
        if kind == "csv" and not explicit:
            from .csv_records import names_leads

            if not names_leads(path):
                continue  # a dataset's table (labels.csv), not a record
        if kind != "code15":
            out.append((name, path, None))
            continue
        from .code15 import members

        rows = members(path, explicit)
        if isinstance(rows, str):
            problems.append((name, rows))
        elif rows is not None:
            out += [(f"{name}/{exam_id}", path, row) for row, exam_id in rows]
    return out


def _candidates(inputs: Sequence[str | os.PathLike], stdin: TextIO | None) -> tuple[list[Found], list]:
    """Expand INPUTs (folders, files, ``-`` for paths on stdin) into (name, path, row) and problems."""
    found: list[Found] = []
    problems: list[tuple[str, str]] = []
    for item in inputs:
        if os.fspath(item) == "-":
            lines = (line.strip() for line in (stdin or sys.stdin))
            more, more_problems = _candidates([line for line in lines if line and line != "-"], None)
            found += more
            problems += more_problems
            continue
        path = Path(item)
        if path.is_dir():
            found += _expand(_walk(path), problems, explicit=False)
            continue
        files = _resolve_file(path)
        if isinstance(files, str):
            problems.append((_record_name(path), files))
        else:
            found += _expand([(_record_name(f), f) for f in files], problems, explicit=True)
    return found, problems


def _segment_pieces(found: list[Found]) -> set[Path]:
    """Resolved paths of the headers that the master headers among ``found`` name."""
    pieces: set[Path] = set()
    masters: set[Path] = set()
    for _name, path, _row in found:
        named = segment_headers(path) if path.suffix == ".hea" else []
        if named:
            masters.add(path.resolve())
            pieces.update(p.resolve() for p in named)
    return pieces - masters


def find_records(
    inputs: Sequence[str | os.PathLike], stdin: TextIO | None = None
) -> tuple[list[RecordRef], list[tuple[str, str]]]:
    """Records named by ``inputs``: record paths (with or without extension), folders searched
    recursively for the files of :data:`KINDS` (``*.hea``, ``*.npy``, ``*.edf``, ``*.csv``, CODE-15%
    ``*.hdf5``, clinical ``*.xml``/``*.dcm``/``*.scp``, ...), or ``-`` for paths read from ``stdin``
    (``sys.stdin`` when None), one a line, each handled like an INPUT. A CODE-15% part is one
    record a row, named ``<part name>/<exam_id>``.

    Returns (refs sorted by name, problems as (name, reason)); never raises for a bad input.
    The same file named twice is read once; two files with one name keep the first by path
    and report the others as duplicates. Segment and layout headers of a multi-segment record
    found in the same run are left out (the master header stands for them).
    """
    found, problems = _candidates(inputs, stdin)
    pieces = _segment_pieces(found)
    refs: dict[str, RecordRef] = {}
    seen: set[tuple[Path, int | None]] = set()
    resolved_paths: dict[Path, Path] = {}
    for name, path, row in sorted(found, key=lambda item: (item[0], str(item[1]), item[2] or 0)):
        resolved = resolved_paths.get(path) or resolved_paths.setdefault(path, path.resolve())
        if (resolved, row) in seen or resolved in pieces:
            continue
        seen.add((resolved, row))
        if name in refs:
            problems.append((name, f"duplicate record name, already read from {refs[name].path}"))
        else:
            refs[name] = RecordRef(name, path, KINDS[path.suffix], row)
    return [refs[name] for name in sorted(refs)], problems
