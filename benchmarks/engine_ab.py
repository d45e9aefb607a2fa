"""The engine of this tree against an earlier revision's, side by side, at the seed config.

    python benchmarks/engine_ab.py --rev main [--rounds 4] [--batch 64]

Windows/s of ``SpectrogramInput`` at torch_ecg's example config (bench_common.SEED) in batches of
``--batch`` windows, a new output each batch (as a DataLoader calls it) and, where the revision has
it, one ``out=`` buffer reused (as extract calls it). Each tree runs in fresh processes, alternately
(A B B A ...), each process keeping its best of 3 loops of 4 calls; prints the best over the rounds
and the ratio. The revision's ``ecgspec`` is exported with ``git archive`` into a temporary folder.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_common import SEED  # noqa: E402


def child(tree: str, batch: int) -> None:
    """In a fresh process: windows/s of the engine in ``tree``; prints {"new": .., "out": ..}."""
    sys.path.insert(0, tree)
    import torch

    import ecgspec
    from ecgspec import InputConfig, SpectrogramInput

    assert Path(ecgspec.__file__).resolve().is_relative_to(Path(tree).resolve()), ecgspec.__file__
    engine = SpectrogramInput(InputConfig(device="cpu", **SEED))
    x = torch.randn(batch, SEED["n_channels"], SEED["n_samples"], generator=torch.Generator().manual_seed(2))
    out = torch.empty(engine.compute_input_shape(x.shape))
    calls = {"new": lambda: engine(x), "out": lambda: engine(x, out=out)}
    rates = {}
    for key, call in calls.items():
        try:
            call()  # warm-up
        except TypeError:  # no out= in that revision
            continue
        best = min(_loop(call) for _ in range(3))
        rates[key] = batch / best
    print(json.dumps(rates))


def _loop(call, n: int = 4) -> float:
    """Seconds per call over ``n`` calls."""
    t0 = time.perf_counter()
    for _ in range(n):
        call()
    return (time.perf_counter() - t0) / n


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rev", default="main", help="the git revision to compare with")
    p.add_argument("--rounds", type=int, default=4, help="A B rounds (alternating order)")
    p.add_argument("--batch", type=int, default=64)
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="ecgspec-engine-ab-") as tmp:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.rev, "ecgspec"], check=True,
                                 capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
        for so in (ROOT / "ecgspec" / "readers").glob("_digits*.so"):  # built, not tracked
            shutil.copy(so, Path(tmp) / "ecgspec" / "readers")
        trees = {"this tree": str(ROOT), args.rev: tmp}
        best: dict[str, dict[str, float]] = {name: {} for name in trees}
        for rnd in range(args.rounds):
            for name in (list(trees) if rnd % 2 == 0 else list(reversed(trees))):
                out = subprocess.run([sys.executable, __file__, "--child", trees[name], str(args.batch)],
                                     capture_output=True, text=True, check=True)
                for key, rate in json.loads(out.stdout.strip().splitlines()[-1]).items():
                    best[name][key] = max(best[name].get(key, 0.0), rate)
        for name, rates in best.items():
            print(f"{name:>10}: " + ", ".join(f"{r:.0f} windows/s ({k} output)" for k, r in rates.items()))
        mine, theirs = best["this tree"], best[args.rev]
        print(f"ratio (this tree / {args.rev}): " + ", ".join(f"{mine[k] / theirs[k]:.2f} ({k})" for k in theirs))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], int(sys.argv[3]))
    else:
        main()
