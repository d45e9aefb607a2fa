"""extract with --lead-set, --derive-leads, --units and --preprocess on real records, checked
against torch_ecg: its preprocessors (the NumPy PreprocManager) and SpectrogramInput on signals
read with wfdb, resampled with SciPy and laid out here by hand."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
import wfdb
from scipy.signal import resample_poly

import ecgspec

pytestmark = pytest.mark.slow  # whole runs on real records, checked against torch_ecg (minutes)

ref_inputs = pytest.importorskip("torch_ecg.components.inputs")
PreprocManager = pytest.importorskip("torch_ecg._preprocessors").PreprocManager

STANDARD12 = ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"]
SEED = dict(n_channels=12, n_samples=5000, n_bins=128, fs=500)
FILTERS = {"baseline_remove": {"window1": 0.2, "window2": 0.6}, "bandpass": {"lowcut": 0.5, "highcut": 45}}
Z_SCORES = {"global": {"method": "z-score"}, "per-lead": {"method": "z-score", "per_channel": True}}


def spectrograms(windows: np.ndarray, **cfg) -> np.ndarray:
    engine = ref_inputs.SpectrogramInput(ref_inputs.InputConfig(input_type="spectrogram", device="cpu", **cfg))
    out = [engine(torch.from_numpy(np.ascontiguousarray(windows[i : i + 32], dtype=np.float32))).numpy()
           for i in range(0, len(windows), 32)]
    return np.concatenate(out)


def assert_close_per_lead(got: np.ndarray, ref: np.ndarray) -> None:
    """Within 1e-4 of each window's channel's largest value (an all-zero channel: exactly 0)."""
    assert got.shape == ref.shape
    scale = np.abs(ref).max(axis=(-2, -1), keepdims=True)
    assert (np.abs(got - ref) <= 1e-4 * scale).all(), float((np.abs(got - ref) / np.maximum(scale, 1e-30)).max())


def wfdb_signal(path: Path, fs: int) -> tuple[list[str], np.ndarray]:
    """Lead names and (C, T) float32 at ``fs``: wfdb's physical values, resampled by SciPy."""
    record = wfdb.rdrecord(str(path))
    x = record.p_signal.T.astype(np.float32)
    if record.fs != fs:
        up, down = int(fs), int(record.fs)
        g = np.gcd(up, down)
        x = resample_poly(x.astype(np.float64), up // g, down // g, axis=-1).astype(np.float32)
    return list(record.sig_name), np.ascontiguousarray(x)


def windows_of(signal: np.ndarray, starts: np.ndarray, n: int) -> np.ndarray:
    return np.stack([signal[:, s : s + n] for s in starts])


def read_output(path: Path) -> dict:
    with h5py.File(path) as f:
        return {
            "names": list(f["records/name"].asstr()[:]), "n_windows": f["records/n_windows"][:],
            "mask": f["records/lead_mask"][:], "derived": f["records/lead_derived"][:],
            "record": f["windows/record"][:], "start": f["windows/start"][:], "qc": f["windows/qc"][:],
            "spec": f["spectrograms"][:], "errors": dict(zip(f["errors/name"].asstr()[:], f["errors/message"].asstr()[:])),
            "config": json.loads(f.attrs["config"]), "bits": json.loads(f["windows/qc"].attrs["bits"]),
        }


def of_record(out: dict, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rows = out["record"] == out["names"].index(name)
    return out["start"][rows], out["spec"][rows], out["qc"][rows]


@pytest.fixture
def mixed(tmp_path, cinc_dir, cpsc_dir, wfdb_dir) -> Path:
    """12-lead CinC, MIT-BIH 100 (MLII, V5), CinC 2015 a103l (II, V, PLETH), CPSC (I, II) and a
    record of ECG 1 ... ECG 4, in one folder."""
    folder = tmp_path / "mixed"
    folder.mkdir()
    for src, names in [(cinc_dir, ["E07500", "E07501"]), (wfdb_dir, ["100", "a103l", "test01_00s"]),
                       (cpsc_dir, ["data_101_6"])]:
        for name in names:
            for f in src.glob(name + ".*"):
                shutil.copy(f, folder / f.name)
    return folder


def test_mixed_folder_with_standard12(mixed, tmp_path):
    out_path = tmp_path / "mixed.h5"
    ecgspec.extract(mixed, out_path, SEED, lead_set="standard12", log=lambda m: None)
    out = read_output(out_path)
    assert out["names"] == ["100", "E07500", "E07501", "a103l", "data_101_6"]
    assert out["errors"] == {"test01_00s": "has none of the leads I, II, III, aVR, aVL, aVF, V1, V2, V3, V4, V5, V6"
                                           " (leads: ECG 1, ECG 2, ECG 3, ECG 4)"}
    present = {"100": {"II": 0, "V5": 1}, "a103l": {"II": 0}, "data_101_6": {"I": 0, "II": 1},
               "E07500": {lead: i for i, lead in enumerate(STANDARD12)}}
    present["E07501"] = present["E07500"]
    assert out["bits"] == {"1": "filled", "2": "flat", "4": "clipped", "8": "missing_lead"}
    assert out["config"]["lead_set"] == STANDARD12 and out["config"]["n_channels"] == 12
    assert not out["derived"].any()
    for row, name in enumerate(out["names"]):
        assert out["mask"][row].tolist() == [lead in present[name] for lead in STANDARD12], name
        leads, signal = wfdb_signal(mixed / name, 500)
        laid_out = np.zeros((12, signal.shape[1]), dtype=np.float32)  # the record's leads, by hand
        for lead, index in present[name].items():
            laid_out[STANDARD12.index(lead)] = signal[index]
        starts, spec, qc = of_record(out, name)
        assert len(starts) == out["n_windows"][row] > 0
        assert ((qc & 8) != 0).tolist() == [len(present[name]) < 12] * len(qc), name
        assert_close_per_lead(spec, spectrograms(windows_of(laid_out, starts, 5000), **SEED))


def test_derive_leads_on_cpsc(cpsc_dir, tmp_path):
    cfg = dict(n_channels=12, n_samples=2000, n_bins=64, fs=200)
    out_path = tmp_path / "cpsc.h5"
    ecgspec.extract(cpsc_dir, out_path, cfg, lead_set="standard12", derive_leads=True, log=lambda m: None)
    out = read_output(out_path)
    assert len(out["names"]) == 18 and not out["errors"]
    assert out["config"]["derive_leads"] is True
    assert (out["mask"] == np.array([True] * 6 + [False] * 6)).all()
    assert (out["derived"] == np.array([False, False, True, True, True, True] + [False] * 6)).all()
    assert ((out["qc"] & 8) != 0).all()  # V1-V6 are still zeros
    for name in out["names"][::3]:
        record = wfdb.rdrecord(str(cpsc_dir / name))
        i, ii = record.p_signal[:, 0], record.p_signal[:, 1]  # float64 identities, as the textbooks write them
        limb = np.stack([i, ii, ii - i, -(i + ii) / 2, i - ii / 2, ii - i / 2]).astype(np.float32)
        laid_out = np.concatenate([limb, np.zeros((6, limb.shape[1]), dtype=np.float32)])
        starts, spec, _ = of_record(out, name)
        assert_close_per_lead(spec, spectrograms(windows_of(laid_out, starts, 2000), **cfg))


def torch_ecg_preprocessed(signal: np.ndarray, fs: int) -> dict[str, np.ndarray]:
    """torch_ecg's PreprocManager: the filters, then each z-score (its steps run one after another)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        filtered, _ = PreprocManager.from_config(dict(FILTERS))(signal.copy(), fs)
        return {key: PreprocManager.from_config({"normalize": z})(filtered, fs)[0] for key, z in Z_SCORES.items()}


@pytest.fixture(scope="module")
def preprocessed_runs(cinc_dir, wfdb_dir, tmp_path_factory) -> tuple[Path, dict[str, dict]]:
    """The 50 CinC records (12 leads, 500 Hz) and MIT-BIH 100 (30 minutes, MLII and V5 at 360 Hz,
    resampled to 500 Hz: streamed in blocks), as standard12, through the filters and each z-score."""
    folder = tmp_path_factory.mktemp("pre") / "in"
    shutil.copytree(cinc_dir, folder)
    for f in wfdb_dir.glob("100.*"):
        shutil.copy(f, folder / f.name)
    outs = {}
    for key, z in Z_SCORES.items():
        out_path = folder.parent / f"{key}.h5"
        ecgspec.extract(folder, out_path, SEED, lead_set="standard12", preprocess={**FILTERS, "normalize": z},
                        log=lambda m: None)
        outs[key] = read_output(out_path)
    return folder, outs


def test_preprocessing_equals_torch_ecg_on_cinc_and_mitdb(preprocessed_runs):
    folder, outs = preprocessed_runs
    for key, out in outs.items():
        assert len(out["names"]) == 51 and not out["errors"]
        assert out["config"]["preprocess"] == [
            ["baseline_remove", {"window1": 0.2, "window2": 0.6}],
            ["bandpass", {"lowcut": 0.5, "highcut": 45.0, "filter_type": "butter", "filter_order": 5}],
            ["normalize", {"method": "z-score", "mean": 0.0, "std": 1.0, "per_channel": key == "per-lead"}]]
    for name in outs["global"]["names"]:
        leads, signal = wfdb_signal(folder / name, 500)
        if name == "100":  # MLII -> II, V5 -> V5, the other leads zeros, as the set lays them out
            laid_out = np.zeros((12, signal.shape[1]), dtype=np.float32)
            laid_out[1], laid_out[10] = signal
            signal = laid_out
        references = torch_ecg_preprocessed(signal, 500)
        for key, out in outs.items():
            starts, spec, _ = of_record(out, name)
            assert len(starts) == (180 if name == "100" else 1)
            assert_close_per_lead(spec, spectrograms(windows_of(references[key], starts, 5000), **SEED))


def test_resume_refuses_another_preprocessing(preprocessed_runs, tmp_path):
    folder, _ = preprocessed_runs
    out_path = folder.parent / "global.h5"
    other = {**FILTERS, "normalize": Z_SCORES["per-lead"]}
    with pytest.raises(ecgspec.errors.EcgspecError, match="field preprocess was"):
        ecgspec.extract(folder, out_path, SEED, lead_set="standard12", preprocess=other, resume=True,
                        log=lambda m: None)
    order = {"bandpass": FILTERS["bandpass"], "baseline_remove": FILTERS["baseline_remove"],
             "normalize": Z_SCORES["global"]}  # the same steps in another order compute something else
    with pytest.raises(ecgspec.errors.EcgspecError, match="field preprocess was"):
        ecgspec.extract(folder, out_path, SEED, lead_set="standard12", preprocess=order, resume=True,
                        log=lambda m: None)


def test_units_mv(cpsc_dir, wfdb_dir, tmp_path):
    """A header in uV (gain x 1000) gives, with --units mV, the windows of the mV original; a
    signal whose unit is no voltage (a103l's PLETH, NU) skips its record in one line."""
    folder = tmp_path / "uv"
    folder.mkdir()
    shutil.copy(cpsc_dir / "data_101_6.dat", folder)
    lines = (cpsc_dir / "data_101_6.hea").read_text().splitlines()
    header = [lines[0]]
    for line in lines[1:3]:
        parts = line.split()
        gain, rest = parts[2].split("(", 1)
        parts[2] = f"{float(gain) / 1000!r}({rest.replace('/mV', '/uV')}"
        header.append(" ".join(parts))
    (folder / "data_101_6.hea").write_text("\n".join(header + lines[3:]) + "\n")
    cfg = dict(n_channels=2, n_samples=2000, n_bins=64, fs=200)
    ecgspec.extract(folder, tmp_path / "uv.h5", cfg, leads="I,II", units="mV", log=lambda m: None)
    ecgspec.extract(cpsc_dir / "data_101_6", tmp_path / "mv.h5", cfg, leads="I,II", log=lambda m: None)
    uv, mv = read_output(tmp_path / "uv.h5"), read_output(tmp_path / "mv.h5")
    assert uv["config"]["units"] == "mV" and "units" not in mv["config"]
    assert_close_per_lead(uv["spec"], mv["spec"])
    messages = []
    result = ecgspec.extract(wfdb_dir / "a103l", tmp_path / "a.h5", dict(n_channels=3, n_samples=2500, fs=250),
                             units="mV", log=messages.append)
    assert len(result.errors) == 1
    assert read_output(tmp_path / "a.h5")["errors"] == {
        "a103l": "unit 'NU' of lead PLETH is not a voltage --units mV converts (V, mV, uV, nV)"}


def test_resume_appends_masks_and_old_files_read_all_present(mixed, tmp_path):
    """--resume adds records with their masks, as one run over all of them writes; a file from
    before the mask columns reads back (and resumes) with every lead present, none derived."""
    first = tmp_path / "first"
    first.mkdir()
    for f in mixed.glob("E0750*"):
        shutil.copy(f, first / f.name)
    out_path, whole = tmp_path / "grow.h5", tmp_path / "whole.h5"
    ecgspec.extract(first, out_path, SEED, lead_set="standard12", log=lambda m: None)
    ecgspec.extract(mixed, out_path, SEED, lead_set="standard12", resume=True, log=lambda m: None)
    ecgspec.extract(mixed, whole, SEED, lead_set="standard12", log=lambda m: None)
    grown, one = read_output(out_path), read_output(whole)
    order = [grown["names"].index(name) for name in one["names"]]
    assert (grown["mask"][order] == one["mask"]).all() and grown["mask"].shape == (5, 12)
    old = tmp_path / "old.h5"
    ecgspec.extract(first, old, SEED, log=lambda m: None)
    with h5py.File(old, "a") as f:
        del f["records/lead_mask"], f["records/lead_derived"]
    with ecgspec.open(old) as ds:
        assert ds.records["lead_mask"].shape == (2, 12) and ds.records["lead_mask"].all()
        assert not ds.records["lead_derived"].any()
    shutil.copy(mixed / "100.hea", first)
    shutil.copy(mixed / "100.dat", first)
    ecgspec.extract(first, old, SEED, resume=True, log=lambda m: None)  # 100 (2 leads) is skipped: nothing added
    with h5py.File(old) as f:
        assert f["records/lead_mask"].shape == (2, 12) and f["records/lead_mask"][:].all()


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ecgspec", *args], capture_output=True, text=True)


def test_cli_options_and_errors_before_any_work(mixed, tmp_path):
    out = tmp_path / "cli.h5"
    bad = [(["--preprocess", '{"notch": {}}'], "ecgspec: error: preprocess.notch: unknown step; the steps are"),
           (["--preprocess", '{"bandpass": {"highcut": 300}}'],
            "ecgspec: error: preprocess.bandpass.highcut: 300 Hz is not below the Nyquist frequency"),
           (["--preprocess", "{bandpass"], "ecgspec: error: preprocess: not JSON"),
           (["--derive-leads"], "ecgspec: error: derive_leads: needs lead_set"),
           (["--lead-set", "standard12", "--leads", "I"], "ecgspec: error: lead_set: give it or leads/channels"),
           (["--lead-set", "I,II,i"], "ecgspec: error: lead_set: I, i named twice")]
    for args, message in bad:
        done = _cli("extract", str(mixed), str(out), *args)
        assert done.returncode == 2 and done.stderr.startswith(message) and done.stderr.count("\n") == 1, done.stderr
        assert not out.exists() and not (tmp_path / "cli.h5.partial").exists()
    plan = _cli("extract", str(mixed), str(out), "--lead-set", "standard12", "--dry-run", "--json")
    assert plan.returncode == 1, plan.stderr
    summary = json.loads(plan.stdout)
    assert summary["records_skipped"] == 1 and summary["skipped"][0]["name"] == "test01_00s"
    assert summary["window_shape"] == [12, 128, 385]
    shape = _cli("shape", "--lead-set", "I,II,V5", "--json")
    assert json.loads(shape.stdout)["window_shape"] == [3, 128, 385]
