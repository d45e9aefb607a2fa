"""Issue 8's bad inputs through the CLI, an EDF input without edfio, and --resume of multi-segment runs.

Each bad record (a master naming a missing or truncated segment, a segment with fewer signals than
its layout, a zero-length segment, EDF files truncated or with broken headers, ...) must be one line
on stderr and under /errors, exit 1, and leave the good records beside it exactly as a run without
it writes them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from functools import partial
from pathlib import Path

import h5py
import numpy as np
import pytest

import ecgspec
from ecgspec.run.pipeline import Interrupted
from tests.helpers.cli import extract
from tests.helpers.compare import assert_same, column
from tests.helpers.corpus import CLI_CFG
from tests.helpers.edf import BAD_EDF, write_edf
from tests.helpers.paths import ROOT
from tests.helpers.segments import BAD_SEGMENTS, write_fixed

cli = partial(extract, workers=1)


def good_records(folder: Path) -> Path:
    """A fixed-layout multi-segment record and an EDF file (both with a lead 0 to select)."""
    write_fixed(folder / "good")
    write_edf(folder / "good", "rec", [500, 250], seconds=12)
    return folder


def skipped_lines(stderr: str) -> dict[str, str]:
    lines = [line for line in stderr.splitlines() if line.startswith("ecgspec: skipped ")]
    parsed = dict(line[len("ecgspec: skipped "):].split(": ", 1) for line in lines)
    assert len(parsed) == len(lines)
    return parsed


@pytest.mark.slow  # 2.6 s: tests/readers/test_bad_records.py holds one line per bad record in the fast tier
def test_bad_segments_and_edf_files_are_one_line_each_and_cost_nothing_else(tmp_path: Path) -> None:
    folder = good_records(tmp_path / "in")
    expected = {}
    for i, (make, reason) in enumerate(BAD_SEGMENTS.values()):
        (folder / f"seg{i}").mkdir()
        make(folder / f"seg{i}")
        expected[f"seg{i}/{'v' if (folder / f'seg{i}' / 'v.hea').exists() else 'f'}"] = reason
    for i, (spoil, reason) in enumerate(BAD_EDF.values()):
        (folder / f"edf{i}").mkdir()
        path, _ = write_edf(folder / f"edf{i}", "rec", [500])
        spoil(path)
        expected[f"edf{i}/rec"] = reason
    out, clean = tmp_path / "o.h5", tmp_path / "clean.h5"
    res = cli(folder, out, *CLI_CFG, "--channels", "0")
    assert res.exit_code == 1 and "Traceback" not in res.output
    lines = skipped_lines(res.stderr)
    assert sorted(lines) == sorted(expected)
    for name, reason in expected.items():
        assert reason in lines[name], (name, lines[name])
    with h5py.File(out) as f:
        errors = dict(zip([v.decode() for v in f["errors/name"][:]], [v.decode() for v in f["errors/message"][:]]))
        assert errors == lines
    assert cli(folder / "good", clean, *CLI_CFG, "--channels", "0").exit_code == 0
    with h5py.File(out) as f, h5py.File(clean) as g:
        assert column(f, "name") == ["good/f", "good/rec"] and column(g, "name") == ["f", "rec"]
        for key in ("fs", "n_samples", "leads", "lead_fs", "n_windows", "nan_filled"):
            assert column(f, key) == column(g, key), key
        assert f["windows/start"][:].tolist() == g["windows/start"][:].tolist()
        assert np.array_equal(f["spectrograms"][:], g["spectrograms"][:])


BLOCK_EDFIO = """\
import importlib.abc, sys


