"""Interruption and resume of `ecgspec extract` on copies of the real records.

A real `python -m ecgspec.cli extract` subprocess is stopped at several points with
SIGKILL, SIGINT and SIGTERM, resumed each time, and the finished file must equal an
uninterrupted run of the same command, dataset for dataset (np.array_equal).
"""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

import ecgspec
from ecgspec.run.pipeline import Interrupted
from ecgspec.store.layout import OutputError
from tests.helpers.cli import extract as cli
from tests.helpers.compare import assert_same, assert_same_by_name, datasets, digest
from tests.helpers.corpus import BAD_EVERY, N_RECORDS, OPTIONS, bad_name, good_name, make_corpus
from tests.helpers.paths import ROOT
from tests.helpers.store import tmpfs


class Run:
    """A real ``ecgspec extract`` subprocess whose stderr lines are read as they come."""

    def __init__(self, *args: str | Path) -> None:
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ecgspec.cli", "extract", *map(str, args)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT,
        )
        self.lines: "queue.Queue[str | None]" = queue.Queue()
        self.seen: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def wait_for_line(self, pattern: str, timeout: float = 60) -> None:
        """Block until a stderr line matches ``pattern`` (fails if the run ends first)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.05)
            except queue.Empty:
                continue
            assert line is not None, f"run ended before {pattern!r}: {self.seen}"
            self.seen.append(line)
            if re.search(pattern, line):
                return
        pytest.fail(f"no {pattern!r} within {timeout} s: {self.seen}")

    def wait_for_file(self, path: Path, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not path.exists():
            assert self.proc.poll() is None, "run ended before creating its partial file"
            assert time.monotonic() < deadline, f"{path} not created within {timeout} s"
            time.sleep(0.005)

    def stop(self, sig: int) -> tuple[int, str, str]:
        """Send ``sig``; return (exit status, stdout, all of stderr)."""
        self.proc.send_signal(sig)
        return self.finish()

    def finish(self, timeout: float = 120) -> tuple[int, str, str]:
        out = self.proc.stdout.read() if self.proc.stdout else ""
        code = self.proc.wait(timeout)
        self._reader.join(timeout)
        while (line := self.lines.get()) is not None:
            self.seen.append(line)
        return code, out, "\n".join(self.seen)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory, cinc_dir: Path) -> Path:
    return make_corpus(tmp_path_factory.mktemp("corpus") / "records", cinc_dir)


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory, corpus: Path) -> Path:
    """The uninterrupted run of the command the interrupted ones run."""
    out = tmp_path_factory.mktemp("reference") / "out.h5"
    res = cli(corpus, out, *OPTIONS, "--quiet")
    assert res.exit_code == 1, res.output  # the bad records are skipped
    with h5py.File(out, "r") as f:
        assert f["records/name"].shape == (N_RECORDS,) and f["spectrograms"].shape[0] == N_RECORDS
        assert f["errors/name"].shape == (len(range(0, N_RECORDS, BAD_EVERY)),)
    return out


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.slow
def test_subprocess_interrupted_with_sigkill_sigint_sigterm_then_resumed_equals_uninterrupted(
    tmp_path: Path, corpus: Path, reference: Path
) -> None:
    before = digest(corpus)
    out = tmp_path / "out.h5"
    partial = tmp_path / "out.h5.partial"
    args = (corpus, out, *OPTIONS)

    # 1. SIGKILL the moment the partial file appears (it may be half laid out)
    run = Run(*args)
    run.wait_for_file(partial)
    code, _, _ = run.stop(signal.SIGKILL)
    assert code == -signal.SIGKILL and not out.exists()

    def resume_until(bad: int, sig: int) -> tuple[int, str]:
        """Resume, and stop with ``sig`` once the run says it skipped bad record ``bad``."""
        run = Run(*args, "--resume")
        run.wait_for_line(rf"skipped {bad_name(bad)}: ")
        code, _, err = run.stop(sig)
        return code, err

    # 2. resume, then SIGINT about a third of the way (its skipped line shows how far it got)
    code, err = resume_until(45, signal.SIGINT)
    assert code == 130, err
    message = err.splitlines()[-1]
    assert message.startswith("ecgspec: error: interrupted:") and "--resume" in message, err
    assert f"{partial}" in message and "Traceback" not in err
    kept = int(re.search(r"(\d+) records written so far", message).group(1))
    assert 0 < kept <= N_RECORDS and not out.exists() and partial.exists()
    with ecgspec.open(partial, allow_partial=True) as ds:
        assert len(ds.records["name"]) == kept  # the message tells the truth
        assert ds.records["name"].tolist() == [good_name(i) for i in range(kept)]

    # without --resume (or --overwrite) the leftover is refused, and nothing changes
    res = cli(*args)
    assert res.exit_code == 2 and "--resume" in res.stderr and not out.exists()

    # 3. resume, then SIGKILL two thirds of the way
    code, _ = resume_until(105, signal.SIGKILL)
    assert code == -signal.SIGKILL and not out.exists()

    # 4. resume, then SIGTERM early
    code, err = resume_until(15, signal.SIGTERM)
    assert code == 143, err
    assert "--resume" in err.splitlines()[-1] and "Traceback" not in err and not out.exists()

    # 5. resume to the end
    run = Run(*args, "--resume", "--json")
    code, stdout, err = run.finish()
    assert code == 1, err  # records were skipped; the output is complete
    summary = json.loads(stdout)
    assert summary["resumed"] >= kept > 0
    assert summary["resumed"] + summary["records"] == N_RECORDS
    assert_same(out, reference)
    assert leftovers(tmp_path) == ["out.h5"]
    assert digest(corpus) == before  # inputs never changed


def test_python_api_interrupted_in_process_then_resumed(tmp_path: Path, corpus: Path, reference: Path) -> None:
    out = tmp_path / "out.h5"
    options = dict(n_bins=32, feature_fs=50, batch_size=8)

    def log(message: str) -> None:  # SIGINT to this process a third of the way through
        if message.startswith(f"ecgspec: skipped {bad_name(45)}:"):
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(Interrupted) as err:
        ecgspec.extract(corpus, out, log=log, **options)
    assert err.value.signum == signal.SIGINT and "--resume" in str(err.value)
    assert not out.exists() and (tmp_path / "out.h5.partial").exists()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handlers given back
    result = ecgspec.extract(corpus, out, log=lambda m: None, resume=True, **options)
    assert result.resumed + result.records == N_RECORDS and result.resumed > 0
    assert_same(out, reference, same_command=False)
    assert leftovers(tmp_path) == ["out.h5"]


@pytest.mark.slow  # 3.6 s: tests/store/test_meta_columns.py and test_checksums.py add records to a finished file in the fast tier
def test_resume_adds_new_records_to_a_finished_output(tmp_path: Path, cinc_dir: Path) -> None:
    folder = make_corpus(tmp_path / "records", cinc_dir, n=12)
    later = [folder / f"{good_name(i)}.{ext}" for i in (3, 7, 11) for ext in ("hea", "mat")]
    aside = tmp_path / "aside"
    aside.mkdir()
    for f in later:
        f.rename(aside / f.name)
    out = tmp_path / "out" / "out.h5"
    out.parent.mkdir()
    assert cli(folder, out, *OPTIONS, "--quiet").exit_code == 1
    first = datasets(out)
    for f in later:
        (aside / f.name).rename(f)
    res = cli(folder, out, *OPTIONS, "--resume", "--json", "--quiet")
    assert res.exit_code == 1, res.output
    summary = json.loads(res.stdout)
    assert (summary["resumed"], summary["records"]) == (9, 3)
    fresh = tmp_path / "fresh.h5"
    assert cli(folder, fresh, *OPTIONS, "--quiet").exit_code == 1
    assert_same_by_name(out, fresh)
    assert leftovers(out.parent) == ["out.h5"]
    now = datasets(out)
    names = [good_name(i) for i in range(12)]
    added = [good_name(i) for i in (3, 7, 11)]
    assert now["records/name"].astype(str).tolist() == [n for n in names if n not in added] + added
    n_first = len(first["spectrograms"])
    for key in ("spectrograms", "windows/record", "windows/start"):  # the first run's rows, unchanged
        assert np.array_equal(now[key][:n_first], first[key]), key
    # a resume with nothing new gives the same file again
    assert cli(folder, out, *OPTIONS, "--resume", "--quiet").exit_code == 1
    again = datasets(out)
    assert sorted(again) == sorted(now) and all(np.array_equal(again[k], now[k]) for k in now)


def test_resume_with_another_config_is_refused_and_changes_nothing(tmp_path: Path, cinc_dir: Path) -> None:
    folder = make_corpus(tmp_path / "records", cinc_dir, n=4)
    out = tmp_path / "out" / "out.h5"
    out.parent.mkdir()
    assert cli(folder, out, *OPTIONS, "--quiet").exit_code == 1
    partial = out.with_name("out.h5.partial")
    shutil.copy(out, partial)  # as if a later run had been interrupted
    before = {p.name: p.read_bytes() for p in out.parent.iterdir()}
    for extra, field in ((["--n-bins", "16"], "n_bins"), (["--stride", "2500"], "stride"),
                         (["--max-nan", "0.5"], "max_nan"), (["--dtype", "float16"], "dtype")):
        res = cli(folder, out, *OPTIONS, *extra, "--resume")
        assert res.exit_code == 2, res.output
        assert res.stderr.count("\n") == 1 and "different config" in res.stderr and field in res.stderr, res.stderr
        after = {p.name: p.read_bytes() for p in out.parent.iterdir()}
        assert after == before  # OUTPUT and the partial file untouched, nothing renamed or added


def test_damaged_partial_file_is_restarted_or_repaired(tmp_path: Path, cinc_dir: Path) -> None:
    folder = make_corpus(tmp_path / "records", cinc_dir, n=10)
    fresh = tmp_path / "fresh.h5"
    assert cli(folder, fresh, *OPTIONS, "--quiet").exit_code == 1
    out = tmp_path / "out" / "out.h5"
    out.parent.mkdir()
    partial = out.with_name("out.h5.partial")
    for damage in ("truncated", "zeroed", "empty", "garbage"):
        shutil.copy(fresh, partial)
        data = bytearray(partial.read_bytes())
        if damage == "truncated":
            data = data[: len(data) // 2]
        elif damage == "zeroed":
            data[len(data) // 3 :] = bytes(len(data) - len(data) // 3)
        elif damage == "empty":
            data = bytearray()
        else:
            data = bytearray(np.random.default_rng(3).bytes(len(data)))
        partial.write_bytes(bytes(data))
        res = cli(folder, out, *OPTIONS, "--resume")
        assert res.exit_code == 1, (damage, res.output)
        assert "Traceback" not in res.output
        assert_same(out, fresh)
        assert leftovers(out.parent) == ["out.h5"], damage
        out.unlink()


def test_overwrite_discards_leftovers_and_keeps_output_until_done(tmp_path: Path, cinc_dir: Path) -> None:
    folder = make_corpus(tmp_path / "records", cinc_dir, n=3)
    out = tmp_path / "out" / "out.h5"
    out.parent.mkdir()
    out.write_bytes(b"old")
    out.with_name("out.h5.partial").write_bytes(b"junk")
    out.with_name("out.h5.partial.prev").write_bytes(b"junk")
    res = cli(folder, out, *OPTIONS, "--quiet")
    assert res.exit_code == 2 and out.read_bytes() == b"old"
    res = cli(folder, out, *OPTIONS, "--overwrite", "--quiet")
    assert res.exit_code == 1, res.output
    assert leftovers(out.parent) == ["out.h5"]
    with ecgspec.open(out) as ds:
        assert ds.records["name"].tolist() == [good_name(i) for i in range(3)] and ds.complete


@pytest.mark.slow
def test_interrupted_append_to_a_finished_output_never_leaves_a_half_file_at_output(
    tmp_path: Path, cinc_dir: Path
) -> None:
    folder = make_corpus(tmp_path / "records", cinc_dir, n=40)
    aside = tmp_path / "aside"
    aside.mkdir()
    later = [p for p in folder.iterdir() if p.stem >= good_name(20)]
    for f in later:
        f.rename(aside / f.name)
    out = tmp_path / "out" / "out.h5"
    out.parent.mkdir()
    options = dict(n_bins=32, feature_fs=50.0, batch_size=8)
    ecgspec.extract(folder, out, log=lambda m: None, **options)
    first = datasets(out)
    for f in later:
        (aside / f.name).rename(folder / f.name)

    def log(message: str) -> None:
        if message.startswith(f"ecgspec: skipped {bad_name(30)}:"):
            os.kill(os.getpid(), signal.SIGTERM)

    with pytest.raises(Interrupted) as err:
        ecgspec.extract(folder, out, log=log, resume=True, **options)
    assert err.value.signum == signal.SIGTERM
    assert leftovers(out.parent) == ["out.h5.partial"]  # OUTPUT is complete or absent, never half
    # SIGKILL while appending, from a real subprocess: at the first record it adds
    run = Run(folder, out, "--n-bins", "32", "--feature-fs", "50", "--batch-size", "8", "--resume")
    run.wait_for_line(rf"skipped {bad_name(30)}: ")
    assert run.stop(signal.SIGKILL)[0] == -signal.SIGKILL and not out.exists()
    result = ecgspec.extract(folder, out, log=lambda m: None, resume=True, **options)
    assert result.resumed >= 20 and result.resumed + result.records == 40
    now = datasets(out)
    n_first = len(first["spectrograms"])
    for key in ("spectrograms", "windows/start", "records/name"):  # the first run's rows come first, unchanged
        assert np.array_equal(now[key][: len(first[key])], first[key]), key
    assert now["records/name"].astype(str).tolist() == [good_name(i) for i in range(40)]  # sorted: added in order
    fresh = tmp_path / "fresh.h5"
    ecgspec.extract(folder, fresh, log=lambda m: None, **options)
    assert_same(out, fresh, same_command=False)
    assert n_first < len(now["spectrograms"]) and leftovers(out.parent) == ["out.h5"]


def test_signal_before_the_output_is_created_stops_cleanly(tmp_path: Path, cinc_dir: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from ecgspec.run import plan

    folder = make_corpus(tmp_path / "records", cinc_dir, n=2)
    real = plan.discover

    def find_then_signal(*args, **kwargs):  # SIGTERM while the inputs are being searched
        found = real(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGTERM)
        return found

    monkeypatch.setattr(plan, "discover", find_then_signal)
    out = tmp_path / "out" / "out.h5"
    out.parent.mkdir()
    with pytest.raises(Interrupted) as err:
        ecgspec.extract(folder, out, log=lambda m: None, n_bins=32)
    assert err.value.signum == signal.SIGTERM and "--resume" in str(err.value)
    assert leftovers(out.parent) == []
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


@pytest.mark.slow
def test_running_output_is_readable_while_extract_writes(tmp_path: Path, cinc_dir: Path) -> None:
    n_records = 600  # long enough (several commit points) for the reads to land part way
    corpus = make_corpus(tmp_path / "records", cinc_dir, n=n_records)
    out = tmp_path / "out.h5"
    partial = tmp_path / "out.h5.partial"
    run = Run(corpus, out, "--n-bins", "32", "--n-samples", "500", "--stride", "50", "--feature-fs", "50",
              "--batch-size", "8", "--workers", "1")  # about 10 s of work, 46 windows a record
    run.wait_for_file(partial)
    views: list[tuple[list[str], np.ndarray]] = []
    info_seen: list[int] = []
    with ecgspec.open(partial, allow_partial=True) as live:  # one handle kept open, refreshed
        while run.proc.poll() is None:
            try:
                live.refresh()
                names = live.records["name"].tolist()
                values = live.spectrograms[: len(live)]
                assert live.windows["record"].tolist() == list(np.repeat(range(len(names)), live.records["n_windows"]))
            except OutputError as exc:
                assert not partial.exists(), exc  # finished and renamed meanwhile
                break
            assert not views or len(names) >= len(views[-1][0])
            views.append((names, values))
            if names and not info_seen:  # `ecgspec info` in another process, part way
                info = subprocess.run([sys.executable, "-m", "ecgspec", "info", str(partial), "--json"], cwd=ROOT,
                                      capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)))
                if run.proc.poll() is None:  # (not renamed over OUTPUT meanwhile)
                    assert info.returncode == 0, info.stderr
                    info_seen.append(json.loads(info.stdout)["records"])
                    assert info_seen[0] >= len(names)
            time.sleep(0.2)
    assert run.finish()[0] == 1
    assert any(0 < len(names) < n_records for names, _ in views), [len(v[0]) for v in views]
    assert info_seen and 0 < info_seen[0] <= n_records
    with ecgspec.open(out) as done:
        final_names = done.records["name"].tolist()
        for names, values in views:  # each view was a prefix of the finished file: committed rows only
            assert names == final_names[: len(names)]
            assert np.array_equal(values, done.spectrograms[: len(values)])


@pytest.fixture
def small_disk(tmp_path: Path):
    """A 24 MB tmpfs (mounting needs root): a disk that fills up part way through a run."""
    with tmpfs(tmp_path / "small", "24m", pytest.fail) as folder:
        yield folder


@pytest.mark.slow
def test_full_disk_is_one_line_keeps_the_partial_and_resumes_after_space_is_freed(
    tmp_path: Path, corpus: Path, small_disk: Path
) -> None:
    options = ["--n-bins", "32", "--batch-size", "8"]  # 0.6 MB a record: 150 records need 89 MB
    out = small_disk / "out.h5"
    partial = small_disk / "out.h5.partial"
    # before it starts: the expected output does not fit
    res = cli(corpus, out, *options)
    assert res.exit_code == 2 and res.stderr.count("\n") == 1, res.stderr
    assert str(small_disk) in res.stderr and "--no-space-check" in res.stderr
    assert sorted(p.name for p in small_disk.iterdir()) == []
    # started anyway: it stops at the full disk with one line, the partial valid to its last commit
    run = Run(corpus, out, *options, "--no-space-check")
    code, _, err = run.finish()
    assert code == 2, err
    last = err.splitlines()[-1]
    assert last.startswith(f"ecgspec: error: no space left in {small_disk}: ") and " MB more" in last, err
    assert "Traceback" not in err and "HDF5" not in err and not out.exists()
    with ecgspec.open(partial, allow_partial=True) as ds:
        kept = ds.records["name"].tolist()
        assert 0 < len(kept) < N_RECORDS and kept == [good_name(i) for i in range(len(kept))]
    # space freed: --resume continues from there and gives what one run gives
    subprocess.run(["mount", "-o", "remount,size=200m", str(small_disk)], check=True)
    run = Run(corpus, out, *options, "--resume", "--json")
    code, stdout, err = run.finish()
    assert code == 1, err
    assert json.loads(stdout)["resumed"] == len(kept)
    reference = tmp_path / "reference.h5"
    assert cli(corpus, reference, *options, "--quiet").exit_code == 1
    assert_same(out, reference)


def test_expected_output_size_bounds_the_real_file_from_headers_alone(corpus: Path, reference: Path) -> None:
    from ecgspec.readers import find_records
    from ecgspec.run.options import build_settings
    from ecgspec.run.settings import resolve
    from ecgspec.run.space import expected_run_bytes

    settings = resolve(*build_settings({}, {"n_bins": 32, "feature_fs": 50}, {"batch_size": 8}))
    refs, _ = find_records([corpus])
    with ecgspec.open(reference) as ds:
        shape, n_windows = ds.window_shape, len(ds)
    assert settings.window_shape == shape
    expected = expected_run_bytes(refs, settings)
    actual = reference.stat().st_size
    assert 0.95 * actual <= expected <= 1.05 * actual  # the dry run's estimate, within a few per cent
    assert expected >= n_windows * int(np.prod(shape)) * 4
