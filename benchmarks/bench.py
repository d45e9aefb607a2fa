#!/usr/bin/env python
"""ecgspec benchmark: speed and memory measured side by side, printed as one table of ratios.

    python benchmarks/bench.py --data ../shared/data            # full run (~10 min on 2 cores)
    python benchmarks/bench.py --data ../shared/data --quick    # smoke run (~2 min)
    python benchmarks/bench.py --only engine,storage --json out.json

Sections (each runnable alone with ``--only``):

engine   ecgspec vs torch_ecg 0.0.33 ``SpectrogramInput`` on the same random batch
         (32 x 12 x 5000, n_bins 128, fs 500, window 1/20 s, overlap 1/40 s), plain,
         feature_fs=100 and feature_fs=100 + to1d, on CPU; interleaved repetitions,
         median ms per batch, and the outputs' max relative error.
e2e      ``ecgspec.extract`` vs the naive script (wfdb.rdrecord per record, batches of 32
         through torch_ecg, appended to a resizable h5py dataset) on N CinC-2021-like
         records, each in a fresh subprocess, back to back, writing to the same temp folder.
stages   each stage of extract alone on the same corpus (read: best of 3 passes, engine, write) and
         the whole run: the pipeline should run at the pace of its slowest stage. Also a 12-lead
         multi-frequency record (16x2) read vs the same samples at one sample a frame (<= 2x).
memory   peak RSS (VmHWM) of extract in a fresh subprocess for a small and a large corpus, for
         one 3-day 3-lead 125 Hz multi-segment record of 300 segments (vs the small corpus), and
         for one 24-hour 12-lead 500 Hz fmt-16 WFDB record (~1 GB), both built in the temp folder.
storage  MB per record and records/s for float32/float16 uncompressed, lzf, gzip and,
         when ``hdf5plugin`` imports (``pip install 'hdf5plugin>=4.1'``), zstd and blosc2.
qc       the quality flags' cost: extract end to end with and without them (internal switch
         ``ecgspec.signal.quality.ENABLED``, set in the child process), interleaved fresh-process runs,
         best of each; and the read stage alone (reading, windowing, flags) on the same corpus.
startup  the wall time of ``python -m ecgspec --help``, ``--version``, ``shape --json`` and of
         ``python -c "import torch"`` (and of ``python -c pass``), run alternately in fresh
         processes: --help and shape should take at most 0.35x torch's import.
process  whole processes, start-up included: ``python -m ecgspec extract`` vs the naive script
         (``bench.py --child naive``: its imports of torch, torch_ecg and wfdb included) on 500
         and 2000 records, wall time measured around each subprocess, alternately.
workers, floor, mimic  (bench_scale.py) reader processes against one process on 10,000 records and per N; the
         seed config against import torch + dd of its bytes; 100,000 records in MIMIC-IV-ECG's layout: the
         dry run, the rate's last tenth against its first, peak RSS, commit cost at 10k and 100k records.
cluster  (bench_cluster.py) ``--cluster local:2`` vs one process on the e2e records, start-up and
         merge included; ``merge`` copy of 4 shards vs the disk's sequential write rate (fsync
         included, measured alternately in the same run); ``merge --virtual`` of 100 parts; and
         the MIMIC-IV-ECG cost sheet extrapolated from the measured rates.
resample windowing a 1-hour 2-lead in-memory record resampled to 500 Hz from 360, 1000,
         249.89 and 62.4725 Hz (exact ratios up to 200000/24989), block by block as extract
         does, vs windowing it at its own rate (no resampling) and vs resample_poly on the
         whole signal; the first call's filter design is timed apart.
preprocess (bench_preprocess.py, runnable alone) extract with and without ``--preprocess``
         (baseline_remove + bandpass 0.5-45 Hz + z-score, and bandpass + z-score) on the e2e records,
         alternately in fresh processes: at least 0.75x the records/s; the steps alone against
         torch_ecg's PreprocManager; peak RSS of a 24-hour record with and without (<= +64 MB).
readers  (bench_readers.py) records/s of each reader of issue 20 (GE MUSE, HL7 aECG, Philips
         Sierra, SCP-ECG, DICOM, CSV, CODE-15% HDF5) beside WFDB's, for the same 12 x 5000 samples:
         find, open and read whole; best of 3, formats in rotated order; target >= 1/3 of WFDB.
loader   (bench_loader.py) ``DataLoader(ecgspec.open(f), batch_size=64)``, sequential and with
         ``ds.sampler(shuffle=True, block=64)``, vs plain h5py slab reads of 64 windows of the same
         file, at 3,000 records (extracted) and 100,000 (written with the writer API: 23.7 GB),
         ``--feature-fs 100 --to1d --dtype float16``; targets 0.8x and 0.5x.
checksums (bench_checksums.py) the output's checksums (Fletcher32, string CRCs) on and off, side by side:
         extract end to end (fresh processes, ABBA), the writer alone, and the loader's reads (page
         cache); targets: each cost <= 5%.
resume   a fresh run, then --resume after a SIGKILL at half way and --resume adding 5% new records
         to a finished file, as ratios to the fresh run (each in a fresh subprocess); and the cost
         of a commit point (extract's flush every 2 s) with and without fsync.

Everything is built and written in a ``tempfile.TemporaryDirectory`` (``--tmp`` picks its
parent); the data folder is only read. This is a benchmark, not a test: it exits 0 whatever
the figures, and says PASS/FAIL next to each target.

The sections live beside this file, one module per group: bench_engine (engine, e2e, stages),
bench_memory (memory, storage), bench_qc (resample, qc), bench_resume, bench_startup (startup,
process) and bench_cluster; bench_common holds the Table, targets and helpers, bench_corpus the
inputs, bench_child the child processes (``bench.py --child ...``, which this entry point serves).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Dict, List

from bench_checksums import section_checksums
from bench_child import child_main
from bench_cluster import section_cluster
from bench_common import NOISY_CORES, ForeignCpu, Table, load_average, log
from bench_corpus import Corpus
from bench_engine import section_e2e, section_engine, section_stages
from bench_loader import section_loader
from bench_memory import section_memory, section_storage
from bench_preprocess import section_preprocess
from bench_qc import section_qc, section_resample
from bench_readers import section_readers
from bench_resume import section_resume
from bench_scale import section_floor, section_mimic, section_workers
from bench_startup import section_process, section_startup

warnings.filterwarnings("ignore")  # torch_ecg's import-time deprecation noise

SECTIONS = ("engine", "e2e", "stages", "memory", "storage", "resample", "qc", "preprocess", "resume", "checksums",
            "startup", "process", "cluster", "readers", "workers", "floor", "mimic", "loader")

RUNNERS: Dict[str, Callable[[argparse.Namespace, Table, Dict[str, Any]], None]] = {
    "engine": section_engine,
    "e2e": section_e2e,
    "stages": section_stages,
    "memory": section_memory,
    "storage": section_storage,
    "resume": section_resume,
    "checksums": section_checksums,
    "resample": section_resample,
    "qc": section_qc,
    "preprocess": section_preprocess,
    "startup": section_startup,
    "process": section_process,
    "cluster": section_cluster,
    "readers": section_readers,
    "workers": section_workers,
    "floor": section_floor,
    "mimic": section_mimic,
    "loader": section_loader,
}


def parse_args(argv: List[str]) -> argparse.Namespace:
    """The command line, with --quick's sizes applied and ``sections`` the chosen ones in SECTIONS order."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data",
                   help="the shared data folder (holds cinc2021/); only read")
    p.add_argument("--records", type=int, default=None, help="corpus size for e2e/stages/memory (default 2000)")
    p.add_argument("--quick", action="store_true", help="small sizes for a smoke run (200 records, a 1-hour long record)")
    p.add_argument("--skip-long", action="store_true",
                   help="skip the long records (24-hour, 3-day multi-segment) of the memory section")
    p.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated sections: {','.join(SECTIONS)}")
    p.add_argument("--json", type=Path, help="also write the results as JSON here")
    p.add_argument("--tmp", type=Path, default=None, help="parent of the temporary folder (default: the system's)")
    p.add_argument("--reps", type=int, default=7, help="engine repetitions per contender (quick: 3)")
    p.add_argument("--e2e-reps", type=int, default=2, help="fresh-process runs of each e2e contender (best kept)")
    p.add_argument("--storage-records", type=int, default=300)
    p.add_argument("--long-hours", type=float, default=24.0)
    p.add_argument("--feature-fs", type=float, default=None,
                   help="engine feature_fs for e2e/stages/memory/storage (default: extract's default, off)")
    p.add_argument("--device", default="cpu", help="extract's device (default cpu, as the naive script)")
    p.add_argument("--workers", type=int, default=None, help="extract's reader processes (default: one per CPU)")
    p.add_argument("--scale-records", type=int, default=10_000, help="records of the workers section")
    p.add_argument("--mimic-records", type=int, default=100_000, help="records of the mimic section (MIMIC-IV-ECG layout)")
    p.add_argument("--reader-records", type=int, default=200, help="records a format of the readers section (20..20000)")
    args = p.parse_args(argv)
    if args.records is None:
        args.records = 200 if args.quick else 2000
    if args.quick:
        args.storage_records = min(args.storage_records, 100)
    args.data = args.data.resolve()
    sections = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = sorted(set(sections) - set(SECTIONS))
    if unknown:
        p.error(f"--only: unknown section(s) {', '.join(unknown)}; known: {', '.join(SECTIONS)}")
    args.sections = [s for s in SECTIONS if s in sections]
    return args



