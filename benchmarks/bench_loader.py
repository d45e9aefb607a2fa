#!/usr/bin/env python
"""The loader: ``DataLoader(ecgspec.open(f), batch_size=64)`` (sequential, and with
``ds.sampler(shuffle=True, block=64)``) against plain h5py slab reads of 64 windows of the same
file, measured side by side (the three alternately, best of ``--rounds``), as ratios.

    python benchmarks/bench_loader.py                      # 3,000 and 100,000 records
    python benchmarks/bench_loader.py --records 3000 --extract --data ../shared/data

The outputs hold one ``--feature-fs 100 --to1d --dtype float16`` window (1536 x 77) a record.
By default they are written with the writer API (``SpectrogramWriter``: the file extract writes,
with synthetic values; reading an uncompressed float16 dataset does not depend on them);
``--extract`` builds the first size by extracting renamed copies of ../shared/data/cinc2021
instead. At 100,000 records the file is 23.6 GB, more than this machine's page cache: each
method then reads ``--sample`` batches (the same ones for the slab reads and the sequential
loader; the sampler's own first batches for the shuffled one), each read once, untimed, just
before its timed read, so all three read from the page cache and the figures measure the loader
rather than the disk. Each
file is opened once (h5py and ``ecgspec.open``) before the timed reads, as a training script
opens its file once for many epochs.
Target (issue 18): sequential >= 0.8x the slab reads, shuffled >= 0.5x.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import h5py
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import ecgspec  # noqa: E402
from ecgspec.store.layout import RecordRow  # noqa: E402
from ecgspec.store.writer import SpectrogramWriter  # noqa: E402

WINDOW = (1536, 77)  # 12 leads x 128 bins, 77 frames: feature_fs 100, to1d
BATCH = 64


def build_synthetic(path: Path, n_records: int) -> Path:
    """An output of ``n_records`` one-window records written through the writer API."""
    rng = np.random.default_rng(0)
    block = rng.random((BATCH, *WINDOW), dtype=np.float32).astype(np.float16)
    config = {"n_channels": 12, "n_bins": 128, "fs": 500, "n_samples": 5000, "feature_fs": 100, "to1d": True,
              "dtype": "float16"}
    with SpectrogramWriter(path, window_shape=WINDOW, dtype="float16", frequencies=np.linspace(0, 250, 128),
                           attrs={"config": config, "n_fft": 254, "win_length": 25, "hop_length": 13},
                           durable=False) as writer:
        for first in range(0, n_records, BATCH):
            n = min(BATCH, n_records - first)
            rows = np.arange(first, first + n)
            writer.write_windows(rows, np.zeros(n, dtype=np.int64), block[:n])
            for i in rows.tolist():
                writer.commit_record(RecordRow(f"R{i:06d}", "synthetic", 500.0, 5000, "I", 1, 0, "500.0"))
            if first % 4096 == 0:
                writer.flush()
        writer.finish()
    return path


def build_extracted(path: Path, n_records: int, data: Path, tmp: Path) -> Path:
    """An output of ``n_records`` renamed cinc2021 copies, extracted as the issue's config says."""
    sys.path.insert(0, str(Path(__file__).parent))
    from bench_corpus import Corpus

    folder = Corpus(data, tmp, n_records).ensure(n_records)
    ecgspec.extract(folder, path, {"feature_fs": 100, "to1d": True}, dtype="float16", log=lambda m: None)
    return path


def slab_reads(dataset: h5py.Dataset, starts: list[int]) -> int:
    """Plain h5py: ``batch = dataset[i:i + 64]`` for each start, as a training loop holds its batch
    while the next is read (as the DataLoader loop does); windows read."""
    n = 0
    batch = None
    for i in starts:
        batch = dataset[i:i + BATCH]
        n += len(batch)
    del batch
    return n


def loader_reads(ds: ecgspec.SpectrogramFile, sampler: object, n_batches: int, epochs: int = 1) -> int:
    """``DataLoader(ds, batch_size=64, sampler=...)``: its first ``n_batches``, ``epochs`` times; windows read."""
    from torch.utils.data import DataLoader

    n = 0
    loader = DataLoader(ds, batch_size=BATCH, sampler=sampler)
    for _ in range(epochs):
        for specs, _, _ in itertools.islice(loader, n_batches):
            n += len(specs)
    return n


