"""Failed records: one reason for what differs only record by record, fail fast, --max-errors
(resumable), and stderr's quiet failure lists; on copies of the real cinc2021 records."""

from __future__ import annotations

from pathlib import Path

import h5py
import pytest

from ecgspec.run.failures import FailedFast, Failures, TooManyErrors, reason_of
from tests.helpers.cli import extract as cli
from tests.helpers.compare import assert_same
from tests.helpers.corpus import SMALL, make_corpus


@pytest.mark.parametrize("a, b", [
    ("has no lead foo (leads: I, II, III)", "has no lead foo (leads: i, ii, v1, v2)"),
    ("signal file E07500.mat is missing", "signal file JS00001.mat is missing"),
    ("has 2 signals, expected n_channels=12; use --leads", "has 15 signals, expected n_channels=12; use --leads"),
    ("cannot read A.hea: Permission denied", "cannot read sub/B.hea: Permission denied"),
    ("read samples 0..5000 gave shape (12, 4000); the signal file is short",
     "read samples 2500..7500 gave shape (12, 10); the signal file is short"),
])
def test_messages_that_differ_only_in_the_record_are_one_reason(a: str, b: str) -> None:
    assert reason_of(a) == reason_of(b)


@pytest.mark.parametrize("a, b", [
    ("has no lead foo (leads: I, II)", "has no lead bar (leads: I, II)"),
    ("signal file A.dat is missing", "signal file A.dat is empty"),
    ("header file is empty", "header gives no length (number of samples)"),
])
def test_different_causes_are_different_reasons(a: str, b: str) -> None:
    assert reason_of(a) != reason_of(b)


def test_fail_fast_holds_the_lines_and_stops_at_the_twentieth_alike_failure() -> None:
    lines: list[str] = []
    failures = Failures(lines.append)
    for i in range(19):
        failures.failed(f"r{i}", f"has no lead foo (leads: I, II, X{i})")
    assert lines == []  # held back: the run may yet stop with one line
    with pytest.raises(FailedFast, match=r"^the first 20 records all failed: has no lead foo \(leads: I, II, X19\)$"):
        failures.failed("r19", "has no lead foo (leads: I, II, X19)")
    failures.close()
    assert lines == []


@pytest.mark.parametrize("first", ["success", "other reason"])
def test_a_success_or_another_reason_among_the_first_twenty_means_no_fail_fast(first: str) -> None:
    lines: list[str] = []
    failures = Failures(lines.append)
    if first == "success":
        failures.succeeded()
    else:
        failures.failed("r", "header file is empty")
    for i in range(49):
        failures.failed(f"r{i:02d}", "has no lead foo (leads: I)")
    failures.close()
    shown = [line for line in lines if "has no lead foo" in line and "skipped" in line]
    assert len(shown) == 10 and shown[0] == "ecgspec: skipped r00: has no lead foo (leads: I)"
    assert lines[-1] == "ecgspec: ... and 39 more: has no lead foo"


def test_max_errors_stops_after_the_count_lines() -> None:
    lines: list[str] = []
    failures = Failures(lines.append, max_errors=12)
    failures.succeeded()
    for i in range(12):
        failures.failed(f"r{i}", f"signal file r{i}.dat is missing")
    with pytest.raises(TooManyErrors, match="13 records failed, more than --max-errors 12"):
        failures.failed("r12", "signal file r12.dat is missing")
    assert lines[-1] == "ecgspec: ... and 3 more like: signal file r0.dat is missing"


def test_first_twenty_records_failing_alike_stop_with_one_line_and_no_file(tmp_path: Path, cinc_dir: Path) -> None:
    out = tmp_path / "out.h5"
    res = cli(cinc_dir, out, "--leads", "I,II,foo")
    assert res.exit_code == 2
    assert res.stderr.splitlines() == [
        "ecgspec: error: the first 20 records all failed: has no lead foo (leads: I, II, III, aVR, aVL, aVF, V1, V2,"
        " V3, V4, V5, V6)"]
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no output, no .partial


def test_fail_fast_needs_twenty_records(tmp_path: Path, copy_records, cinc_dir: Path) -> None:
    folder = copy_records(cinc_dir, sorted(p.stem for p in cinc_dir.glob("*.hea"))[:19])
    res = cli(folder, tmp_path / "out.h5", "--leads", "I,II,foo")
    assert res.exit_code == 1 and (tmp_path / "out.h5").exists()
    assert res.stderr.count("ecgspec: skipped") == 10 and "... and 9 more: has no lead foo" in res.stderr


