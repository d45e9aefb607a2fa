"""bench.py's ``workers``, ``mimic`` and ``floor`` sections: the run on every core, at 100,000 records, and
against the floor of what a run must do.

workers  10,000 records (hard links to the cinc2021 signals) at ``--feature-fs 25 --to1d --dtype float16``:
         the default run (a reader process per CPU) against ``--workers 0`` (everything in one process), and
         ``--workers N`` for each N up to the CPUs, fresh processes run alternately, best of 2; and the same
         bytes out for N = 0 and the default.
mimic    100,000 records in MIMIC-IV-ECG's layout (``files/pNNNN/pNNNNNNNN/sNNNNNNNN/NNNNNNNN``, headers
         written, signal files hard links): ``--dry-run`` wall time; the run at ``--feature-fs 100 --to1d
         --dtype float16`` with its progress lines timed as they arrive, the rate over its last tenth against
         its first, and the peak RSS of any of its processes; and the cost of a commit point (1,000 records
         appended and flushed) at 10,000 and at 100,000 records in the file, through the writer alone.
floor    the seed config on 500 records, the whole process, against its floor: ``python -c "import torch"``
         plus ``dd`` writing the output's bytes with ``conv=fsync``, alternately, best of 3.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List

from bench_child import alternate, wall_seconds
from bench_common import ROOT, Table, drop_output, log
from bench_corpus import cinc_sources, renamed_header, write_mimic_tree

TARGETS = {"workers": 1.6, "mimic_dry_run_s": 15.0, "mimic_rate_hold": 0.9, "mimic_rss_gb": 1.5, "floor": 0.85}
FAST = ["--feature-fs", "25", "--to1d", "--dtype", "float16"]
MIMIC = ["--feature-fs", "100", "--to1d", "--dtype", "float16"]


def linked_corpus(data: Path, folder: Path, n: int) -> Path:
    """``n`` cinc2021-like records ``L000000`` ...: headers written, signal files hard links to one copy of each."""
    if folder.exists():
        return folder
    sources = folder.parent / (folder.name + "_sources")
    folder.mkdir(parents=True)
    sources.mkdir()
    originals = []
    for stem, text, payload, signal_file in cinc_sources(data):
        path = sources / signal_file
        path.write_bytes(payload)
        originals.append((stem, text, path, signal_file))
    for i in range(n):
        stem, text, path, signal_file = originals[i % len(originals)]
        name = f"L{i:06d}"
        new_file = name + path.suffix
        (folder / f"{name}.hea").write_text(renamed_header(text, stem, name, signal_file, new_file))
        os.link(path, folder / new_file)
    return folder


def extract_command(folder: Path, out: Path, *flags: str, quiet: bool = True) -> List[str]:
    """The ``extract`` command line; ``quiet=False`` keeps its progress lines (``--quiet`` drops them)."""
    return [sys.executable, "-m", "ecgspec", "extract", str(folder), str(out), "--overwrite",
            *(["--quiet"] if quiet else []), *flags]


def same_outputs(a: Path, b: Path) -> bool:
    """Whether two outputs hold the same windows, records and values."""
    import h5py
    import numpy as np

    with h5py.File(a, "r") as x, h5py.File(b, "r") as y:
        names = ["spectrograms", "windows/record", "windows/start", "windows/qc", "records/name", "records/n_windows"]
        return all(np.array_equal(x[n][()], y[n][()]) for n in names)


def section_workers(args: argparse.Namespace, table: Table, ctx: Dict[str, Any]) -> None:
    n = 1000 if args.quick else args.scale_records
    folder = linked_corpus(args.data, ctx["tmp"] / f"linked_{n}", n)
    out = ctx["tmp"] / "workers.h5"
    cpus = len(os.sched_getaffinity(0))
    commands = {"default": extract_command(folder, out, *FAST)}
    commands.update({f"workers {k}": extract_command(folder, out, *FAST, "--workers", str(k)) for k in range(cpus + 1)})
    times = alternate(commands, 2, outputs=(out,))
    best = {k: min(v) for k, v in times.items()}
    base = best["workers 0"]
    ratio = base / best["default"]
    table.add("workers", f"{n} records, default ({cpus} reader processes) vs --workers 0, best of 2",
              f"{best['default']:.1f} s ({n / best['default']:.0f} rec/s)", f"{base:.1f} s ({n / base:.0f} rec/s)",
              ratio, f">= {TARGETS['workers']:g}x", ratio >= TARGETS["workers"], times=times)
    for k in range(1, cpus + 1):
        key = f"workers {k}"
        table.add("workers", f"--workers {k} vs --workers 0", f"{best[key]:.1f} s ({n / best[key]:.0f} rec/s)",
                  f"{base:.1f} s", base / best[key])
    zero, default = ctx["tmp"] / "w0.h5", ctx["tmp"] / "wd.h5"
    subprocess.run(extract_command(folder, zero, *FAST, "--workers", "0"), cwd=ROOT, check=True)
    subprocess.run(extract_command(folder, default, *FAST), cwd=ROOT, check=True)
    same = same_outputs(zero, default)
    table.add("workers", "same bytes out, --workers 0 and default", "same" if same else "DIFFERENT", "", None,
              "same", same)
    for path in (zero, default):
        drop_output(path)


def timed_progress(cmd: List[str]) -> tuple[list[tuple[float, int]], float, int]:
    """Run ``cmd`` (with ``--log-every``), noting when each progress line arrives: ([(seconds, records done)],
    wall seconds, the largest peak RSS of its processes in KB)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    points = []
    with subprocess.Popen(cmd, cwd=ROOT, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True) as proc:
        assert proc.stderr is not None
        for line in proc.stderr:
            head = line.split(" records", 1)[0]
            if line.startswith("ecgspec: ") and "/" in head:
                points.append((time.perf_counter() - t0, int(head.split()[-1].split("/")[0])))
    wall = time.perf_counter() - t0
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"{' '.join(cmd[:6])} ... failed (exit {proc.returncode})")
    return points, wall, max(before, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)


