"""Worst relative error of ecgspec vs torch_ecg 0.0.33 over the parity test grid.

    .venv/bin/python benchmarks/parity_report.py

Runs every config of tests/test_engine_parity.py's GRID (3-D tensor and 2-D float64
input, as the test does) and prints the configs covered and the worst
``max|ours - ref| / max|ref|`` seen; the tests assert each is <= 1e-4.
"""

from __future__ import annotations

import sys
import warnings
import zlib
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
warnings.filterwarnings("ignore")

from tests.engine import test_engine_parity as parity  # noqa: E402


def main() -> None:
    worst, worst_cfg = 0.0, None
    for cfg in parity.GRID:
        gen = torch.Generator().manual_seed(zlib.crc32(repr(sorted(cfg.items())).encode()))
        x = torch.randn(2, cfg["n_channels"], cfg["n_samples"], generator=gen)
        for waveform in (x, x[0].double().numpy()):
            err = parity.assert_parity(waveform, **cfg)
            if err > worst:
                worst, worst_cfg = err, cfg
    grid = parity.GRID
    print(f"{len(grid)} configs: fs {sorted({c['fs'] for c in grid})}, n_bins {sorted({c['n_bins'] for c in grid})},"
          f" feature_fs in {sum('feature_fs' in c for c in grid)}, to1d in {sum(c['to1d'] for c in grid)}")
    print(f"worst relative error {worst:.2e} at {worst_cfg}")


if __name__ == "__main__":
    main()
