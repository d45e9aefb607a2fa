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
         ``ecgspec.quality.ENABLED``, set in the child process), interleaved fresh-process runs,
         best of each; and the read stage alone (reading, windowing, flags) on the same corpus.
startup  the wall time of ``python -m ecgspec --help``, ``--version``, ``shape --json`` and of
         ``python -c "import torch"`` (and of ``python -c pass``), run alternately in fresh
         processes: --help and shape should take at most 0.35x torch's import.
process  whole processes, start-up included: ``python -m ecgspec extract`` vs the naive script
         (``bench.py --child naive``: its imports of torch, torch_ecg and wfdb included) on 500
         and 2000 records, wall time measured around each subprocess, alternately.
cluster  (bench_cluster.py) ``--cluster local:2`` vs one process on the e2e records, start-up and
         merge included; ``merge`` copy of 4 shards vs the disk's sequential write rate (fsync
         included, measured alternately in the same run); ``merge --virtual`` of 100 parts; and
         the MIMIC-IV-ECG cost sheet extrapolated from the measured rates.
resample windowing a 1-hour 2-lead in-memory record resampled to 500 Hz from 360, 1000,
         249.89 and 62.4725 Hz (exact ratios up to 200000/24989), block by block as extract
         does, vs windowing it at its own rate (no resampling) and vs resample_poly on the
         whole signal; the first call's filter design is timed apart.
