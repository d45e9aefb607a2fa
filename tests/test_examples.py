"""The examples in examples/ run as the README says."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.paths import ROOT

pytestmark = pytest.mark.slow  # each runs an example script in a fresh interpreter


def run_example(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_demo_on_real_records(tmp_path: Path, data_dir: Path):
    proc = run_example("examples/demo.py", "--data", str(data_dir), "--out", str(tmp_path / "demo.h5"))
    assert proc.returncode == 0, proc.stderr
    assert "50 records read, 50 windows written" in proc.stderr
    assert "window_shape: (12, 128, 385)" in proc.stdout or "window_shape: [12, 128, 385]" in proc.stdout


def test_demo_without_data_writes_synthetic_records(tmp_path: Path):
    proc = run_example("examples/demo.py", "--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "demo.h5"))
    assert proc.returncode == 0, proc.stderr
    assert "writing synthetic records" in proc.stdout
    assert "5 records read, 5 windows written" in proc.stderr


def test_api_example(data_dir: Path):
    proc = run_example("examples/api_example.py", "--data", str(data_dir))
    assert proc.returncode == 0, proc.stderr
    assert "18 records read" in proc.stdout
    assert "a training batch: (64, 2, 64, 100)" in proc.stdout