class _NoEdfio(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "edfio":
            raise ModuleNotFoundError("No module named 'edfio'", name=name)
        return None


sys.meta_path.insert(0, _NoEdfio())
"""


@pytest.mark.slow
def test_edf_input_without_edfio_is_one_line_naming_the_extra(tmp_path: Path) -> None:
    folder = good_records(tmp_path / "in")
    write_edf(folder, "alone", [256], seconds=4, bdf=True)
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "sitecustomize.py").write_text(BLOCK_EDFIO)
    out = tmp_path / "o.h5"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(shim), str(ROOT)]))
    proc = subprocess.run([sys.executable, "-m", "ecgspec", "extract", str(folder), str(out), "--channels", "0",
                           *map(str, CLI_CFG)], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert skipped_lines(proc.stderr) == {"alone": "reading .bdf files needs edfio: pip install ecgspec[edf]",
                                          "good/rec": "reading .edf files needs edfio: pip install ecgspec[edf]"}
    assert "Traceback" not in proc.stderr
    with h5py.File(out) as f:
        assert column(f, "name") == ["good/f"] and f["records/n_windows"][0] == 6
        assert [v.decode() for v in f["errors/name"][:]] == ["alone", "good/rec"]


@pytest.mark.slow  # 8 s: three runs; resuming an interrupted run is also tests/store/test_resume.py's
def test_resume_of_an_interrupted_multisegment_run_equals_an_uninterrupted_one(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    for i in range(6):
        write_fixed(folder / f"r{i}")
        if i % 2:
            write_fixed(folder / f"r{i}x")
            (folder / f"r{i}x" / "f_0002.dat").unlink()  # a master naming a missing segment file
    options = dict(n_samples=1000, n_bins=32, batch_size=4, channels=[1, 0])
    fresh, out = tmp_path / "fresh.h5", tmp_path / "out.h5"
    result = ecgspec.extract(folder, fresh, log=lambda m: None, **options)
    assert result.records == 6 and len(result.errors) == 3

    def log(message: str) -> None:  # SIGINT to this process halfway through
        if message.startswith("ecgspec: skipped r3x/f:"):
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(Interrupted):
        ecgspec.extract(folder, out, log=log, **options)
    with ecgspec.open(tmp_path / "out.h5.partial", allow_partial=True) as ds:
        assert 0 < len(ds.records["name"]) < 6
    result = ecgspec.extract(folder, out, log=lambda m: None, resume=True, **options)
    assert result.resumed > 0 and result.resumed + result.records == 6
    assert_same(out, fresh)


def _as_discontinuous(path: Path, gap_at: int | None = None) -> None:
    """Mark an edfio-written EDF+ file EDF+D; with ``gap_at``, that data record's time-keeping
    annotation says it starts 2 s later than the one before it ends (a gap of 1 s)."""
    raw = bytearray(path.read_bytes())
    raw[192:197] = b"EDF+D"
    if gap_at is not None:
        at = raw.index(f"+{gap_at}\x14\x14".encode())
        raw[at:at + len(str(gap_at)) + 1] = f"+{gap_at + 1}".encode().ljust(len(str(gap_at)) + 1)
    path.write_bytes(bytes(raw))


def test_edf_plus_d_reads_when_contiguous_and_is_one_line_when_it_has_gaps(tmp_path: Path) -> None:
    """EDF+D data records may leave gaps between them: read as one signal only when they leave none,
    never with the samples after a gap silently moved up."""
    folder = tmp_path / "in"
    for name, gap in (("c", None), ("d", None), ("g", 7)):
        (folder / name).mkdir(parents=True)
        path, _ = write_edf(folder / name, "rec", [500, 250], seconds=12)
        if name != "c":
            _as_discontinuous(path, gap)
    out = tmp_path / "o.h5"
    res = cli(folder, out, *CLI_CFG, "--channels", "1,0")
    assert res.exit_code == 1, res.output
    assert skipped_lines(res.stderr) == {
        "g/rec": "EDF+D: data record 8 starts at 8 s, not 7 s after the first; recordings with gaps are not supported"}
    with h5py.File(out) as f:
        assert column(f, "name") == ["c/rec", "d/rec"]
        rows = f["windows/record"][:]
        assert np.array_equal(f["spectrograms"][rows == 0], f["spectrograms"][rows == 1])