resume   a fresh run, then --resume after a SIGKILL at half way and --resume adding 5% new records
         to a finished file, as ratios to the fresh run (each in a fresh subprocess); and the cost
         of a commit point (extract's flush every 2 s) with and without fsync.

Everything is built and written in a ``tempfile.TemporaryDirectory`` (``--tmp`` picks its
parent); the data folder is only read. This is a benchmark, not a test: it exits 0 whatever
the figures, and says PASS/FAIL next to each target.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import gc
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

warnings.filterwarnings("ignore")  # torch_ecg's import-time deprecation noise

SECTIONS = ("engine", "e2e", "stages", "memory", "storage", "resample", "qc", "resume", "startup", "process",
            "cluster")
ROOT = Path(__file__).resolve().parents[1]  # the repository: `python -m ecgspec` runs its code
SEED = dict(n_channels=12, n_samples=5000, n_bins=128, fs=500, window_size=1 / 20, overlap_size=1 / 40)
BATCH = 32
LONG_CONFIG = {"feature_fs": 100}  # the long record's config: a 24-h record gives 8640 windows, plain would be 20 GB
TARGETS = {
    "engine_plain": 4.0,
    "engine_feature_fs": 25.0,
    "e2e": 3.0,
    "stages": 0.80,
    "memory_growth_mb": 100.0,
    "memory_long_gb": 1.5,
    "resume_after_kill": 0.7,
    "add_new_records": 0.2,
    "multirate_read": 2.0,
    "qc_throughput": 0.95,  # end to end with the quality flags, as a share of without them
    "startup": 0.35,  # --help and shape, as a share of `import torch`
    "process": 3.0,  # whole-process ratio at 500 records
}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------ results table


class Table:
    """Rows of (section, measure, ecgspec figure, reference figure, ratio, target, PASS/FAIL)."""

    def __init__(self) -> None:
        self.rows: List[Dict[str, Any]] = []

    def add(
        self,
        section: str,
        measure: str,
        value: str = "",
        reference: str = "",
        ratio: Optional[float] = None,
        target: str = "",
        passed: Optional[bool] = None,
        **raw: Any,
    ) -> None:
        row = {
            "section": section,
            "measure": measure,
            "value": value,
            "reference": reference,
            "ratio": ratio,
            "target": target,
            "result": "" if passed is None else ("PASS" if passed else "FAIL"),
            "raw": raw,
        }
        self.rows.append(row)
        log(f"  {measure}: {value}  {reference}  {'' if ratio is None else f'x{ratio:.2f}'}  {row['result']}")

    def render(self) -> str:
        head = ("section", "measure", "ecgspec / value", "reference", "ratio", "target", "result")
        body = [
            (
                r["section"], r["measure"], r["value"], r["reference"],
                "" if r["ratio"] is None else f"{r['ratio']:.2f}", r["target"], r["result"],
            )
            for r in self.rows
        ]
        widths = [max(len(str(x)) for x in col) for col in zip(head, *body)] if body else [len(h) for h in head]
        line = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
        rule = "  ".join("-" * w for w in widths)
        return "\n".join([line(head), rule, *(line(b) for b in body)])


# ------------------------------------------------------------------------------ helpers


def median_ms(samples: Sequence[float]) -> float:
    return 1000.0 * statistics.median(samples)


def drop_output(path: Path) -> None:
    """Delete an output (and its .partial) and flush dirty pages, so the next contender
    does not pay for this one's write-back. Never timed."""
    for p in (path, path.with_name(path.name + ".partial")):
        with contextlib.suppress(FileNotFoundError):
            p.unlink()
    os.sync()


def load_average() -> str:
    with contextlib.suppress(OSError):
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    return "?"


class ForeignCpu:
    """CPU time used by other processes while a block runs, in cores (0 = the machine was ours):
    the busy time in /proc/stat less this process's and its waited-for children's CPU time."""

    def __enter__(self) -> "ForeignCpu":
        self.cores = float("nan")
        self._start = self._sample()
        return self

    @staticmethod
    def _sample() -> tuple:
        try:
            with open("/proc/stat") as fh:
                fields = [int(v) for v in fh.readline().split()[1:]]
        except (OSError, ValueError):
            return None, None, None
        tick = os.sysconf("SC_CLK_TCK")
        busy = (sum(fields[:8]) - fields[3] - fields[4]) / tick  # all but idle and iowait
        t = os.times()
        return busy, t.user + t.system + t.children_user + t.children_system, time.perf_counter()

    def __exit__(self, *exc: Any) -> None:
        end = self._sample()
        if self._start[0] is not None and end[0] is not None and end[2] > self._start[2]:
            foreign = (end[0] - self._start[0]) - (end[1] - self._start[1])
            self.cores = max(0.0, foreign / (end[2] - self._start[2]))


NOISY_CORES = 0.3  # other processes using more than this many cores during a section: figures are suspect


def vm_hwm_kb() -> int:
    """Peak resident set of this process in kB (VmHWM), ru_maxrss as a fallback."""
    with contextlib.suppress(OSError):
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    import resource

    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


# ------------------------------------------------------------------------------ corpus


def cinc_sources(data: Path) -> List[tuple]:
    """(header text, signal bytes, signal file name) of each cinc2021 record, sorted by name."""
    folder = data / "cinc2021"
    headers = sorted(folder.glob("*.hea"))
    if not headers:
        raise SystemExit(f"bench: no cinc2021 records in {folder}")
    out = []
    for hea in headers:
        text = hea.read_text()
        signal_files = sorted({line.split()[0] for line in text.splitlines()[1:] if line.strip() and not line.startswith("#")})
        if len(signal_files) != 1:
            raise SystemExit(f"bench: {hea} names {len(signal_files)} signal files, expected 1")
        out.append((hea.stem, text, (folder / signal_files[0]).read_bytes(), signal_files[0]))
    return out


def renamed_header(text: str, old: str, new: str, old_file: str, new_file: str) -> str:
    """The header with the record name (first line) and the signal file name (signal lines) replaced."""
    lines = text.splitlines()
    first = lines[0].split()
    if first[0] != old:
        raise SystemExit(f"bench: header of {old} starts with {first[0]!r}")
    lines[0] = " ".join([new, *first[1:]])
    for i in range(1, len(lines)):
        parts = lines[i].split(" ")
        if parts and parts[0] == old_file:
            lines[i] = " ".join([new_file, *parts[1:]])
    return "\n".join(lines) + "\n"


class Corpus:
    """N distinctly named copies of the 50 cinc2021 records (``R000000`` ...), and hard-linked subsets."""

    def __init__(self, data: Path, root: Path, size: int) -> None:
        self.size = size  # the largest corpus any section needs; built whole on first use
        self.data = data
        self.root = root
        self.folder = root / "corpus"
        self.n = 0
        self._sources: Optional[List[tuple]] = None
        self._subsets: Dict[int, Path] = {}

    def ensure(self, n: int) -> Path:
        """The full corpus folder with at least ``n`` records (grown on demand)."""
        if n > self.n:
            t0 = time.perf_counter()
            if self._sources is None:
                self._sources = cinc_sources(self.data)
            self.folder.mkdir(parents=True, exist_ok=True)
            for i in range(self.n, n):
                stem, text, payload, signal_file = self._sources[i % len(self._sources)]
                name = f"R{i:06d}"
                ext = Path(signal_file).suffix
                (self.folder / f"{name}.hea").write_text(renamed_header(text, stem, name, signal_file, name + ext))
                (self.folder / f"{name}{ext}").write_bytes(payload)
            log(f"  corpus: {n - self.n} records written in {time.perf_counter() - t0:.1f} s")
            self.n = n
        return self.folder

    def subset(self, n: int) -> Path:
        """A folder holding exactly the first ``n`` records: the corpus itself when it has ``n``
        (it is built to the largest size first), else hard links into it."""
        self.ensure(max(n, self.size))
        if n == self.n:
            return self.folder
        if n not in self._subsets:
            folder = self.root / f"subset_{n}"
            folder.mkdir()
            for i in range(n):
                for f in self.folder.glob(f"R{i:06d}.*"):
                    try:
                        os.link(f, folder / f.name)
                    except OSError:
                        shutil.copyfile(f, folder / f.name)
            self._subsets[n] = folder
        return self._subsets[n]


def write_long_record(data: Path, folder: Path, hours: float, name: str = "LONG") -> Path:
    """A 12-lead 500 Hz fmt-16 WFDB record of ``hours`` hours: the cinc2021 signals (digital,
    gain 1000/mV) tiled, written in chunks as raw little-endian int16, with a hand-written header."""
    import wfdb

    folder.mkdir(parents=True, exist_ok=True)
    pieces, leads = [], None
    for hea in sorted((data / "cinc2021").glob("*.hea")):
        rec = wfdb.rdrecord(str(hea.with_suffix("")), physical=False)
        if rec.n_sig != 12 or rec.fs != 500:
            continue
        # back to a common gain of 1000 adu/mV (all cinc2021 records already are), baseline 0
        phys = (rec.d_signal.astype("float64") - rec.baseline) / rec.adc_gain
        pieces.append((phys * 1000).round().clip(-32767, 32767).astype("<i2"))
        leads = leads or rec.sig_name
    import numpy as np

    tile = np.ascontiguousarray(np.concatenate(pieces))  # (samples, 12), frame-interleaved
    n_samples = int(round(hours * 3600 * 500))
    dat = folder / f"{name}.dat"
    with open(dat, "wb") as fh:
        done = 0
        while done < n_samples:
            take = min(len(tile), n_samples - done)
            fh.write(tile[:take].tobytes())
            done += take
    lines = [f"{name} 12 500 {n_samples}"]
    lines += [f"{name}.dat 16 1000.0(0)/mV 16 0 0 0 0 {lead}" for lead in leads]
    (folder / f"{name}.hea").write_text("\n".join(lines) + "\n")
    return folder / f"{name}.hea"


def write_multisegment_record(folder: Path, days: float, n_segments: int, fs: int = 125, name: str = "MS") -> Path:
    """A 3-lead fixed-layout multi-segment WFDB record as MIMIC writes them: ``n_segments`` fmt-16
    segments of ``days`` days in all at ``fs`` frames/s, written with numpy (sines plus noise, one
    tile shifted per segment) and hand-written headers, wfdb's writer being far too slow for this."""
    import numpy as np

    folder.mkdir(parents=True, exist_ok=True)
    total = int(round(days * 86400 * fs))
    per = -(-total // n_segments)
    t = np.arange(2 * per) / fs
    noise = np.random.default_rng(0).normal(0, 30, (2 * per, 3))
    tile = (np.stack([800 * np.sin(2 * np.pi * f * t) for f in (1.1, 0.3, 7.0)], axis=1) + noise).astype("<i2")
    master = [f"{name}/{n_segments} 3 {fs} {total}"]
    for i in range(n_segments):
        seg, frames = f"{name}_{i:04d}", min(per, total - i * per)
        shift = (i * 7919) % per
        tile[shift:shift + frames].tofile(folder / f"{seg}.dat")
        lines = [f"{seg} 3 {fs} {frames}"] + [f"{seg}.dat 16 200/mV 16 0 0 0 0 {lead}" for lead in ("II", "V", "ABP")]
        (folder / f"{seg}.hea").write_text("\n".join(lines) + "\n")
        master.append(f"{seg} {frames}")
    (folder / f"{name}.hea").write_text("\n".join(master) + "\n")
    return folder / f"{name}.hea"


# ------------------------------------------------------------------------------ child processes


def child_main(argv: List[str]) -> int:
    """``bench.py --child extract|naive INPUT OUTPUT CONFIG_JSON OPTIONS_JSON``: run one contender
    in this fresh process, print one JSON line: seconds, records, windows, vm_hwm_kb."""
    kind, inputs, output, config_json, options_json = argv
    config = json.loads(config_json)
    options = json.loads(options_json)
    import torch  # noqa: F401  (import before the clock starts, for both contenders)

    if options.pop("_no_qc", False):  # the qc section's "without": an internal switch, not an option
        import ecgspec.quality

        ecgspec.quality.ENABLED = False

    cpu0 = os.times()

    if kind in ("extract", "resume"):
        from ecgspec import extract  # ecgspec's names load on first use: load the pipeline before the clock

        flags = {"resume": True} if kind == "resume" else {"overwrite": True}
        t0 = time.perf_counter()
        lines: List[str] = []
        result = extract(inputs, output, config, log=lines.append, **flags, **options)
        seconds = time.perf_counter() - t0
        out = {"records": result.records, "windows": result.windows, "errors": len(result.errors),
               "log": [line for line in lines if "cluster:" in line]}
    elif kind == "naive":
        t0 = time.perf_counter()
        out = naive_script(Path(inputs), Path(output), config)
        seconds = time.perf_counter() - t0
    elif kind == "import":
        import ecgspec  # noqa: F401
        import h5py  # noqa: F401
        import wfdb  # noqa: F401

        seconds, out = 0.0, {"records": 0, "windows": 0}
    else:
        raise SystemExit(f"unknown child kind {kind}")
    cpu1 = os.times()
    out.update(seconds=seconds, vm_hwm_kb=vm_hwm_kb(), threads=torch.get_num_threads(),
               cpu_seconds=(cpu1.user - cpu0.user) + (cpu1.system - cpu0.system), sys_seconds=cpu1.system - cpu0.system)
    print("BENCH-RESULT " + json.dumps(out), flush=True)
    return 0


def naive_script(folder: Path, output: Path, config: Dict[str, Any]) -> Dict[str, Any]:
    """What one would write without ecgspec: wfdb.rdrecord each record, batches of 32 through
    torch_ecg's SpectrogramInput, appended to a resizable h5py dataset."""
    import h5py
    import numpy as np
    import torch
    import wfdb
    from torch_ecg.components.inputs import InputConfig as RefConfig
    from torch_ecg.components.inputs import SpectrogramInput as RefInput

    ref = RefInput(RefConfig(input_type="spectrogram", device="cpu", **config))
    names = sorted(p.stem for p in folder.glob("*.hea"))
    n_written = 0
    with h5py.File(output, "w") as f:
        dset = None
        batch: List[np.ndarray] = []

        def flush() -> None:
            nonlocal dset, n_written
            if not batch:
                return
            x = torch.from_numpy(np.stack(batch).astype(np.float32))
            spec = ref(x).numpy()
            if dset is None:
                dset = f.create_dataset(
                    "spectrograms", shape=(0, *spec.shape[1:]), maxshape=(None, *spec.shape[1:]), dtype="float32"
                )
            dset.resize(n_written + len(spec), axis=0)
            dset[n_written:] = spec
            n_written += len(spec)
            batch.clear()

        for name in names:
            rec = wfdb.rdrecord(str(folder / name))
            batch.append(rec.p_signal.T)
            if len(batch) == BATCH:
                flush()
        flush()
        f.create_dataset("names", data=np.array(names, dtype=h5py.string_dtype()))
    return {"records": len(names), "windows": n_written}


_child_runs: Dict[tuple, List[Dict[str, Any]]] = {}


def child_command(kind: str, inputs: Path, output: Path, config: Dict[str, Any], options: Dict[str, Any]) -> List[str]:
    return [sys.executable, os.path.abspath(__file__), "--child", kind, str(inputs), str(output),
            json.dumps(config), json.dumps(options)]


def run_child_keep(kind: str, inputs: Path, output: Path, config: Dict[str, Any],
                   options: Dict[str, Any]) -> "subprocess.CompletedProcess[str]":
    """Run one contender in a fresh subprocess, keeping its output file; return the finished process."""
    cmd = child_command(kind, inputs, output, config, options)
    return subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, PYTHONWARNINGS="ignore"))


