"""Every record kind of issue 8 end to end, through the CLI and ``ecgspec.extract``, on files the
libraries that write them wrote: multi-frequency WFDB (the real test01_00s.dat under a ``16x2``
header, ``212x4``, 62.4725 frames/s x 4), fixed- and variable-layout multi-segment records
(gaps, a lead missing from some segments, multi-frequency segments), EDF and BDF.

Each record is compared with the library's own read (``wfdb.rdrecord(..., smooth_frames=False)``,
``m2s=True`` for multi-segment; edfio for EDF), its missing samples filled as README says (linear
between the nearest valid samples at the lead's own rate, edges by the nearest one), each lead
resampled whole by ``resample_poly`` at the exact ratio, windows over ``--max-nan`` dropped, and
torch_ecg's ``SpectrogramInput``.
"""

from __future__ import annotations

import math
import shutil
from dataclasses import dataclass
from fractions import Fraction
from functools import partial
from pathlib import Path

import edfio
import h5py
import numpy as np
import pytest
import wfdb

import ecgspec
from tests.helpers.cli import extract
from tests.helpers.compare import assert_close, column
from tests.helpers.corpus import BINS, CFG, CLI_CFG, N
from tests.helpers.edf import write_edf
from tests.helpers.reference import reference_windows, torch_ecg
from tests.helpers.segments import FIXED, SEG_FS, layout, master, segment, write_fixed


@dataclass
class Expected:
    """One record as the libraries read it: its signals (the selected ones, in output order) at their rates."""

    name: str
    signals: list[np.ndarray]
    rates: list[float]
    leads: list[str]
    fs: float
    n_samples: int


cli = partial(extract, workers=1)


def fill(x: np.ndarray) -> np.ndarray:
    """float32 ``x`` with NaN/inf filled as README documents."""
    x = np.array(x, dtype=np.float32)
    bad = ~np.isfinite(x)
    index = np.arange(len(x))
    x[bad] = np.interp(index[bad], index[~bad], x[~bad]) if (~bad).any() else 0
    return x


def expected_windows(e: Expected, stride: int = N, max_nan: float = 0.1) -> tuple[np.ndarray, np.ndarray, int]:
    """(kept starts, kept windows, missing samples counted) for a record: windows whose raw range at
    a lead's rate, ``[floor(start * rate / fs), ceil((start + N) * rate / fs))``, misses more than
    ``max_nan`` of its samples are dropped; missing samples are counted up to the last window's end."""
    windows = reference_windows([fill(x) for x in e.signals], e.rates, 500, N, stride)
    starts = np.arange(len(windows)) * stride
    keep = np.ones(len(starts), dtype=bool)
    counted = 0
    for x, rate in zip(e.signals, e.rates):
        missing = ~np.isfinite(x)
        per_out = Fraction(repr(float(rate))) / 500  # raw samples per output sample
        lo = [math.floor(s * per_out) for s in starts]
        hi = [min(len(x), math.ceil((s + N) * per_out)) for s in starts]
        keep &= np.array([missing[a:b].sum() <= max_nan * (b - a) for a, b in zip(lo, hi)], dtype=bool)
        counted += int(missing[: hi[-1]].sum()) if len(starts) else 0
    return starts[keep], windows[keep], counted


def assert_record(f: h5py.File, row: int, e: Expected, stride: int = N, max_nan: float = 0.1) -> int:
    """Record ``row`` of an open output file holds what ``e`` gives; returns its kept window count."""
    starts, windows, counted = expected_windows(e, stride, max_nan)
    assert column(f, "name")[row] == e.name and column(f, "leads")[row] == ",".join(e.leads)
    assert column(f, "lead_fs")[row] == ",".join(repr(float(r)) for r in e.rates)
    assert f["records/fs"][row] == e.fs and f["records/n_samples"][row] == e.n_samples
    assert f["records/nan_filled"][row] == counted and f["records/n_windows"][row] == len(starts) > 0
    rows = np.flatnonzero(f["windows/record"][:] == row)
    assert f["windows/start"][rows].tolist() == starts.tolist()
    ref = torch_ecg(windows, n_channels=len(e.signals), n_samples=N, n_bins=BINS, fs=500)
    assert_close(f["spectrograms"][rows[0]:rows[-1] + 1], ref)
    return len(starts)


def wfdb_read(path: Path, channels: list[int], **kw) -> Expected:
    """The record as ``wfdb.rdrecord(smooth_frames=False, physical=True)`` reads it, ``channels`` in that order."""
    r = wfdb.rdrecord(str(path.with_suffix("")), smooth_frames=False, physical=True, **kw)
    return Expected(path.stem, [r.e_p_signal[c] for c in channels], [r.fs * r.samps_per_frame[c] for c in channels],
                    [r.sig_name[c] for c in channels], r.fs, r.sig_len)


