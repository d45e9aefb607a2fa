"""`make demo`: run `ecgspec extract` on example records, then `ecgspec info` on the result.

Uses ../shared/data/cinc2021 (50 real 12-lead records) where it exists; elsewhere it
writes a few synthetic 12-lead 500 Hz WFDB records into a temporary folder first, so
the demo works on any machine, offline.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import wfdb

LEADS = ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"]


def synthetic_records(folder: Path, n: int = 5, fs: int = 500, seconds: int = 10) -> Path:
    """A few 12-lead records: a 1.2 Hz spike train plus noise, written with wfdb.wrsamp."""
    rng = np.random.default_rng(0)
    t = np.arange(fs * seconds) / fs
    for i in range(n):
        beat = np.exp(-(((t * 1.2) % 1 - 0.3) ** 2) / 0.0005)
        signal = np.stack([beat * (0.5 + 0.1 * k) + 0.02 * rng.standard_normal(t.size) for k in range(12)], axis=1)
        wfdb.wrsamp(f"synth{i:02d}", fs=fs, units=["mV"] * 12, sig_name=LEADS, p_signal=signal,
                    fmt=["16"] * 12, write_dir=str(folder))
    return folder


def ecgspec(*args: str) -> None:
    cmd = [sys.executable, "-m", "ecgspec.cli", *args]
    print("$ ecgspec " + " ".join(args), flush=True)
    status = subprocess.call(cmd)
    if status not in (0, 1):
        sys.exit(status)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default="../shared/data", help="folder holding cinc2021/")
    parser.add_argument("--out", default="build/demo.h5")
    args = parser.parse_args()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    records = Path(args.data) / "cinc2021"
    with tempfile.TemporaryDirectory() as tmp:
        if not records.is_dir():
            print(f"{records} not found: writing synthetic records to {tmp}", flush=True)
            records = synthetic_records(Path(tmp))
        ecgspec("extract", str(records), args.out, "--overwrite")
        ecgspec("info", args.out)


if __name__ == "__main__":
    main()
