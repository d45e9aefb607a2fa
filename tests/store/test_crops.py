"""Crops of a signals file: random ones (one a record, drawn anew each epoch) and strided ones, on the long
CPSC 2021 records, against torch_ecg's SpectrogramInput on the samples wfdb reads at the crop."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import wfdb
from torch.utils.data import DataLoader

import ecgspec
from ecgspec.store.crops import covered, crop_flags, random_crops, strided_crops
from tests.helpers.cli import extract
from tests.helpers.compare import assert_close
from tests.helpers.reference import torch_ecg

N, STRIDE = 2000, 500  # 10 s windows at 200 Hz, every 2.5 s
CFG = {"n_channels": 2, "n_samples": N, "n_bins": 32, "fs": 200}


@pytest.fixture(scope="module")
def cpsc(cpsc_dir: Path, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("crops") / "cpsc.h5"
    res = extract(cpsc_dir, out, "--fs", 200, "--n-samples", N, "--n-channels", 2, "--n-bins", 32, "--stride", STRIDE,
                  "--store", "signals", quiet=True, workers=0)
    assert res.exit_code == 0
    return out


def reference(cpsc_dir: Path, name: str, start: int) -> np.ndarray:
    """torch_ecg's spectrogram of the record's samples at ``start`` as wfdb reads them (physical units)."""
    signal = wfdb.rdrecord(str(cpsc_dir / name), sampfrom=start, sampto=start + N).p_signal.T
    return torch_ecg(signal[None], **CFG)[0]


def test_random_crops_equal_torch_ecg_stay_inside_and_repeat(cpsc, cpsc_dir):
    with ecgspec.open(cpsc, crop="random", seed=7) as ds:
        lengths = dict(zip(ds.records["name"], ds.records["signal_length"]))
        assert len(ds) == 18 == len(lengths) and min(lengths.values()) >= N  # one crop a record
        ds.set_epoch(0)
        first = ds.__getitems__(range(len(ds)))
        assert sorted(item.name for item in first) == sorted(lengths)
        for item in first:
            last_window = (lengths[item.name] - N) // STRIDE * STRIDE  # extract's last window of the record
            assert 0 <= item.start <= last_window and item.start + N <= lengths[item.name]
            assert_close(item.spectrogram.numpy(), reference(cpsc_dir, item.name, item.start))
        starts = [item.start for item in first]
        assert len(set(s % STRIDE for s in starts)) > 1  # not on extract's windows
        ds.set_epoch(1)
        assert list(ds.windows["start"]) != starts
        ds.set_epoch(0)
        assert list(ds.windows["start"]) == starts
        # DataLoader workers draw the epoch the main process set
        ds.set_epoch(3)
        want = list(ds.windows["start"])
        got = [int(s) for batch in DataLoader(ds, batch_size=4, num_workers=2) for s in batch.start]
        assert got == want
    with ecgspec.open(cpsc, crop="random", seed=7) as again, ecgspec.open(cpsc, crop="random", seed=8) as other:
        assert list(again.windows["start"]) == starts and list(other.windows["start"]) != starts


def test_strided_crops_cover_each_record_in_order(cpsc, cpsc_dir):
    stride = 700
    with ecgspec.open(cpsc, stride=stride) as ds:
        records, starts = ds.windows["record"], ds.windows["start"]
        assert np.all(starts % stride == 0) and np.all(np.diff(records) >= 0)  # a record's crops together
        for row, length in enumerate(ds.records["signal_length"]):
            covered_end = (length - N) // STRIDE * STRIDE + N
            mine = starts[records == row]
            assert list(mine) == list(range(0, covered_end - N + 1, stride))
        picked = [0, len(ds) // 2, len(ds) - 1]
        for item in ds.__getitems__(picked):
            assert_close(item.spectrogram.numpy(), reference(cpsc_dir, item.name, item.start))


def test_crops_keep_out_of_gaps_and_carry_the_flags_they_overlap():
    # record 0: windows at 0, 10, 30 (20 skipped: too many missing samples) of 10 samples; record 1: one window
    record, start, qc = np.array([0, 0, 0, 1]), np.array([0, 10, 30, 0]), np.array([0, 2, 1, 4], dtype=np.uint8)
    segments = covered(record, start, 10)
    assert [list(map(int, s)) for s in zip(*segments)] == [[0, 0, 20], [0, 30, 40], [1, 0, 10]]
    for epoch in range(50):
        rows, starts = random_crops(segments, 10, seed=1, epoch=epoch, n_records=2)
        assert list(rows) == [0, 1] and starts[1] == 0
        assert 0 <= starts[0] <= 10 or starts[0] == 30  # inside [0, 20) or [30, 40), never across the gap
    seen = {int(random_crops(segments, 10, 1, e, 2)[1][0]) for e in range(200)}
    assert seen == set(range(11)) | {30}  # every valid start can be drawn
    rows, starts = strided_crops(segments, 10, 4)
    assert list(zip(rows, starts)) == [(0, 0), (0, 4), (0, 8), (1, 0)]  # 32 is not a multiple of 4 in [30, 30]
    assert list(crop_flags(record, start, qc, (rows, starts), 10)) == [0, 2, 2, 4]
    assert list(crop_flags(record, start, qc, (np.array([0]), np.array([30])), 10)) == [1]
