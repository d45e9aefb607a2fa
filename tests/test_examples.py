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


def test_ptbxl_style_training_example(data_dir: Path):
    proc = run_example("examples/train_ptbxl_style.py", "--data", str(data_dir / "cinc2021"))
    assert proc.returncode == 0, proc.stderr
    assert "50 records read" in proc.stdout and "labels matched 50 of 50 records" in proc.stdout
    assert "labels: labels/patient_id, labels/scp_codes" in proc.stdout
    assert "40 / 6 / 4 windows, 0 patient_id values in two parts" in proc.stdout
    assert "epoch 1: train loss" in proc.stdout and "test accuracy:" in proc.stdout
    assert "a training batch: (40, 192, 15)" in proc.stdout
