"""Corpora of copies of the real records, and the small option sets the runs over them take."""

from __future__ import annotations

import shutil
from pathlib import Path

N_RECORDS = 150
BAD_EVERY = 15  # a bad record after every 15th good one: its "skipped" line on stderr shows how far a run got
OPTIONS = ["--n-bins", "32", "--feature-fs", "50", "--batch-size", "8"]
# small windows and spectrograms: the runs stay light
SMALL = ["--n-bins", "16", "--n-samples", "1000", "--window-size", "0.02", "--overlap-size", "0.01"]
N, BINS = 1000, 32  # 2-s windows at 500 Hz, small spectrograms: the multi-format runs' geometry
CFG = {"n_samples": N, "n_bins": BINS}
CLI_CFG = ("--n-samples", N, "--n-bins", BINS)


def good_name(i: int) -> str:
    """The name of the ``i``-th good record of a corpus."""
    return f"r{i:03d}"


def bad_name(i: int) -> str:
    """The name of the bad record beside the ``i``-th good one (every ``BAD_EVERY``-th has one)."""
    return f"r{i:03d}x"


def make_corpus(folder: Path, cinc_dir: Path, n: int = N_RECORDS) -> Path:
    """``n`` distinct copies of the cinc2021 records (header and signal file renamed), with bad records between."""
    folder.mkdir(parents=True, exist_ok=True)
    headers = sorted(cinc_dir.glob("*.hea"))
    for i in range(n):
        src, name = headers[i % len(headers)], good_name(i)
        (folder / f"{name}.hea").write_text(src.read_text().replace(src.stem, name))
        shutil.copy(src.with_suffix(".mat"), folder / f"{name}.mat")
        if i % BAD_EVERY == 0:
            (folder / f"{bad_name(i)}.hea").write_text("not a header\n")
    return folder
