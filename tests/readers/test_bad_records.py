"""Bad records through `ecgspec extract`: each one skipped with one line and listed, the rest written in full.

Every case runs on copies of the real records in a temporary folder: one good record
(a copy of cinc2021/E07500) beside the bad one, and the good record's windows must
equal those of a run over the good record alone.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Callable

import h5py
import numpy as np
import pytest
import torch
import wfdb
from click.testing import Result

from ecgspec import InputConfig, SpectrogramInput
from ecgspec.signal.windowing import fill_missing
from tests.helpers.cli import extract, invoke
from tests.helpers.compare import digest
from tests.helpers.paths import ROOT

GOOD = "E07500"
SMALL = ["--n-bins", "32", "--feature-fs", "50"]  # small windows keep the files and the runs light


def run(*args: str) -> Result:
    return extract(*args, workers=1)


def read(path: Path) -> dict[str, np.ndarray]:
    """Every dataset of an output, strings decoded."""
    out: dict[str, np.ndarray] = {}
    with h5py.File(path, "r") as f:
        def visit(name: str, obj: object) -> None:
            if isinstance(obj, h5py.Dataset):
                out[name] = obj.asstr()[()] if h5py.check_string_dtype(obj.dtype) else obj[()]
        f.visititems(visit)
        out["complete"] = np.asarray(f.attrs["complete"])
    return out


def errors(data: dict[str, np.ndarray]) -> list[tuple[str, str]]:
    return list(zip(data["errors/name"].tolist(), data["errors/message"].tolist()))


def engine(n_channels: int = 12, **cfg) -> SpectrogramInput:
    return SpectrogramInput(InputConfig(n_channels=n_channels, n_samples=5000, n_bins=32, fs=500, feature_fs=50,
                                        device="cpu", **cfg))


def good_signal(cinc_dir: Path) -> np.ndarray:
    return wfdb.rdrecord(str(cinc_dir / GOOD)).p_signal.T.astype(np.float32)


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory, cinc_dir: Path) -> dict[str, np.ndarray]:
    """The output for the good record alone."""
    folder = tmp_path_factory.mktemp("ref")
    for f in cinc_dir.glob(GOOD + ".*"):
        shutil.copy(f, folder / f.name)
    out = folder / "ref.h5"
    res = run(folder / f"{GOOD}.hea", out, *SMALL)
    assert res.exit_code == 0, res.output
    return read(out)


# ---------------------------------------------------------------- the bad records


def _copy_wfdb(folder: Path, src: Path, name: str, new: str) -> Path:
    """Copy record ``name`` of ``src`` as ``new`` (header and signal files renamed); return the header."""
    header = (src / f"{name}.hea").read_text()
    for f in src.glob(name + ".*"):
        if f.suffix != ".hea":
            shutil.copy(f, folder / (new + f.suffix))
    (folder / f"{new}.hea").write_text(header.replace(name, new))
    return folder / f"{new}.hea"


def _cut(path: Path, size: int) -> None:
    with open(path, "r+b") as f:
        f.truncate(size)


def garbage_header(folder: Path, data: Path) -> None:
    (folder / "bad.hea").write_text("this is not\na WFDB header at all\n")


def random_header(folder: Path, data: Path) -> None:
    (folder / "bad.hea").write_bytes(np.random.default_rng(7).bytes(512))


def missing_signal_file(folder: Path, data: Path) -> None:
    _copy_wfdb(folder, data / "cinc2021", "E07501", "bad")
    (folder / "bad.mat").unlink()


def truncated_signal_file(folder: Path, data: Path) -> None:
    _copy_wfdb(folder, data / "cinc2021", "E07501", "bad")
    _cut(folder / "bad.mat", 5000)


def truncated_212_file(folder: Path, data: Path) -> None:
    _copy_wfdb(folder, data / "wfdb", "100", "bad")
    _cut(folder / "bad.dat", (folder / "bad.dat").stat().st_size - 1)


def zero_byte_signal_file(folder: Path, data: Path) -> None:
    _copy_wfdb(folder, data / "cinc2021", "E07501", "bad")
    _cut(folder / "bad.mat", 0)


def zero_byte_header(folder: Path, data: Path) -> None:
    (folder / "bad.hea").write_bytes(b"")


def zero_byte_npy(folder: Path, data: Path) -> None:
    (folder / "bad.npy").write_bytes(b"")


def zero_byte_npz(folder: Path, data: Path) -> None:
    (folder / "bad.npz").write_bytes(b"")


def npy_rank_1(folder: Path, data: Path) -> None:
    np.save(folder / "bad.npy", np.zeros(60000, dtype=np.float32))


def npy_rank_3(folder: Path, data: Path) -> None:
    np.save(folder / "bad.npy", np.zeros((1, 12, 5000), dtype=np.float32))


def npy_strings(folder: Path, data: Path) -> None:
    np.save(folder / "bad.npy", np.full((12, 5000), "x"))


def npy_objects(folder: Path, data: Path) -> None:
    np.save(folder / "bad.npy", np.full((12, 5000), None, dtype=object), allow_pickle=True)


def npy_complex(folder: Path, data: Path) -> None:
    np.save(folder / "bad.npy", np.zeros((12, 5000), dtype=np.complex64))


def npy_truncated(folder: Path, data: Path) -> None:
    np.save(folder / "bad.npy", good_signal(data / "cinc2021"))
    _cut(folder / "bad.npy", 1000)


def npz_without_signal(folder: Path, data: Path) -> None:
    np.savez(folder / "bad.npz", data=good_signal(data / "cinc2021"), fs=500)


def npz_without_fs(folder: Path, data: Path) -> None:
    np.savez(folder / "bad.npz", signal=good_signal(data / "cinc2021"))


def npz_not_a_zip(folder: Path, data: Path) -> None:
    (folder / "bad.npz").write_bytes(np.random.default_rng(1).bytes(3000))


def npz_truncated(folder: Path, data: Path) -> None:
    np.savez(folder / "bad.npz", signal=good_signal(data / "cinc2021"), fs=500)
    _cut(folder / "bad.npz", (folder / "bad.npz").stat().st_size // 2)


def wrong_channel_count_wfdb(folder: Path, data: Path) -> None:
    _copy_wfdb(folder, data / "cpsc2021", "data_21_7", "bad")  # 2 leads, 12 wanted


def wrong_channel_count_npy(folder: Path, data: Path) -> None:
    np.save(folder / "bad.npy", good_signal(data / "cinc2021")[:3])


def values_too_large(folder: Path, data: Path) -> None:
    np.save(folder / "bad.npy", good_signal(data / "cinc2021") * np.float32(1e30))


def unsupported_rate(folder: Path, data: Path) -> None:
    np.savez(folder / "bad.npz", signal=good_signal(data / "cinc2021"), fs=1e-9)  # 1:5e11, beyond any filter


BAD: dict[str, tuple[Callable[[Path, Path], None], str]] = {
    "garbage header": (garbage_header, r"header"),
    "random bytes header": (random_header, r"header"),
    "header naming a missing signal file": (missing_signal_file, r"signal file bad\.mat is missing"),
    "header naming a truncated signal file": (truncated_signal_file, r"signal file bad\.mat is truncated"),
    "fmt 212 signal file one byte short": (truncated_212_file, r"bad\.dat is truncated"),
    "zero-byte signal file": (zero_byte_signal_file, r"bad\.mat is empty"),
    "zero-byte header": (zero_byte_header, r"header file is empty"),
    "zero-byte npy": (zero_byte_npy, r"npy"),
    "zero-byte npz": (zero_byte_npz, r"npz"),
    "npy of rank 1": (npy_rank_1, r"shape \(60000,\)"),
    "npy of rank 3": (npy_rank_3, r"shape \(1, 12, 5000\)"),
    "npy of strings": (npy_strings, r"dtype <U1"),
    "npy of objects": (npy_objects, r"dtype object"),
    "npy of complex numbers": (npy_complex, r"dtype complex64"),
    "truncated npy": (npy_truncated, r"npy"),
    "npz without signal": (npz_without_signal, r"no 'signal' array"),
    "npz without fs": (npz_without_fs, r"no 'fs' array"),
    "npz of random bytes": (npz_not_a_zip, r"npz"),
    "truncated npz": (npz_truncated, r"npz"),
    "wrong channel count (WFDB)": (wrong_channel_count_wfdb, r"has 2 signals, expected n_channels=12"),
    "wrong channel count (npy)": (wrong_channel_count_npy, r"has 3 signals, expected n_channels=12"),
    "values beyond float32 power": (values_too_large, r"too large"),
    "sampling rate that cannot be resampled": (unsupported_rate, r"cannot resample"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_record_is_skipped_listed_and_costs_nothing_else(
    case: str, tmp_path: Path, data_dir: Path, copy_records, reference: dict[str, np.ndarray]
) -> None:
    make, reason = BAD[case]
    folder = copy_records(data_dir / "cinc2021", [GOOD])
    make(folder, data_dir)
    before = digest(folder)
    out = tmp_path / "out.h5"
    res = run(folder, out, *SMALL)
    assert res.exit_code == 1, res.output
    lines = res.stderr.splitlines()
    skipped = [line for line in lines if line.startswith("ecgspec: skipped ")]
    assert len(skipped) == 1 and skipped[0].startswith("ecgspec: skipped bad: "), res.stderr
    assert re.search(reason, skipped[0]), skipped[0]
    assert "Traceback" not in res.output and "Error:" not in res.stderr
    got = read(out)
    assert errors(got) == [("bad", skipped[0][len("ecgspec: skipped bad: "):])]
    assert "\n" not in got["errors/message"][0]
    for key in ("spectrograms", "windows/record", "windows/start", "records/name", "records/n_windows"):
        assert np.array_equal(got[key], reference[key]), key
    assert got["complete"] and np.isfinite(got["spectrograms"]).all()
    assert digest(folder) == before  # inputs read-only: nothing changed, nothing added
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == ["out.h5"]


def test_all_bad_records_together_in_one_folder(tmp_path: Path, data_dir: Path, copy_records,
                                                reference: dict[str, np.ndarray]) -> None:
    folder = copy_records(data_dir / "cinc2021", [GOOD])
    for i, (make, _) in enumerate(BAD.values()):
        sub = folder / f"case{i:02d}"
        sub.mkdir()
        make(sub, data_dir)
    out = tmp_path / "out.h5"
    res = run(folder, out, *SMALL, "--workers", "2")
    assert res.exit_code == 1, res.output
    got = read(out)
    names = [f"case{i:02d}/bad" for i in range(len(BAD))]
    assert sorted(name for name, _ in errors(got)) == names
    for (name, message), (_, reason) in zip(sorted(errors(got)), BAD.values()):
        assert re.search(reason, message), (name, message)
        assert f"ecgspec: skipped {name}: {message}" in res.stderr.splitlines()
    assert np.array_equal(got["spectrograms"], reference["spectrograms"])
    assert got["records/name"].tolist() == [GOOD]
    assert f"1 records read, 1 windows written, 0 records without windows, {len(BAD)} skipped" in res.stderr


def test_on_error_fail_stops_at_the_first_bad_record(tmp_path: Path, data_dir: Path, copy_records) -> None:
    folder = copy_records(data_dir / "cinc2021", [GOOD, "E07501"])
    truncated_signal_file(folder, data_dir)  # "bad" sorts after E07500, before nothing else
    out = tmp_path / "out.h5"
    res = run(folder, out, *SMALL, "--on-error", "fail")
    assert res.exit_code == 2, res.output
    err = [line for line in res.stderr.splitlines() if line.startswith("ecgspec: error:")]
    assert len(err) == 1 and "bad" in err[0] and "truncated" in err[0] and "--on-error fail" in err[0]
    assert "Traceback" not in res.output
    assert not out.exists()  # never a finished OUTPUT after a failure


def test_missing_lead_with_leads(tmp_path: Path, data_dir: Path, copy_records) -> None:
    folder = copy_records(data_dir / "cinc2021", [GOOD])
    _copy_wfdb(folder, data_dir / "cpsc2021", "data_21_7", "twolead")  # leads I, II only
    out = tmp_path / "out.h5"
    res = run(folder, out, *SMALL, "--leads", "I,II,V1")
    assert res.exit_code == 1, res.output
    got = read(out)
    assert errors(got) == [("twolead", "has no lead V1 (leads: I, II)")]
    assert "ecgspec: skipped twolead: has no lead V1 (leads: I, II)" in res.stderr.splitlines()
    assert got["records/name"].tolist() == [GOOD] and got["records/leads"].tolist() == ["I,II,V1"]
    signal = good_signal(data_dir / "cinc2021")[[0, 1, 6]][None]
    expected = engine(3)(torch.from_numpy(signal)).numpy()
    assert np.array_equal(got["spectrograms"], expected)


def test_input_path_that_does_not_exist(tmp_path: Path, data_dir: Path, copy_records) -> None:
    out = tmp_path / "out.h5"
    res = run(tmp_path / "nowhere", out, *SMALL)
    assert res.exit_code == 2
    assert res.stderr.strip().count("\n") == 0 and "no records found" in res.stderr and "nowhere" in res.stderr
    assert not out.exists() and not (tmp_path / "out.h5.partial").exists()
    folder = copy_records(data_dir / "cinc2021", [GOOD])
    res = run(folder, tmp_path / "nowhere", out, *SMALL)
    assert res.exit_code == 1, res.output
    got = read(out)
    assert errors(got) == [("nowhere", f"no such file or folder: {tmp_path / 'nowhere'}")]
    assert got["records/name"].tolist() == [GOOD]


def test_unrelated_files_are_ignored(tmp_path: Path, data_dir: Path, copy_records) -> None:
    folder = copy_records(data_dir / "cinc2021", [GOOD])
    (folder / "README.txt").write_text("notes")
    (folder / "labels.csv").write_text("a,b\n1,2\n")
    (folder / "stray.mat").write_bytes(b"\0" * 100)  # a signal file without a header
    (folder / "RECORDS").write_text(GOOD + "\n")
    (folder / ".hidden.hea").write_text("garbage")
    (folder / ".cache").mkdir()
    (folder / ".cache" / "x.npy").write_bytes(b"garbage")
    (folder / "sub").mkdir()
    (folder / "sub" / "image.png").write_bytes(b"\x89PNG")
    out = tmp_path / "out.h5"
    res = run(folder, out, *SMALL, "--json")
    assert res.exit_code == 0, res.output
    got = read(out)
    assert got["records/name"].tolist() == [GOOD] and errors(got) == []
    assert "ecgspec: skipped" not in res.stderr and " 0 skipped" in res.stderr


def test_flat_line_record_is_written_finite(tmp_path: Path, data_dir: Path, copy_records) -> None:
    folder = copy_records(data_dir / "cinc2021", [GOOD])
    np.save(folder / "flat.npy", np.full((12, 5000), 0.25, dtype=np.float32))
    np.save(folder / "zeros.npy", np.zeros((12, 5000), dtype=np.int16))
    out = tmp_path / "out.h5"
    res = run(folder, out, *SMALL)
    assert res.exit_code == 0, res.output
    got = read(out)
    assert got["records/name"].tolist() == [GOOD, "flat", "zeros"]
    assert got["records/n_windows"].tolist() == [1, 1, 1]
    assert np.isfinite(got["spectrograms"]).all()
    e = engine()
    assert np.array_equal(got["spectrograms"][1], e(torch.full((1, 12, 5000), 0.25)).numpy()[0])
    assert not got["spectrograms"][2].any()


def test_record_shorter_than_one_window_is_listed_not_an_error(tmp_path: Path, data_dir: Path,
                                                               copy_records) -> None:
    folder = copy_records(data_dir / "cinc2021", [GOOD])
    np.save(folder / "short.npy", good_signal(data_dir / "cinc2021")[:, :4999])
    out = tmp_path / "out.h5"
    res = run(folder, out, *SMALL, "--json")
    assert res.exit_code == 0, res.output
    assert '"empty": ["short"]' in res.stdout
    got = read(out)
    assert got["records/name"].tolist() == [GOOD, "short"] and got["records/n_windows"].tolist() == [1, 0]
    assert got["records/n_samples"].tolist() == [5000, 4999] and errors(got) == []
    assert got["spectrograms"].shape[0] == 1


# ---------------------------------------------------------------- missing samples


def test_nan_and_inf_are_filled_counted_and_never_written(tmp_path: Path, data_dir: Path) -> None:
    signal = good_signal(data_dir / "cinc2021")
    holed = signal.copy()
    holed[0, :40] = np.nan  # leading gap: nearest valid sample
    holed[3, 1000:1100] = np.inf  # interior gap: linear
    holed[5, 2500] = -np.inf
    holed[11, -7:] = np.nan  # trailing gap
    folder = tmp_path / "in"
    folder.mkdir()
    np.save(folder / "holes.npy", holed)
    out = tmp_path / "out.h5"
    res = run(folder, out, *SMALL)
    assert res.exit_code == 0, res.output
    got = read(out)
    assert got["records/nan_filled"].tolist() == [40 + 100 + 1 + 7]
    assert np.isfinite(got["spectrograms"]).all()
    filled = holed.copy()
    assert fill_missing(filled) == 148
    assert filled[0, 0] == signal[0, 40] and filled[11, -1] == signal[11, -8]
    assert np.allclose(filled[3, 1000:1100], np.linspace(signal[3, 999], signal[3, 1100], 102)[1:-1], atol=1e-5)
    expected = engine()(torch.from_numpy(filled[None])).numpy()
    assert np.array_equal(got["spectrograms"], expected)


def test_windows_with_too_many_missing_samples_are_skipped(tmp_path: Path, data_dir: Path) -> None:
    cinc = data_dir / "cinc2021"
    signal = np.concatenate([wfdb.rdrecord(str(cinc / n)).p_signal.T for n in ("E07500", "E07501", "E07502")],
                            axis=1).astype(np.float32)
    signal[2, 5000:5000 + 1000] = np.nan  # 20 % of window 1 on one channel
    signal[7, 10000:10000 + 400] = np.nan  # 8 % of window 2
    folder = tmp_path / "in"
    folder.mkdir()
    np.save(folder / "long.npy", signal)
    res = run(folder, tmp_path / "a.h5", *SMALL)
    assert res.exit_code == 0, res.output
    got = read(tmp_path / "a.h5")
    assert got["windows/start"].tolist() == [0, 10000]
    assert got["records/n_windows"].tolist() == [2] and got["records/nan_filled"].tolist() == [1400]
    assert np.isfinite(got["spectrograms"]).all()
    res = run(folder, tmp_path / "b.h5", *SMALL, "--max-nan", "0.25")
    assert res.exit_code == 0, res.output
    loose = read(tmp_path / "b.h5")
    assert loose["windows/start"].tolist() == [0, 5000, 10000]
    assert np.array_equal(loose["spectrograms"][[0, 2]], got["spectrograms"])
    assert np.isfinite(loose["spectrograms"]).all()
    res = run(folder, tmp_path / "c.h5", *SMALL, "--max-nan", "0")
    assert read(tmp_path / "c.h5")["windows/start"].tolist() == [0]
    assert run(folder, tmp_path / "d.h5", *SMALL, "--max-nan", "1.5").exit_code == 2


def test_all_missing_record_is_written_without_windows(tmp_path: Path, data_dir: Path, copy_records) -> None:
    folder = copy_records(data_dir / "cinc2021", [GOOD])
    np.save(folder / "void.npy", np.full((12, 5000), np.nan, dtype=np.float32))
    out = tmp_path / "out.h5"
    res = run(folder, out, *SMALL)
    assert res.exit_code == 0, res.output
    got = read(out)
    assert got["records/name"].tolist() == [GOOD, "void"]
    assert got["records/n_windows"].tolist() == [1, 0] and got["records/nan_filled"].tolist() == [0, 60000]
    assert np.isfinite(got["spectrograms"]).all() and got["spectrograms"].shape[0] == 1


def test_float16_output_of_large_values_is_finite(tmp_path: Path, data_dir: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    np.save(folder / "loud.npy", good_signal(data_dir / "cinc2021") * np.float32(1e6))
    out = tmp_path / "out.h5"
    res = run(folder, out, *SMALL, "--dtype", "float16")
    assert res.exit_code == 0, res.output
    values = read(out)["spectrograms"]
    assert values.dtype == np.float16 and np.isfinite(values).all()
    assert values.max() == np.finfo(np.float16).max


# ---------------------------------------------------------------- fatal errors and the output


def test_fatal_errors_are_one_line_exit_2(tmp_path: Path, data_dir: Path, copy_records) -> None:
    folder = copy_records(data_dir / "cinc2021", [GOOD])
    cases = {
        "bad config": ([folder, tmp_path / "o1.h5", "--n-bins", "0"], "n_bins"),
        "bad yaml": ([folder, tmp_path / "o2.h5", "--config", tmp_path / "nope.yaml"], "config"),
        "output folder missing": ([folder, tmp_path / "no" / "o3.h5"], "does not exist"),
        "empty folder": ([tmp_path / "empty", tmp_path / "o4.h5"], "no records found"),
        "both flags": ([folder, tmp_path / "o5.h5", "--overwrite", "--resume"], "--overwrite"),
        "output beside a file": ([folder, tmp_path / "afile" / "o6.h5"], "does not exist"),
    }
    (tmp_path / "empty").mkdir()
    (tmp_path / "afile").write_text("x")
    for case, (args, text) in cases.items():
        res = run(*args)
        assert res.exit_code == 2, (case, res.output)
        assert res.stderr.count("\n") == 1 and res.stderr.startswith("ecgspec: error:"), (case, res.stderr)
        assert text in res.stderr and "Traceback" not in res.stderr, (case, res.stderr)
    usage = {  # rejected by click's parser: exit 2, its usage text and one "Error:" line
        "output is a folder": [folder, tmp_path / "empty"],
        "unknown dtype": [folder, tmp_path / "o7.h5", "--dtype", "float64"],
        "unknown on-error": [folder, tmp_path / "o8.h5", "--on-error", "maybe"],
    }
    for case, args in usage.items():
        res = run(*args)
        assert res.exit_code == 2, (case, res.output)
        assert [line for line in res.stderr.splitlines() if line.startswith("Error:")], (case, res.stderr)
        assert "Traceback" not in res.stderr
    assert sorted(p.name for p in tmp_path.rglob("*") if "records" not in p.parts) == ["afile", "empty"]


def test_existing_output_is_never_touched_without_a_flag(tmp_path: Path, data_dir: Path, copy_records) -> None:
    folder = copy_records(data_dir / "cinc2021", [GOOD])
    out = tmp_path / "out.h5"
    out.write_bytes(b"precious")
    res = run(folder, out, *SMALL)
    assert res.exit_code == 2 and "exists" in res.stderr and "--overwrite" in res.stderr
    assert out.read_bytes() == b"precious" and not (tmp_path / "out.h5.partial").exists()
    res = run(folder, out, *SMALL, "--overwrite")
    assert res.exit_code == 0, res.output
    assert read(out)["records/name"].tolist() == [GOOD]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.h5", "records"]


def test_help_documents_the_exit_status() -> None:
    text = " ".join(invoke("extract", "--help").output.split())
    for part in ("Exit status: 0 all records written", "1 some records skipped", "2 fatal error", "130/143",
                 "--resume"):
        assert part in text, part
    page = (ROOT / "docs" / "reference" / "errors.md").read_text()
    assert "| 130 / 143 | interrupted by SIGINT / SIGTERM: rerun the same command with `--resume` |" in page
