"""Multi-frequency WFDB records (several samples per frame) and any positive rate.

Each signal is read at its own rate by the numpy decoders and must equal, bit for bit as float32,
``wfdb.rdrecord(..., smooth_frames=False, physical=True).e_p_signal`` of that signal, for every
fast format, several signals interleaved per frame, and slices starting and stopping inside a frame.
"""

from __future__ import annotations

import shutil
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import wfdb

from ecgspec.readers import RecordRef, open_record
from ecgspec.readers.wfdb.record import FastWfdbRecord
from tests.helpers.records import as_format

FAST_FORMATS = ["16", "212", "80", "24", "32", "61", "160"]
BITS = {"80": 8, "212": 12, "16": 16, "61": 16, "160": 16, "24": 24, "32": 32}


def _open(header: Path):
    return open_record(RecordRef(header.stem, header, "wfdb"))


def expanded(header: Path) -> list[np.ndarray]:
    """Every signal at its own rate, as wfdb reads the whole record without smoothing frames."""
    return wfdb.rdrecord(str(header.with_suffix("")), physical=True, smooth_frames=False).e_p_signal


def ranges(n: int, k: int) -> list[tuple[int, int]]:
    """Whole, inside one frame, across frame edges, single samples at both ends."""
    wanted = [(0, n), (1, n), (0, n - 1), (k - 1, k + 1), (k + 1, 3 * k - 1), (n // 2 + 1, n), (n - 1, n),
              (0, 1), (n // 3, n // 3 + 5 * k + 3)]
    return sorted({(a, min(b, n)) for a, b in wanted if 0 <= a < min(b, n)})


def assert_reads_every_signal_like_wfdb(header: Path) -> None:
    rec = _open(header)
    theirs = expanded(header)
    h = rec.header
    for rate in sorted(set(h.rate(i) for i in range(h.n_signals))):
        group = [i for i in range(h.n_signals) if h.rate(i) == rate]
        n = h.length(group[0])
        k = n // h.n_samples
        assert all(len(theirs[i]) == n for i in group)
        for start, stop in ranges(n, k):
            for channels in (group, group[::-1], group[-1:]):
                got = rec.read(start, stop, channels)
                expected = np.stack([theirs[i][start:stop] for i in channels]).astype(np.float32)
                assert got.dtype == np.float32 and got.flags.c_contiguous
                assert np.array_equal(got, expected, equal_nan=True), (rate, start, stop, channels)


def write_multirate(folder: Path, name: str, fmt: str, spf: list[int], frames: int, seed: int,
                    fs: float = 125) -> Path:
    """A record written by ``wfdb.wrsamp`` with ``samps_per_frame`` (NaN here and there); formats 61 and
    160, which wfdb cannot write, are written as 16 and converted."""
    rng = np.random.default_rng(seed)
    low, high = -(2 ** (BITS[fmt] - 1)) + 1, 2 ** (BITS[fmt] - 1) - 1
    gain = [float(g) for g in rng.uniform(1, 2000, len(spf)).round(3)]
    baseline = [int(b) for b in rng.integers(low // 4, high // 4, len(spf))]
    signals = []
    for s, g, b in zip(spf, gain, baseline):
        physical = (rng.integers(low // 2, high // 2, frames * s) - b) / g
        physical[rng.random(frames * s) < 0.05] = np.nan
        signals.append(physical)
    written = "16" if fmt in ("61", "160") else fmt
    wfdb.wrsamp(name, fs, ["mV"] * len(spf), [f"s{i}" for i in range(len(spf))], e_p_signal=signals,
                samps_per_frame=spf, fmt=[written] * len(spf), adc_gain=gain, baseline=baseline,
                write_dir=str(folder))
    return as_format(folder, name, fmt)


@pytest.mark.parametrize("fmt", FAST_FORMATS)
@pytest.mark.parametrize("spf, frames", [([1, 4, 2], 301), ([3], 7), ([2, 2], 1), ([5, 1, 1, 200], 12)])
def test_wrsamp_multifrequency_record_in_each_format(tmp_path: Path, fmt: str, spf: list[int], frames: int) -> None:
    header = write_multirate(tmp_path, "rec", fmt, spf, frames, seed=frames + len(spf))
    rec = _open(header)
    assert isinstance(rec, FastWfdbRecord)
    assert rec.header.n_samples == frames and rec.header.fs == 125
    assert rec.header.signal_fs == tuple(125.0 * s for s in spf) or set(spf) == {1}
    assert [rec.header.length(i) for i in range(len(spf))] == [frames * s for s in spf]
    assert_reads_every_signal_like_wfdb(header)


def test_real_record_read_as_multifrequency(tmp_path: Path, data_dir: Path) -> None:
    """test01_00s.dat (16000 fmt-16 samples) under a header declaring 16x2 for ECG 2: 5 samples a frame,
    3200 frames; ECG 2 at 1000 Hz, the others at 500 Hz."""
    shutil.copy(data_dir / "wfdb" / "test01_00s.dat", tmp_path / "t.dat")
    lines = (data_dir / "wfdb" / "test01_00s.hea").read_text().splitlines()
    signals = [line.replace("test01_00s.dat", "t.dat") for line in lines[1:5]]
    signals[1] = signals[1].replace("t.dat 16 ", "t.dat 16x2 ")
    header = tmp_path / "t.hea"
    header.write_text("t 4 500 3200\n" + "\n".join(signals) + "\n")
    rec = _open(header)
    assert isinstance(rec, FastWfdbRecord)
    h = rec.header
    assert (h.fs, h.n_samples, h.signal_fs, h.signal_samples) == (500, 3200, (500.0, 1000.0, 500.0, 500.0),
                                                                   (3200, 6400, 3200, 3200))
    assert_reads_every_signal_like_wfdb(header)
    raw = np.fromfile(tmp_path / "t.dat", dtype="<i2").reshape(3200, 5)  # ECG 2: 2 samples a frame, baseline 0
    np.testing.assert_array_equal(rec.read(0, 6400, [1])[0], (raw[:, 1:3].reshape(-1) / 100).astype(np.float32))


def test_multifrequency_signals_in_two_files(tmp_path: Path) -> None:
    a = write_multirate(tmp_path, "a", "212", [2, 1], 99, seed=1)
    b = write_multirate(tmp_path, "b", "16", [1, 3], 99, seed=2)
    lines = a.read_text().splitlines()[1:] + b.read_text().splitlines()[1:]
    header = tmp_path / "ab.hea"
    header.write_text("ab 4 125 99\n" + "\n".join(lines) + "\n")
    rec = _open(header)
    assert isinstance(rec, FastWfdbRecord) and len(rec._files) == 2
    assert rec.header.signal_fs == (250.0, 125.0, 125.0, 375.0)
    assert_reads_every_signal_like_wfdb(header)


def test_channels_of_different_rates_in_one_read_are_refused(tmp_path: Path) -> None:
    rec = _open(write_multirate(tmp_path, "rec", "16", [1, 4], 10, seed=3))
    with pytest.raises(ValueError, match="different rates"):
        rec.read(0, 10, [0, 1])
    with pytest.raises(ValueError, match="<= 40"):
        rec.read(0, 41, [1])
    assert rec.read(0, 40, [1]).shape == (1, 40)


@pytest.mark.parametrize("fs, spf, rate", [("62.4725", 4, "249.89"), ("0.1", 3, "0.3"), ("1", 200, "200.0"),
                                           ("360.5", 1, "360.5"), ("0.001", 7, "0.007")])
def test_any_positive_rate_is_read_with_its_exact_decimal(tmp_path: Path, fs: str, spf: int, rate: str) -> None:
    header = write_multirate(tmp_path, "r", "16", [spf, 1], 20, seed=4)
    lines = header.read_text().splitlines()
    header.write_text(f"r 2 {fs} 20\n" + "\n".join(lines[1:]) + "\n")
    rec = _open(header)
    assert rec.header.fs == float(fs) and repr(rec.header.rate(0)) == rate
    assert Fraction(repr(rec.header.rate(0))) == Fraction(fs) * spf
    assert_reads_every_signal_like_wfdb(header)