# ---------------------------------------------------------------- multi-frequency single-segment WFDB


@pytest.fixture
def test01_16x2(tmp_path: Path, wfdb_dir: Path) -> Path:
    """The real test01_00s.dat (4 x 4000 fmt-16 samples) under a header giving ECG 1 two samples a
    frame: 3200 frames at 250 frames/s, ECG 1 at 500 Hz, the others at 250 Hz."""
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(wfdb_dir / "test01_00s.dat", folder)
    lines = ["t16x2 4 250 3200"] + [f"test01_00s.dat 16{'x2' if i == 1 else ''} 100/mV 16 0 0 0 0 ECG {i}"
                                    for i in range(1, 5)]
    (folder / "t16x2.hea").write_text("\n".join(lines) + "\n")
    return folder / "t16x2.hea"


def test_real_16x2_record_all_leads_through_the_api(tmp_path: Path, test01_16x2: Path) -> None:
    out = tmp_path / "o.h5"
    result = ecgspec.extract(test01_16x2.parent, out, dict(CFG, n_channels=4), log=lambda m: None)
    assert result.errors == []
    e = wfdb_read(test01_16x2, [0, 1, 2, 3])
    assert e.rates == [500, 250, 250, 250] and len(e.signals[0]) == 6400
    with h5py.File(out) as f:
        assert assert_record(f, 0, e) == 6


@pytest.mark.slow  # 2.4 s: test_real_16x2_record_all_leads_through_the_api reads the record in the fast tier
def test_real_16x2_record_by_channels_and_by_leads_through_the_cli(tmp_path: Path, test01_16x2: Path) -> None:
    e = wfdb_read(test01_16x2, [2, 0])
    for how, args in (("channels", ("--channels", "2,0")), ("leads", ("--leads", "ecg3, ECG 1"))):
        out = tmp_path / f"{how}.h5"
        res = cli(test01_16x2, out, *CLI_CFG, *args)
        assert res.exit_code == 0, res.output
        with h5py.File(out) as f:
            assert column(f, "lead_fs") == ["250.0,500.0"]
            assert_record(f, 0, e)