def tenth_rates(points: list[tuple[float, int]], total: int, wall: float) -> tuple[float, float]:
    """Records/s over the first tenth of the records and over the last tenth, from the timed progress lines."""
    first = next((t, d) for t, d in points if d >= total / 10)
    last = next((t, d) for t, d in points if d >= total * 0.9)
    return first[1] / first[0], (total - last[1]) / max(wall - last[0], 1e-9)


def commit_cost(folder: Path, n_records: int, at: List[int], step: int = 1000, batch: int = 32) -> Dict[int, float]:
    """Seconds to append ``step`` one-window records (in batches of ``batch``, as a run writes them) and
    flush, when the file holds each of ``at`` records (tiny windows: what could grow with the file is the
    metadata, the chunk indexes and the string heaps)."""
    import numpy as np

    from ecgspec.store.layout import RecordRow
    from ecgspec.store.writer import SpectrogramWriter

    out = folder / "commit.h5"
    costs = {}
    values = np.ones((batch, 4, 4), np.float32)
    with SpectrogramWriter(out, window_shape=(4, 4), frequencies=np.arange(4.0), attrs={"config": {"n_channels": 12}},
                           frames={"time": np.arange(4.0), "edge": np.zeros(4, bool)}, overwrite=True) as w:
        for first in range(0, n_records, step):
            t0 = time.perf_counter()
            for b in range(first, first + step, batch):
                rows = np.arange(b, b + batch)
                w.write_windows(rows, np.zeros(batch, np.int64), values)
                for i in rows:
                    w.commit_record(RecordRow(f"p{i // 1000:04d}/s{i:08d}/{40000000 + i}", f"files/{i}.hea", 500.0,
                                              5000, "I,II,III,aVR,aVL,aVF,V1,V2,V3,V4,V5,V6", 1, 0, "500.0"))
            w.flush()
            if first + step in at:
                costs[first + step] = time.perf_counter() - t0
        w.finish()
    drop_output(out)
    return costs


def section_mimic(args: argparse.Namespace, table: Table, ctx: Dict[str, Any]) -> None:
    n = 5000 if args.quick else args.mimic_records
    log(f"  building {n} records in MIMIC-IV-ECG's layout")
    files = write_mimic_tree(args.data, ctx["tmp"] / "mimic", n)
    out = ctx["tmp"] / "mimic.h5"
    dry = min(wall_seconds(extract_command(files, out, *MIMIC, "--dry-run")) for _ in range(2))
    target = n >= 100_000
    table.add("mimic", f"{n} records, --dry-run wall s, best of 2", f"{dry:.1f} s ({n / dry:.0f} rec/s)", "",
              None, f"<= {TARGETS['mimic_dry_run_s']:g} s" if target else "",
              dry <= TARGETS["mimic_dry_run_s"] if target else None)
    points, wall, rss_kb = timed_progress(extract_command(files, out, *MIMIC, "--log-every", "1", quiet=False))
    drop_output(out)
    first, last = tenth_rates(points, n, wall)
    table.add("mimic", f"{n} records, rate over the last tenth vs the first", f"{last:.0f} rec/s",
              f"{first:.0f} rec/s", last / first, f">= {TARGETS['mimic_rate_hold']:g}x",
              last / first >= TARGETS["mimic_rate_hold"], wall=wall, points=points[:: max(1, len(points) // 50)])
    gb = rss_kb / 2**20
    table.add("mimic", f"{n} records, whole run and peak RSS", f"{wall:.0f} s ({n / wall:.0f} rec/s), {gb:.2f} GB",
              "", None, f"<= {TARGETS['mimic_rss_gb']:g} GB", gb <= TARGETS["mimic_rss_gb"])
    step = 1024  # records a commit point; the points measured are whole steps: 10 and 100 of them
    at = [10 * step, 100 * step] if not args.quick else [2 * step, 10 * step]
    costs = commit_cost(ctx["tmp"], at[-1], at, step=step)
    table.add("mimic", f"commit point ({step} records + flush) at {at[1]} records vs at {at[0]}",
              f"{costs[at[1]] * 1000:.0f} ms", f"{costs[at[0]] * 1000:.0f} ms", costs[at[1]] / costs[at[0]], "", None)


def section_floor(args: argparse.Namespace, table: Table, ctx: Dict[str, Any]) -> None:
    n = min(500, args.records)
    folder = ctx["corpus"].subset(n)
    out = ctx["tmp"] / "floor.h5"
    subprocess.run(extract_command(folder, out), cwd=ROOT, check=True)
    size_mib = -(-out.stat().st_size // 2**20)
    drop_output(out)
    sink = ctx["tmp"] / "floor.bin"
    commands = {
        "ecgspec": extract_command(folder, out),
        "import torch": [sys.executable, "-c", "import torch"],
        "dd": ["dd", "if=/dev/zero", f"of={sink}", "bs=1M", f"count={size_mib}", "conv=fsync", "status=none"],
    }
    times = alternate(commands, 3, outputs=(out, sink))
    ours = min(times["ecgspec"])
    floor = min(times["import torch"]) + min(times["dd"])
    table.add("floor", f"seed config, {n} records: whole process vs import torch + dd {size_mib} MiB fsync, best of 3",
              f"{ours:.2f} s", f"{floor:.2f} s", floor / ours, f">= {TARGETS['floor']:g}x",
              floor / ours >= TARGETS["floor"], times=times)
