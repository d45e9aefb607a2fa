"""Issue 32 end to end: a folder of clinical files named as devices name them (``.XML``, ``.MWF``,
``.SCP``, ``.DCM``, mixed case) extracts the same records with the same values as the same folder
in lower case, also split into ``--shard`` parts and merged; ``--dry-run --json`` lists the files
passed over by extension, and a run that finds no record says which extensions it saw."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from pydicom.data import get_testdata_file

from tests.helpers import ecg_writers as w
from tests.helpers.cli import extract, invoke
from tests.helpers.compare import datasets
from tests.helpers.corpus import OPTIONS
from tests.helpers.paths import DATA

X = w.counts(12, 5000, seed=5)
LEADS = ("--n-channels", "8", "--leads", "I,II,V1,V2,V3,V4,V5,V6")
NAMES = {  # lower-case file -> as a device or a Windows tool names it
    "muse.xml": "MUSE.XML", "hl7.xml": "Hl7.Xml", "sierra.xml": "129DYPRG.XML", "mfer.mwf": "MFER.MWF",
    "scp.scp": "62.SCP", "dicom.dcm": "IM0001.DCM", "ishne.ecg": "holter.ECG",
}


def _folders(root: Path) -> tuple[Path, Path]:
    """``lower/`` and ``devices/``: the same files, named in lower case and as devices name them,
    and the same other files beside them (a report, notes, a file of no extension)."""
    lower, devices = root / "lower", root / "devices"
    lower.mkdir()
    w.muse_xml(lower / "muse.xml", X[:8])
    w.hl7_aecg(lower / "hl7.xml", X)
    shutil.copy(DATA / "real" / "clinical" / "sierra" / "129DYPRG.XML", lower / "sierra.xml")
    w.mfer(lower / "mfer.mwf", X)
    w.scp_ecg(lower / "scp.scp", X)
    shutil.copy(get_testdata_file("waveform_ecg.dcm"), lower / "dicom.dcm")
    w.ishne(lower / "ishne.ecg", X)
    devices.mkdir()
    for name, device_name in NAMES.items():
        shutil.copy(lower / name, devices / device_name)
    for folder in (lower, devices):
        for other in ("report.pdf", "notes.txt", "DICOMDIR"):
            (folder / other).write_text("not an ECG")
    return lower, devices


def _by_record(path: Path) -> dict[str, np.ndarray]:
    """An output's datasets with each /records column and /windows row in the order of the lower-case
    names of its records (the two folders' names sort differently), /records/name and source aside."""
    found = datasets(path)
    names = [n.decode() for n in found.pop("records/name")]
    found.pop("records/source")
    renamed = {device.rsplit(".", 1)[0]: lower.rsplit(".", 1)[0] for lower, device in NAMES.items()}
    order = np.argsort([renamed.get(n, n) for n in names], kind="stable")
    n_windows = found["records/n_windows"]
    starts = np.concatenate([[0], np.cumsum(n_windows)])
    rows = np.concatenate([np.arange(starts[i], starts[i + 1]) for i in order])
    for key, value in found.items():
        if key.startswith("records/") and value.shape[:1] == (len(names),):
            found[key] = value[order]
        elif key.startswith(("windows/", "spectrograms")) and value.shape[:1] == (len(rows),):
            found[key] = value[rows]
    found["windows/record"] = np.repeat(np.arange(len(names)), n_windows[order])
    return found


@pytest.mark.slow
def test_files_named_as_devices_name_them_extract_as_in_lower_case(tmp_path: Path) -> None:
    lower, devices = _folders(tmp_path)
    outputs = {}
    for folder in (lower, devices):
        outputs[folder.name] = tmp_path / f"{folder.name}.h5"
        res = extract(folder, outputs[folder.name], *OPTIONS, *LEADS, quiet=True, workers=1)
        assert res.exit_code == 0, res.output
    a, b = _by_record(outputs["lower"]), _by_record(outputs["devices"])
    assert sorted(a) == sorted(b) and len(a["records/n_windows"]) == len(NAMES)
    assert (a["records/n_windows"] > 0).all()
    for key in a:
        assert a[key].dtype == b[key].dtype and np.array_equal(a[key], b[key]), key
    parts = []  # --shard plans the same parts whatever the case of the files' names
    for k in range(2):
        parts.append(tmp_path / f"part{k}.h5")
        res = extract(devices, parts[-1], *OPTIONS, *LEADS, "--shard", f"{k}/2", quiet=True, workers=1)
        assert res.exit_code == 0, res.output
    assert invoke("merge", *parts, tmp_path / "merged.h5", "--quiet").exit_code == 0
    merged = _by_record(tmp_path / "merged.h5")
    for key in b:
        if not key.startswith("@part") and key not in ("@run_digest", "@run_records"):
            assert np.array_equal(merged[key], b[key]), key


def test_dry_run_json_lists_the_files_passed_over_by_extension(tmp_path: Path) -> None:
    lower, devices = _folders(tmp_path)
    (devices / "scan.PDF").write_text("")
    res = extract(devices, tmp_path / "out.h5", "--dry-run", "--json", *LEADS)
    plan = json.loads(res.stdout)
    assert plan["records"] == len(NAMES) and not plan["skipped"] and plan["passed_over"] == {".pdf": 2, "": 1, ".txt": 1}
    res = extract(devices, tmp_path / "out.h5", "--dry-run", *LEADS)
    assert res.stdout.splitlines()[0].endswith("; 4 other files passed over (.pdf 2, no extension 1, .txt 1)")
    for named in ("129DYPRG.XML", "62.SCP", "MFER"):  # a record named on the command line, in any case
        res = extract(devices / named, tmp_path / "out.h5", "--dry-run", "--json", *LEADS)
        plan = json.loads(res.stdout)
        assert (plan["records"], plan["skipped"], plan["passed_over"]) == (1, [], {}), named


def test_a_run_that_finds_no_record_says_which_extensions_it_saw(tmp_path: Path) -> None:
    for name in ("a.pdf", "b.PDF", "c.txt", "README"):
        (tmp_path / name).write_text("")
    for args in ((), ("--dry-run",)):
        res = invoke("extract", tmp_path, tmp_path / "out.h5", *args)
        assert res.exit_code == 2 and not (tmp_path / "out.h5").exists()
        line = res.stderr.strip() if hasattr(res, "stderr") else res.output.strip()
        assert line.count("\n") == 0 and line.startswith(f"ecgspec: error: no records found in {tmp_path}")
        assert "4 other files passed over (.pdf 2, no extension 1, .txt 1) (records are .hea, .npy" in line