def _meta(args: argparse.Namespace) -> Dict[str, Any]:
    """The run's context for the JSON and the heading line: versions, CPUs, threads, sizes, load."""
    import torch

    import ecgspec

    meta = {
        "ecgspec": ecgspec.__version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "records": args.records,
        "quick": args.quick,
        "sections": args.sections,
        "load_average_start": load_average(),
    }
    with contextlib.suppress(Exception):
        import torch_ecg

        meta["torch_ecg"] = getattr(torch_ecg, "__version__", "?")
    return meta


def _run_section(name: str, args: argparse.Namespace, table: Table, ctx: Dict[str, Any],
                 meta: Dict[str, Any]) -> float:
    """Run one section (an exception becomes an ERROR row) and add its foreign-CPU row; return its seconds."""
    log(f"[{name}] (load average {load_average()})")
    t0 = time.perf_counter()
    with ForeignCpu() as foreign:
        try:
            RUNNERS[name](args, table, ctx)
        except Exception as exc:  # noqa: BLE001 - a benchmark reports and goes on
            table.add(name, "ERROR", f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}", "", None,
                      "", False)
    seconds = time.perf_counter() - t0
    noisy = foreign.cores > NOISY_CORES
    table.add(name, "other processes' CPU during section", f"{foreign.cores:.2f} of {os.cpu_count()} cores",
              "NOISY: figures suspect" if noisy else "quiet", None, "", None, foreign_cores=foreign.cores)
    meta.setdefault("foreign_cores", {})[name] = round(foreign.cores, 3)
    log(f"[{name}] {seconds:.0f} s")
    return seconds


