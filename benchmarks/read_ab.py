"""The read stage of this tree against an earlier revision's, side by side on the same records.

    python benchmarks/read_ab.py --rev 83b9f98 --data ../shared/data [--records 2000] [--rounds 3]

``make bench``'s read stage (find_records, open_record, select_channels, the windows of each
record, windows discarded; quality flags on where the revision has them) timed in fresh
processes, the two trees alternately (A B B A ...), each process keeping its best of 3 passes;
prints records/s with 1 and 2 reader threads, best over the rounds. The revision is checked out
in a temporary git worktree; the corpus is bench.py's (renamed cinc2021 copies) in a temporary
folder. torch is imported first in both, as in extract (NumPy runs slower in a process without it).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = dict(n_channels=12, n_samples=5000, fs=500)


def child(tree: str, folder: str) -> None:
    """In a fresh process: the read stage of the ecgspec in ``tree``; prints {threads: records/s}."""
    sys.path.insert(0, tree)
    from concurrent.futures import ThreadPoolExecutor

    import torch  # noqa: F401  (as extract has it)

    import ecgspec

    assert Path(ecgspec.__file__).resolve().is_relative_to(Path(tree).resolve()), ecgspec.__file__
    try:  # the layered package (this tree): quality flags on, as a run has them
        from ecgspec.readers import find_records, open_record
        from ecgspec.signal.leads import select_channels
        from ecgspec.signal.windowing import Cut, WindowStats, iter_flagged_windows

        def windows(record, channels, fs, n, stride, max_nan, block, stats):
            return iter_flagged_windows(record, channels, Cut(fs, n, stride, max_nan, block), stats)

        try:  # the run's tunables in one object
            from ecgspec.run.limits import LIMITS

            block = LIMITS.block_samples
        except ImportError:  # before it
            from ecgspec.run import reading

            block = reading.BLOCK_SAMPLES
    except ImportError:
        try:  # flat modules with the readers package and quality flags
            from ecgspec import stages
            from ecgspec.leads import select_channels
            from ecgspec.readers import find_records, open_record
            from ecgspec.windowing import WindowStats
            from ecgspec.windowing import iter_flagged_windows as windows

            block = stages.BLOCK_SAMPLES
        except ImportError:  # before the readers package (83b9f98)
            from ecgspec.records import find_records, open_record, select_channels
            from ecgspec.windowing import WindowStats
            from ecgspec.windowing import iter_windows as windows

            block = 1 << 18

    def read(ref) -> int:
        record = open_record(ref, input_fs=CONFIG["fs"])
        channels = select_channels(record.header.leads, None, CONFIG["n_channels"], n_signals=record.header.n_signals)
        n = CONFIG["n_samples"]
        return sum(len(w[0]) for w in windows(record, channels, CONFIG["fs"], n, n, 0.1, block, WindowStats()))

    rates = {}
    for threads in (1, 2):
        passes = []
        for _ in range(3):
            t0 = time.perf_counter()
            refs, _ = find_records([Path(folder)])
            with ThreadPoolExecutor(threads) as pool:
                sum(pool.map(read, refs))
            passes.append(time.perf_counter() - t0)
        rates[threads] = len(refs) / min(passes)
    print(json.dumps(rates))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rev", required=True, help="the git revision to compare with")
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    p.add_argument("--records", type=int, default=2000)
    p.add_argument("--rounds", type=int, default=3, help="A B rounds (alternating order)")
    args = p.parse_args()
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from bench_corpus import Corpus

    with tempfile.TemporaryDirectory(prefix="ecgspec-read-ab-") as tmp:
        old = Path(tmp) / "old"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(old), args.rev], check=True,
                       capture_output=True)
        try:
            folder = Corpus(args.data, Path(tmp), args.records).subset(args.records)
            trees = {"this tree": str(ROOT), args.rev: str(old)}
            best: dict[str, dict[str, float]] = {name: {} for name in trees}
            for rnd in range(args.rounds):
                for name in (list(trees) if rnd % 2 == 0 else list(reversed(trees))):
                    out = subprocess.run([sys.executable, __file__, "--child", trees[name], str(folder)],
                                         capture_output=True, text=True, check=True)
                    for threads, rate in json.loads(out.stdout.strip().splitlines()[-1]).items():
                        best[name][threads] = max(best[name].get(threads, 0.0), rate)
            for name, rates in best.items():
                print(f"{name:>10}: read stage " + ", ".join(f"{r:.0f} records/s ({t} thread{'s' * (t != '1')})"
                                                             for t, r in sorted(rates.items())))
            mine, theirs = best["this tree"], best[args.rev]
            print("ratio (this tree / " + args.rev + "): " + ", ".join(f"{mine[t] / theirs[t]:.2f} ({t} thread"
                                                                      f"{'s' * (t != '1')})" for t in sorted(mine)))
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(old)], capture_output=True)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3])
    else:
        main()
