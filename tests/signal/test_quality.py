"""Quality flags (/windows/qc) and the per-record shares, against brute force and real records."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import edfio
import h5py
import numpy as np
import pytest
import wfdb

from ecgspec import extract
from ecgspec.readers import RecordRef, open_record
from ecgspec.signal import quality
from ecgspec.signal.resample import ceil_div, resample_ratio
from ecgspec.signal.windowing import Cut, WindowStats, fill_missing, iter_flagged_windows, iter_windows
from tests.helpers.records import MultiRateRecord

STEP, LOW, HIGH = 0.01, -3.0, 3.0


def _signal(rng: np.random.Generator, n: int) -> np.ndarray:
    """Quantized noise with flat stretches, short gaps (NaN) and samples at the limits."""
    x = np.round(np.clip(rng.normal(0, 1, n), -2.9, 2.9) / STEP) * STEP
    for length in [*rng.integers(50, 300, n // 800), n // 10]:  # short stretches, and one a window long or more
        a = int(rng.integers(0, n - length))
        x[a : a + length] = x[a]
    for _ in range(n // 4000):
        a = int(rng.integers(2, n - 5))
        x[a : a + int(rng.integers(1, 4))] = np.nan
    for _ in range(n // 8000):
        a = int(rng.integers(0, n))
        if np.isfinite(x[max(a - 1, 0) : a + 2]).all():
            x[a] = LOW if rng.random() < 0.5 else HIGH
    return x.astype(np.float32)


def _record(seed: int) -> MultiRateRecord:
    rng = np.random.default_rng(seed)
    rates, lengths = [500.0, 250.0, 500.0], [24000, 12000, 24000]
    rec = MultiRateRecord(RecordRef("r", Path("r"), "npy"), [_signal(rng, n) for n in lengths], rates, lengths,
                          leads=["a", "b", "c"], fs=500.0)
    rec.header = dataclasses.replace(rec.header, adc_step=(STEP,) * 3, clip_low=(np.float32(LOW),) * 3,
                                     clip_high=(np.float32(HIGH),) * 3)
    return rec


def _expected(rec: MultiRateRecord, channels: list[int], starts: np.ndarray, window: int) -> np.ndarray:
    """Each window's flags computed sample by sample on the whole record at each lead's own rate."""
    flags = np.zeros(len(starts), dtype=np.uint8)
    for c in channels:
        up, down = resample_ratio(rec.header.rate(c), 500.0)
        raw = rec.read(0, rec.header.length(c), [c])
        missing = ~np.isfinite(raw[0])
        fill_missing(raw)
        for i, s in enumerate(starts):
            lo, hi = s * down // up, min(ceil_div((s + window) * down, up), rec.header.length(c))
            part = raw[0, lo:hi]
            flags[i] |= quality.FILLED * bool(missing[lo:hi].any())
            flags[i] |= quality.FLAT * bool(np.ptp(part) < STEP / 2)
            flags[i] |= quality.CLIPPED * bool(((part <= np.float32(LOW)) | (part >= np.float32(HIGH))).any())
    return flags


@pytest.mark.parametrize("window, stride, block", [(1000, 1000, 1 << 20), (1000, 370, 3000), (700, 1900, 2500),
                                                   pytest.param(512, 1, 1 << 12, marks=pytest.mark.slow)])
def test_flags_equal_brute_force_on_every_window(window, stride, block):
    rec = _record(window + stride)
    channels = [2, 0, 1]
    got = list(iter_flagged_windows(rec, channels, Cut(500.0, window, stride, 1.0, block)))
    starts = np.concatenate([s for s, _, _ in got])
    flags = np.concatenate([f for _, _, f in got])
    assert flags.dtype == np.uint8 and len(flags) == len(starts)
    expected = _expected(rec, channels, starts, window)
    np.testing.assert_array_equal(flags, expected)
    for bit in (quality.FILLED, quality.FLAT, quality.CLIPPED):  # every kind met, and not everywhere
        assert 0 < np.count_nonzero(expected & bit) < len(expected), bit
    plain = list(iter_windows(rec, channels, 500.0, window, stride, 1.0, block))  # same windows without the flags
    np.testing.assert_array_equal(np.concatenate([s for s, _ in plain]), starts)
    np.testing.assert_array_equal(np.concatenate([w for _, w in plain]), np.concatenate([w for _, w, _ in got]))


def test_record_shares_and_flat_leads():
    rec = _record(3)
    stats = WindowStats()
    window = 1000
    got = list(iter_flagged_windows(rec, [0, 1, 2], Cut(500.0, window, window, 1.0, 5000), stats))
    starts = np.concatenate([s for s, _, _ in got])
    counted = missing = clipped = 0
    flat_rows = set()
    for row in range(3):
        up, down = resample_ratio(rec.header.rate(row), 500.0)
        end = ceil_div((int(starts[-1]) + window) * down, up)
        raw = rec.read(0, end, [row])[0]
        counted += end
        missing += int(np.count_nonzero(~np.isfinite(raw)))
        fill_missing(raw[None])
        clipped += int(np.count_nonzero((raw <= np.float32(LOW)) | (raw >= np.float32(HIGH))))
        if any(np.ptp(raw[s * down // up : ceil_div((s + window) * down, up)]) < STEP / 2 for s in starts):
            flat_rows.add(row)
    assert (stats.counted, stats.nan_filled, stats.clipped, stats.flat_rows) == (counted, missing, clipped, flat_rows)
    assert stats.share(stats.nan_filled) == missing / counted and 0 < stats.share(stats.clipped) < 0.01


def test_without_quality_the_flags_are_zero_and_nothing_is_counted():
    rec = _record(4)
    stats = WindowStats()
    got = list(iter_flagged_windows(rec, [0, 1], Cut(500.0, 1000, 1000, 1.0, 1 << 20, quality=False), stats))
    assert all(not f.any() for _, _, f in got) and stats.clipped == 0 and not stats.flat_rows


# ---------------------------------------------------------------- real records


def test_cinc_flat_leads_are_the_constant_digital_leads(cinc_dir, tmp_path):
    out = tmp_path / "cinc.h5"
    extract(cinc_dir, out, {"feature_fs": 100}, log=lambda m: None)
    with h5py.File(out) as f:
        names = f["records/name"].asstr()[:]
        flat = f["records/flat_leads"].asstr()[:]
        qc, rows = f["windows/qc"][:], f["windows/record"][:]
        assert json.loads(f["windows/qc"].attrs["bits"]) == {"1": "filled", "2": "flat", "4": "clipped", "8": "missing_lead"}
        assert (f["records/filled_share"][:] == 0).all()
    seen = 0
    for i, name in enumerate(names):
        ref = wfdb.rdrecord(str(cinc_dir / name), physical=False)
        digital = ref.d_signal
        constant = [lead for lead, ptp in zip(ref.sig_name, np.ptp(digital, axis=0)) if ptp == 0]
        assert flat[i] == ",".join(constant), name
        at_limit = bool((np.abs(digital) >= 32767).any())  # fmt 16, adc_res 16: -32767..32767
        assert set(qc[rows == i].tolist()) == {quality.FLAT * bool(constant) | quality.CLIPPED * at_limit}, name
        seen += bool(constant)
    assert seen >= 2  # JS20004 and JS20008 have leads off


def _poke_212(path: Path, frame: int, signal: int, value: int) -> None:
    """Set one sample of a 2-signal format-212 file (3 bytes a frame) to the 12-bit ``value``."""
    data = bytearray(path.read_bytes())
    at = 3 * frame
    v = value & 0xFFF
    if signal == 0:
        data[at], data[at + 1] = v & 0xFF, (data[at + 1] & 0xF0) | (v >> 8)
    else:
        data[at + 2], data[at + 1] = v & 0xFF, (data[at + 1] & 0x0F) | ((v >> 8) << 4)
    path.write_bytes(bytes(data))


def test_mitbih_clipping_at_the_adc_resolution(wfdb_dir, tmp_path):
    """Record 100 is fmt 212 with adc_res 11 and adc_zero 1024: digital 0 and 2047 are its ADC limits."""
    folder = tmp_path / "rec"
    folder.mkdir()
    shutil.copy(wfdb_dir / "100.dat", folder / "100.dat")
    text = (wfdb_dir / "100.hea").read_text().replace("100 2 360 650000", "100 2 360 36000")
    (folder / "100.hea").write_text(text)
    header = open_record(RecordRef("100", folder / "100.hea", "wfdb")).header
    assert header.adc_step == (0.005, 0.005)
    assert header.clip_low == (np.float32(-1024 / 200),) * 2 and header.clip_high == (np.float32(1023 / 200),) * 2
    for frame, signal, value in [(10, 0, 0), (4000, 1, 2047), (4001, 1, 2047), (20000, 0, 2046), (33000, 0, 1)]:
        _poke_212(folder / "100.dat", frame, signal, value)
    digital = wfdb.rdrecord(str(folder / "100"), physical=False).d_signal
    assert digital[10, 0] == 0 and digital[4000, 1] == 2047 and digital[20000, 0] == 2046
    out = tmp_path / "out.h5"
    extract(folder, out, {"fs": 360, "n_samples": 3600, "n_channels": 2}, log=lambda m: None)
    at_limit = (digital == 0) | (digital == 2047)
    with h5py.File(out) as f:
        qc, starts = f["windows/qc"][:], f["windows/start"][:]
        share = f["records/clipped_share"][0]
    expected = [quality.CLIPPED * bool(at_limit[s : s + 3600].any()) for s in starts]
    assert qc.tolist() == expected and sum(expected) == 2 * quality.CLIPPED
    assert share == 3 / (2 * 36000)


def test_fmt16_missing_marker_is_filled_not_clipped(tmp_path):
    """-32768 is format 16's missing sample (filled); -32767 and 32767 its limits (clipped)."""
    digital = np.tile(np.arange(-100, 100, dtype=np.int16), (2, 50)).T.copy()  # (10000, 2)
    digital[1500, 0] = -32768
    digital[5500, 1] = 32767
    digital[7100, 0] = -32767
    digital[9000:10000, 1] = 7  # flat over the last window
    folder = tmp_path / "rec"
    folder.mkdir()
    digital.tofile(folder / "r.dat")
    (folder / "r.hea").write_text("r 2 500 10000\nr.dat 16 100/mV 0 0 0 0 0 I\nr.dat 16 100/mV 0 0 0 0 0 II\n")
    out = tmp_path / "out.h5"
    extract(folder, out, {"fs": 500, "n_samples": 1000, "n_channels": 2}, log=lambda m: None)
    with h5py.File(out) as f:
        qc = f["windows/qc"][:].tolist()
        row = {k: f["records"][k][0] for k in ("filled_share", "flat_leads", "clipped_share")}
    assert qc == [0, quality.FILLED, 0, 0, 0, quality.CLIPPED, 0, quality.CLIPPED, 0, quality.FLAT]
    assert row["filled_share"] == 1 / 20000 and row["clipped_share"] == 2 / 20000 and row["flat_leads"] == b"II"