def test_quiet_failure_list_on_stderr_and_every_record_under_errors(tmp_path: Path, copy_records,
                                                                    cinc_dir: Path) -> None:
    folder = copy_records(cinc_dir, [p.stem for p in cinc_dir.glob("*.hea")])
    names = sorted(p.stem for p in folder.glob("*.hea"))
    for name in names[3:]:  # the first three stay good, so the run does not fail fast
        (folder / f"{name}.mat").unlink()
    out = tmp_path / "out.h5"
    res = cli(folder, out, *SMALL)
    assert res.exit_code == 1
    skipped = [line for line in res.stderr.splitlines() if line.startswith("ecgspec: skipped")]
    assert skipped == [f"ecgspec: skipped {n}: signal file {n}.mat is missing" for n in names[3:13]]
    assert f"ecgspec: ... and 37 more like: signal file {names[3]}.mat is missing" in res.stderr.splitlines()
    with h5py.File(out) as f:
        assert list(f["errors/name"].asstr()[:]) == names[3:]
        assert list(f["records/name"].asstr()[:]) == names[:3]


@pytest.mark.slow
def test_max_errors_stops_resumably_and_resume_equals_an_uninterrupted_run(tmp_path: Path, cinc_dir: Path) -> None:
    corpus = make_corpus(tmp_path / "records", cinc_dir, n=60)  # a bad header after every 15th record: 4 bad
    stopped, full = tmp_path / "stopped.h5", tmp_path / "full.h5"
    res = cli(corpus, stopped, *SMALL, "--max-errors", "2")
    assert res.exit_code == 2 and not stopped.exists()
    last = res.stderr.splitlines()[-1]
    assert last.startswith("ecgspec: error: 3 records failed, more than --max-errors 2; the ") and "--resume" in last
    kept = int(last.split("; the ")[1].split()[0])
    with h5py.File(f"{stopped}.partial") as f:
        assert int(f["committed"][0]) == kept > 0  # (a partial file stages its names: /records/name grows at finish)
    res = cli(corpus, stopped, *SMALL, "--resume")
    assert res.exit_code == 1, res.stderr
    res = cli(corpus, full, *SMALL, "--max-errors", "1000")
    assert res.exit_code == 1
    assert_same(stopped, full)


def test_max_errors_zero_and_on_error_fail_keep_their_meaning(tmp_path: Path, cinc_dir: Path) -> None:
    corpus = make_corpus(tmp_path / "records", cinc_dir, n=20)
    res = cli(corpus, tmp_path / "a.h5", *SMALL, "--max-errors", "0")
    assert res.exit_code == 2 and "1 records failed, more than --max-errors 0" in res.stderr
    res = cli(corpus, tmp_path / "b.h5", *SMALL, "--on-error", "fail")
    assert res.exit_code == 2 and "stopped by --on-error fail" in res.stderr
    res = cli(corpus, tmp_path / "c.h5", *SMALL, "--max-errors", "-1")
    assert res.exit_code == 2 and "max_errors: got -1" in res.stderr


def test_records_left_out_on_purpose_never_stop_a_run() -> None:
    lines: list[str] = []
    failures = Failures(lines.append, max_errors=2)
    for i in range(30):  # --labels-required / --targets-required skips, before any record is read
        failures.failed(f"r{i}", "has no class of ptbxl:superdiagnostic (--targets-required)")
        failures.failed(f"s{i}", "has no row in t.csv (--labels-required; column filename_hr)")
    assert failures.total == 0 and len(lines) == 20  # shown as usual, counted apart
    failures.failed("x", "has no lead foo")
    failures.failed("y", "has no lead foo")
    with pytest.raises(TooManyErrors, match="3 records failed"):
        failures.failed("z", "has no lead foo")
    fast = Failures(lines.append)
    for i in range(25):
        fast.failed(f"r{i}", "has no class of cinc2021 (--targets-required)")
    for i in range(19):
        fast.failed(f"b{i}", "has no lead foo")
    with pytest.raises(FailedFast, match="the first 20 records all failed: has no lead foo"):
        fast.failed("b19", "has no lead foo")  # the failures alone still fail fast


def test_more_than_twenty_records_left_out_first_with_max_errors_and_on_error_fail(tmp_path: Path, cinc_dir: Path) -> None:
    table = tmp_path / "few.csv"
    table.write_text("id,fold\nJS20018,1\nJS20019,2\n")  # the last two records: 48 left out before them
    for extra in (("--max-errors", "0"), ("--on-error", "fail")):
        res = cli(cinc_dir, tmp_path / "o.h5", *SMALL, "--labels", table, "--label-key", "id", "--labels-required",
                  *extra, "--overwrite", quiet=True)
        assert res.exit_code == 1, res.output
        with h5py.File(tmp_path / "o.h5", "r") as f:
            assert f["records/name"].asstr()[()].tolist() == ["JS20018", "JS20019"] and len(f["errors/name"]) == 48