def write_212x4(folder: Path, name: str = "icu", fs: float = 125, seconds: int = 41) -> Path:
    """A wfdb-written record: a 500 Hz (x4) ECG lead with a missing run, PLETH and ABP at one sample a frame."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(8)
    n = int(seconds * fs)
    t = np.arange(4 * n) / (4 * fs)
    ecg = np.sin(2 * np.pi * 7 * t) + 0.2 * rng.standard_normal(4 * n)
    ecg[4 * n // 3: 4 * n // 3 + 37] = np.nan  # short: filled, its windows kept
    ecg[-7 * int(4 * fs):] = np.nan  # the last 7 s: their windows skipped
    signals = [ecg, rng.uniform(-1, 1, n), np.cos(np.arange(n) / 9)]
    wfdb.wrsamp(name, fs, ["mV"] * 3, ["ECG", "PLETH", "ABP"], e_p_signal=signals, samps_per_frame=[4, 1, 1],
                fmt=["212"] * 3, adc_gain=[200.0] * 3, baseline=[0] * 3, write_dir=str(folder))
    return folder / f"{name}.hea"


@pytest.mark.slow  # 2.6 s: format 212 is decoded in tests/readers/test_wfdb_decoder.py, extracted by the others here
@pytest.mark.parametrize("fs", [125, 62.4725])
def test_wfdb_written_212x4_record_by_leads_cli_and_channels_api(tmp_path: Path, fs: float) -> None:
    header = write_212x4(tmp_path, fs=fs, seconds=int(40 * 125 / fs) + 1)
    assert " 212x4 " in header.read_text() and f" {fs} " in header.read_text().splitlines()[0]
    e = wfdb_read(header, [2, 0])
    assert e.rates == [fs, 4 * fs]
    cli_out, api_out = tmp_path / "cli.h5", tmp_path / "api.h5"
    res = cli(header, cli_out, *CLI_CFG, "--leads", "abp,ecg")
    assert res.exit_code == 0, res.output
    ecgspec.extract(header, api_out, CFG, channels=[2, 0], log=lambda m: None)
    with h5py.File(cli_out) as a, h5py.File(api_out) as b:
        assert column(a, "lead_fs") == [f"{float(fs)!r},{float(Fraction(repr(fs)) * 4)!r}"]
        n_windows = assert_record(a, 0, e)
        assert n_windows == math.ceil(e.n_samples * 500 / fs) // N - 3  # the 3 over the missing end are gone
        assert a["records/nan_filled"][0] > 5 * 4 * fs
        assert np.array_equal(a["spectrograms"][:], b["spectrograms"][:])


# ---------------------------------------------------------------- multi-segment WFDB

VARIABLE = [("v_layout", 0), ("v_1", 600), ("~", 200), ("v_2", 900), ("v_3", 400)]


def fixed_read(header: Path, channels: list[int]) -> Expected:
    """wfdb cannot read a fixed layout with gaps whole: each segment as wfdb reads it, NaN in the gap."""
    parts: list[list[np.ndarray]] = [[], []]
    for seg, frames in FIXED:
        r = None if seg == "~" else wfdb.rdrecord(str(header.parent / f"{header.stem}{seg}"), smooth_frames=False)
        for i, spf in enumerate((1, 2)):
            parts[i].append(np.full(frames * spf, np.nan) if r is None else r.e_p_signal[i])
    signals = [np.concatenate(parts[c]) for c in channels]
    return Expected(header.stem, signals, [SEG_FS * (1, 2)[c] for c in channels], [("II", "V")[c] for c in channels],
                    SEG_FS, 2100)


def write_variable(folder: Path, name: str = "v") -> Path:
    """A variable layout II (2 samples a frame), V, PLETH: v_1 lacks PLETH, a gap, v_2 lacks V, v_3 has all in another order."""
    folder.mkdir(parents=True, exist_ok=True)
    layout(folder, f"{name}_layout", ["II", "V", "PLETH"], [2, 1, 1])
    segment(folder, f"{name}_1", ["II", "V"], [2, 1], 600, seed=1)
    segment(folder, f"{name}_2", ["PLETH", "II"], [1, 2], 900, seed=2, fmt="212")
    segment(folder, f"{name}_3", ["V", "II", "PLETH"], [1, 2, 1], 400, seed=3)
    return master(folder, name, 3, [(s if s == "~" else f"{name}{s[1:]}", n) for s, n in VARIABLE])


@pytest.mark.slow  # 1.3 s: gaps are read in tests/readers; the fixed layout runs in the other tests here
def test_fixed_layout_with_a_gap_through_the_cli(tmp_path: Path) -> None:
    header = write_fixed(tmp_path / "in")
    e = fixed_read(header, [1, 0])
    out = tmp_path / "o.h5"
    res = cli(header.parent, out, *CLI_CFG, "--channels", "1,0")
    assert res.exit_code == 0, res.output
    with h5py.File(out) as f:
        assert column(f, "lead_fs") == ["250.0,125.0"]
        assert assert_record(f, 0, e) == 6  # windows at 2000 and 3000 cover the gap: skipped
        assert 2000 not in f["windows/start"][:] and 3000 not in f["windows/start"][:]


@pytest.mark.slow  # 2.6 s: test_all_three_variable_leads_at_their_rates runs the variable layout in the fast tier
def test_variable_layout_missing_lead_and_max_nan_through_api_and_cli(tmp_path: Path) -> None:
    header = write_variable(tmp_path / "in")
    e = wfdb_read(header, [1, 0], m2s=True)
    e.name = "v"
    assert np.isnan(e.signals[0][800:1700]).all()  # V: the gap, then v_2 without it
    api, loose = tmp_path / "api.h5", tmp_path / "loose.h5"
    ecgspec.extract(header.parent, api, CFG, channels=[1, 0], log=lambda m: None)
    res = cli(header.parent, loose, *CLI_CFG, "--leads", "v,ii", "--max-nan", "1")
    assert res.exit_code == 0, res.output
    with h5py.File(api) as a, h5py.File(loose) as b:
        assert column(a, "lead_fs") == ["125.0,250.0"]
        assert assert_record(a, 0, e) < assert_record(b, 0, e, max_nan=1) == 8


def test_all_three_variable_leads_at_their_rates(tmp_path: Path) -> None:
    header = write_variable(tmp_path / "in")
    out = tmp_path / "o.h5"
    res = cli(header, out, *CLI_CFG, "--n-channels", "3", "--max-nan", "1")
    assert res.exit_code == 0, res.output
    e = wfdb_read(header, [0, 1, 2], m2s=True)
    with h5py.File(out) as f:
        assert column(f, "lead_fs") == ["250.0,125.0,125.0"]
        assert assert_record(f, 0, e, max_nan=1) == 8


def test_mimic_style_folder_gives_one_row_per_master_record(tmp_path: Path) -> None:
    """A folder of records as MIMIC lays them out (a master, its _layout and segment headers) and a
    plain record beside: one row a master, no segment or layout rows, no errors."""
    folder = tmp_path / "mimic"
    write_variable(folder / "p00" / "3000003", "3000003")
    write_fixed(folder / "p00" / "3000063", "3000063")
    write_212x4(folder / "p01", "3100011n")
    out = tmp_path / "o.h5"
    res = cli(folder, out, *CLI_CFG, "--leads", "II,V", "--max-nan", "1")
    assert res.exit_code == 1, res.output  # the plain record has no lead II
    with h5py.File(out) as f:
        assert column(f, "name") == ["p00/3000003/3000003", "p00/3000063/3000063"]
        assert [column(f, "n_samples")[i] for i in (0, 1)] == [2100, 2100]
        assert column(f, "lead_fs") == ["250.0,125.0", "125.0,250.0"]
        assert [v.decode() for v in f["errors/name"][:]] == ["p01/3100011n"]


# ---------------------------------------------------------------- EDF and BDF


# 2.4 s each: the one not marked slow covers BDF (EDF's reader: tests/readers), the slow ones EDF and three rates
@pytest.mark.parametrize("rates, bdf", [
    pytest.param([500, 250, 1000], False, id="edf-three-rates", marks=pytest.mark.slow),
    pytest.param([500, 250, 1000], True, id="bdf-three-rates", marks=pytest.mark.slow),
    pytest.param([256, 256], False, id="edf-one-rate", marks=pytest.mark.slow),
    pytest.param([256, 256], True, id="bdf-one-rate"),
])
def test_edf_and_bdf_with_annotations_through_cli_and_api(tmp_path: Path, bdf: bool, rates: list[float]) -> None:
    path, _ = write_edf(tmp_path, "rec", rates, seconds=12, bdf=bdf)
    signals = (edfio.read_bdf if bdf else edfio.read_edf)(path).signals
    assert len(signals) == len(rates)  # edfio leaves the annotation signal out too
    pick = [len(rates) - 1, 0]
    e = Expected("rec", [signals[c].data for c in pick], [signals[c].sampling_frequency for c in pick],
                 [f"ECG {c}" for c in pick], max(rates), 12 * max(rates))
    cli_out, api_out = tmp_path / "cli.h5", tmp_path / "api.h5"
    res = cli(tmp_path, cli_out, *CLI_CFG, "--leads", ",".join(e.leads))
    assert res.exit_code == 0, res.output
    ecgspec.extract(path, api_out, CFG, channels=pick, log=lambda m: None)
    with h5py.File(cli_out) as a, h5py.File(api_out) as b:
        assert assert_record(a, 0, e) == 6
        assert np.array_equal(a["spectrograms"][:], b["spectrograms"][:])


# ---------------------------------------------------------------- bounded reads of a many-segment record


def test_windowing_a_many_segment_record_reads_block_by_block_only_overlapping_segments(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """120 segments of 500 frames (fmt 16, written with numpy): iter_windows at 500 Hz in blocks of
    2000 raw samples reads each block from only the segments it overlaps, each segment once or twice
    (block margins), never the whole record."""
    from ecgspec.readers import RecordRef, open_record
    from ecgspec.signal.windowing import iter_windows

    rng = np.random.default_rng(1)
    for i in range(120):
        rng.integers(-900, 900, (500, 2), dtype=np.int16).tofile(tmp_path / f"m_{i}.dat")
        lines = [f"m_{i} 2 {SEG_FS} 500"] + [f"m_{i}.dat 16 200/mV 16 0 0 0 0 {lead}" for lead in ("II", "V")]
        (tmp_path / f"m_{i}.hea").write_text("\n".join(lines) + "\n")
    header = master(tmp_path, "m", 2, [(f"m_{i}", 500) for i in range(120)])
    record = open_record(RecordRef("m", header, "wfdb"))
    blocks: list[tuple[int, int]] = []
    touched: list[list[int]] = []
    real_read = type(record).read

    def read(self, start: int, stop: int, channels):
        blocks.append((start, stop))
        touched.append([])
        return real_read(self, start, stop, channels)

    for i, seg in enumerate(record._segments):
        seg_read = seg.record.read
        seg.record.read = lambda a, b, c, _i=i, _r=seg_read: touched[-1].append(_i) or _r(a, b, c)
    monkeypatch.setattr(type(record), "read", read)
    n = sum(len(s) for s, _ in iter_windows(record, [0, 1], 500, N, N, block_samples=2000))
    assert n == 120 * 500 * 4 // N and len(blocks) > 25
    for (start, stop), segs in zip(blocks, touched):
        assert stop - start <= 2000 + 2 * 10  # a block and the filter's margins (10 raw samples a side)
        assert segs == list(range(start // 500, (stop - 1) // 500 + 1))
    counts = np.bincount(sum(touched, []), minlength=120)
    assert counts.min() >= 1 and counts.max() <= 3
