"""The examples in examples/ run as the README says."""

from __future__ import annotations

import shutil
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
    # E07505 and E07519 hold no scored class of CinC 2021: skipped, as the PTB-XL benchmark drops such records
    assert "48 records read" in proc.stdout and "2 skipped" in proc.stdout
    assert "labels matched 50 of 50 records" in proc.stdout
    assert "26 classes of cinc2021, 13 held by a record" in proc.stdout
    assert "split by patient_id, stratified by the targets: 37 / 6 / 5 windows" in proc.stdout
    assert "epoch 1: train loss" in proc.stdout
    for part in ("train", "validation", "test"):
        assert f"macro AUROC {part}: 0." in proc.stdout or f"macro AUROC {part}: 1." in proc.stdout, proc.stdout
    assert "a training batch: (37, 192, 15)" in proc.stdout


def test_ptbxl_style_training_example_on_ptbxl_rows_takes_the_published_folds(tmp_path: Path, data_dir: Path):
    from tests.helpers.ptbxl import STATEMENTS, ptbxl_tree, subset_rows, write_table

    rows = subset_rows()
    folder = ptbxl_tree(tmp_path / "ptb-xl", data_dir / "cinc2021", rows[:60])
    table = write_table(folder / "ptbxl_database.csv", rows)
    shutil.copy(STATEMENTS, folder / "scp_statements.csv")
    proc = run_example("examples/train_ptbxl_style.py", "--data", str(folder), "--labels", str(table),
                       "--targets", "ptbxl:superdiagnostic")
    assert proc.returncode == 0, proc.stderr
    assert "57 records read" in proc.stdout and "labels matched 60 of 60 records" in proc.stdout
    assert "5 classes of ptbxl:superdiagnostic" in proc.stdout
    # 3 of the 60 rows hold no diagnostic statement: skipped; the rest by strat_fold
    assert "published folds (strat_fold 1-8, 9, 10): 49 / 2 / 6 windows" in proc.stdout, proc.stdout
    assert "macro AUROC test:" in proc.stdout
