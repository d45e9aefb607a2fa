"""A full disk: the run keeps what fits (>= 90% of it) and `--resume` after freeing space equals one run.

A 600 MB tmpfs (mounting needs root; skipped with the reason elsewhere), 500 seed-config
records made from the 50 CinC 2021 records under new names (2.37 MB a record: about 250 fit).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

import ecgspec
from ecgspec.store.layout import expected_output_bytes
from tests.helpers.store import tmpfs

ROOT = Path(__file__).resolve().parents[2]
N_RECORDS = 500


def corpus(folder: Path, cinc_dir: Path) -> Path:
    """``N_RECORDS`` records r000.. : each CinC header under a new name, its signal file copied beside it."""
    folder.mkdir()
    headers = sorted(cinc_dir.glob("*.hea"))[:50]
    for i in range(N_RECORDS):
        src, name = headers[i % len(headers)], f"r{i:03d}"
        (folder / f"{name}.hea").write_text(src.read_text().replace(src.stem, name))
        shutil.copy(src.with_suffix(".mat"), folder / f"{name}.mat")
    return folder


def extract(*args: str | Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "ecgspec", "extract", *map(str, args), "--quiet"], cwd=ROOT,
                          capture_output=True, text=True, env=env, timeout=600)


@pytest.fixture
def disk(tmp_path: Path):
    """A 600 MB tmpfs, unmounted at the end."""
    with tmpfs(tmp_path / "disk", "600m", pytest.skip) as folder:
        yield folder


def records_that_fit(reference: Path, capacity: int) -> int:
    """How many of the reference's records (in order) a file of ``capacity`` bytes holds: the largest k whose
    file (every allocated chunk and HDF5's structures, as ``expected_output_bytes`` counts them) fits."""
    with ecgspec.open(reference) as ds:
        windows = np.cumsum(ds.records["n_windows"])
        shape, dtype = ds.window_shape, str(ds.spectrograms.dtype)
    sizes = [expected_output_bytes(int(windows[k - 1]), shape, dtype, k) for k in range(1, len(windows) + 1)]
    return int(np.searchsorted(sizes, capacity, side="right"))


@pytest.mark.slow
def test_a_full_disk_keeps_what_fits_and_resume_after_freeing_space_equals_one_run(
    tmp_path: Path, cinc_dir: Path, disk: Path
) -> None:
    records = corpus(tmp_path / "records", cinc_dir)
    reference = tmp_path / "reference.h5"
    assert extract(records, reference).returncode == 0
    out = disk / "out.h5"
    done = extract(records, out, "--no-space-check")
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    line = done.stderr.strip()
    assert line.startswith(f"ecgspec: error: no space left in {disk}: ") and " MB free" in line, line
    assert " MB more" in line and "bytes" not in line and "--resume" in line, line
    with ecgspec.open(disk / "out.h5.partial", allow_partial=True) as ds:
        kept = ds.records["name"].tolist()
    fit = records_that_fit(reference, os.statvfs(disk).f_blocks * os.statvfs(disk).f_frsize)
    assert 200 < fit < N_RECORDS
    assert kept == [f"r{i:03d}" for i in range(len(kept))]
    print(f"kept {len(kept)} of the {fit} records that fit; {line}")
    assert 0.9 * fit <= len(kept) <= fit, (len(kept), fit)
    subprocess.run(["mount", "-o", "remount,size=2g", str(disk)], check=True)
    resumed = extract(records, out, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    with h5py.File(out, "r") as a, h5py.File(reference, "r") as b:
        names = []
        b.visititems(lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset) else None)
        assert sorted(a) == sorted(b)
        for name in names:
            assert a[name].dtype == b[name].dtype and np.array_equal(a[name][()], b[name][()]), name
        assert sorted(a.attrs) == sorted(b.attrs)
        for key in b.attrs:
            assert np.array_equal(a.attrs[key], b.attrs[key]), key
