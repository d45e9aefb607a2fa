"""``extract --dry-run``: from the headers alone, the same records, windows, skips and (within 10%)
bytes as a real run of the same command writes, on the real records; and nothing written."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

from ecgspec.readers import find_records
from ecgspec.run.options import build_settings
from ecgspec.run.plan import planned_windows
from ecgspec.run.settings import resolve
from tests.helpers.cli import extract as cli
from tests.helpers.corpus import SMALL
from tests.helpers.paths import ROOT

# every record of ../shared/data: 200, 360, 500 and 1000 Hz resampled to 500, records without lead I skipped
MIXED = ["--leads", "I,II", "--n-samples", "2000", "--stride", "700"]


def plan(*args: str | Path) -> dict:
    res = cli(*args, "--dry-run", "--json")
    assert res.exit_code in (0, 1), res.stderr
    return json.loads(res.stdout)


def written(path: Path) -> dict:
    with h5py.File(path) as f:
        return {
            "windows": f["spectrograms"].shape[0],
            "records": dict(zip(f["records/name"].asstr()[:], f["records/n_windows"][:])),
            # a list: a name can be listed twice (real/ holds a duplicate name whose second file also fails)
            "errors": sorted(zip(f["errors/name"].asstr()[:], f["errors/message"].asstr()[:])),
        }


@pytest.mark.slow
def test_dry_run_counts_what_the_run_writes_and_writes_nothing(tmp_path: Path, data_dir: Path) -> None:
    out = tmp_path / "out.h5"
    got = plan(data_dir, out, *MIXED)
    assert list(tmp_path.iterdir()) == []
    assert cli(data_dir, out, *MIXED).exit_code == 1
    run = written(out)
    assert got["windows"] == run["windows"] > 0
    assert got["records_read"] == len(run["records"]) and got["records"] == len(run["records"]) + len(run["errors"])
    assert sorted((s["name"], s["message"]) for s in got["skipped"]) == run["errors"]
    assert got["records_empty"] == sum(1 for n in run["records"].values() if n == 0)
    assert sum(r["count"] for r in got["skip_reasons"]) == got["records_skipped"] == len(run["errors"])
    settings = resolve(*build_settings({}, {"n_samples": 2000}, {"leads": "I,II", "stride": 700}))
    refs, _ = find_records([data_dir])
    for ref in refs:  # record by record, with the run's own arithmetic, resampled rates included
        if ref.name in run["records"]:
            assert planned_windows(ref, settings.read) == run["records"][ref.name], ref.name


@pytest.mark.parametrize("records, options", [
    ("cinc2021", ["--dtype", "float32"]),
    ("cinc2021", ["--dtype", "float16"]),
    pytest.param("cinc2021", [*SMALL, "--stride", "100", "--dtype", "float32"], marks=pytest.mark.slow),
    ("cinc2021", [*SMALL, "--stride", "100", "--dtype", "float16"]),
    pytest.param("cpsc2021", ["--n-channels", "2", "--fs", "200", "--n-samples", "400", "--n-bins", "8", "--window-size",
                              "0.03", "--overlap-size", "0.01", "--stride", "50", "--dtype", "float16"], marks=pytest.mark.slow),
    pytest.param(".", [*MIXED, *SMALL[:2], "--dtype", "float32"], marks=pytest.mark.slow),  # records, errors, windows
])
def test_dry_run_bytes_within_ten_percent_of_the_output(tmp_path: Path, data_dir: Path, records: str,
                                                        options: list[str]) -> None:
    out = tmp_path / "out.h5"
    got = plan(data_dir / records, out, *options)
    assert cli(data_dir / records, out, *options).exit_code in (0, 1)
    size = out.stat().st_size
    assert abs(got["output_bytes"] - size) <= 0.1 * size, (got["output_bytes"], size)


def test_skips_the_headers_show_as_the_run_words_them(tmp_path: Path, copy_records, cinc_dir: Path,
                                                      cpsc_dir: Path) -> None:
    folder = copy_records(cinc_dir, ["E07500", "E07501", "E07502"])
    (folder / "bad.hea").write_text("not a header\n")  # unreadable header
    (folder / "E07501.mat").unlink()  # missing signal file
    shutil.copy(cpsc_dir / "data_101_6.hea", folder)  # 2 signals, 12 expected
    shutil.copy(cpsc_dir / "data_101_6.dat", folder)
    # a day at 333.3337 Hz: resampling it to 500 Hz would drift by half a sample (sparse file, nothing written)
    np.lib.format.open_memmap(folder / "drift.npy", mode="w+", dtype=np.int16, shape=(12, 86400 * 333))
    opts = ["--input-fs", "333.3337", *SMALL]
    got = plan(folder, tmp_path / "out.h5", *opts)
    assert cli(folder, tmp_path / "out.h5", *opts).exit_code == 1
    run = written(tmp_path / "out.h5")
    skipped = {s["name"]: s["message"] for s in got["skipped"]}
    assert sorted(skipped.items()) == run["errors"] and sorted(skipped) == ["E07501", "bad", "data_101_6", "drift"]
    assert "E07501.mat is missing" in skipped["E07501"] and "has 2 signals" in skipped["data_101_6"]
    assert skipped["drift"].startswith("cannot resample 333.3337 Hz to 500 Hz: the closest ratio"), skipped["drift"]
    assert got["windows"] == run["windows"] and got["records_read"] == 2


def test_dry_run_text_exit_status_and_quiet_lists(tmp_path: Path, cinc_dir: Path) -> None:
    res = cli(cinc_dir, tmp_path / "out.h5", "--dry-run")
    assert res.exit_code == 0
    lines = res.stdout.splitlines()
    assert lines[0] == "ecgspec: dry run, nothing written: 50 records found, 50 to read (0 shorter than a window), 0 to skip"
    assert re.fullmatch(r"ecgspec: 50 windows of \(12, 128, 385\) float32, output about 113\.\d MiB \(\d+ bytes\)",
                        lines[1])
    res = cli(cinc_dir, tmp_path / "out.h5", "--dry-run", "--leads", "I,foo")  # no fail-fast in a plan
    assert res.exit_code == 1
    assert res.stdout.count("ecgspec: would skip") == 10 and "ecgspec: ... and 40 more: has no lead foo" in res.stdout
    assert list(tmp_path.iterdir()) == []


def test_the_json_keys_are_documented() -> None:
    from ecgspec.run.plan import Plan

    keys = Plan("out.h5", (12, 128, 385), "float32", None).to_dict()
    page = (ROOT / "docs" / "reference" / "cli.md").read_text()
    section = page[page.index("## What `--dry-run` reports"):]
    section = section[: section.index("\n## ")]
    first_cells = [line.split("|")[1] for line in section.splitlines() if line.startswith("| `")]
    documented = {key for cell in first_cells for key in re.findall(r"`(\w+)`", cell)}
    assert documented == set(keys)
