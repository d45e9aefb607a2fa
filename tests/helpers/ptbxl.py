"""PTB-XL-style inputs for the tests: real ``ptbxl_database.csv`` rows (the shared subset) and records
named by their ``filename_hr`` (``records500/15000/15513_hr``), each a CinC record's header renamed over a
hard link to a copy of its signal file (the PTB-XL signals are not in ../shared/data)."""

from __future__ import annotations

import csv
import os
import shutil
from pathlib import Path
from typing import Sequence

from tests.helpers.paths import DATA

STATEMENTS = DATA / "ptbxl" / "scp_statements.csv"
SUBSET = DATA / "ptbxl" / "ptbxl_database_subset.csv"


def subset_rows() -> list[dict[str, str]]:
    """The 3,028 real rows of the shared ``ptbxl_database_subset.csv``, every column as text."""
    with open(SUBSET, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def write_table(path: Path, rows: Sequence[dict[str, str]]) -> Path:
    """``rows`` as a CSV with the database's columns."""
    with open(path, "w", newline="", encoding="utf-8") as fh:
        out = csv.DictWriter(fh, fieldnames=list(rows[0]))
        out.writeheader()
        out.writerows(rows)
    return path


def ptbxl_tree(folder: Path, cinc_dir: Path, rows: Sequence[dict[str, str]]) -> Path:
    """``folder`` holding a record per row named by its ``filename_hr``: the i-th CinC record's header (its
    name and signal file renamed) and a hard link to a copy of its signal file."""
    sources = sorted(p.stem for p in cinc_dir.glob("*.hea"))
    copies = folder.parent / f"{folder.name}.signals"
    copies.mkdir(parents=True, exist_ok=True)
    for i, row in enumerate(rows):
        source = sources[i % len(sources)]
        signal = copies / f"{source}.mat"
        if not signal.exists():
            shutil.copy(cinc_dir / f"{source}.mat", signal)
        target = folder / row["filename_hr"]
        target.parent.mkdir(parents=True, exist_ok=True)
        text = (cinc_dir / f"{source}.hea").read_text().replace(source, target.name)
        target.with_suffix(".hea").write_text(text)
        os.link(signal, target.with_suffix(".mat"))
    return folder
