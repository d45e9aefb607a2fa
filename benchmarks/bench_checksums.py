"""bench.py's ``checksums`` section: what the output's checksums (Fletcher32 on every numeric dataset, CRC-32s of
the strings at finish; ecgspec.store.checksums) cost on writing and on reading, with and without side by side.

- extract end to end, records/s without / with (fresh processes in ABBA order, best of each; the "without" is
  the internal switch ``ecgspec.store.checksums.ENABLED``, set in the child, as the qc section's);
- the writer alone: ``SpectrogramWriter`` writing the loader section's float16 windows (1536 x 77), seconds
  with / without, alternately in this process, best of each;
- reading: ``DataLoader(ecgspec.open(f), batch_size=64, sampler=ds.sampler(block=64))`` on those files, from
  the page cache (memory-bound: the checksum's share at its largest) and from the disk (the file's pages
  dropped first, as a training set larger than memory reads), windows/s with / without, alternately, best
  of each.

Targets: each cost <= 5% (a ratio >= 0.95).
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any, Callable, Dict

from bench_child import measure_alternately
from bench_common import Table, drop_output, e2e_config, extract_options

TARGET = 0.95  # without-checksums time over with-checksums time (or with / without windows/s)


def _switched(enabled: bool, work: Callable[[], Any]) -> Any:
    """``work()`` with the checksums switch set to ``enabled`` (restored after)."""
    import ecgspec.store.checksums as checksums

    before, checksums.ENABLED = checksums.ENABLED, enabled
    try:
        return work()
    finally:
        checksums.ENABLED = before


def _alternately(work: Callable[[bool], float], rounds: int) -> Dict[bool, float]:
    """The least of ``work(enabled)`` (seconds) for enabled True and False, in ABBA order."""
    best = {True: float("inf"), False: float("inf")}
    for r in range(rounds):
        for enabled in ((True, False) if r % 2 == 0 else (False, True)):
            best[enabled] = min(best[enabled], work(enabled))
    return best


def _row(table: Table, measure: str, unit: str, with_s: float, without_s: float, per: float, **raw: Any) -> None:
    """A row: the rate with checksums, the rate without, their ratio (time without / time with) against TARGET."""
    ratio = without_s / with_s
    table.add("checksums", measure, f"{per / with_s:.1f} {unit}", f"without: {per / without_s:.1f} {unit}", ratio,
              f">= {TARGET}", ratio >= TARGET, with_seconds=with_s, without_seconds=without_s, **raw)


def section_checksums(args: argparse.Namespace, table: Table, ctx: Dict[str, Any]) -> None:
    """The checksums' cost on writing (end to end, and the writer alone) and on reading (the loader)."""
    from bench_loader import BATCH, build_synthetic, loader_reads

    import ecgspec

    n = args.records
    folder = ctx["corpus"].subset(n)
    cfg, out = e2e_config(args), ctx["tmp"] / "checksums.h5"
    on = ("extract", folder, out, cfg, extract_options(args))
    off = ("extract", folder, out, cfg, extract_options(args, _no_checksums=True))
    reps = max(3, args.e2e_reps)
    with_run, without_run = measure_alternately(on, off, reps, note=False)
    _row(table, f"extract, {n} records end to end, best of {reps}", "rec/s", with_run["seconds"],
         without_run["seconds"], n, with_run=with_run, without_run=without_run)

    windows = 500 if args.quick else 2000
    paths = {enabled: ctx["tmp"] / f"checksums_{enabled}.h5" for enabled in (True, False)}

    def write(enabled: bool) -> float:
        drop_output(paths[enabled])
        t0 = time.perf_counter()
        _switched(enabled, lambda: build_synthetic(paths[enabled], windows))
        return time.perf_counter() - t0

    best = _alternately(write, 5)
    _row(table, f"writer alone, {windows} float16 windows of 1536 x 77 (236 KB), best of 5", "windows/s",
         best[True], best[False], windows)

    def read(enabled: bool, cached: bool) -> float:
        with ecgspec.open(paths[enabled]) as ds:
            sampler = ds.sampler(shuffle=True, block=BATCH, seed=1)
            if cached:
                loader_reads(ds, sampler, windows // BATCH)  # into the page cache, untimed
            else:
                _drop_pages(paths[enabled])
            t0 = time.perf_counter()
            loader_reads(ds, sampler, windows // BATCH, epochs=2 if cached else 1)
            return time.perf_counter() - t0

    for cached in (True, False):
        best = _alternately(lambda enabled, cached=cached: read(enabled, cached), 5)
        where = "from the page cache" if cached else "from the disk (pages dropped before: posix_fadvise)"
        _row(table, f"reading: DataLoader(ds, batch_size=64, sampler=ds.sampler(block=64)), {where}, best of 5",
             "windows/s", best[True], best[False], (1 + cached) * (windows // BATCH) * BATCH)
    for path in paths.values():
        drop_output(path)


def _drop_pages(path: object) -> None:
    """Let the kernel drop ``path``'s pages from its cache (written back first), so the next read is the disk's."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)
