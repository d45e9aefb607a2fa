"""bench.py's ``resume`` section: --resume after a SIGKILL and adding new records, as ratios to a
fresh run, and the cost of a commit point with and without fsync."""

from __future__ import annotations

import argparse
import contextlib
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any, Dict

from bench_child import child_command, run_child
from bench_common import TARGETS, Table, drop_output, e2e_config, extract_options
from bench_corpus import Corpus


def kill_when_half_done(inputs: Path, output: Path, config: Dict[str, Any], options: Dict[str, Any],
                        n_records: int) -> int:
    """Start extract in a subprocess and SIGKILL it once half the records are committed (read from
    the running output, as any reader can); return the records its partial file keeps."""
    import signal

    import h5py

    partial = output.with_name(output.name + ".partial")
    proc = subprocess.Popen(child_command("extract", inputs, output, config, options),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while proc.poll() is None:
            time.sleep(0.05)
            with contextlib.suppress(OSError, KeyError):
                with h5py.File(partial, "r", swmr=True) as f:
                    if int(f["committed"][0]) >= n_records // 2:
                        break
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    if not partial.exists():  # extract commits every 2 s: a shorter run has no half-way commit to kill at
        raise RuntimeError("the run finished before half of it was committed: use more --records (2000)")
    with h5py.File(partial, "r", swmr=True) as f:
        return int(f["committed"][0])


def commit_cost(args: argparse.Namespace, ctx: Dict[str, Any], window_shape: tuple, records_per_s: float) -> Dict[str, float]:
    """ms per commit point with and without fsync, each commit holding flush_seconds of records
    (at the fresh run's pace) of one window each, as extract commits every flush_seconds (LIMITS)."""
    import numpy as np

    from ecgspec.run.limits import LIMITS
    from ecgspec.store.layout import RecordRow
    from ecgspec.store.writer import SpectrogramWriter

    per_commit = max(1, int(records_per_s * LIMITS.flush_seconds))
    values = np.ones((1, *window_shape), dtype=np.float32)
    out = {}
    for durable in (False, True):
        path = ctx["tmp"] / f"commit_{durable}.h5"
        drop_output(path)
        w = SpectrogramWriter(path, window_shape=window_shape, frequencies=np.zeros(window_shape[-2]),
                              attrs={"config": {"n_channels": window_shape[0]}}, overwrite=True, durable=durable)
        seconds = []
        for k in range(5):
            for i in range(per_commit):
                w.write_windows([w.next_record_row], [0], values)
                w.commit_record(RecordRow(f"r{k}_{i}", "src", 500.0, 5000, "I", 1, 0, "500.0"))
            t0 = time.perf_counter()
            w.flush()
            seconds.append(time.perf_counter() - t0)
        w.close()
        drop_output(path)
        out[durable] = 1000 * statistics.median(seconds)
    return {"plain_ms": out[False], "fsync_ms": out[True], "records_per_commit": per_commit}


def section_resume(args: argparse.Namespace, table: Table, ctx: Dict[str, Any]) -> None:
    """Resume after a SIGKILL at 50%, and adding 5% new records to a finished file, as ratios to a fresh run."""
    corpus: Corpus = ctx["corpus"]
    n = args.records
    folder = corpus.subset(n)
    cfg, options = e2e_config(args), extract_options(args)
    out = ctx["tmp"] / "resume.h5"
    fresh = run_child("extract", folder, out, cfg, options)
    table.add("resume", f"fresh run, {n} records", f"{fresh['seconds']:.1f} s", "", None, "", None, **fresh)
    kept = kill_when_half_done(folder, out, cfg, options, n)
    resumed = run_child("resume", folder, out, cfg, options)
    ratio = resumed["seconds"] / fresh["seconds"]
    table.add("resume", f"--resume after SIGKILL at {kept / n:.0%} ({kept} kept)", f"{resumed['seconds']:.1f} s",
              f"fresh {fresh['seconds']:.1f} s", ratio, f"<= {TARGETS['resume_after_kill']}x",
              ratio <= TARGETS["resume_after_kill"], **resumed)
    base = corpus.subset(n - n // 20)
    run_child("extract", base, out, cfg, options, keep=True)
    added = run_child("resume", folder, out, cfg, options)
    ratio = added["seconds"] / fresh["seconds"]
    table.add("resume", f"--resume adding {n // 20} new records (5%) to a finished file", f"{added['seconds']:.1f} s",
              f"fresh {fresh['seconds']:.1f} s", ratio, f"<= {TARGETS['add_new_records']}x",
              ratio <= TARGETS["add_new_records"], **added)
    import ecgspec

    shape = tuple(ecgspec.SpectrogramInput(ecgspec.InputConfig(**cfg)).compute_input_shape((1, 12, cfg["n_samples"]))[1:])
    cost = commit_cost(args, ctx, shape, fresh["records"] / fresh["seconds"])
    table.add("resume", f"commit point ({cost['records_per_commit']} records), with fsync vs without",
              f"{cost['fsync_ms']:.1f} ms", f"{cost['plain_ms']:.1f} ms", cost["fsync_ms"] / max(cost["plain_ms"], 1e-6),
              "", None, **cost)