def warm(dataset: h5py.Dataset, rows: np.ndarray) -> None:
    """Read the blocks of 64 holding ``rows`` once, untimed (into the page cache)."""
    for start in np.unique(rows // BATCH * BATCH).tolist():
        dataset[start:start + BATCH]


def measure(path: Path, n_windows: int, sample: int, rounds: int) -> dict[str, float]:
    """Windows/s of the three readers, alternately, best of ``rounds``."""
    n_batches = min(sample, -(-n_windows // BATCH))
    epochs = -(-sample // n_batches)  # a small file is read several times a round: timings of ~sample batches
    first = max(0, (n_windows // BATCH - n_batches) // 2 * BATCH)  # the middle of the file
    whole = first == 0 and n_batches * BATCH >= n_windows  # then exactly DataLoader(ds, batch_size=64)
    starts = list(range(first, min(first + n_batches * BATCH, n_windows), BATCH))
    ds = ecgspec.open(path)
    shuffled_rows = np.fromiter(itertools.islice(iter(ds.sampler(shuffle=True, block=BATCH, seed=1)),
                                                 n_batches * BATCH), dtype=np.int64)
    ds.close()
    sequential_rows = np.arange(first, min(first + n_batches * BATCH, n_windows))
    # both opened once, as a training script opens its file once for many epochs
    file, ds = h5py.File(path, "r"), ecgspec.open(path)
    dataset, shuffled = file["spectrograms"], ds.sampler(shuffle=True, block=BATCH, seed=1)
    runs = {  # name: (the rows it reads, read beforehand untimed so that they come from the page cache; the reads)
        "slab": (sequential_rows, lambda: slab_reads(dataset, starts * epochs)),
        "sequential": (sequential_rows,
                       lambda: loader_reads(ds, None if whole else range(first, n_windows), n_batches, epochs)),
        "shuffled": (shuffled_rows, lambda: loader_reads(ds, shuffled, n_batches, epochs)),
    }
    best = dict.fromkeys(runs, 0.0)
    for r in range(rounds):
        for name in (list(runs) if r % 2 == 0 else list(runs)[::-1]):
            rows, read = runs[name]
            warm(dataset, rows)
            t0 = time.perf_counter()
            n = read()
            best[name] = max(best[name], n / (time.perf_counter() - t0))
    ds.close()
    file.close()
    return best


def section_loader(args: Any, table: Any, ctx: dict[str, Any]) -> None:
    """``bench.py --only loader``: the rows of both sizes (``--quick``: 3,000 only), the first extracted."""
    for k, n in enumerate([3000] if args.quick else [3000, 100000]):
        path = ctx["tmp"] / f"loader_{n}.h5"
        if k == 0:
            build_extracted(path, n, args.data, ctx["tmp"] / "loader")
        else:
            build_synthetic(path, n)
        best = measure(path, n, sample=150, rounds=5)
        path.unlink()
        for name, target in (("sequential", 0.8), ("shuffled", 0.5)):
            ratio = best[name] / best["slab"]
            how = "DataLoader(ds, batch_size=64)" if name == "sequential" else "with ds.sampler(block=64)"
            table.add("loader", f"{how}, {n} records ({'extracted' if k == 0 else 'writer API'})",
                      f"{best[name]:.0f} windows/s", f"h5py slabs of 64: {best['slab']:.0f}/s", ratio,
                      f">= {target}", ratio >= target, windows_per_s=best[name], slab_per_s=best["slab"])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--records", default="3000,100000", help="comma-separated output sizes [3000,100000]")
    p.add_argument("--sample", type=int, default=300, help="batches each method reads a round [300]")
    p.add_argument("--rounds", type=int, default=5, help="rounds, best of [5]")
    p.add_argument("--extract", action="store_true", help="build the first size by extraction (--data)")
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    p.add_argument("--tmp", default=None, help="parent of the temporary folder")
    p.add_argument("--keep", type=Path, help="build the outputs in this folder and keep them; reuse those there")
    args = p.parse_args(argv)
    print(f"{'records':>8} {'how':>9} {'h5py slab':>12} {'sequential':>12} {'ratio':>6} {'shuffled':>12} {'ratio':>6}")
    ok = True
    for k, n in enumerate(int(x) for x in args.records.split(",")):
        with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
            folder = args.keep or Path(tmp)
            path = folder / f"loader_{n}.h5"
            extracted = args.extract and k == 0
            if not path.exists():
                t0 = time.perf_counter()
                build_extracted(path, n, args.data, Path(tmp)) if extracted else build_synthetic(path, n)
                print(f"  built {path.name} ({path.stat().st_size / 1e9:.2f} GB) in {time.perf_counter() - t0:.1f} s",
                      file=sys.stderr)
            best = measure(path, n, args.sample, args.rounds)
        seq, shuf = best["sequential"] / best["slab"], best["shuffled"] / best["slab"]
        ok &= seq >= 0.8 and shuf >= 0.5
        print(f"{n:>8} {'extract' if extracted else 'writer':>9} {best['slab']:>10.0f}/s {best['sequential']:>10.0f}/s"
              f" {seq:>5.2f}x {best['shuffled']:>10.0f}/s {shuf:>5.2f}x", flush=True)
    print("targets (sequential >= 0.8x, shuffled >= 0.5x):", "PASS" if ok else "FAIL")
    return 0


if __name__ == "__main__":
    sys.exit(main())
