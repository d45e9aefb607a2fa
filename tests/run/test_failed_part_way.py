"""A record that fails after some of its windows were written leaves no trace but its /errors row, and
the next record (which takes the same /records row) keeps all its windows."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

import ecgspec

CFG = {"n_channels": 2, "fs": 200, "n_samples": 2000, "n_bins": 32, "window_size": 0.04, "overlap_size": 0.02}


def write_npy(path: Path, n: int, seed: int, blow_up_at: int | None = None) -> None:
    x = np.random.default_rng(seed).standard_normal((2, n)).astype(np.float32)
    if blow_up_at is not None:
        x[:, blow_up_at:] = 1e30  # beyond what float32 power holds: a RecordError once the windows get there
    np.save(path, x)


@pytest.mark.parametrize("workers", [0, 2])
@pytest.mark.parametrize("a_samples, b_samples, blow_up_at", [
    (20_000, 200_000, 150_000),  # b's first 72 windows written before it fails
    (2_000, 20_000, 3_000),  # b's one window still batched with a's when it fails, then c's windows join them
])
def test_failure_part_way_costs_only_that_record(tmp_path: Path, workers: int, a_samples: int, b_samples: int,
                                                 blow_up_at: int) -> None:
    both, good = tmp_path / "both", tmp_path / "good"
    for folder in (both, good):
        folder.mkdir()
        write_npy(folder / "a.npy", a_samples, 1)
        write_npy(folder / "c.npy", 20_000, 3)
    write_npy(both / "b.npy", b_samples, 2, blow_up_at=blow_up_at)
    options = dict(input_fs=200, batch_size=4, workers=workers, log=lambda m: None)
    with_b = ecgspec.extract(both, tmp_path / "both.h5", CFG, **options)
    without = ecgspec.extract(good, tmp_path / "good.h5", CFG, **options)
    assert [name for name, _ in with_b.errors] == ["b"] and "values too large" in with_b.errors[0][1]
    with h5py.File(tmp_path / "both.h5") as x, h5py.File(tmp_path / "good.h5") as y:
        for name in ("spectrograms", "windows/record", "windows/start", "records/name", "records/n_windows"):
            assert np.array_equal(x[name][()], y[name][()]), name
        assert int(x["windows/record"][-1]) == 1  # c took row 1, the row b had while it was read
    assert with_b.windows == without.windows == a_samples // 2000 + 10