def run_child(kind: str, inputs: Path, output: Path, config: Dict[str, Any], options: Dict[str, Any],
              keep: bool = False) -> Dict[str, Any]:
    """Run one contender once in a fresh subprocess and return what it printed (plus the output size);
    the output is deleted after unless ``keep``."""
    proc = run_child_keep(kind, inputs, output, config, options)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("BENCH-RESULT ")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"{kind} child failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    result = json.loads(lines[-1][len("BENCH-RESULT "):])
    with contextlib.suppress(OSError):
        result["output_bytes"] = output.stat().st_size
    if not keep:
        drop_output(output)
    return result


def measure(kind: str, inputs: Path, output: Path, config: Dict[str, Any], options: Dict[str, Any],
            reps: int = 1, note: bool = True) -> Dict[str, Any]:
    """At least ``reps`` fresh-subprocess runs of a contender, summarised: best (least) seconds and CPU
    seconds, worst (largest) peak RSS. Runs are kept for the whole invocation, so sections that need
    the same run (e2e, stages' whole run, memory's large corpus) share the measurement."""
    key = (kind, str(inputs), json.dumps(config, sort_keys=True), json.dumps(options, sort_keys=True))
    runs = _child_runs.setdefault(key, [])
    if len(runs) >= reps and note:
        log(f"  ({kind} on {inputs.name}: reusing {len(runs)} run(s) made earlier in this invocation)")
    while len(runs) < reps:
        runs.append(run_child(kind, inputs, output, config, options))
        log(f"  {kind} on {inputs.name}: {runs[-1]['seconds']:.1f} s, cpu {runs[-1]['cpu_seconds']:.1f} s,"
            f" peak RSS {runs[-1]['vm_hwm_kb'] / 1024:.0f} MB")
    best = min(runs, key=lambda r: r["seconds"])
    return dict(
        best,
        seconds=best["seconds"],
        cpu_seconds=min(r["cpu_seconds"] for r in runs),
        vm_hwm_kb=max(r["vm_hwm_kb"] for r in runs),
        all_seconds=[round(r["seconds"], 3) for r in runs],
        runs=len(runs),
    )


