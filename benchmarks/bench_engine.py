"""bench.py's ``engine``, ``e2e`` and ``stages`` sections: the engine against torch_ecg, extract
against the naive script, and each stage of extract alone against the whole run."""

from __future__ import annotations

import argparse
import functools
import gc
import math
import os
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

from bench_child import measure, measure_alternately
from bench_common import BATCH, SEED, TARGETS, Table, drop_output, e2e_config, extract_options, median_ms
from bench_corpus import Corpus, write_multirate_pair


def _engine_times(ours: Callable[[Any], Any], ref: Callable[[Any], Any], x: Any,
                  reps: int) -> Tuple[Dict[str, List[float]], Dict[str, int]]:
    """Seconds per call of each contender, ``reps`` interleaved repetitions; each repetition times a loop
    of k calls (k fills ~0.2 s), so a 10 ms call is not one scheduler tick. Returns the times and the ks."""
    import torch

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
    return times, loops


def _engine_variant(table: Table, x: Any, label: str, extra: Dict[str, Any], reps: int) -> None:
    """One engine variant (the seed config plus ``extra``) against torch_ecg: speed and agreement rows."""
    import torch
    from torch_ecg.components.inputs import InputConfig as RefConfig
    from torch_ecg.components.inputs import SpectrogramInput as RefInput

    from ecgspec import InputConfig, SpectrogramInput

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
    times, loops = _engine_times(ours, ref, x, reps)
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


def _loader_rate_row(table: Table, reps: int, batch: int = 64) -> None:
    """Windows/s of the seed config in batches of ``batch``, as a loader calls it (a new output each batch,
    the previous one dropped) and as extract does (``out=``, one buffer reused): best of ``reps`` loops."""
    import torch

    from ecgspec import InputConfig, SpectrogramInput

    engine = SpectrogramInput(InputConfig(device="cpu", **SEED))
    x = torch.randn(batch, SEED["n_channels"], SEED["n_samples"], generator=torch.Generator().manual_seed(2))
    out = torch.empty(engine.compute_input_shape(x.shape))
    calls = {"new": lambda: engine(x), "out": lambda: engine(x, out=out)}
    for call in calls.values():
        call()  # warm-up: the constants, the pool's buffers
    seconds: Dict[str, List[float]] = {"new": [], "out": []}
    for _ in range(reps):
        for key, call in calls.items():
            t0 = time.perf_counter()
            for _ in range(4):
                call()
            seconds[key].append((time.perf_counter() - t0) / 4)
    rates = {key: batch / min(values) for key, values in seconds.items()}
    table.add("engine", f"seed config, batches of {batch}: windows/s, new output each (out= reused)",
              f"{rates['new']:.0f} ({rates['out']:.0f})", f"best of {reps}", None, "", None,
              new_per_s=rates["new"], out_per_s=rates["out"], seconds=seconds)


def section_engine(args: argparse.Namespace, table: Table, ctx: Dict[str, Any]) -> None:
    """ecgspec's engine vs torch_ecg's SpectrogramInput on the same random batch, per variant; ``plain``
    allocates a new output each batch (as a loader does), ``out=`` reuses one (as extract does)."""
    import torch

    reps = 3 if args.quick else args.reps
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(BATCH, SEED["n_channels"], SEED["n_samples"], generator=gen)
    variants = [("plain", {}), ("plain, out= buffer (as extract)", {}), ("feature_fs=100", {"feature_fs": 100}),
                ("feature_fs=100+to1d", {"feature_fs": 100, "to1d": True})]
    table.add("engine", "torch threads", str(torch.get_num_threads()), f"batch {BATCH}x12x5000, {reps} reps, median")
    for label, extra in variants:
        _engine_variant(table, x, label, extra, reps)
    _loader_rate_row(table, reps)


def section_e2e(args: argparse.Namespace, table: Table, ctx: Dict[str, Any]) -> None:
    """extract vs the naive script on the corpus, each in fresh subprocesses, best of ``--e2e-reps``."""
    corpus: Corpus = ctx["corpus"]
    n = args.records
    folder = corpus.subset(n)
    cfg = e2e_config(args)
    out = ctx["tmp"] / "e2e.h5"
    reps = max(1, args.e2e_reps)
    ours_key = ("extract", folder, out, cfg, extract_options(args))
    naive_key = ("naive", folder, ctx["tmp"] / "naive.h5", cfg, {})
    ours, naive = measure_alternately(ours_key, naive_key, reps)
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


def read_one(ref: Any, cfg: Dict[str, Any], block: int, quality: bool = True) -> int:
    """Read and window one record as extract's read stage does (windows discarded); return the window count."""
    from ecgspec.readers import open_record
    from ecgspec.signal.leads import select_channels
    from ecgspec.signal.windowing import Cut, WindowStats, iter_flagged_windows

    record = open_record(ref, input_fs=cfg["fs"])
    header = record.header
    channels = select_channels(header.leads, None, cfg["n_channels"], n_signals=header.n_signals)
    n = 0
    cut = Cut(cfg["fs"], cfg["n_samples"], cfg["n_samples"], 0.1, block, quality)
    for starts, _windows, _qc in iter_flagged_windows(record, channels, cut, WindowStats()):
        n += len(starts)
    return n


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


