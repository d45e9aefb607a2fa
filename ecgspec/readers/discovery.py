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

KINDS = {".hea": "wfdb", ".npy": "npy", ".npz": "npz", ".edf": "edf", ".bdf": "edf"}


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
        return f"unknown file type: {path} (expected a .hea, .npy, .npz, .edf or .bdf record)"
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


def _candidates(inputs: Sequence[str | os.PathLike], stdin: TextIO | None) -> tuple[list[tuple[str, Path]], list]:
    """Expand INPUTs (folders, files, ``-`` for paths on stdin) into (name, path) pairs and problems."""
    found: list[tuple[str, Path]] = []
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
            found += _walk(path)
            continue
        files = _resolve_file(path)
        if isinstance(files, str):
            problems.append((_record_name(path), files))
        else:
            found += [(_record_name(f), f) for f in files]
    return found, problems


def _segment_pieces(found: list[tuple[str, Path]]) -> set[Path]:
    """Resolved paths of the headers that the master headers among ``found`` name."""
    pieces: set[Path] = set()
    masters: set[Path] = set()
    for _name, path in found:
        named = segment_headers(path) if path.suffix == ".hea" else []
        if named:
            masters.add(path.resolve())
            pieces.update(p.resolve() for p in named)
    return pieces - masters


def find_records(
    inputs: Sequence[str | os.PathLike], stdin: TextIO | None = None
) -> tuple[list[RecordRef], list[tuple[str, str]]]:
    """Records named by ``inputs``: record paths (with or without extension), folders searched
    recursively for ``*.hea``/``*.npy``/``*.npz``/``*.edf``/``*.bdf``, or ``-`` for paths read from
    ``stdin`` (``sys.stdin`` when None), one a line, each handled like an INPUT.

    Returns (refs sorted by name, problems as (name, reason)); never raises for a bad input.
    The same file named twice is read once; two files with one name keep the first by path
    and report the others as duplicates. Segment and layout headers of a multi-segment record
    found in the same run are left out (the master header stands for them).
    """
    found, problems = _candidates(inputs, stdin)
    pieces = _segment_pieces(found)
    refs: dict[str, RecordRef] = {}
    seen: set[Path] = set()
    for name, path in sorted(found, key=lambda item: (item[0], str(item[1]))):
        resolved = path.resolve()
        if resolved in seen or resolved in pieces:
            continue
        seen.add(resolved)
        if name in refs:
            problems.append((name, f"duplicate record name, already read from {refs[name].path}"))
        else:
            refs[name] = RecordRef(name, path, KINDS[path.suffix])
    return [refs[name] for name in sorted(refs)], problems
