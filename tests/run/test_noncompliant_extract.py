"""Files that depart from their format's standard, end to end (issues 32 and 34): the real CinC
2017/2020/2021 records whose record lines wfdb refuses or misreads extract equal to wfdb +
torch_ecg on copies with the line corrected, their start in ``/records/start_time`` and their
notes in ``/records/meta/header_warnings``; the non-compliant SCP-ECG variants extract as the
compliant file of the same samples, noted in ``/records/meta/scp_warnings``; ``--dry-run --json``
counts both; headers still ambiguous or contradictory are one line each under ``/errors``."""

from __future__ import annotations

import json
import os
from pathlib import Path

import h5py
import numpy as np
import wfdb

from tests.helpers import scp_writer as sw
from tests.helpers.cli import extract
from tests.helpers.compare import assert_close, column
from tests.helpers.corpus import BINS, CLI_CFG, N
from tests.helpers.ecg_writers import counts
from tests.helpers.physionet import DEPARTURES, PHYSIONET, corrected
from tests.helpers.reference import reference_windows, torch_ecg

BAD = {  # record -> header: still ambiguous, or contradicting itself
    "ambiguous": "ambiguous 1 500 1200 05-06-2020 10:00:00\nambiguous.dat 16 200 16 0 0 0 0 I\n",
    "no_signals": "no_signals 0 500 0 2014-05-01 10:00:00\n",
    "too_few_lines": "too_few_lines.dat 2 500 1200 23-Mar-2021 10:00:00\ntoo_few_lines.dat 16 200 16 0 0 0 0 I\n",
}


def _inputs(folder: Path) -> Path:
    """Links to the real records with departures, and the bad headers (over a signal file of their own)."""
    folder.mkdir()
    for name in DEPARTURES:
        for file in (PHYSIONET / name).parent.glob(Path(name).name + ".*"):
            os.symlink(file, folder / file.name)
    for name, text in BAD.items():
        (folder / f"{name}.hea").write_text(text)
        (folder / f"{name}.dat").write_bytes(np.zeros(2400, "<i2").tobytes())
        (folder / f"{name}.mat").write_bytes(b"")
    return folder


def test_departures_extract_as_wfdb_and_torch_ecg_read_the_corrected_copies(tmp_path: Path) -> None:
    folder, out = _inputs(tmp_path / "in"), tmp_path / "out.h5"
    plan = json.loads(extract(folder, out, *CLI_CFG, "--channels", "0", "--dry-run", "--json").stdout)
    assert plan["header_warnings"] == len(DEPARTURES) and plan["scp_warnings"] == 0
    assert plan["records_skipped"] == len(BAD)
    assert extract(folder, out, *CLI_CFG, "--channels", "0", workers=1).exit_code == 1  # records skipped
    (tmp_path / "fixed").mkdir()
    with h5py.File(out) as f:
        names = column(f, "name")
        assert sorted(names) == sorted(Path(name).name for name in DEPARTURES)
        errors = dict(zip(f["errors/name"].asstr()[:], f["errors/message"].asstr()[:]))
        assert sorted(errors) == sorted(BAD) and all("\n" not in m for m in errors.values())
        assert "start date '05-06-2020' is not a date" in errors["ambiguous"] and errors["no_signals"].endswith("has no signals")
        assert "says 2 signals but does not describe them all" in errors["too_few_lines"]
        for name, (line, start_time, notes) in DEPARTURES.items():
            row = names.index(Path(name).name)
            assert column(f, "start_time")[row] == start_time and column(f, "meta/header_warnings")[row] == notes
            theirs = wfdb.rdrecord(str(corrected(tmp_path / "fixed", name, line).with_suffix("")), channels=[0])
            windows = reference_windows([theirs.p_signal[:, 0]], [theirs.fs], 500, N, N)
            rows = np.flatnonzero(f["windows/record"][:] == row)
            assert len(rows) == len(windows) > 0
            assert_close(f["spectrograms"][rows[0]:rows[-1] + 1], torch_ecg(windows, n_channels=1, n_samples=N, n_bins=BINS, fs=500))
            for file in (tmp_path / "fixed").iterdir():
                file.unlink()


def test_non_compliant_scp_extracts_as_the_compliant_file(tmp_path: Path) -> None:
    x = counts(12, 3000, seed=5)
    for folder in ("variant", "compliant"):
        (tmp_path / folder).mkdir()
    sw.scp_ecg(tmp_path / "variant" / "r.scp", x, pointers=(6, 0), ranges=[(0, 3500)] * 12, held=[3000] * 12)
    sw.scp_ecg(tmp_path / "compliant" / "r.scp", x)
    plan = json.loads(extract(tmp_path / "variant", tmp_path / "v.h5", *CLI_CFG, "--dry-run", "--json").stdout)
    assert (plan["scp_warnings"], plan["header_warnings"], plan["windows"]) == (1, 0, 3)
    for folder in ("variant", "compliant"):
        assert extract(tmp_path / folder, tmp_path / f"{folder}.h5", *CLI_CFG, workers=0).exit_code == 0
    with h5py.File(tmp_path / "variant.h5") as v, h5py.File(tmp_path / "compliant.h5") as c:
        assert np.array_equal(v["spectrograms"][:], c["spectrograms"][:]) and len(v["spectrograms"]) == 3
        assert column(v, "start_time") == column(c, "start_time") and column(v, "n_samples") == [3000]
        assert column(v, "meta/scp_warnings")[0].startswith("Section 0's pointers count bytes from 0")
        assert "meta/scp_warnings" not in c["records"]
