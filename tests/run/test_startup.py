"""What each command imports (start-up), shell completion, the examples ending each --help, and
set-up: `make demo` without the test extra, a license pip does not warn about."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tomllib

from tests.helpers import corpus
from tests.helpers.imports import HEAVY, imported_by
from tests.helpers.paths import ROOT

LIGHT_TOO = HEAVY | {"h5py", "numpy"}  # what --help, --version and shape need none of
SMALL = [*corpus.SMALL, "--quiet"]


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["shape", "--json"], ["shape"]])
def test_help_version_and_shape_import_no_h5py_or_numpy_either(args: list[str]) -> None:
    names, proc = imported_by(*args)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "click" in names and not names & LIGHT_TOO, sorted(names & LIGHT_TOO)


@pytest.mark.slow
def test_info_and_dry_run_import_no_torch(tmp_path: Path, cinc_dir: Path) -> None:
    out = tmp_path / "out.h5"
    names, proc = imported_by("extract", str(cinc_dir), str(out), *SMALL)
    assert proc.returncode == 0 and "torch" in names  # the parse sees torch where it is imported
    for args in (["info", str(out)], ["info", str(out), "--json"], ["extract", str(cinc_dir), str(tmp_path / "x.h5"),
                                                                   "--dry-run"]):
        names, proc = imported_by(*args)
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert "h5py" in names and not names & HEAVY, (args, sorted(names & HEAVY))


def fmt8_record(folder: Path) -> Path:
    """A 12-lead record in format 8 (first differences): a format only wfdb's reader decodes."""
    folder.mkdir()
    lines = [f"rec8.dat 8 100/mV 8 0 0 0 0 L{k}" for k in range(12)]
    (folder / "rec8.hea").write_text("rec8 12 500 2000\n" + "\n".join(lines) + "\n")
    steps = np.random.default_rng(0).integers(-3, 4, 2000 * 12, dtype=np.int8)
    (folder / "rec8.dat").write_bytes(steps.tobytes())
    return folder


@pytest.mark.slow
@pytest.mark.parametrize("records, options, scipy, wfdb_used", [
    ("cinc2021", [], False, False),  # 500 Hz fmt 16: the numpy decoder, no resampling
    ("cpsc2021", ["--n-channels", "2"], True, False),  # 200 Hz: resampled
    ("wfdb/100_3chan", ["--n-channels", "3", "--fs", "360"], False, False),  # fmt 212: the numpy decoder
    ("fmt8", [], False, True),  # fmt 8: wfdb's reader
])
def test_extract_imports_scipy_and_wfdb_only_when_a_record_needs_them(
        tmp_path: Path, data_dir: Path, records: str, options: list[str], scipy: bool, wfdb_used: bool) -> None:
    source = fmt8_record(tmp_path / "fmt8") if records == "fmt8" else data_dir / records
    names, proc = imported_by("extract", str(source), str(tmp_path / "out.h5"), *SMALL, *options)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert ("scipy" in names, "wfdb" in names) == (scipy, wfdb_used)
    assert "pandas" not in names or wfdb_used  # wfdb imports pandas


def test_bash_completion_script_and_completions() -> None:
    env = dict(os.environ, _ECGSPEC_COMPLETE="bash_source")
    proc = subprocess.run([sys.executable, "-m", "ecgspec"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert proc.returncode == 0 and "complete -o nosort -F _ecgspec_completion ecgspec" in proc.stdout
    env = dict(os.environ, _ECGSPEC_COMPLETE="bash_complete", COMP_WORDS="ecgspec extract --dr", COMP_CWORD="2")
    proc = subprocess.run([sys.executable, "-m", "ecgspec"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert proc.stdout.split() == ["plain,--dry-run"]


@pytest.mark.parametrize("command", [[], ["extract"], ["shape"], ["info"]])
def test_each_help_ends_with_examples_after_the_exit_status(command: list[str]) -> None:
    proc = subprocess.run([sys.executable, "-m", "ecgspec", *command, "--help"], cwd=ROOT, capture_output=True,
                          text=True)
    lines = proc.stdout.rstrip().splitlines()
    start = lines.index("  Examples:")
    examples = lines[start + 1:]
    assert 2 <= len(examples) <= 3 and all(line.startswith("    ecgspec ") or " | ecgspec " in line
                                           for line in examples), examples
    assert "Exit status: 0 all records written" in proc.stdout[: proc.stdout.index("Examples:")]


def make_dry(target: str) -> str:
    """The commands ``make -n TARGET`` would run for a fresh venv."""
    proc = subprocess.run(["make", "-n", target, "VENV=/nonexistent/venv"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_make_demo_installs_what_running_needs_and_make_test_the_test_and_docs_extras() -> None:
    demo, test = make_dry("demo"), make_dry("test")
    assert "pip install -q -e ." in demo and "[test]" not in demo and "examples/demo.py" in demo
    assert 'pip install -q -e ".[test,docs]"' in test and "pytest" in test
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_license_is_a_plain_spdx_string_that_setuptools_takes() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["license"] == "MIT"
    assert "setuptools>=77" in project["build-system"]["requires"]  # the first to take an SPDX string
