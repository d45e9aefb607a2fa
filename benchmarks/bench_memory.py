"""bench.py's ``memory`` and ``storage`` sections: peak RSS of extract for corpora and long records,
and size and speed of each dtype and codec."""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path
from typing import Any, Dict, List, Tuple

from bench_child import measure
from bench_common import BATCH, LONG_CONFIG, SEED, TARGETS, Table, drop_output, e2e_config, extract_options, log
from bench_corpus import Corpus, write_long_record, write_multisegment_record


def section_memory(args: argparse.Namespace, table: Table, ctx: Dict[str, Any]) -> None:
    """Peak RSS of extract in fresh subprocesses: imports only, a small and a large corpus, and (unless
    ``--skip-long``) the multi-segment record and the long record."""
    corpus: Corpus = ctx["corpus"]
    large = args.records
    small = 200 if large >= 1000 else max(10, large // 4)
    cfg = e2e_config(args)
    base = measure("import", Path("."), ctx["tmp"] / "none.h5", {}, {})
    table.add("memory", "peak RSS after imports only", f"{base['vm_hwm_kb'] / 1024:.0f} MB", "", None, "", None)
    hwm = {}
    for n in (small, large):
        folder = corpus.subset(n)
        log(f"  extract, {n} records ...")
        res = measure("extract", folder, ctx["tmp"] / "e2e.h5", cfg, extract_options(args))
        hwm[n] = res["vm_hwm_kb"] / 1024
        table.add("memory", f"peak RSS, {n} records", f"{hwm[n]:.0f} MB",
                  f"{res['records'] / res['seconds']:.1f} rec/s", None, "", None, **res)
    growth = hwm[large] - hwm[small]
    table.add("memory", f"RSS growth {small} -> {large} records", f"{growth:+.0f} MB", "", None,
              f"< {TARGETS['memory_growth_mb']:g} MB", growth < TARGETS["memory_growth_mb"])
    if args.skip_long:
        return
    multisegment_memory_row(args, table, ctx, hwm[small], small)
    long_record_rows(args, table, ctx)


def long_record_rows(args: argparse.Namespace, table: Table, ctx: Dict[str, Any]) -> None:
    """Peak RSS and speed of extracting one ``--long-hours`` 12-lead 500 Hz record (quick: 1 h), feature_fs=100."""
    hours = 1.0 if args.quick else args.long_hours
    t0 = time.perf_counter()
    hea = write_long_record(args.data, ctx["tmp"] / "long", hours)
    size = hea.with_suffix(".dat").stat().st_size
    log(f"  long record: {hours:g} h, {size / 2**30:.2f} GiB written in {time.perf_counter() - t0:.1f} s")
    long_cfg = dict(SEED, **LONG_CONFIG)
    res = measure("extract", hea.parent, ctx["tmp"] / "long.h5", long_cfg, extract_options(args))
    gb = res["vm_hwm_kb"] / 2**20
    table.add("memory", f"peak RSS, one {hours:g}-h 12-lead record ({size / 2**30:.2f} GiB, feature_fs=100)",
              f"{gb:.2f} GB", f"{res['windows']} windows", None, f"< {TARGETS['memory_long_gb']:g} GB",
              gb < TARGETS["memory_long_gb"], **res)
    table.add("memory", f"{hours:g}-h record speed", f"{res['windows'] / res['seconds']:.0f} windows/s",
              f"{res['records'] / res['seconds']:.4f} rec/s ({res['seconds']:.1f} s)", None, "", None)
    shutil.rmtree(hea.parent)


def multisegment_memory_row(args: argparse.Namespace, table: Table, ctx: Dict[str, Any], baseline_mb: float,
                            baseline_records: int) -> None:
    """Peak RSS of extracting one 3-day 3-lead 125 Hz record of 300 segments (quick: 6 h, 30) vs the
    ``baseline_records``-record corpus's peak in the same invocation: segments are read one at a time."""
    days, n_segments = (0.25, 30) if args.quick else (3.0, 300)
    t0 = time.perf_counter()
    hea = write_multisegment_record(ctx["tmp"] / "multiseg", days, n_segments)
    size = sum(f.stat().st_size for f in hea.parent.glob("*.dat"))
    log(f"  multi-segment record: {days:g} days, {n_segments} segments, {size / 2**20:.0f} MB"
        f" written in {time.perf_counter() - t0:.1f} s")
    cfg = dict(SEED, n_channels=3, **LONG_CONFIG)
    res = measure("extract", hea.parent, ctx["tmp"] / "multiseg.h5", cfg, extract_options(args))
    mb = res["vm_hwm_kb"] / 1024
    table.add("memory", f"peak RSS, one {days:g}-day 3-lead 125 Hz record of {n_segments} segments"
              f" ({size / 2**20:.0f} MB, feature_fs=100) vs {baseline_records} records",
              f"{mb:.0f} MB", f"{baseline_mb:.0f} MB", mb / baseline_mb, f"< +{TARGETS['memory_growth_mb']:g} MB",
              mb - baseline_mb < TARGETS["memory_growth_mb"], **res)
    table.add("memory", "multi-segment record speed", f"{res['windows'] / res['seconds']:.0f} windows/s",
              f"{res['seconds']:.1f} s", None, "", None)
    shutil.rmtree(hea.parent)


def _codecs() -> Tuple[List[Tuple[str, str]], str]:
    """The (dtype, compression) variants to price, and a line saying which codecs hdf5plugin adds."""
    variants = [("float32", "none"), ("float16", "none"), ("float32", "lzf"), ("float32", "gzip")]
    try:
        import hdf5plugin  # noqa: F401

        variants += [("float32", "zstd"), ("float32", "blosc2")]
        plugin = f"hdf5plugin {hdf5plugin.version}"
    except ImportError:
        plugin = "hdf5plugin not installed (pip install 'hdf5plugin>=4.1'): zstd, blosc2 skipped"
    return variants, plugin


def _read_back_seconds(out: Path) -> float:
    """Seconds to read back every window once, in batches (what a training epoch does), to price decompression."""
    import h5py

    t1 = time.perf_counter()
    with h5py.File(out, "r") as f:
        ds = f["spectrograms"]
        for lo in range(0, ds.shape[0], BATCH):
            ds[lo : lo + BATCH]
    return time.perf_counter() - t1


def section_storage(args: argparse.Namespace, table: Table, ctx: Dict[str, Any]) -> None:
    """MB per record, records/s and read-back windows/s of each dtype and codec, as ratios to float32 uncompressed."""
    import h5py  # noqa: F401  (loaded before the first extract is timed, so that one does not pay for it)

    corpus: Corpus = ctx["corpus"]
    n = min(args.storage_records, args.records)
    folder = corpus.subset(n)
    cfg = e2e_config(args)
    variants, plugin = _codecs()
    table.add("storage", "codecs", plugin, f"{n} records", None, "", None)
    import ecgspec

    out = ctx["tmp"] / "storage.h5"
    base_mb = None
    for dtype, compression in variants:
        drop_output(out)
        t0 = time.perf_counter()
        result = ecgspec.extract(folder, out, cfg, overwrite=True, log=lambda m: None,
                                 **extract_options(args, dtype=dtype, compression=compression))
        seconds = time.perf_counter() - t0
        size = out.stat().st_size
        mb = size / 2**20 / result.records
        base_mb = base_mb or mb
        read_s = _read_back_seconds(out)
        table.add(
            "storage", f"{dtype} {compression}", f"{mb:.3f} MB/rec, {result.records / seconds:.1f} rec/s",
            f"read back {result.windows / read_s:.0f} win/s", base_mb / mb, "", None,
            mb_per_record=mb, records_per_s=result.records / seconds, read_windows_per_s=result.windows / read_s,
        )
    drop_output(out)
