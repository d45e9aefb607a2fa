#!/usr/bin/env python
"""bench.py's ``preprocess`` section, also runnable alone:

    python benchmarks/bench_preprocess.py --data ../shared/data [--quick] [--long-hours 24]

What torch_ecg's preprocessing (``--preprocess``) costs: extract end to end with and without it on
the e2e corpus (fresh processes, alternately, best of each), for baseline_remove + bandpass 0.5-45 Hz
+ z-score and for bandpass + z-score; the steps alone against torch_ecg's own PreprocManager on the
same records (CPU ms a record); and the peak RSS of one long 12-lead 500 Hz record (24 h; quick: 1 h)
with and without them, where the record is streamed in blocks.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Dict

from bench_child import measure, measure_alternately
from bench_common import LONG_CONFIG, SEED, Table, e2e_config, extract_options, log
from bench_corpus import write_long_record

ALL_STEPS = {"baseline_remove": {"window1": 0.2, "window2": 0.6}, "bandpass": {"lowcut": 0.5, "highcut": 45},
             "normalize": {"method": "z-score"}}
FILTER_STEPS = {"bandpass": {"lowcut": 0.5, "highcut": 45}, "normalize": {"method": "z-score"}}
TARGET_RATE = 0.75  # end-to-end records/s with preprocessing, as a share of without ("costs at most 25%")
TARGET_EXTRA_MB = 64.0  # peak RSS with preprocessing on the long record, beyond that of reading it


def _end_to_end_rows(args: argparse.Namespace, table: Table, ctx: Dict[str, Any]) -> None:
    n = args.records
    folder = ctx["corpus"].subset(n)
    cfg = e2e_config(args)
    out = ctx["tmp"] / "pre.h5"
    plain = ("extract", folder, out, cfg, extract_options(args))
    reps = max(2, args.e2e_reps)
    for label, steps in (("baseline_remove + bandpass + z-score", ALL_STEPS), ("bandpass + z-score", FILTER_STEPS)):
        pre = ("extract", folder, out, cfg, extract_options(args, preprocess=steps))
        with_pre, without = measure_alternately(pre, plain, reps, note=False)
        ratio = without["seconds"] / with_pre["seconds"]
        cpu = without["cpu_seconds"] / with_pre["cpu_seconds"]  # steadier than wall time on a busy machine
        table.add("preprocess", f"{n} records end to end, records/s with {label} / without, best of {reps}"
                  " (and CPU seconds without / with)", f"{n / with_pre['seconds']:.1f} rec/s",
                  f"{n / without['seconds']:.1f} rec/s (CPU x{cpu:.2f})", ratio, f">= {TARGET_RATE:g}",
                  ratio >= TARGET_RATE, with_preprocess=with_pre, without=without, cpu_ratio=cpu)


def _steps_alone_rows(args: argparse.Namespace, table: Table) -> None:
    """ecgspec's steps vs torch_ecg's PreprocManager on the same (12, 5000) records, CPU time."""
    import numpy as np
    import wfdb
    from torch_ecg._preprocessors import PreprocManager

    from ecgspec.signal.preprocess import apply_preprocess, parse_preprocess

    signals = [np.ascontiguousarray(wfdb.rdrecord(str(p.with_suffix(""))).p_signal.T, dtype=np.float32)
               for p in sorted((args.data / "cinc2021").glob("*.hea"))[: 10 if args.quick else 50]]
    for label, steps in (("baseline_remove + bandpass + z-score", ALL_STEPS), ("bandpass + z-score", FILTER_STEPS)):
        ours, theirs = parse_preprocess(steps), PreprocManager.from_config(steps)
        seconds = {"ecgspec": [], "torch_ecg": []}
        for rep in range(2):
            for who in (("ecgspec", "torch_ecg") if rep % 2 == 0 else ("torch_ecg", "ecgspec")):
                t0 = time.process_time()
                for x in signals:
                    apply_preprocess(ours, x, 500) if who == "ecgspec" else theirs(x.copy(), 500)
                seconds[who].append(time.process_time() - t0)
        best = {who: 1000 * min(v) / len(signals) for who, v in seconds.items()}
        table.add("preprocess", f"{label} alone, CPU ms a 12 x 5000 record (exact to torch_ecg)",
                  f"{best['ecgspec']:.2f} ms", f"torch_ecg {best['torch_ecg']:.2f} ms",
                  best["torch_ecg"] / best["ecgspec"], "", None)


def _long_record_rows(args: argparse.Namespace, table: Table, ctx: Dict[str, Any]) -> None:
    hours = 1.0 if args.quick else args.long_hours
    hea = write_long_record(args.data, ctx["tmp"] / "long_pre", hours)
    cfg = dict(SEED, **LONG_CONFIG)
    out = ctx["tmp"] / "long_pre.h5"
    log(f"  long record: {hours:g} h, with and without preprocessing ...")
    plain = measure("extract", hea.parent, out, cfg, extract_options(args))
    pre = measure("extract", hea.parent, out, cfg, extract_options(args, preprocess=ALL_STEPS))
    mb_plain, mb_pre = plain["vm_hwm_kb"] / 1024, pre["vm_hwm_kb"] / 1024
    scipy_mb = _scipy_import_mb()
    extra = mb_pre - mb_plain - scipy_mb  # the plain run of a 500 Hz record imports no SciPy (nothing to resample)
    table.add("preprocess", f"peak RSS, one {hours:g}-h 12-lead 500 Hz record (feature_fs=100), with / without"
              f" baseline_remove + bandpass + z-score; beyond importing SciPy's filters ({scipy_mb:.0f} MB)",
              f"{mb_pre:.0f} MB", f"{mb_plain:.0f} MB ({extra:+.0f} MB)", mb_pre / mb_plain,
              f"<= +{TARGET_EXTRA_MB:g} MB", extra <= TARGET_EXTRA_MB, with_preprocess=pre, without=plain,
              scipy_import_mb=scipy_mb)
    table.add("preprocess", f"{hours:g}-h record, seconds with / without", f"{pre['seconds']:.1f} s",
              f"{plain['seconds']:.1f} s", plain["seconds"] / pre["seconds"], "", None)
    shutil.rmtree(hea.parent)


def _scipy_import_mb() -> float:
    """RSS that importing scipy.signal and scipy.ndimage adds to a process holding what extract imports."""
    import subprocess

    code = ("import torch, h5py, numpy, ecgspec\n"
            "def rss():\n return next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmRSS'))\n"
            "a = rss(); import scipy.signal, scipy.ndimage; print((rss() - a) / 1024)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.split()[-1])


def section_preprocess(args: argparse.Namespace, table: Table, ctx: Dict[str, Any]) -> None:
    """End to end with and without preprocessing, the steps alone against torch_ecg, and the long record's memory."""
    _end_to_end_rows(args, table, ctx)
    _steps_alone_rows(args, table)
    if not args.skip_long:
        _long_record_rows(args, table, ctx)


def main(argv: list) -> int:
    """Run this section alone through bench.py's entry point (its options, table and JSON)."""
    warnings.filterwarnings("ignore")
    from bench import main as bench_main

    return bench_main(["--only", "preprocess", *argv])


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sys.exit(main(sys.argv[1:]))