# ------------------------------------------------------------------------------ sections


def section_engine(args: argparse.Namespace, table: Table, ctx: Dict[str, Any]) -> None:
    import torch
    from torch_ecg.components.inputs import InputConfig as RefConfig
    from torch_ecg.components.inputs import SpectrogramInput as RefInput

    from ecgspec import InputConfig, SpectrogramInput

    reps = 3 if args.quick else args.reps
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(BATCH, SEED["n_channels"], SEED["n_samples"], generator=gen)
    variants = [("plain", {}), ("plain, out= buffer (as extract)", {}), ("feature_fs=100", {"feature_fs": 100}),
                ("feature_fs=100+to1d", {"feature_fs": 100, "to1d": True})]
    table.add("engine", "torch threads", str(torch.get_num_threads()), f"batch {BATCH}x12x5000, {reps} reps, median")
    for label, extra in variants:
        cfg = dict(SEED, **extra)
        ours = SpectrogramInput(InputConfig(device="cpu", **cfg))
        method = ours.method
        ref = RefInput(RefConfig(input_type="spectrogram", device="cpu", **cfg))
        if "out=" in label:  # extract reuses its output buffers; torch_ecg has no such option
            buffer = torch.empty(ours.compute_input_shape(x.shape))
            ours = functools.partial(ours, out=buffer)
        with torch.no_grad():
            a, b = ours(x), ref(x)  # warm-up, and the agreement check
        err = float((a - b).abs().max() / b.abs().max())
        # each repetition times a loop of k calls (k fills ~0.2 s), so a 10 ms call is not one scheduler tick
        loops = {}
        for key, fn in (("ours", ours), ("ref", ref)):
            t0 = time.perf_counter()
            with torch.no_grad():
                fn(x)
            loops[key] = max(1, min(20, round(0.2 / max(time.perf_counter() - t0, 1e-4))))
        times: Dict[str, List[float]] = {"ours": [], "ref": []}
        for rep in range(reps):
            order = [("ours", ours), ("ref", ref)] if rep % 2 == 0 else [("ref", ref), ("ours", ours)]
            for key, fn in order:
                t0 = time.perf_counter()
                with torch.no_grad():
                    for _ in range(loops[key]):
                        fn(x)
                times[key].append((time.perf_counter() - t0) / loops[key])
        ours_ms, ref_ms = median_ms(times["ours"]), median_ms(times["ref"])
        ratio = ref_ms / ours_ms
        target = TARGETS["engine_plain"] if label.startswith("plain") else TARGETS["engine_feature_fs"]
        table.add(
            "engine", f"{label} ms/batch (torch_ecg/ecgspec)", f"{ours_ms:.1f} ms", f"{ref_ms:.1f} ms", ratio,
            f">= {target:g}x", ratio >= target, ours_ms=ours_ms, ref_ms=ref_ms, ours_all=times["ours"],
            ref_all=times["ref"], loops=loops, ours_min_ms=1000 * min(times["ours"]), ref_min_ms=1000 * min(times["ref"]),
            method=method,
        )
        table.add("engine", f"{label} max rel err", f"{err:.2e}", f"method={method}", None,
                  "<= 1e-4", err <= 1e-4, max_rel_err=err)
        del a, b
        gc.collect()


def e2e_config(args: argparse.Namespace) -> Dict[str, Any]:
    cfg = dict(SEED)
    if args.feature_fs:
        cfg["feature_fs"] = args.feature_fs
    return cfg


def extract_options(args: argparse.Namespace, **more: Any) -> Dict[str, Any]:
    return dict({"device": args.device, "workers": args.workers, "batch_size": BATCH}, **more)


