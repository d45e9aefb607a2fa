"""Multi-segment WFDB records, fixed and variable layout, read as one record named by the master header.

Built with ``wfdb.wrsamp`` (segments) and master/layout headers in a temporary folder; every signal
must equal ``wfdb.rdrecord(master, m2s=True, smooth_frames=False).e_p_signal`` as float32, NaN in
gaps and where a segment lacks a signal.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import wfdb

from ecgspec.readers import RecordError, RecordRef, find_records, open_record
from ecgspec.readers.wfdb.segments import MultiSegmentRecord
from tests.helpers.segments import BAD_SEGMENTS, SEG_FS, fixed, master, segment, variable


def _open(header: Path):
    return open_record(RecordRef(header.stem, header, "wfdb"))


def assert_reads_like_wfdb(header: Path) -> None:
    rec = _open(header)
    assert isinstance(rec, MultiSegmentRecord)
    theirs = wfdb.rdrecord(str(header.with_suffix("")), m2s=True, smooth_frames=False, physical=True)
    h = rec.header
    assert h.n_samples == theirs.sig_len and h.fs == SEG_FS and list(h.leads) == theirs.sig_name
    for i in range(h.n_signals):
        n = h.length(i)
        assert len(theirs.e_p_signal[i]) == n and h.rate(i) == SEG_FS * theirs.samps_per_frame[i]
        for start, stop in sorted({(0, n), (1, n - 1), (n // 3, n // 3 + 1), (n // 2 - 13, n // 2 + 40), (n - 1, n)}):
            got = rec.read(start, stop, [i])
            assert np.array_equal(got[0], theirs.e_p_signal[i][start:stop].astype(np.float32), equal_nan=True), (i, start)
    assert np.isnan(rec.read(0, h.length(0), [0])).any()


def test_fixed_layout_with_segments_of_different_lengths(tmp_path: Path) -> None:
    assert_reads_like_wfdb(fixed(tmp_path, gap=False))


def test_fixed_layout_gap_is_nan(tmp_path: Path) -> None:
    rec = _open(fixed(tmp_path))
    assert rec.header.n_samples == 151 and rec.header.signal_samples == (151, 302)
    whole = rec.read(0, 302, [1])[0]
    assert np.isnan(whole[2 * 47:2 * 58]).all()
    for name, start, frames in [("f_0", 0, 40), ("f_1", 40, 7), ("f_2", 58, 93)]:
        seg = wfdb.rdrecord(str(tmp_path / name), smooth_frames=False).e_p_signal[1].astype(np.float32)
        assert np.array_equal(whole[2 * start:2 * (start + frames)], seg, equal_nan=True)


def test_variable_layout_with_missing_lead_gap_and_multifrequency_segments(tmp_path: Path) -> None:
    header = variable(tmp_path)
    assert_reads_like_wfdb(header)
    rec = _open(header)
    assert rec.header.leads == ("II", "V", "PLETH") and rec.header.signal_fs == (250.0, 125.0, 125.0)
    assert np.isnan(rec.read(50, 95, [1])).all()  # segment v_2 has no V
    both = rec.read(0, 112, [2, 1])
    np.testing.assert_array_equal(both[1], rec.read(0, 112, [1])[0])


def test_reads_visit_only_the_overlapping_segments(tmp_path: Path) -> None:
    rec = _open(fixed(tmp_path, spf=(1, 1)))
    calls: list[str] = []
    for seg in rec._segments:
        if seg.record is not None:
            original = seg.record.read
            seg.record.read = lambda a, b, c, _o=original, _n=seg.record.ref.name: calls.append(_n) or _o(a, b, c)
    rec.read(41, 46, [0, 1])
    assert calls == ["f/f_1"]
    rec.read(30, 60, [0])
    assert calls == ["f/f_1", "f/f_0", "f/f_1", "f/f_2"]


def test_discovery_yields_whole_records(tmp_path: Path, data_dir: Path) -> None:
    fixed(tmp_path)
    variable(tmp_path)
    segment(tmp_path, "alone", ["I"], [1], 10, seed=9)
    refs, problems = find_records([tmp_path])
    assert problems == [] and [r.name for r in refs] == ["alone", "f", "v"]
    refs, _ = find_records([tmp_path / "f.hea", tmp_path / "f_1.hea"])
    assert [r.name for r in refs] == ["f"]
    refs, _ = find_records([tmp_path / "f_1.hea"])  # a segment named alone is a record of its own
    assert [r.name for r in refs] == ["f_1"]


@pytest.mark.parametrize("case", list(BAD_SEGMENTS))
def test_bad_multisegment_record_is_one_line_record_error(tmp_path: Path, case: str) -> None:
    make, expected = BAD_SEGMENTS[case]
    make(tmp_path)
    header = tmp_path / ("v.hea" if (tmp_path / "v.hea").exists() else "f.hea")
    with pytest.raises(RecordError) as err:
        _open(header)
    assert expected in str(err.value) and "\n" not in str(err.value)


@pytest.mark.slow  # 1.8 s: the other multi-segment tests here read segments in the fast tier
def test_long_many_segment_record_reads_in_bounded_pieces(tmp_path: Path) -> None:
    """300 segments of 1000 frames: a read of 2500 frames touches 3 or 4 of them, and the whole
    record read block by block equals wfdb's whole read."""
    rng = np.random.default_rng(0)
    names = []
    for i in range(300):
        d = rng.integers(-500, 500, (1000, 1)).astype(np.int16)
        wfdb.wrsamp(f"L_{i}", SEG_FS, ["mV"], ["II"], d_signal=d, fmt=["16"], adc_gain=[200.0], baseline=[0],
                    write_dir=str(tmp_path))
        names.append((f"L_{i}", 1000))
    header = master(tmp_path, "L", 1, names)
    rec = _open(header)
    assert rec.header.n_samples == 300_000
    theirs = wfdb.rdrecord(str(header.with_suffix("")), m2s=True, physical=True).p_signal[:, 0].astype(np.float32)
    got = np.concatenate([rec.read(a, min(a + 2500, 300_000), [0])[0] for a in range(0, 300_000, 2500)])
    np.testing.assert_array_equal(got, theirs)
