"""bench.py's ``startup`` and ``process`` sections: whole fresh processes, start-up included."""

from __future__ import annotations

import argparse
import statistics
import sys
from typing import Any, Dict

from bench_child import alternate, child_command
from bench_common import TARGETS, Table, e2e_config, extract_options
from bench_corpus import Corpus


def section_startup(args: argparse.Namespace, table: Table, ctx: Dict[str, Any]) -> None:
    """Wall time of ecgspec's light commands in fresh processes, as shares of ``python -c "import torch"``."""
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
    """``python -m ecgspec extract`` vs ``bench.py --child naive`` as whole processes, on 500 and
    ``--records`` records, alternately."""
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
            "naive": child_command("naive", folder, naive_out, config, {}),
        }
        times = alternate(commands, reps, outputs=(out, naive_out))
        ours, naive = min(times["ecgspec"]), min(times["naive"])
        ratio = naive / ours
        target = n == min(500, args.records)
        table.add("process", f"{n} records, whole process wall s (naive/ecgspec), best of {reps}",
                  f"{ours:.1f} s ({n / ours:.0f} rec/s)", f"{naive:.1f} s ({n / naive:.0f} rec/s)", ratio,
                  f">= {TARGETS['process']:g}x" if target else "", ratio >= TARGETS["process"] if target else None,
                  ours_all=times["ecgspec"], naive_all=times["naive"])