def section_e2e(args: argparse.Namespace, table: Table, ctx: Dict[str, Any]) -> None:
    corpus: Corpus = ctx["corpus"]
    n = args.records
    folder = corpus.subset(n)
    cfg = e2e_config(args)
    out = ctx["tmp"] / "e2e.h5"
    reps = max(1, args.e2e_reps)
    ours_key = ("extract", folder, out, cfg, extract_options(args))
    naive_key = ("naive", folder, ctx["tmp"] / "naive.h5", cfg, {})
    for rep in range(reps):  # ABBA... order, so drift in the machine's load hits both alike
        for key in ((ours_key, naive_key) if rep % 2 == 0 else (naive_key, ours_key)):
            measure(*key, reps=rep + 1)
    ours, naive = measure(*ours_key, reps=reps, note=False), measure(*naive_key, reps=reps, note=False)
    ours_rps, naive_rps = ours["records"] / ours["seconds"], naive["records"] / naive["seconds"]
    ratio = ours_rps / naive_rps
    table.add(
        "e2e", f"{n} records, records/s (ecgspec/naive), best of {reps}",
        f"{ours_rps:.1f} rec/s ({ours['seconds']:.1f} s)", f"{naive_rps:.1f} rec/s ({naive['seconds']:.1f} s)",
        ratio, f">= {TARGETS['e2e']:g}x",
        ratio >= TARGETS["e2e"], ours=ours, naive=naive, config=cfg,
    )
    table.add("e2e", "CPU seconds per record (all threads)", f"{1000 * ours['cpu_seconds'] / n:.1f} ms",
              f"{1000 * naive['cpu_seconds'] / n:.1f} ms", naive["cpu_seconds"] / ours["cpu_seconds"], "", None)
    table.add("e2e", "peak RSS (ecgspec vs naive)", f"{ours['vm_hwm_kb'] / 1024:.0f} MB",
              f"{naive['vm_hwm_kb'] / 1024:.0f} MB", None, "", None)
    table.add("e2e", "output size", f"{ours.get('output_bytes', 0) / 2**20:.0f} MB",
              f"{naive.get('output_bytes', 0) / 2**20:.0f} MB", None, "", None)


def _read_one(ref: Any, cfg: Dict[str, Any], block: int, quality: bool = True) -> int:
    from ecgspec.leads import select_channels
    from ecgspec.readers import open_record
    from ecgspec.windowing import WindowStats, iter_flagged_windows

    record = open_record(ref, input_fs=cfg["fs"])
    header = record.header
    channels = select_channels(header.leads, None, cfg["n_channels"], n_signals=header.n_signals)
    n = 0
    for starts, _windows, _qc in iter_flagged_windows(record, channels, cfg["fs"], cfg["n_samples"], cfg["n_samples"],
                                                      0.1, block, WindowStats(), quality=quality):
        n += len(starts)
    return n


def section_qc(args: argparse.Namespace, table: Table, ctx: Dict[str, Any]) -> None:
    """Throughput with the quality flags vs without, end to end and for the read stage alone."""
    from ecgspec.readers import find_records

    n = args.records
    folder = ctx["corpus"].subset(n)
    cfg = e2e_config(args)
    out = ctx["tmp"] / "e2e.h5"
    on = ("extract", folder, out, cfg, extract_options(args))
    off = ("extract", folder, out, cfg, extract_options(args, _no_qc=True))
    reps = max(3, args.e2e_reps)
    for rep in range(reps):  # ABBA... order, as e2e
        for key in ((on, off) if rep % 2 == 0 else (off, on)):
            measure(*key, reps=rep + 1, note=False)
    with_qc, without = measure(*on, reps=reps, note=False), measure(*off, reps=reps, note=False)
    ratio = without["seconds"] / with_qc["seconds"]
    table.add("qc", f"{n} records end to end, records/s with / without flags, best of {reps}",
              f"{n / with_qc['seconds']:.1f} rec/s", f"{n / without['seconds']:.1f} rec/s", ratio,
              f">= {TARGETS['qc_throughput']:g}", ratio >= TARGETS["qc_throughput"], with_qc=with_qc, without=without)
    refs, _ = find_records([folder])
    seconds: Dict[bool, List[float]] = {True: [], False: []}
    for rep in range(reps):
        for flag in ((True, False) if rep % 2 == 0 else (False, True)):
            t0 = time.process_time()
            for ref in refs:
                _read_one(ref, cfg, 1 << 18, quality=flag)
            seconds[flag].append(time.process_time() - t0)
    best = {flag: min(v) for flag, v in seconds.items()}
    table.add("qc", "read stage alone (read, window, flags), CPU ms per record with / without flags",
              f"{1000 * best[True] / len(refs):.2f} ms", f"{1000 * best[False] / len(refs):.2f} ms",
              best[False] / best[True], "", None)


