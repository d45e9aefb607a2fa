"""`ecgspec extract`, `shape` and `info` on the real records, checked against torch_ecg per window."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
import wfdb
from scipy.signal import resample_poly

import ecgspec
from tests.helpers.cli import invoke as run
from tests.helpers.compare import assert_close
from tests.helpers.reference import torch_ecg

SEED = dict(n_channels=12, n_samples=5000, n_bins=128, fs=500)


@pytest.fixture(scope="module")
def cinc_h5(tmp_path_factory, cinc_dir: Path) -> Path:
    out = tmp_path_factory.mktemp("cinc") / "out.h5"
    result = run("extract", str(cinc_dir), str(out), "--quiet")
    assert result.exit_code == 0, result.output
    return out


@pytest.mark.slow
def test_cinc_50_windows_match_torch_ecg(cinc_h5: Path, cinc_dir: Path):
    with h5py.File(cinc_h5) as f:
        names = [n.decode() if isinstance(n, bytes) else n for n in f["records/name"][:]]
        assert names == sorted(p.stem for p in cinc_dir.glob("*.hea")) and len(names) == 50
        assert f["spectrograms"].shape == (50, 12, 128, 385)
        assert list(f["windows/record"][:]) == list(range(50))
        assert not f["windows/start"][:].any()
        signals = np.stack([wfdb.rdrecord(str(cinc_dir / n)).p_signal.T for n in names])
        assert_close(f["spectrograms"][:], torch_ecg(signals, **SEED))
        assert f["records/fs"][:].tolist() == [500.0] * 50
        assert f["records/n_samples"][:].tolist() == [5000] * 50
        leads = f["records/leads"][0]
        assert (leads.decode() if isinstance(leads, bytes) else leads) == "I,II,III,aVR,aVL,aVF,V1,V2,V3,V4,V5,V6"
        config = json.loads(f.attrs["config"])
        assert config["n_bins"] == 128 and config["fs"] == 500 and config["n_samples"] == 5000
        assert (f.attrs["n_fft"], f.attrs["win_length"], f.attrs["hop_length"]) == (254, 25, 13)
        assert list(f.attrs["window_shape"]) == [12, 128, 385]
        np.testing.assert_allclose(f["frequencies"][:], np.arange(128) * 500 / 254)
        assert f.attrs["ecgspec_version"] == ecgspec.__version__


def test_cpsc_window_count_is_floor_len_over_2000(tmp_path: Path, cpsc_dir: Path):
    out = tmp_path / "cpsc.h5"
    result = run("extract", str(cpsc_dir), str(out), "--fs", "200", "--n-samples", "2000", "--n-channels", "2",
                 "--json", "--quiet")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    with h5py.File(out) as f:
        lengths = f["records/n_samples"][:]
        expected = [wfdb.rdheader(str(cpsc_dir / n.decode() if isinstance(n, bytes) else cpsc_dir / n)).sig_len
                    for n in f["records/name"][:]]
        assert lengths.tolist() == expected and len(expected) == 18
        assert f["records/n_windows"][:].tolist() == [n // 2000 for n in expected]
        assert summary["windows"] == sum(n // 2000 for n in expected) == f["spectrograms"].shape[0]
        # window 3 of record 1 against torch_ecg on the same samples
        rows = np.flatnonzero(f["windows/record"][:] == 1)
        start = int(f["windows/start"][rows[3]])
        assert start == 3 * 2000
        name = f["records/name"][1]
        rec = wfdb.rdrecord(str(cpsc_dir / (name.decode() if isinstance(name, bytes) else name)))
        window = rec.p_signal.T[:, start:start + 2000][None]
        assert_close(f["spectrograms"][rows[3]][None], torch_ecg(window, n_channels=2, n_samples=2000, n_bins=128, fs=200))


@pytest.mark.slow  # 1.5 s: resampling runs through extract in tests/run/test_multirate_extract.py in the fast tier
def test_mitbih_100_is_resampled_to_500hz(tmp_path: Path, wfdb_dir: Path):
    out = tmp_path / "100.h5"
    result = run("extract", str(wfdb_dir / "100"), str(out), "--n-channels", "2", "--quiet")
    assert result.exit_code == 0, result.output
    signal = resample_poly(wfdb.rdrecord(str(wfdb_dir / "100")).p_signal.T, 25, 18, axis=-1)
    with h5py.File(out) as f:
        assert f["records/fs"][0] == 360.0 and f["records/n_samples"][0] == 650000
        assert f["records/n_windows"][0] == signal.shape[1] // 5000 == 180
        for i in (0, 97, 179):
            start = int(f["windows/start"][i])
            assert start == 5000 * i
            window = signal[:, start:start + 5000][None]
            assert_close(f["spectrograms"][i][None], torch_ecg(window, **dict(SEED, n_channels=2)))


def test_leads_selects_and_orders_case_insensitively(tmp_path: Path, wfdb_dir: Path):
    out = tmp_path / "ptb.h5"
    result = run("extract", str(wfdb_dir / "s0010_re.hea"), str(out), "--leads", "V1,I,II", "--quiet")
    assert result.exit_code == 0, result.output
    rec = wfdb.rdrecord(str(wfdb_dir / "s0010_re"))
    signal = resample_poly(rec.p_signal.T[[6, 0, 1]], 1, 2, axis=-1)
    with h5py.File(out) as f:
        leads = f["records/leads"][0]
        assert (leads.decode() if isinstance(leads, bytes) else leads) == "v1,i,ii"
        assert f["spectrograms"].shape == (3, 3, 128, 385)  # 19200 samples at 500 Hz
        assert json.loads(f.attrs["config"])["leads"] == ["V1", "I", "II"]
        assert_close(f["spectrograms"][1][None], torch_ecg(signal[:, 5000:10000][None], **dict(SEED, n_channels=3)))


def test_shape_json_agrees_with_engine_and_extract(tmp_path: Path, wfdb_dir: Path):
    args = ["--fs", "250", "--n-samples", "2500", "--n-bins", "64", "--feature-fs", "50", "--to1d", "--leads", "MLII,V5"]
    shape = json.loads(run("shape", *args, "--batch-size", "4", "--json").output)
    engine = ecgspec.SpectrogramInput(ecgspec.InputConfig(n_channels=2, n_samples=2500, n_bins=64, fs=250,
                                                          feature_fs=50, to1d=True, device="cpu"))
    assert tuple(shape["shape"]) == engine.compute_input_shape((4, 2, 2500)) == (4, 128, engine.n_frames)
    assert (shape["n_fft"], shape["win_length"], shape["hop_length"], shape["n_bins"]) == (126, 12, 6, 64)
    assert run("shape", *args).output.strip() == str(engine.compute_input_shape((1, 2, 2500)))
    out = tmp_path / "x.h5"
    assert run("extract", str(wfdb_dir / "100"), str(out), *args, "--quiet").exit_code == 0
    with h5py.File(out) as f:
        assert f["spectrograms"].shape[1:] == tuple(shape["shape"][1:])
        assert list(f.attrs["window_shape"]) == shape["shape"][1:]


def test_shape_default_is_seed_config():
    assert run("shape").output.strip() == "(1, 12, 128, 385)"


def test_config_file_and_overrides(tmp_path: Path, cpsc_dir: Path):
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("n_bins: 64\nfs: 200\nn_samples: 2000\nn_channels: 2\nextract:\n  stride: 1000\n  batch_size: 7\n")
    shape = json.loads(run("shape", "--config", str(cfg), "--json").output)
    assert shape["shape"] == [1, 2, 64, 2000 // 5 + 1]
    assert json.loads(run("shape", "--config", str(cfg), "--n-bins", "32", "--json").output)["n_bins"] == 32
    out = tmp_path / "o.h5"
    res = run("extract", str(cpsc_dir / "data_21_7"), str(out), "--config", str(cfg), "--quiet", "--json")
    assert res.exit_code == 0, res.output
    with h5py.File(out) as f:
        n = int(f["records/n_samples"][0])
        assert f["records/n_windows"][0] == (n - 2000) // 1000 + 1
        assert f["windows/start"][:3].tolist() == [0, 1000, 2000]


def test_same_file_whatever_the_input_order_and_stdin(tmp_path: Path, cinc_dir: Path):
    names = ["JS20003", "E07501", "HR06007"]
    a, b, c = tmp_path / "a.h5", tmp_path / "b.h5", tmp_path / "c.h5"
    assert run("extract", *[str(cinc_dir / n) for n in names], str(a), "--quiet").exit_code == 0
    assert run("extract", *[str(cinc_dir / n) for n in reversed(names)], str(b), "--quiet").exit_code == 0
    stdin = "\n".join(str(cinc_dir / f"{n}.hea") for n in names) + "\n"
    assert run("extract", "-", str(c), "--quiet", input=stdin).exit_code == 0
    with h5py.File(a) as fa, h5py.File(b) as fb, h5py.File(c) as fc:
        for key in ("spectrograms", "windows/start", "windows/record", "records/name"):
            assert np.array_equal(fa[key][:], fb[key][:]) and np.array_equal(fa[key][:], fc[key][:])
        assert [n.decode() for n in fa["records/name"][:]] == sorted(names)


def test_python_api_and_dataset(tmp_path: Path, cinc_dir: Path):
    out = tmp_path / "api.h5"
    result = ecgspec.extract(cinc_dir / "E07500", out, {"n_bins": 64}, leads="I,II", log=lambda m: None)
    assert (result.records, result.windows, result.errors) == (1, 1, [])
    with ecgspec.open(out) as ds:
        spec, name, start = ds[0]
        assert len(ds) == 1 and name == "E07500" and start == 0
        assert isinstance(spec, torch.Tensor) and tuple(spec.shape) == (2, 64, 385)
        signal = wfdb.rdrecord(str(cinc_dir / "E07500"), channels=[0, 1]).p_signal.T[None]
        assert_close(spec.numpy()[None], torch_ecg(signal, n_channels=2, n_samples=5000, n_bins=64, fs=500))
        assert ds.config["n_bins"] == 64


def test_info_reports_the_file(cinc_h5: Path):
    res = run("info", str(cinc_h5), "--json")
    assert res.exit_code == 0
    desc = json.loads(res.output)
    assert desc["records"] == 50 and desc["windows"] == 50
    assert list(desc["window_shape"]) == [12, 128, 385]
    assert desc["size_bytes"] > 50 * 12 * 128 * 385 * 4 * 0.9
    assert desc["ecgspec_version"] == ecgspec.__version__
    text = run("info", str(cinc_h5)).output
    assert "50" in text and "window_shape" in text


@pytest.mark.slow
def test_summary_line_and_progress_go_to_stderr(tmp_path: Path, cinc_dir: Path):
    out = tmp_path / "s.h5"
    proc = subprocess.run([sys.executable, "-m", "ecgspec.cli", "extract", str(cinc_dir / "E07500"), str(out)],
                          capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout == ""
    assert "1 records read, 1 windows written, 0 records without windows" in proc.stderr
    assert "windows/s" in proc.stderr


def test_record_shorter_than_a_window_is_listed(tmp_path: Path, wfdb_dir: Path):
    out = tmp_path / "short.h5"
    res = run("extract", str(wfdb_dir / "100_3chan"), str(out), "--n-channels", "3", "--json", "--quiet")
    assert res.exit_code == 0
    assert json.loads(res.output)["empty"] == ["100_3chan"]
    with h5py.File(out) as f:
        assert f["records/n_windows"][:].tolist() == [0] and f["spectrograms"].shape[0] == 0


@pytest.mark.parametrize(
    "args, message",
    [
        (["extract", "x", "y.h5", "--dtype", "float64"], "Invalid value for '--dtype'"),
        (["extract"], "Missing argument"),
        (["shape", "--n-bins", "4"], "window_size: got 0.05"),
        (["bogus"], "No such command 'bogus'"),
    ],
)
def test_usage_errors_are_one_line_with_status_2(args, message):
    proc = subprocess.run([sys.executable, "-m", "ecgspec", *args], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("ecgspec: error: ") and message in proc.stderr


def test_device_cuda_without_a_gpu_is_a_clear_fatal_error(tmp_path: Path, cinc_dir: Path):
    res = run("extract", cinc_dir / "E07500", tmp_path / "o.h5", "--device", "cuda", "--quiet")
    if torch.cuda.is_available():
        assert res.exit_code == 0
    else:
        assert res.exit_code == 2 and "torch sees no CUDA device" in res.output
        assert not (tmp_path / "o.h5").exists()


def test_config_sample_rate_alias_and_unknown_keys(tmp_path: Path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("sample_rate: 250\nn_bins: 64\nname: spectrogram\n")
    shape = json.loads(run("shape", "--config", str(cfg), "--json").output)
    assert shape["fs"] == 250 and shape["win_length"] == 12  # round(12.5) == 12
    cfg.write_text("sample_rate: 250\nfs: 500\n")
    res = run("shape", "--config", str(cfg))
    assert res.exit_code == 2 and "sample_rate: got 250 but fs is 500" in res.output
    cfg.write_text("n_bin: 64\n")
    res = run("shape", "--config", str(cfg))
    assert res.exit_code == 2 and "unknown key 'n_bin'" in res.output
    cfg.write_text("stride: 100\n")
    assert "command options go under 'extract:'" in run("shape", "--config", str(cfg)).output


def test_info_on_a_file_that_is_not_ours_is_one_line(tmp_path: Path):
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["x"] = np.zeros(3)
    res = run("info", str(other))
    assert res.exit_code == 2 and "not an ecgspec output (no spectrograms)" in res.output
    assert res.output.count("\n") == 1


def test_info_into_a_pipe_closed_early_ends_quietly_as_cat_does(cinc_h5: Path):
    # `ecgspec info out.h5 | head -1`: the reader closed the pipe; no "internal error" line, status 128 + SIGPIPE
    proc = subprocess.Popen([sys.executable, "-m", "ecgspec", "info", str(cinc_h5)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    proc.stdout.close()
    with proc.stderr:
        err = proc.stderr.read().decode()
    assert proc.wait() == 141 and err == ""


@pytest.mark.slow
def test_unallocatable_batch_is_one_line_and_leaves_no_partial(tmp_path: Path, cinc_dir: Path):
    out = tmp_path / "o.h5"
    proc = subprocess.run([sys.executable, "-m", "ecgspec", "extract", str(cinc_dir / "E07500"), str(out),
                           "--batch-size", "10000000000"], capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.startswith("ecgspec: error: ") and proc.stderr.count("\n") == 1
    assert "--batch-size" in proc.stderr and "bug" not in proc.stderr  # the user's setting, not ecgspec's fault
    assert list(tmp_path.iterdir()) == []
