"""bench.py's ``resample`` and ``qc`` sections: windowing resampled records block by block, and what
the quality flags cost end to end and in the read stage."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any, Dict, List

from bench_child import measure_alternately
from bench_common import TARGETS, Table, e2e_config, extract_options
from bench_engine import read_one


def _in_memory(signal: Any, rate: float) -> Any:
    """An ecgspec Record serving ``signal`` (leads x samples, in memory) at ``rate`` Hz."""
    from ecgspec.readers import Header, Record, RecordRef

    class InMemory(Record):
        def __init__(self, signal: Any, rate: float) -> None:
            super().__init__(RecordRef("mem", Path("mem.npy"), "npy"), Header(rate, signal.shape[1], (), len(signal)))
            self.signal = signal

        def _read(self, start: int, stop: int, channels: List[int]) -> Any:
            return self.signal[channels, start:stop]

    return InMemory(signal, rate)


def _windows_seconds(record: Any, fs: float, window: int) -> float:
    """Seconds to window both leads of ``record`` at ``fs`` Hz, block by block as extract does."""
    from ecgspec.run.limits import LIMITS
    from ecgspec.signal.windowing import iter_windows

    t0 = time.perf_counter()
    for _ in iter_windows(record, [0, 1], fs, window, window, 0.1, LIMITS.block_samples):
        pass
    return time.perf_counter() - t0


def _resample_rows(table: Table, rate: float, seconds_of_signal: int) -> None:
    """A 2-lead record at ``rate`` Hz windowed at 500 Hz in blocks, vs at its own rate and vs
    resample_poly on the whole signal; the filter design timed apart."""
    import numpy as np
    from scipy.signal import resample_poly

    from ecgspec.signal import resample

    n = int(rate * seconds_of_signal)
    signal = np.random.default_rng(5).standard_normal((2, n)).astype(np.float32)
    record = _in_memory(signal, rate)
    up, down = resample.resample_ratio(rate, 500)
    resample._kernel.cache_clear()
    t0 = time.perf_counter()
    resample._kernel(up, down)
    design = time.perf_counter() - t0
    resampled = _windows_seconds(record, 500, 5000)
    own_rate = _windows_seconds(record, rate, max(1, round(5000 * rate / 500)))
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


def section_resample(args: argparse.Namespace, table: Table, ctx: Dict[str, Any]) -> None:
    """Windowing an in-memory record resampled to 500 Hz from 360, 1000, 249.89 and 62.4725 Hz."""
    seconds_of_signal = 600 if args.quick else 3600
    for rate in (360, 1000, 249.89, 62.4725):
        _resample_rows(table, rate, seconds_of_signal)


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
    with_qc, without = measure_alternately(on, off, reps, note=False)  # ABBA... order, as e2e
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
                read_one(ref, cfg, 1 << 18, quality=flag)
            seconds[flag].append(time.process_time() - t0)
    best = {flag: min(v) for flag, v in seconds.items()}
    table.add("qc", "read stage alone (read, window, flags), CPU ms per record with / without flags",
              f"{1000 * best[True] / len(refs):.2f} ms", f"{1000 * best[False] / len(refs):.2f} ms",
              best[False] / best[True], "", None)
