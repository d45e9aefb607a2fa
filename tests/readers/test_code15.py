"""CODE-15% / SaMi-Trop HDF5 parts: one record a row named ``<part>/<exam_id>``, its samples the
non-zero span inside the zero padding, the empty last row (exam_id 0) no record, 400 Hz unless
``--input-fs`` says otherwise, read one row at a time; an ecgspec output is never an input."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from click.testing import CliRunner
from scipy.signal import resample_poly
from torch_ecg.components import inputs as ref_inputs

import ecgspec
from ecgspec.cli import main
from ecgspec.readers import RecordError, find_records, open_record
from tests.helpers import ecg_writers as w

LEADS = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")


def rows(seed: int = 0) -> list[tuple[int, np.ndarray, int]]:
    """(exam_id, (samples, 12) float32 signal, padding before it): a 10 s and two 7 s exams at 400 Hz."""
    rng = np.random.default_rng(seed)
    out = []
    for exam, n, offset in ((1050, 4000, 48), (2977, 2800, 648), (31, 2800, 0)):
        x = rng.normal(0, 0.3, (n, 12)).astype(np.float32)
        x[0, :] = x[-1, :] = 0.5  # the recording starts and ends with a non-zero sample
        out.append((exam, x, offset))
    return out


@pytest.fixture
def part(tmp_path: Path) -> tuple[Path, list]:
    (tmp_path / "in").mkdir()
    data = rows()
    return w.code15_part(tmp_path / "in" / "exams_part3.hdf5", data), data


def test_padded_rows_read_as_the_unpadded_rows(part) -> None:
    path, data = part
    refs, problems = find_records([path.parent])
    assert problems == []
    assert [r.name for r in refs] == sorted(f"exams_part3/{e}" for e, _, _ in data)  # no exams_part3/0
    by_name = {r.name: r for r in refs}
    for exam, x, _ in data:
        record = open_record(by_name[f"exams_part3/{exam}"])
        h = record.header
        assert h.fs == 400 and h.n_samples == len(x) and h.leads == LEADS
        assert np.array_equal(record.read(0, len(x), range(12)), x.T)
        assert np.array_equal(record.read(10, 20, [5, 1]), x.T[[5, 1], 10:20])


def test_input_fs_replaces_400_hz_and_a_file_input_names_records_by_its_stem(part) -> None:
    path, data = part
    refs, _ = find_records([path])
    assert [r.name for r in refs] == sorted(f"exams_part3/{e}" for e, _, _ in data)
    assert open_record(refs[0], input_fs=500).header.fs == 400  # input_fs is the rate of kinds storing none
    assert open_record(refs[0], input_fs=500, stated_fs=250).header.fs == 250


def test_exam_id_0_with_signal_is_a_record_and_a_row_of_zeros_an_error(tmp_path: Path) -> None:
    x = np.ones((100, 12), dtype=np.float32)
    w.code15_part(tmp_path / "p.hdf5", [(0, x, 5), (7, np.zeros((10, 12), np.float32), 0)])
    refs, _ = find_records([tmp_path])
    assert [r.name for r in refs] == ["p/0", "p/7"]
    assert open_record(refs[0]).header.n_samples == 100
    with pytest.raises(RecordError, match="has no signal"):
        open_record(refs[1])


def test_discovery_opens_each_part_once_and_a_record_reads_only_its_row(part, monkeypatch) -> None:
    path, data = part
    opened, reads = [], []
    real_file, real_get = h5py.File, h5py.Dataset.__getitem__

    def counting_file(name, *args, **kwargs):
        opened.append(Path(name).name)
        return real_file(name, *args, **kwargs)

    def spying_get(self, key):
        reads.append((self.name, key))
        return real_get(self, key)

    monkeypatch.setattr(h5py, "File", counting_file)
    refs, _ = find_records([path.parent])
    assert opened == ["exams_part3.hdf5"]
    monkeypatch.setattr(h5py.Dataset, "__getitem__", spying_get)
    reads.clear()
    open_record(refs[1]).read(0, 10, [0])
    assert reads == [("/tracings", refs[1].row)]


@pytest.mark.slow  # 1.2 s: the other CODE-15% tests here extract in the fast tier
def test_an_ecgspec_output_is_never_an_input(part, tmp_path: Path) -> None:
    path, data = part
    out = path.parent / "out.h5"
    result = ecgspec.extract(path.parent, out, {"n_samples": 1000, "n_bins": 32}, workers=1)
    assert result.errors == []
    refs, problems = find_records([path.parent])
    assert problems == [] and len(refs) == len(data) and all(r.path == path for r in refs)
    refs, problems = find_records([out])
    assert refs == [] and problems == [("out", "is an ecgspec output file, not records")]


def test_extract_equals_torch_ecg_on_the_unpadded_rows_resampled(part, tmp_path: Path) -> None:
    path, data = part
    n, bins = 1000, 32
    result = ecgspec.extract(path.parent, tmp_path / "o.h5", {"n_samples": n, "n_bins": bins}, workers=1)
    assert result.errors == []
    engine = ref_inputs.SpectrogramInput(ref_inputs.InputConfig(input_type="spectrogram", device="cpu", n_channels=12,
                                                                n_samples=n, n_bins=bins, fs=500))
    with h5py.File(tmp_path / "o.h5") as f:
        names = [v.decode() for v in f["records/name"][:]]
        got, owner = f["spectrograms"][:], f["windows/record"][:]
    for exam, x, _ in data:
        ratio = Fraction(500, 400)
        y = resample_poly(x.T.astype(np.float64), ratio.numerator, ratio.denominator, axis=1).astype(np.float32)
        windows = np.stack([y[:, s:s + n] for s in range(0, y.shape[1] - n + 1, n)])
        ref = engine(torch.from_numpy(windows)).numpy()
        mine = got[owner == names.index(f"exams_part3/{exam}")]
        assert mine.shape == ref.shape and np.abs(mine - ref).max() <= 1e-4 * np.abs(ref).max()


def _broken(tmp_path: Path, case: str) -> Path:
    path = tmp_path / f"{case}.hdf5"
    if case == "truncated":
        w.code15_part(path, rows())
        path.write_bytes(path.read_bytes()[:3000])
    elif case == "not_hdf5":
        path.write_bytes(b"CODE-15%" * 100)
    else:
        with h5py.File(path, "w") as f:
            f["tracings"] = np.zeros((3, 50, 12) if case != "flat" else (3, 600), np.float32)
            f["exam_id"] = np.arange(1, 3 if case == "counts" else 4)
    return path


@pytest.mark.parametrize("case, reason", [("truncated", "cannot read HDF5 file"), ("not_hdf5", "cannot read HDF5 file"),
                                          ("counts", "need (N, samples, leads) and (N,)"),
                                          ("flat", "need (N, samples, leads) and (N,)")])
def test_a_broken_part_is_a_one_line_problem_beside_good_records(case: str, reason: str, part, tmp_path: Path) -> None:
    path, data = part
    bad = _broken(path.parent, case)
    refs, problems = find_records([path.parent])
    assert len(refs) == len(data)
    assert [name for name, _ in problems] == [bad.stem]
    assert reason in problems[0][1] and "\n" not in problems[0][1], problems


def test_an_hdf5_file_of_other_data_is_passed_over_in_a_folder_and_a_problem_when_named(tmp_path: Path) -> None:
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["x"] = np.zeros(3)
    assert find_records([tmp_path]) == ([], [])
    assert find_records([tmp_path / "other.h5"])[1] == [
        ("other", "holds no tracings and exam_id datasets (not a CODE-15% file)")]


def test_a_shard_weighs_the_rows_of_a_part_as_shares_of_it(part) -> None:
    from ecgspec.run.shard import record_weights

    path, data = part
    refs, _ = find_records([path.parent])
    weights = record_weights([r.path for r in refs])
    assert weights == [path.stat().st_size // len(data)] * len(data)


@pytest.mark.slow  # 1.4 s: plot and the dry run of other formats are in the fast tier
def test_plot_reads_a_row_again_by_its_exam_id_and_dry_run_counts_the_run(part, tmp_path: Path) -> None:
    from ecgspec.plot import load_window

    path, data = part
    out = tmp_path / "o.h5"
    cfg = {"n_samples": 1000, "n_bins": 32}
    dry = CliRunner().invoke(main, ["extract", str(path.parent), str(tmp_path / "dry.h5"), "--n-samples", "1000",
                                    "--n-bins", "32", "--dry-run", "--json"], catch_exceptions=False)
    result = ecgspec.extract(path.parent, out, cfg, workers=2)
    assert dry.exit_code == 0 and result.errors == [] and json.loads(dry.stdout)["windows"] == result.windows == 11  # 5 + 3 + 3
    exam, x, _ = data[1]
    window = load_window(out, f"exams_part3/{exam}", 1, leads=["I", "V6"])
    assert window.why_no_waveform == "" and window.waveform.shape == (2, 1000)
    y = resample_poly(x.T[[0, 11]].astype(np.float64), 5, 4, axis=1).astype(np.float32)
    np.testing.assert_allclose(window.waveform, y[:, 1000:2000], atol=1e-5)
