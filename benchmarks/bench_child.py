"""bench.py's child processes: ``bench.py --child KIND ...`` (one contender in a fresh process, the
naive script among them), running and measuring such children, and timing whole commands."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple

from bench_common import BATCH, ROOT, drop_output, log, vm_hwm_kb

BENCH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bench.py")  # the entry point children run
Contender = Tuple[str, Path, Path, Dict[str, Any], Dict[str, Any]]  # measure's (kind, inputs, output, config, options)


def child_main(argv: List[str]) -> int:
    """``bench.py --child extract|naive INPUT OUTPUT CONFIG_JSON OPTIONS_JSON``: run one contender
    in this fresh process, print one JSON line: seconds, records, windows, vm_hwm_kb."""
    kind, inputs, output, config_json, options_json = argv
    config = json.loads(config_json)
    options = json.loads(options_json)
    import torch  # noqa: F401  (import before the clock starts, for both contenders)

    if options.pop("_no_qc", False):  # the qc section's "without": an internal switch, not an option
        import ecgspec.signal.quality

        ecgspec.signal.quality.ENABLED = False
    if options.pop("_no_checksums", False):  # the checksums section's "without", as _no_qc
        import ecgspec.store.checksums

        ecgspec.store.checksums.ENABLED = False

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
        import h5py  # noqa: F401
        import wfdb  # noqa: F401

        import ecgspec  # noqa: F401

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
    """The command line of ``bench.py --child KIND ...`` for one contender."""
    return [sys.executable, BENCH, "--child", kind, str(inputs), str(output),
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


def measure_alternately(first: Contender, second: Contender, reps: int,
                        note: bool = True) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """``reps`` runs of each of two contenders in ABBA... order, so drift in the machine's load hits
    both alike (``note``: log runs reused from earlier sections); return both, measured as ``measure``."""
    for rep in range(reps):
        for key in ((first, second) if rep % 2 == 0 else (second, first)):
            measure(*key, reps=rep + 1, note=note)
    return measure(*first, reps=reps, note=False), measure(*second, reps=reps, note=False)


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