def write_multirate_pair(folder: Path, minutes: float = 30.0) -> tuple:
    """One 12-lead fmt-16 signal file read two ways: header ``one`` at 500 frames/s, one sample a
    frame, and header ``two`` at 250 frames/s, two samples a frame (``16x2``): the same samples."""
    import numpy as np

    n = int(minutes * 60 * 500)
    np.random.default_rng(0).integers(-3000, 3000, n * 12, dtype=np.int16).tofile(folder / "mr.dat")
    for name, fs, frames, fmt in (("one", 500, n, "16"), ("two", 250, n // 2, "16x2")):
        lines = [f"{name} 12 {fs} {frames}"] + [f"mr.dat {fmt} 200/mV 16 0 0 0 0 L{i}" for i in range(12)]
        (folder / f"{name}.hea").write_text("\n".join(lines) + "\n")
    return folder / "one.hea", folder / "two.hea"


def _read_whole(header: Path, block: int) -> float:
    """Seconds to read every sample of a WFDB record, all signals together, in blocks."""
    from ecgspec.readers import RecordRef, open_record

    t0 = time.perf_counter()
    record = open_record(RecordRef(header.stem, header, "wfdb"))
    n, channels = record.header.length(0), list(range(record.header.n_signals))
    for start in range(0, n, block):
        record.read(start, min(start + block, n), channels)
    return time.perf_counter() - t0


def multirate_read_row(table: Table, tmp: Path, block: int, reps: int = 5) -> None:
    """Multi-frequency decoding (16x2) vs the same samples at one sample a frame: best of ``reps``, interleaved."""
    folder = tmp / "multirate"
    folder.mkdir(exist_ok=True)
    one, two = write_multirate_pair(folder)
    times: Dict[str, List[float]] = {"one": [], "two": []}
    for _ in range(reps):
        times["one"].append(_read_whole(one, block))
        times["two"].append(_read_whole(two, block))
    ratio = min(times["two"]) / min(times["one"])
    mb = (folder / "mr.dat").stat().st_size / 2**20
    table.add("stages", f"read 16x2 vs 1 sample a frame ({mb:.0f} MB, 12 leads), best of {reps}",
              f"{1000 * min(times['two']):.0f} ms", f"{1000 * min(times['one']):.0f} ms", ratio,
              f"<= {TARGETS['multirate_read']:g}x", ratio <= TARGETS["multirate_read"], times=times)
    shutil.rmtree(folder)


def section_stages(args: argparse.Namespace, table: Table, ctx: Dict[str, Any]) -> None:
    import numpy as np
    import torch

    from ecgspec import InputConfig, SpectrogramInput
    from ecgspec import stages
    from ecgspec.readers import find_records
    from ecgspec.layout import RecordRow
    from ecgspec.writer import SpectrogramWriter

    corpus: Corpus = ctx["corpus"]
    n = args.records
    folder = corpus.subset(n)
    cfg = e2e_config(args)
    block = stages.BLOCK_SAMPLES
    rates: Dict[str, float] = {}

    # read: find_records + open_record + select_channels + iter_windows, windows discarded; best of 3
    # passes (one pass is under a second here, so a single one is at the mercy of any other process)
    for workers in sorted({1, args.workers}):
        passes = []
        for _ in range(3):
            t0 = time.perf_counter()
            refs, problems = find_records([folder])
            with ThreadPoolExecutor(workers) as pool:
                n_windows = sum(pool.map(lambda r: _read_one(r, cfg, block), refs))
            passes.append(time.perf_counter() - t0)
        seconds = min(passes)
        label = f"read ({workers} thread{'s' if workers > 1 else ''})"
        rates[label] = len(refs) / seconds
        table.add("stages", f"{label}, records/s", f"{rates[label]:.1f} rec/s ({seconds:.1f} s)",
                  f"{n_windows} windows", None, "", None, seconds=seconds, windows=n_windows)
    read_key = f"read ({args.workers} thread{'s' if args.workers > 1 else ''})"
    multirate_read_row(table, ctx["tmp"], block)

    # engine: the same number of windows, batches of 32, from memory (as the batcher hands them)
    engine = SpectrogramInput(InputConfig(device=args.device, **cfg))
    x = torch.randn(BATCH, cfg["n_channels"], cfg["n_samples"], generator=torch.Generator().manual_seed(1))
    out = torch.empty(engine.compute_input_shape(x.shape))  # reused, as the pipeline's buffer pool does
    engine(x)  # warm-up
    t0 = time.perf_counter()
    for lo in range(0, n_windows, BATCH):
        k = min(BATCH, n_windows - lo)
        if engine.device.type == "cpu":
            spec = engine(x[:k], out=out[:k]).numpy()
        else:
            spec = out[:k].copy_(engine(x[:k].to(engine.device))).numpy()
    seconds = time.perf_counter() - t0
    rates["engine"] = n / seconds
    table.add("stages", "engine, records/s", f"{rates['engine']:.1f} rec/s ({seconds:.1f} s)",
              f"{1000 * seconds / math.ceil(n_windows / BATCH):.0f} ms/batch", None, "", None, seconds=seconds)

    # write: SpectrogramWriter, random float32 windows of the right shape, uncompressed
    window_shape = engine.compute_input_shape((1, cfg["n_channels"], cfg["n_samples"]))[1:]
    values = np.random.default_rng(2).random((BATCH, *window_shape), dtype=np.float32)
    out = ctx["tmp"] / "write_only.h5"
    per_record = max(1, n_windows // n)
    t0 = time.perf_counter()
    writer = SpectrogramWriter(out, window_shape=tuple(window_shape), dtype="float32", frequencies=engine.frequencies,
                               attrs={"config": cfg, "ecgspec_version": "bench"}, compression=None, overwrite=True)
    written, committed = 0, 0
    while written < n_windows:
        k = min(BATCH, n_windows - written)
        rows = np.arange(written, written + k) // per_record
        writer.write_windows(rows, np.zeros(k, dtype=np.int64), values[:k])
        written += k
        while committed < n and (committed + 1) * per_record <= written:
            writer.commit_record(RecordRow(f"R{committed:06d}", "x", 500.0, 5000, "I", per_record, 0, "500.0"))
            committed += 1
    writer.finish()
    seconds = time.perf_counter() - t0
    rates["write"] = n / seconds
    size = out.stat().st_size
    table.add("stages", "write, records/s", f"{rates['write']:.1f} rec/s ({seconds:.1f} s)",
              f"{size / seconds / 2**20:.0f} MB/s", None, "", None, seconds=seconds, bytes=size)
    drop_output(out)
    del values, spec
    gc.collect()

    # the whole run (shared with e2e when it ran in this invocation)
    whole = measure("extract", folder, ctx["tmp"] / "e2e.h5", cfg, extract_options(args))
    rates["whole"] = whole["records"] / whole["seconds"]
    slowest = min((read_key, "engine", "write"), key=lambda k: rates[k])
    ratio = rates["whole"] / rates[slowest]
    table.add("stages", f"whole run vs slowest stage ({slowest})",
              f"{rates['whole']:.1f} rec/s ({whole['seconds']:.1f} s)", f"{rates[slowest]:.1f} rec/s", ratio,
              f">= {TARGETS['stages']:.0%}", ratio >= TARGETS["stages"], rates=rates, whole_runs=whole["all_seconds"])


def section_resample(args: argparse.Namespace, table: Table, ctx: Dict[str, Any]) -> None:
    import numpy as np
    from scipy.signal import resample_poly

    from ecgspec import resample, stages
    from ecgspec.readers import Header, Record, RecordRef
    from ecgspec.windowing import iter_windows

    class InMemory(Record):
        def __init__(self, signal: np.ndarray, rate: float) -> None:
            super().__init__(RecordRef("mem", Path("mem.npy"), "npy"), Header(rate, signal.shape[1], (), len(signal)))
            self.signal = signal

        def _read(self, start: int, stop: int, channels: List[int]) -> np.ndarray:
            return self.signal[channels, start:stop]

    def windows_seconds(record: Record, fs: float, window: int) -> float:
        t0 = time.perf_counter()
        for _ in iter_windows(record, [0, 1], fs, window, window, 0.1, stages.BLOCK_SAMPLES):
            pass
        return time.perf_counter() - t0

    seconds_of_signal = 600 if args.quick else 3600
    for rate in (360, 1000, 249.89, 62.4725):
        n = int(rate * seconds_of_signal)
        signal = np.random.default_rng(5).standard_normal((2, n)).astype(np.float32)
        record = InMemory(signal, rate)
        up, down = resample.resample_ratio(rate, 500)
        resample._kernel.cache_clear()
        t0 = time.perf_counter()
        resample._kernel(up, down)
        design = time.perf_counter() - t0
        resampled = windows_seconds(record, 500, 5000)
        own_rate = windows_seconds(record, rate, max(1, round(5000 * rate / 500)))
        t0 = time.perf_counter()
        resample_poly(signal.astype(np.float64), up, down, axis=-1)
        whole = time.perf_counter() - t0
        per_lead = 2 * n / 1e6  # Msamples, both leads
        table.add("resample", f"{rate:g} -> 500 Hz ({up}/{down}) in blocks; vs own rate",
                  f"{per_lead / resampled:.1f} Msamples/s ({seconds_of_signal / resampled / 3600:.0f} h/s)",
                  f"{per_lead / own_rate:.1f} Msamples/s", own_rate / resampled, "", None, seconds=resampled,
                  own_rate_seconds=own_rate, samples=n)
        table.add("resample", f"{rate:g} -> 500 Hz whole-signal resample_poly; filter design",
                  f"{per_lead / whole:.1f} Msamples/s", f"design {1000 * design:.0f} ms",
                  whole / resampled, "", None, seconds=whole, design_seconds=design)


def section_memory(args: argparse.Namespace, table: Table, ctx: Dict[str, Any]) -> None:
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


def section_storage(args: argparse.Namespace, table: Table, ctx: Dict[str, Any]) -> None:
    import h5py

    corpus: Corpus = ctx["corpus"]
    n = min(args.storage_records, args.records)
    folder = corpus.subset(n)
    cfg = e2e_config(args)
    variants = [("float32", "none"), ("float16", "none"), ("float32", "lzf"), ("float32", "gzip")]
    try:
        import hdf5plugin  # noqa: F401

        variants += [("float32", "zstd"), ("float32", "blosc2")]
        plugin = f"hdf5plugin {hdf5plugin.version}"
    except ImportError:
        plugin = "hdf5plugin not installed (pip install 'hdf5plugin>=4.1'): zstd, blosc2 skipped"
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
        # read back every window once, in batches (what a training epoch does), to price decompression
        t1 = time.perf_counter()
        with h5py.File(out, "r") as f:
            ds = f["spectrograms"]
            for lo in range(0, ds.shape[0], BATCH):
                ds[lo : lo + BATCH]
        read_s = time.perf_counter() - t1
        table.add(
            "storage", f"{dtype} {compression}", f"{mb:.3f} MB/rec, {result.records / seconds:.1f} rec/s",
            f"read back {result.windows / read_s:.0f} win/s", base_mb / mb, "", None,
            mb_per_record=mb, records_per_s=result.records / seconds, read_windows_per_s=result.windows / read_s,
        )
    drop_output(out)


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
    """ms per commit point with and without fsync, each commit holding FLUSH_SECONDS of records
    (at the fresh run's pace) of one window each, as extract commits every FLUSH_SECONDS."""
    import numpy as np

    from ecgspec.layout import RecordRow
    from ecgspec.pipeline import FLUSH_SECONDS
    from ecgspec.writer import SpectrogramWriter

    per_commit = max(1, int(records_per_s * FLUSH_SECONDS))
    values = np.ones((1, *window_shape), dtype=np.float32)
    out = {}
    for durable in (False, True):
        path = ctx["tmp"] / f"commit_{durable}.h5"
        drop_output(path)
        w = SpectrogramWriter(path, window_shape=window_shape, frequencies=np.zeros(window_shape[-2]),
                              attrs={"config": {}}, overwrite=True, durable=durable)
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

def wall_seconds(cmd: List[str]) -> float:
    """Wall time of one fresh process running ``cmd`` in the repository (its output discarded)."""
    env = dict(os.environ, PYTHONWARNINGS="ignore", PYTHONPATH=str(ROOT))
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          stdin=subprocess.DEVNULL, text=True)
    seconds = time.perf_counter() - t0
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"{' '.join(cmd[:6])} ... failed (exit {proc.returncode}): {proc.stderr[-2000:]}")
    return seconds


def alternate(commands: Dict[str, List[str]], reps: int, outputs: Sequence[Path] = ()) -> Dict[str, List[float]]:
    """``reps`` wall times of each command, run in turn (A B C, C B A, ...) so drift hits all alike;
    ``outputs`` are deleted (and flushed) after each run, untimed."""
    times: Dict[str, List[float]] = {k: [] for k in commands}
    for rep in range(reps):
        for key in (list(commands) if rep % 2 == 0 else list(reversed(commands))):
            times[key].append(wall_seconds(commands[key]))
            for path in outputs:
                drop_output(path)
    return times


def section_startup(args: argparse.Namespace, table: Table, ctx: Dict[str, Any]) -> None:
    py = sys.executable
    commands = {
        "import torch": [py, "-c", "import torch"],
        "python -c pass": [py, "-c", "pass"],
        "ecgspec --help": [py, "-m", "ecgspec", "--help"],
        "ecgspec --version": [py, "-m", "ecgspec", "--version"],
        "ecgspec shape --json": [py, "-m", "ecgspec", "shape", "--json"],
    }
    reps = 3 if args.quick else args.reps
    times = alternate(commands, reps)
    torch_s = statistics.median(times["import torch"])
    table.add("startup", f"python -c 'import torch', median of {reps}", f"{torch_s * 1000:.0f} ms", "", None, "", None)
    table.add("startup", "python -c pass", f"{statistics.median(times['python -c pass']) * 1000:.0f} ms", "", None, "",
              None)
    for key in ("ecgspec --help", "ecgspec --version", "ecgspec shape --json"):
        ours = statistics.median(times[key])
        share = ours / torch_s
        target = key != "ecgspec --version"
        table.add("startup", f"{key} (share of import torch)", f"{ours * 1000:.0f} ms", f"{torch_s * 1000:.0f} ms", share,
                  f"<= {TARGETS['startup']:g}x" if target else "", share <= TARGETS["startup"] if target else None,
                  all_seconds=times[key], torch_seconds=times["import torch"])


def section_process(args: argparse.Namespace, table: Table, ctx: Dict[str, Any]) -> None:
    corpus: Corpus = ctx["corpus"]
    config = e2e_config(args)
    options = extract_options(args)
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in {**config, **options}.items()]
    reps = max(1, args.e2e_reps)
    for n in sorted({min(500, args.records), args.records}):
        folder = corpus.subset(n)
        out, naive_out = ctx["tmp"] / "process.h5", ctx["tmp"] / "process_naive.h5"
        commands = {
            "ecgspec": [sys.executable, "-m", "ecgspec", "extract", str(folder), str(out), "--overwrite", "--quiet",
                        *flags],
            "naive": [sys.executable, os.path.abspath(__file__), "--child", "naive", str(folder), str(naive_out),
                      json.dumps(config), "{}"],
        }
        times = alternate(commands, reps, outputs=(out, naive_out))
        ours, naive = min(times["ecgspec"]), min(times["naive"])
        ratio = naive / ours
        target = n == min(500, args.records)
        table.add("process", f"{n} records, whole process wall s (naive/ecgspec), best of {reps}",
                  f"{ours:.1f} s ({n / ours:.0f} rec/s)", f"{naive:.1f} s ({n / naive:.0f} rec/s)", ratio,
                  f">= {TARGETS['process']:g}x" if target else "", ratio >= TARGETS["process"] if target else None,
                  ours_all=times["ecgspec"], naive_all=times["naive"])