def test_edf_flat_is_below_one_digital_step(tmp_path):
    step = 4000 / 65535
    rng = np.random.default_rng(0)
    x = rng.normal(0, 300, 4000)
    x[:1000] = 100.0  # constant: flat
    x[1000:2000] = (10.5 + np.arange(1000) % 2) * step  # digital 10 and 11 (offset 0.5): one step apart, not flat
    signal = edfio.EdfSignal(x, 500, label="ECG", physical_range=(-2000, 2000))
    edfio.Edf([signal, edfio.EdfSignal(rng.normal(0, 300, 4000), 500, label="II", physical_range=(-2000, 2000))]
              ).write(tmp_path / "r.edf")
    header = open_record(RecordRef("r", tmp_path / "r.edf", "edf")).header
    assert header.adc_step == pytest.approx((step, step)) and header.clip_low == ()
    out = tmp_path / "out.h5"
    extract(tmp_path / "r.edf", out, {"fs": 500, "n_samples": 1000, "n_channels": 2}, log=lambda m: None)
    with h5py.File(out) as f:
        assert f["windows/qc"][:].tolist() == [quality.FLAT, 0, 0, 0]
        assert f["records/flat_leads"].asstr()[0] == "ECG"


def test_numpy_flat_means_exactly_constant(tmp_path):
    x = np.random.default_rng(1).normal(0, 1, (2, 3000)).astype(np.float32)
    x[0, :1000] = 0.25
    x[1, 1000:2000] = 0.25 + np.float32(1e-6) * (np.arange(1000) % 2)  # tiny, but not constant
    np.save(tmp_path / "r.npy", x)
    out = tmp_path / "out.h5"
    extract(tmp_path / "r.npy", out, {"fs": 500, "n_samples": 1000, "n_channels": 2}, log=lambda m: None)
    with h5py.File(out) as f:
        assert f["windows/qc"][:].tolist() == [quality.FLAT, 0, 0]
        assert f["records/flat_leads"].asstr()[0] == "0" and f["records/clipped_share"][0] == 0


def test_flag_mask():
    assert quality.flag_mask(("flat", "clipped")) == 6 and quality.flag_mask("filled") == 1 and quality.flag_mask(5) == 5
    with pytest.raises(ValueError, match="unknown flag 'flatt'"):
        quality.flag_mask(["flatt"])
    assert quality.flag_counts(np.array([0, 1, 3, 7, 4, 12], dtype=np.uint8)) == {
        "filled": 3, "flat": 2, "clipped": 3, "missing_lead": 1}
    assert quality.flag_mask("missing_lead") == 8
