"""bench.py's shared pieces: the constants and targets, the results Table, and the small helpers
(timing, output clean-up, load and foreign-CPU readings, peak RSS, the e2e config and options)."""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

ROOT = Path(__file__).resolve().parents[1]  # the repository: `python -m ecgspec` runs its code
SEED = dict(n_channels=12, n_samples=5000, n_bins=128, fs=500, window_size=1 / 20, overlap_size=1 / 40)
BATCH = 32
LONG_CONFIG = {"feature_fs": 100}  # the long record's config: a 24-h record gives 8640 windows, plain would be 20 GB
TARGETS = {
    "engine_plain": 18.0,  # issue 29: a new output each batch, as a loader allocates
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
    """One progress line on stderr (stdout carries the table)."""
    print(message, file=sys.stderr, flush=True)


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
        """Append one row (``raw``: the figures behind it, for the JSON) and log it."""
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
        """The rows as a plain-text table, columns padded to their widest cell."""
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


def median_ms(samples: Sequence[float]) -> float:
    """The median of ``samples`` (seconds), in ms."""
    return 1000.0 * statistics.median(samples)


def drop_output(path: Path) -> None:
    """Delete an output (and its .partial) and flush dirty pages, so the next contender
    does not pay for this one's write-back. Never timed."""
    for p in (path, path.with_name(path.name + ".partial")):
        with contextlib.suppress(FileNotFoundError):
            p.unlink()
    os.sync()


def load_average() -> str:
    """The 1, 5 and 15-minute load averages, or ``?``."""
    with contextlib.suppress(OSError):
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    return "?"


class ForeignCpu:
    """CPU time used by other processes while a block runs, in cores (0 = the machine was ours):
    the busy time in /proc/stat less this process's and its waited-for children's CPU time, and
    less that of the processes of this session nobody waits for (ecgspec's reader processes and
    their forkserver, reparented when a run ends), sampled every :data:`SESSION_SAMPLE` seconds."""

    def __enter__(self) -> "ForeignCpu":
        self.cores = float("nan")
        self._session: dict[int, float] = {}  # pid -> CPU seconds last seen, for this session's other processes
        self._first: dict[int, float] = {}  # pid -> CPU seconds when first seen
        self._stop = threading.Event()
        self._sample_session()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        self._start = self._sample()
        return self

    def _watch(self) -> None:
        while not self._stop.wait(SESSION_SAMPLE):
            self._sample_session()

    def _sample_session(self) -> None:
        """The CPU seconds of each process of this session that is neither this one nor its waited-for child."""
        tick, me, sid = os.sysconf("SC_CLK_TCK"), os.getpid(), os.getsid(0)
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) == me:
                continue
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if int(fields[3]) != sid or int(fields[1]) == me:  # another session, or a child we wait for
                continue
            cpu = (int(fields[11]) + int(fields[12])) / tick
            self._first.setdefault(int(entry), cpu)
            self._session[int(entry)] = cpu

    @staticmethod
    def _sample() -> tuple:
        """(machine busy seconds, this process's and its children's CPU seconds, wall clock), or Nones."""
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
        self._stop.set()
        self._thread.join()
        self._sample_session()
        unwaited = sum(self._session[pid] - self._first[pid] for pid in self._session)
        if self._start[0] is not None and end[0] is not None and end[2] > self._start[2]:
            foreign = (end[0] - self._start[0]) - (end[1] - self._start[1]) - unwaited
            self.cores = max(0.0, foreign / (end[2] - self._start[2]))


SESSION_SAMPLE = 0.2  # seconds between samples of this session's processes nobody waits for
NOISY_CORES = 0.3  # other processes using more than this many cores during a section: figures are suspect


def vm_hwm_kb() -> int:
    """Peak resident set of this process in kB (VmHWM), ru_maxrss as a fallback."""
    with contextlib.suppress(OSError):
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    import resource

    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def e2e_config(args: argparse.Namespace) -> Dict[str, Any]:
    """The engine config of e2e/stages/memory/storage: the seed config, with ``--feature-fs`` if given."""
    cfg = dict(SEED)
    if args.feature_fs:
        cfg["feature_fs"] = args.feature_fs
    return cfg


def extract_options(args: argparse.Namespace, **more: Any) -> Dict[str, Any]:
    """extract's options from ``--device`` and ``--workers``, batches of BATCH, plus ``more``."""
    options = {"device": args.device, "batch_size": BATCH, **more}
    if args.workers is not None:
        options["workers"] = args.workers
    return options

