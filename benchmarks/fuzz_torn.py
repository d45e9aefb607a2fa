"""Torn-file fuzzer: damaged partial outputs must never hang `--resume` or `ecgspec info`.

    python benchmarks/fuzz_torn.py [--cases 2000] [--seed 1] [--commits 8]

Partials "killed" at every commit point of a small run (the file just before, inside and just
after each flush, and at each commit point), then damaged at random: cut at a random offset,
random bits flipped, random 4 KiB pages zeroed, a flush torn at random pages (each alone or
two together). For each case a resume (the writer, as ``extract --resume`` drives it) must
end within a deadline and give a file equal to an uninterrupted run, and ``ecgspec info``
must end within a deadline with at most one line on error. Cases run in a child process
(one per batch, restarted after a hang); prints one summary line, exit status 1 on a failure.

Damage that lands on the stored values of committed rows (their spectrograms, columns and
strings) fails their checksums (ecgspec.store.checksums): the resume computes those records
again (counted as ``repaired``), so every resume must end equal to an uninterrupted run, never
with different values. tests/store/test_torn_fuzz.py runs a few hundred cases of this.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]  # ecgspec, and the tests' torn-page helpers

from tests.helpers.torn import PAGE, changed_pages, splice  # noqa: E402

SHAPE = (2, 5, 7)
CONFIG = {"n_channels": 2, "n_samples": 5000, "n_bins": 5, "fs": 500, "window_size": 0.05}
PER_COMMIT = 12
CASE_SECONDS = 60.0  # one case's resume and info, probes included, on a loaded 2-core machine
PROBE_SECONDS = "4"  # the probe's deadline in the cases (their files are small)


# -- the run --------------------------------------------------------------------------------


def names(n_commits: int) -> list[str]:
    return [f"rec{i:03d}" for i in range(n_commits * PER_COMMIT)]


def new_writer(path: Path, **kwargs):
    from ecgspec.store.writer import SpectrogramWriter

    attrs = {"config": CONFIG, "n_fft": 8, "win_length": 25, "hop_length": 13, "ecgspec_version": "0.1.0"}
    return SpectrogramWriter(path, window_shape=SHAPE, frequencies=np.arange(5) * 62.5, attrs=attrs,
                             durable=False, **kwargs)


def add_record(w, name: str) -> None:
    """One record with 0-3 windows, its values fixed by its name."""
    from ecgspec.store.layout import RecordRow

    rng = np.random.default_rng(list(name.encode()))
    n = int(rng.integers(0, 4))
    w.write_windows(np.full(n, w.next_record_row), np.arange(n) * 2500, rng.random((n, *SHAPE), dtype=np.float32))
    w.commit_record(RecordRow(name, f"/data/folder/{name}.hea", 500.0, 5000, "I,II", n, int(rng.integers(0, 9)),
                              "500.0,125.0", 0.0, "II" if n == 2 else "", 0.0))


def add_errors(w, some_names: list[str]) -> None:
    """The skipped records beside every 7th name: a run lists them all again (a resume too)."""
    for name in some_names:
        if name.endswith("7"):
            w.add_error(f"{name}x", f"{name}x.hea: not a header (line {len(name) * 7})")


def run_all(w, all_names: list[str]) -> None:
    for name in all_names:
        if name not in w.done_names:
            add_record(w, name)
    add_errors(w, all_names)
    w.finish()


def partials(folder: Path, n_commits: int) -> list[tuple[bytes, bytes]]:
    """(file, the flush it is inside of) at each point a kill can land: after creation, before, after HDF5's
    flush and after each commit point; ``(state, b"")`` where no flush is under way."""
    w = new_writer(folder / "out.h5")
    states: list[tuple[bytes, bytes]] = [(w.partial.read_bytes(), b"")]
    flush = w._file.flush

    def spy() -> None:
        before = w.partial.read_bytes()
        flush()
        states.append((before, w.partial.read_bytes()))

    w._file.flush = spy
    all_names = names(n_commits)
    for i in range(n_commits):
        for name in all_names[i * PER_COMMIT : (i + 1) * PER_COMMIT]:
            add_record(w, name)
        add_errors(w, all_names[i * PER_COMMIT : (i + 1) * PER_COMMIT])
        w.flush()
        states.append((w.partial.read_bytes(), b""))
    w._file.flush = flush
    w.close()
    (folder / "out.h5.partial").unlink()
    return states


# -- damage ---------------------------------------------------------------------------------


def damage(state: tuple[bytes, bytes], rng: np.random.Generator) -> tuple[str, bytes]:
    """A damaged copy of a partial: what was done, and the bytes."""
    data, after = state
    kinds = ["cut", "flip", "zero"] + (["tear"] if changed_pages(data, after) else [])
    picked = list(rng.choice(kinds, size=int(rng.integers(1, 3)), replace=False))
    if "tear" in picked:  # first: the other damage then falls on the torn file
        picked.remove("tear")
        pages = changed_pages(data, after)
        chosen = sorted(int(p) for p in rng.choice(pages, size=int(rng.integers(1, len(pages) + 1)), replace=False))
        data = splice(data, after, chosen)
        picked.insert(0, "tear")
    out = bytearray(data)
    for kind in picked:
        if not out:
            break
        if kind == "cut":
            del out[int(rng.integers(0, len(out))):]
        elif kind == "flip":
            for _ in range(int(rng.integers(1, 9))):
                if out:
                    at = int(rng.integers(0, len(out)))
                    out[at] ^= 1 << int(rng.integers(0, 8))
        elif kind == "zero":
            for _ in range(int(rng.integers(1, 3))):
                if len(out) >= PAGE:
                    at = int(rng.integers(0, len(out) // PAGE)) * PAGE
                    out[at : at + PAGE] = bytes(PAGE)
    return "+".join(picked), bytes(out)


# -- one case, in the child -------------------------------------------------------------------


def same_file(a: Path, b: Path) -> bool:
    import h5py

    with h5py.File(a, "r") as fa, h5py.File(b, "r") as fb:
        keys_a, keys_b = [], []
        fa.visititems(lambda n, o: keys_a.append(n) if isinstance(o, h5py.Dataset) else None)
        fb.visititems(lambda n, o: keys_b.append(n) if isinstance(o, h5py.Dataset) else None)
        if keys_a != keys_b or sorted(fa.attrs) != sorted(fb.attrs):
            return False
        return all(fa[k].dtype == fb[k].dtype and np.array_equal(fa[k][()], fb[k][()]) for k in keys_a) and \
            all(np.array_equal(fa.attrs[k], fb.attrs[k]) for k in fa.attrs)


def one_case(case: Path, fresh: Path, all_names: list[str]) -> dict:
    """``info`` of the damaged copy (the CLI, in this process), then a resume to the end, compared to ``fresh``."""
    from click.testing import CliRunner

    from ecgspec.cli import main

    result = CliRunner().invoke(main, ["info", str(case / "info.h5.partial")])
    stderr = result.stderr.strip()
    info_ok = result.exit_code == 0 or (result.exit_code == 2 and stderr.count("\n") == 0 and
                                         stderr.startswith("ecgspec: error: ") and "a bug in ecgspec" not in stderr)
    w = new_writer(case / "out.h5", resume=True)
    warnings, kept, repaired = list(w.warnings), len(w.done_names), len(w.repaired)
    run_all(w, all_names)
    return {"case": case.name, "info_ok": info_ok, "info": stderr or result.stdout.splitlines()[:1],
            "equal": same_file(case / "out.h5", fresh), "kept": kept, "repaired": repaired,
            "warnings": warnings}


def child_main(fresh: str, n_commits: int) -> None:
    """Read case folders from stdin, one a line; print each verdict as a JSON line."""
    all_names = names(n_commits)
    for line in sys.stdin:
        case = Path(line.strip())
        try:
            verdict = one_case(case, Path(fresh), all_names)
        except Exception as exc:  # noqa: BLE001 - a traceback is a failure the parent reports
            verdict = {"case": case.name, "error": f"{type(exc).__name__}: {exc}"}
        print(json.dumps(verdict), flush=True)


# -- the parent ---------------------------------------------------------------------------------


@dataclass
class Summary:
    cases: int = 0
    hangs: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    repaired: int = 0
    started_over: int = 0
    seconds: float = 0.0

    def line(self) -> str:
        return (f"{self.cases} torn partials: {len(self.hangs)} hangs, {len(self.failures)} failures,"
                f" {self.started_over} started over, {self.repaired} with damaged records computed again,"
                f" {self.seconds:.0f} s")


class Child:
    """The batch child: a case folder in, a verdict out, within CASE_SECONDS; restarted after a hang."""

    def __init__(self, fresh: Path, n_commits: int) -> None:
        env = dict(os.environ, PYTHONPATH=str(ROOT), ECGSPEC_PROBE_SECONDS=PROBE_SECONDS)
        self.proc = subprocess.Popen([sys.executable, __file__, "--child", str(fresh), "--commits", str(n_commits)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT)

    def ask(self, case: Path) -> dict | None:
        self.proc.stdin.write(f"{case}\n")
        self.proc.stdin.flush()
        ready, _, _ = select.select([self.proc.stdout], [], [], CASE_SECONDS)
        line = self.proc.stdout.readline() if ready else ""
        return json.loads(line) if line else None

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()


def fuzz(n_cases: int, seed: int, n_commits: int, folder: Path) -> Summary:
    """Build the partials and the uninterrupted file in ``folder``, then run ``n_cases`` damaged copies."""
    started = time.monotonic()
    states = partials(folder, n_commits)
    fresh = folder / "fresh.h5"
    run_all(new_writer(fresh), names(n_commits))
    rng = np.random.default_rng(seed)
    summary, child = Summary(), Child(fresh, n_commits)
    try:
        for i in range(n_cases):
            state = states[int(rng.integers(0, len(states)))]
            what, data = damage(state, rng)
            case = folder / f"case{i:05d}"
            case.mkdir()
            (case / "out.h5.partial").write_bytes(data)
            (case / "info.h5.partial").write_bytes(data)
            verdict = child.ask(case)
            summary.cases += 1
            if verdict is None:
                summary.hangs.append(f"{case.name} ({what})")
                child.close()
                child = Child(fresh, n_commits)
            elif "error" in verdict or not verdict["info_ok"]:
                summary.failures.append(f"{case.name} ({what}): {verdict.get('error') or verdict['info']}")
            elif not verdict["equal"]:
                summary.failures.append(f"{case.name} ({what}): resumed file differs from an uninterrupted run")
            if verdict and verdict.get("repaired"):
                summary.repaired += 1
            elif verdict and verdict.get("warnings"):
                summary.started_over += 1
            shutil.rmtree(case, ignore_errors=True)
    finally:
        child.close()
    summary.seconds = time.monotonic() - started
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--commits", type=int, default=8)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_main(args.child, args.commits)
        return
    with tempfile.TemporaryDirectory(prefix="ecgspec-fuzz-") as folder:
        summary = fuzz(args.cases, args.seed, args.commits, Path(folder))
    print(summary.line())
    for problem in summary.hangs + summary.failures:
        print(f"  {problem}")
    sys.exit(1 if summary.hangs or summary.failures else 0)


if __name__ == "__main__":
    main()
