"""Shared fixtures: the real records in ../shared/data, read in place, never written beside; and
the Hypothesis profile, ``full`` or ``dev`` (``HYPOTHESIS_PROFILE``; tests/helpers/fuzzing.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.helpers.fuzzing import load_profile
from tests.helpers.paths import DATA

load_profile()


def _require(path: Path) -> Path:
    if not path.exists():
        pytest.fail(f"test data missing: {path} (the real records in ../shared/data are required)")
    return path


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return _require(DATA)


@pytest.fixture(scope="session")
def cinc_dir(data_dir: Path) -> Path:
    return _require(data_dir / "cinc2021")


@pytest.fixture(scope="session")
def cpsc_dir(data_dir: Path) -> Path:
    return _require(data_dir / "cpsc2021")


@pytest.fixture(scope="session")
def wfdb_dir(data_dir: Path) -> Path:
    return _require(data_dir / "wfdb")


@pytest.fixture
def copy_records(tmp_path: Path):
    """Copy named records (all their files) from a data folder into tmp_path/dest; return that folder."""

    def _copy(src: Path, names: list[str], dest: str = "records") -> Path:
        out = tmp_path / dest
        out.mkdir(parents=True, exist_ok=True)
        for name in names:
            for f in src.glob(name + ".*"):
                shutil.copy(f, out / f.name)
        return out

    return _copy