def section_cluster(args: argparse.Namespace, table: Table, ctx: Dict[str, Any]) -> None:
    from bench_cluster import section_cluster as run  # benchmarks/ is on sys.path when bench.py runs

    run(args, table, ctx, sys.modules[__name__])


RUNNERS: Dict[str, Callable[[argparse.Namespace, Table, Dict[str, Any]], None]] = {
    "engine": section_engine,
    "e2e": section_e2e,
    "stages": section_stages,
    "memory": section_memory,
    "storage": section_storage,
    "resume": section_resume,
    "resample": section_resample,
    "qc": section_qc,
    "startup": section_startup,
    "process": section_process,
    "cluster": section_cluster,
}


# ------------------------------------------------------------------------------ main


def parse_args(argv: List[str]) -> argparse.Namespace:
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
    p.add_argument("--workers", type=int, default=2, help="extract's reader threads")
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


def main(argv: List[str]) -> int:
    if argv[:1] == ["--child"]:
        return child_main(argv[1:])
    args = parse_args(argv)
    import torch

    import ecgspec

    table = Table()
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
    t_all = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="ecgspec-bench-", dir=args.tmp) as tmp:
        ctx = {"tmp": Path(tmp), "corpus": Corpus(args.data, Path(tmp), args.records)}
        timings = {}
        for name in args.sections:
            log(f"[{name}] (load average {load_average()})")
            t0 = time.perf_counter()
            with ForeignCpu() as foreign:
                try:
                    RUNNERS[name](args, table, ctx)
                except Exception as exc:  # noqa: BLE001 - a benchmark reports and goes on
                    table.add(name, "ERROR", f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}", "", None,
                              "", False)
            timings[name] = time.perf_counter() - t0
            noisy = foreign.cores > NOISY_CORES
            table.add(name, "other processes' CPU during section", f"{foreign.cores:.2f} of {os.cpu_count()} cores",
                      "NOISY: figures suspect" if noisy else "quiet", None, "", None, foreign_cores=foreign.cores)
            meta.setdefault("foreign_cores", {})[name] = round(foreign.cores, 3)
            log(f"[{name}] {timings[name]:.0f} s")
    meta["section_seconds"] = {k: round(v, 1) for k, v in timings.items()}
    meta["total_seconds"] = round(time.perf_counter() - t_all, 1)
    meta["load_average_end"] = load_average()
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
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