def read_threads(args: argparse.Namespace) -> int:
    """Threads of the read-stage rows: as many as the run's reader processes (one per CPU by default)."""
    return args.workers or len(os.sched_getaffinity(0))


def _read_rows(args: argparse.Namespace, table: Table, folder: Path, cfg: Dict[str, Any], block: int,
               rates: Dict[str, float]) -> int:
    """The read stage: find_records + open_record + select_channels + iter_windows, windows discarded, with
    1 and ``--workers`` threads; best of 3 passes (one pass is under a second here, so a single one is at
    the mercy of any other process). Fills ``rates``; returns the windows counted."""
    from ecgspec.readers import find_records

    for workers in sorted({1, read_threads(args)}):
        passes = []
        for _ in range(3):
            t0 = time.perf_counter()
            refs, _problems = find_records([folder])
            with ThreadPoolExecutor(workers) as pool:
                n_windows = sum(pool.map(lambda r: read_one(r, cfg, block), refs))
            passes.append(time.perf_counter() - t0)
        seconds = min(passes)
        label = f"read ({workers} thread{'s' if workers > 1 else ''})"
        rates[label] = len(refs) / seconds
        table.add("stages", f"{label}, records/s", f"{rates[label]:.1f} rec/s ({seconds:.1f} s)",
                  f"{n_windows} windows", None, "", None, seconds=seconds, windows=n_windows)
    return n_windows


def _engine_row(args: argparse.Namespace, table: Table, cfg: Dict[str, Any], n: int, n_windows: int,
                rates: Dict[str, float]) -> Any:
    """The engine stage: ``n_windows`` windows in batches of 32, from memory (as the batcher hands them).
    Fills ``rates``; returns the engine, for the write stage's shape and frequencies."""
    import torch

    from ecgspec import InputConfig, SpectrogramInput

    engine = SpectrogramInput(InputConfig(device=args.device, **cfg))
    x = torch.randn(BATCH, cfg["n_channels"], cfg["n_samples"], generator=torch.Generator().manual_seed(1))
    out = torch.empty(engine.compute_input_shape(x.shape))  # reused, as the pipeline's buffer pool does
    engine(x)  # warm-up
    t0 = time.perf_counter()
    for lo in range(0, n_windows, BATCH):
        k = min(BATCH, n_windows - lo)
        if engine.device.type == "cpu":
            engine(x[:k], out=out[:k]).numpy()
        else:
            out[:k].copy_(engine(x[:k].to(engine.device))).numpy()
    seconds = time.perf_counter() - t0
    rates["engine"] = n / seconds
    table.add("stages", "engine, records/s", f"{rates['engine']:.1f} rec/s ({seconds:.1f} s)",
              f"{1000 * seconds / math.ceil(n_windows / BATCH):.0f} ms/batch", None, "", None, seconds=seconds)
    return engine


def _write_row(table: Table, ctx: Dict[str, Any], cfg: Dict[str, Any], engine: Any, n: int, n_windows: int,
               rates: Dict[str, float]) -> None:
    """The write stage: SpectrogramWriter, random float32 windows of the engine's shape, uncompressed,
    ``n`` records of ``n_windows`` windows in all. Fills ``rates``."""
    import numpy as np

    from ecgspec.store.layout import RecordRow
    from ecgspec.store.writer import SpectrogramWriter

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


def section_stages(args: argparse.Namespace, table: Table, ctx: Dict[str, Any]) -> None:
    """Each stage of extract alone (read, engine, write) on the corpus, the 16x2 read row, and the
    whole run against the slowest stage."""
    from ecgspec.run.limits import LIMITS

    corpus: Corpus = ctx["corpus"]
    n = args.records
    folder = corpus.subset(n)
    cfg = e2e_config(args)
    block = LIMITS.block_samples
    rates: Dict[str, float] = {}
    n_windows = _read_rows(args, table, folder, cfg, block, rates)
    threads = read_threads(args)
    read_key = f"read ({threads} thread{'s' if threads > 1 else ''})"
    multirate_read_row(table, ctx["tmp"], block)
    engine = _engine_row(args, table, cfg, n, n_windows, rates)
    _write_row(table, ctx, cfg, engine, n, n_windows, rates)
    gc.collect()

    # the whole run (shared with e2e when it ran in this invocation)
    whole = measure("extract", folder, ctx["tmp"] / "e2e.h5", cfg, extract_options(args))
    rates["whole"] = whole["records"] / whole["seconds"]
    slowest = min((read_key, "engine", "write"), key=lambda k: rates[k])
    ratio = rates["whole"] / rates[slowest]
    table.add("stages", f"whole run vs slowest stage ({slowest})",
              f"{rates['whole']:.1f} rec/s ({whole['seconds']:.1f} s)", f"{rates[slowest]:.1f} rec/s", ratio,
              f">= {TARGETS['stages']:.0%}", ratio >= TARGETS["stages"], rates=rates, whole_runs=whole["all_seconds"])
