"""The Python API: extract a few records, then train-loop over the file as a torch Dataset.

    .venv/bin/python examples/api_example.py --data ../shared/data
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from torch.utils.data import DataLoader

import ecgspec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default="../shared/data", help="folder holding cpsc2021/")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "cpsc.h5"
        # CPSC 2021: 2 leads at 200 Hz; 10-s windows every 5 s, 64 bins, frames at 50 Hz.
        result = ecgspec.extract(
            Path(args.data) / "cpsc2021", out,
            {"fs": 200, "n_samples": 2000, "n_channels": 2, "n_bins": 64, "feature_fs": 50},
            stride=1000, compression="lzf",
        )
        print(result.summary_line())
        with ecgspec.open(out) as ds:
            print(f"{len(ds)} windows of shape {ds.window_shape}, {len(ds.records['name'])} records")
            spec, name, start = ds[0]
            print(f"first window: record {name}, starts at sample {start}, {spec.shape}, {spec.dtype}")
            for specs, names, _starts in DataLoader(ds, batch_size=64, shuffle=True, num_workers=2):
                print(f"a training batch: {tuple(specs.shape)} from {len(set(names))} records")
                break


if __name__ == "__main__":
    main()
