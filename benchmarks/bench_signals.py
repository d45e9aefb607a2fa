#!/usr/bin/env python
"""Signals files (``extract --store signals``) against spectrogram files of the same records: bytes, and
windows/s of the same DataLoader (CPU, batch 64, ``ds.sampler(block=64)``, 2 workers) over each, measured
alternately in one run, from a cold page cache where this process may drop it (root:
``sync; echo 3 > /proc/sys/vm/drop_caches`` before each read), else from a warm one (said so).

    python benchmarks/bench_signals.py --records 1000 --data ../shared/data
    python benchmarks/bench.py --only signals --signal-records 1000

At the seed config (12 leads, 500 Hz, 10 s, n_bins 128, window 1/20 s, overlap 1/40 s) and at
``feature_fs=100``. Targets (issue 29): the signals file (float32, uncompressed) <= 0.12x the
spectrogram file's bytes at the seed config; its DataLoader >= 1.0x the spectrogram file's, cold.
"""

from __future__ import annotations

import argparse
import itertools
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).parent))

import ecgspec  # noqa: E402

BATCH = 64
CONFIGS = {"seed": {}, "feature_fs=100": {"feature_fs": 100}}


def drop_caches() -> bool:
    """Empty the page cache (root only); False where this process may not."""
    try:
        subprocess.run(["sync"], check=True)
        with open("/proc/sys/vm/drop_caches", "w") as fh:
            fh.write("3\n")
        return True
    except OSError:
        return False


def build(folder: Path, out: Path, config: dict[str, Any], store: str) -> Path:
    """``extract folder out`` with ``config``, keeping ``store``."""
    ecgspec.extract(folder, out, config, store=store, log=lambda m: None, overwrite=True)
    return out


def loader_rate(path: Path, n_batches: int, cold: bool, workers: int = 2) -> float:
    """Windows/s of ``DataLoader(ecgspec.open(path), batch_size=64, sampler=ds.sampler(block=64), num_workers=workers)``
    over its first ``n_batches``, start-up of the workers included: from a cold page cache (dropped first), or
    from a warm one (the same batches read once before, untimed)."""
    from torch.utils.data import DataLoader

    if cold:
        drop_caches()
    else:
        loader_rate(path, n_batches, cold=True, workers=workers)  # (dropping first where it can: the same cost)
    with ecgspec.open(path) as ds:
        loader = DataLoader(ds, batch_size=BATCH, sampler=ds.sampler(shuffle=True, block=BATCH, seed=1),
                            num_workers=workers)
        t0 = time.perf_counter()
        n = sum(len(batch[0]) for batch in itertools.islice(loader, n_batches))
        return n / (time.perf_counter() - t0)


def measure(folder: Path, tmp: Path, n_records: int, rounds: int, cold: bool) -> dict[str, dict[str, Any]]:
    """Per config: both files' bytes and best windows/s over ``rounds`` alternate reads, from a warm page cache
    and (``cold``) from a cold one."""
    out: dict[str, dict[str, Any]] = {}
    for label, config in CONFIGS.items():
        paths = {store: build(folder, tmp / f"{store}.h5", config, store) for store in ("spectrograms", "signals")}
        sizes = {store: p.stat().st_size for store, p in paths.items()}
        n_batches = max(1, n_records // BATCH)
        out[label] = {"bytes": sizes}
        for mode in ("cold", "warm") if cold else ("warm",):
            best = dict.fromkeys(paths, 0.0)
            for r in range(rounds):
                for store in (list(paths) if r % 2 == 0 else list(paths)[::-1]):
                    best[store] = max(best[store], loader_rate(paths[store], n_batches, mode == "cold"))
            out[label][mode] = best
        for p in paths.values():
            p.unlink()
    return out


def section_signals(args: Any, table: Any, ctx: dict[str, Any]) -> None:
    """``bench.py --only signals``: the rows of both configs at ``--signal-records``."""
    from bench_corpus import Corpus

    n = args.signal_records
    folder = Corpus(args.data, ctx["tmp"] / "signals_corpus", n).ensure(n)
    cold = drop_caches()
    results = measure(folder, ctx["tmp"], n, rounds=3, cold=cold)
    for label, res in results.items():
        size = res["bytes"]["signals"] / res["bytes"]["spectrograms"]
        table.add("signals", f"{label}: signals file bytes, {n} records, float32", f"{res['bytes']['signals'] / 1e6:.0f} MB",
                  f"spectrograms: {res['bytes']['spectrograms'] / 1e6:.0f} MB", size,
                  "<= 0.12" if label == "seed" else "", size <= 0.12 if label == "seed" else None, **res["bytes"])
        for mode in ("cold", "warm"):
            if mode not in res:
                continue
            rate = res[mode]
            ratio = rate["signals"] / rate["spectrograms"]
            target = label == "seed" and mode == "cold"
            how = mode if cold else "warm: the page cache cannot be dropped here (not root)"
            table.add("signals", f"{label}: DataLoader windows/s ({how}, batch 64, block-shuffled, 2 workers)",
                      f"{rate['signals']:.0f}/s", f"spectrograms: {rate['spectrograms']:.0f}/s", ratio,
                      ">= 1.0" if target else "", ratio >= 1.0 if target else None, **rate)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--records", type=int, default=1000, help="records [1000]")
    p.add_argument("--rounds", type=int, default=3, help="alternate rounds, best of [3]")
    p.add_argument("--warm", action="store_true", help="do not drop the page cache")
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    p.add_argument("--tmp", default=None, help="parent of the temporary folder")
    args = p.parse_args(argv)
    from bench_corpus import Corpus

    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        folder = Corpus(args.data, Path(tmp), args.records).ensure(args.records)
        cold = not args.warm and drop_caches()
        print(f"{args.records} records, page cache {'cold' if cold else 'warm'}, {os.cpu_count()} CPUs", flush=True)
        for label, res in measure(folder, Path(tmp), args.records, args.rounds, cold).items():
            b = res["bytes"]
            rates = "; ".join(f"{mode} signals {r['signals']:.0f}/s, spectrograms {r['spectrograms']:.0f}/s ="
                              f" {r['signals'] / r['spectrograms']:.2f}x" for mode, r in res.items() if mode != "bytes")
            print(f"{label:>15}: bytes signals {b['signals'] / 1e6:.0f} MB / spectrograms {b['spectrograms'] / 1e6:.0f} MB"
                  f" = {b['signals'] / b['spectrograms']:.3f}x; DataLoader {rates}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
