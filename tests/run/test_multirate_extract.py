"""End to end through ``ecgspec.extract`` and the CLI: leads at several rates, any rate, --channels, /records/lead_fs.

Multi-frequency WFDB/EDF readers come with ecgspec.readers; here a record implementing the reader
contract in memory (tests/helpers/records.py) stands in for them, handed to the pipeline in place of
``open_record``. The reference is each lead resampled whole with scipy's ``resample_poly`` at the
exact ratio, cut to the shortest, then torch_ecg's ``SpectrogramInput``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from functools import partial
from pathlib import Path

import h5py
import numpy as np
import pytest
import wfdb

import ecgspec
import ecgspec.signal.leads
from ecgspec.engine.config import ConfigError
from ecgspec.readers import RecordRef
from tests.helpers.cli import extract
from tests.helpers.compare import assert_close, column
from tests.helpers.records import MultiRateRecord
from tests.helpers.reference import reference_windows, torch_ecg  # torch_ecg's SpectrogramInput, the reference

run = partial(extract, quiet=True, workers=0)  # the multirate fixture patches open_record: in this process only


# ---------------------------------------------------------------- a multi-rate record through extract

RATES = (500, 125, 249.89)  # an ECG lead at 4 samples a frame, two at 1 and ~2 a frame (frame rate 125 Hz)
LEADS = ("ECG", "Pleth", "ABP")


@pytest.fixture
def multirate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, list[np.ndarray]]:
    """A folder with record ``mr`` (three leads at 500, 125 and 249.89 Hz, 41 s) beside a plain .npy record."""
    rng = np.random.default_rng(3)
    lengths = [int(41 * r) for r in RATES]
    t = [np.arange(n) / r for n, r in zip(lengths, RATES)]
    signals = [(np.sin(2 * np.pi * f * tt) + 0.3 * rng.standard_normal(len(tt))).astype(np.float32)
               for f, tt in zip((11.0, 1.3, 40.0), t)]
    folder = tmp_path / "in"
    folder.mkdir()
    np.save(folder / "mr.npy", np.zeros((3, 10), dtype=np.float32))  # found on disk, read from memory
    real_open = ecgspec.signal.leads.open_record  # the run and the dry run open records through leads.open_selected

    def open_record(ref: RecordRef, input_fs: float | None = None, **kwargs):  # kwargs: stated_fs
        if ref.name == "mr":
            return MultiRateRecord(ref, signals, RATES, lengths, LEADS, fs=125)
        return real_open(ref, input_fs, **kwargs)

    monkeypatch.setattr(ecgspec.signal.leads, "open_record", open_record)
    return folder, signals


def test_leads_at_their_own_rates_match_whole_resampling_and_torch_ecg(tmp_path: Path, multirate):
    folder, signals = multirate
    out = tmp_path / "mr.h5"
    cfg = {"n_bins": 64, "n_samples": 2500}
    result = ecgspec.extract(folder, out, cfg, channels=[2, 0, 1], stride=2000, workers=0, log=lambda m: None)
    order = [2, 0, 1]
    expected = reference_windows([signals[c] for c in order], [RATES[c] for c in order], 500, 2500, 2000)
    assert result.errors == [] and result.records == 1 and result.windows == len(expected) == 10
    with h5py.File(out) as f:
        assert column(f, "name") == ["mr"] and column(f, "leads") == ["ABP,ECG,Pleth"]
        assert column(f, "lead_fs") == ["249.89,500.0,125.0"]
        assert f["records/fs"][0] == 125.0 and f["records/n_samples"][0] == 41 * 125
        assert f["windows/start"][:].tolist() == list(range(0, 10 * 2000, 2000))
        assert_close(f["spectrograms"][:], torch_ecg(expected, n_channels=3, n_samples=2500, n_bins=64, fs=500))
        assert json.loads(f.attrs["config"])["channels"] == [2, 0, 1]


def test_multirate_record_by_lead_name_through_the_cli(tmp_path: Path, multirate):
    folder, signals = multirate
    out = tmp_path / "cli.h5"
    res = run(folder, out, "--leads", "pleth,ECG", "--n-samples", "5000", "--n-bins", "64")
    assert res.exit_code == 0, res.output
    expected = reference_windows([signals[1], signals[0]], [125, 500], 500, 5000, 5000)
    with h5py.File(out) as f:
        assert column(f, "lead_fs") == ["125.0,500.0"] and column(f, "leads") == ["Pleth,ECG"]
        assert_close(f["spectrograms"][:], torch_ecg(expected, n_channels=2, n_samples=5000, n_bins=64, fs=500))


# ---------------------------------------------------------------- any rate, read from a file


@pytest.mark.parametrize("rate", [249.89, pytest.param(62.4725, marks=pytest.mark.slow), 257])
def test_non_integer_rate_npz_matches_whole_resampling(tmp_path: Path, cinc_dir: Path, rate: float):
    signal = wfdb.rdrecord(str(cinc_dir / "E07500"), channels=[0, 1]).p_signal.T.astype(np.float32)
    folder = tmp_path / "in"
    folder.mkdir()
    np.savez(folder / "odd.npz", signal=signal, fs=np.float64(rate), leads=np.array(["I", "II"]))
    out = tmp_path / "odd.h5"
    res = run(folder, out, "--n-samples", "1000", "--n-bins", "64", "--n-channels", "2")
    assert res.exit_code == 0, res.output
    expected = reference_windows(list(signal), [rate, rate], 500, 1000, 1000)
    with h5py.File(out) as f:
        assert column(f, "lead_fs") == [",".join([repr(float(rate))] * 2)]
        assert f["spectrograms"].shape[0] == len(expected) > 0
        assert_close(f["spectrograms"][:], torch_ecg(expected, n_channels=2, n_samples=1000, n_bins=64, fs=500))


# ---------------------------------------------------------------- --channels: CLI, YAML, API


@pytest.mark.slow  # 1.7 s: test_channel_out_of_range_skips_that_record_only runs --channels in the fast tier
def test_channels_from_cli_yaml_and_api_agree_with_torch_ecg(tmp_path: Path, wfdb_dir: Path):
    src = wfdb_dir / "s0010_re"
    cli, yml, api = tmp_path / "cli.h5", tmp_path / "yaml.h5", tmp_path / "api.h5"
    assert run(src, cli, "--channels", "14,0,6", "--n-bins", "64").exit_code == 0
    config = tmp_path / "c.yaml"
    config.write_text("n_bins: 64\nextract:\n  channels: [14, 0, 6]\n")
    assert run(src, yml, "--config", config).exit_code == 0
    ecgspec.extract(src, api, {"n_bins": 64}, channels="14, 0,6", log=lambda m: None)
    rec = wfdb.rdrecord(str(src), channels=[14, 0, 6])
    expected = reference_windows(list(rec.p_signal.T), [1000] * 3, 500, 5000, 5000)
    with h5py.File(cli) as a, h5py.File(yml) as b, h5py.File(api) as c:
        assert column(a, "leads") == ["vz,i,v1"] and column(a, "lead_fs") == ["1000.0,1000.0,1000.0"]
        assert_close(a["spectrograms"][:], torch_ecg(expected, n_channels=3, n_samples=5000, n_bins=64, fs=500))
        assert np.array_equal(a["spectrograms"][:], b["spectrograms"][:])
        assert np.array_equal(a["spectrograms"][:], c["spectrograms"][:])


def test_channels_with_leads_is_a_usage_error(tmp_path: Path, wfdb_dir: Path):
    res = run(wfdb_dir / "100", tmp_path / "x.h5", "--channels", "1,0", "--leads", "MLII,V5")
    assert res.exit_code == 2 and res.stdout == ""
    assert res.stderr.splitlines() == [
        "ecgspec: error: leads, channels: got both; pick signals by name (leads) or by index (channels)"]
    config = tmp_path / "c.yaml"
    config.write_text("extract:\n  leads: [MLII, V5]\n")
    res = run(wfdb_dir / "100", tmp_path / "x.h5", "--config", config, "--channels", "1,0")
    assert res.exit_code == 2 and len(res.stderr.splitlines()) == 1
    with pytest.raises(ConfigError, match="got both"):
        ecgspec.extract(wfdb_dir / "100", tmp_path / "x.h5", leads="MLII,V5", channels=[1, 0])
    assert not (tmp_path / "x.h5").exists()


@pytest.mark.parametrize("bad", ["1,x", "-1", "", "1.5"])
def test_bad_channels_value_is_one_line(tmp_path: Path, wfdb_dir: Path, bad: str):
    res = run(wfdb_dir / "100", tmp_path / "x.h5", "--channels", bad)
    assert res.exit_code == 2 and len(res.stderr.splitlines()) == 1
    assert res.stderr.startswith("ecgspec: error: channels: got ")


def test_channel_out_of_range_skips_that_record_only(tmp_path: Path, data_dir: Path, copy_records):
    folder = copy_records(data_dir / "cpsc2021", ["data_21_7"])
    copy_records(data_dir / "wfdb", ["s0010_re"])
    out = tmp_path / "o.h5"
    res = extract(folder, out, "--channels", "5,0", workers=1)
    assert res.exit_code == 1
    assert "ecgspec: skipped data_21_7: has 2 signals, so channel 5 is out of range (0..1)" in res.stderr.splitlines()
    with h5py.File(out) as f:
        assert column(f, "name") == ["s0010_re"] and column(f, "leads") == ["avf,i"]


def test_lead_names_holding_commas_are_quoted(tmp_path: Path, cinc_dir: Path):
    signal = wfdb.rdrecord(str(cinc_dir / "E07500"), channels=[0, 1]).p_signal.T.astype(np.float32)
    folder = tmp_path / "in"
    folder.mkdir()
    np.savez(folder / "named.npz", signal=signal, fs=500.0, leads=np.array(["ECG, lead I", "ECG lead II"]))
    out = tmp_path / "q.h5"
    res = run(folder, out, "--leads", '"ecg lead ii", "ECG, Lead I"', "--n-bins", "64")
    assert res.exit_code == 0, res.output
    with h5py.File(out) as f:
        assert json.loads(f.attrs["config"])["leads"] == ["ecg lead ii", "ECG, Lead I"]
        assert_close(f["spectrograms"][:], torch_ecg(signal[[1, 0]][None], n_channels=2, n_samples=5000, n_bins=64,
                                                     fs=500))


# ---------------------------------------------------------------- /records/lead_fs and files from before it


def test_resume_of_a_file_written_before_lead_fs_fills_it(tmp_path: Path, cpsc_dir: Path, copy_records):
    folder = copy_records(cpsc_dir, ["data_21_7", "data_35_4"])
    out = tmp_path / "old.h5"
    args = ("--fs", "200", "--n-samples", "2000", "--n-channels", "2", "--n-bins", "64")
    assert run(folder, out, *args).exit_code == 0
    with h5py.File(out, "a") as f:  # as an ecgspec from before /records/lead_fs wrote it
        del f["records/lead_fs"]
        before = f["spectrograms"][:]
    copy_records(cpsc_dir, ["data_8_2"])
    res = run(folder, out, *args, "--resume")
    assert res.exit_code == 0, res.output
    with h5py.File(out) as f:
        assert column(f, "name") == ["data_21_7", "data_35_4", "data_8_2"]
        assert column(f, "lead_fs") == ["200.0,200.0"] * 3
        assert np.array_equal(f["spectrograms"][: len(before)], before)
    with ecgspec.open(out) as ds:
        assert ds.records["lead_fs"].tolist() == ["200.0,200.0"] * 3


@pytest.mark.slow
def test_extract_without_resampling_never_imports_scipy_signal(tmp_path: Path, cpsc_dir: Path):
    code = (
        "import sys, ecgspec; "
        f"ecgspec.extract({str(cpsc_dir / 'data_21_7')!r}, {str(tmp_path / 'n.h5')!r}, "
        "{'fs': 200, 'n_samples': 2000, 'n_channels': 2, 'n_bins': 64}, log=lambda m: None); "
        "print('scipy.signal' in sys.modules)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "False"