def _report(args: argparse.Namespace, table: Table, meta: Dict[str, Any]) -> None:
    """Print the heading line, the table and the targets met; write the JSON if asked."""
    print(f"ecgspec {meta['ecgspec']} / torch {meta['torch']} / torch_ecg {meta.get('torch_ecg', '?')}, "
          f"{meta['cpus']} CPUs, {meta['torch_threads']} torch threads, {args.records} records"
          f"{' (quick)' if args.quick else ''}, load average {meta['load_average_start']} -> {meta['load_average_end']}, "
          f"{meta['total_seconds']:.0f} s")
    print(table.render())
    fails = [r for r in table.rows if r["result"] == "FAIL"]
    targets = [r for r in table.rows if r["result"]]
    print(f"{len(targets) - len(fails)} of {len(targets)} targets met")
    if args.json:
        args.json.write_text(json.dumps({"meta": meta, "rows": table.rows}, indent=2, default=str))


def main(argv: List[str]) -> int:
    """``bench.py [options]``: run the sections in a temporary folder and print the table;
    ``bench.py --child ...``: run one contender (bench_child.child_main)."""
    if argv[:1] == ["--child"]:
        return child_main(argv[1:])
    args = parse_args(argv)
    table = Table()
    meta = _meta(args)
    t_all = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="ecgspec-bench-", dir=args.tmp) as tmp:
        ctx = {"tmp": Path(tmp), "corpus": Corpus(args.data, Path(tmp), args.records)}
        timings = {name: _run_section(name, args, table, ctx, meta) for name in args.sections}
    meta["section_seconds"] = {k: round(v, 1) for k, v in timings.items()}
    meta["total_seconds"] = round(time.perf_counter() - t_all, 1)
    meta["load_average_end"] = load_average()
    _report(args, table, meta)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
