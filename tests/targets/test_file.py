"""``/records/targets`` in the file: the loader's ``targets`` column and ``ds.classes``, ``info``'s counts,
``--targets-required``, CODE-15% and ``codes:`` vocabularies, and merge and ``--resume`` (a file made in
parts or in steps holds what one run gives; other targets are refused)."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

import ecgspec
from ecgspec.store.merge import MergeError, merge_parts
from tests.helpers import ecg_writers as w
from tests.helpers.cli import invoke

SMALL = ("--n-bins", "16", "--feature-fs", "20", "--to1d", "--workers", "0", "--quiet")
NAMES = [f"E075{i:02d}" for i in range(12)]  # E07505 has no class of cinc2021 (its Dx codes are unscored)


@pytest.fixture
def records(copy_records, cinc_dir: Path) -> Path:
    return copy_records(cinc_dir, NAMES)


def targets_of(path: Path) -> tuple[list[str], np.ndarray, dict]:
    with h5py.File(path, "r") as f:
        t = f["records/targets"]
        return f["records/name"].asstr()[()].tolist(), t[()], {k: t.attrs[k] for k in t.attrs}


def by_name(path: Path) -> dict[str, list[str]]:
    """Each record's classes, by name."""
    names, matrix, attrs = targets_of(path)
    classes = json.loads(attrs["classes"])
    return {n: [classes[i] for i in np.flatnonzero(row)] for n, row in zip(names, matrix)}


def test_the_loader_gives_each_window_its_records_row_and_info_counts_classes(tmp_path: Path, records: Path) -> None:
    out = tmp_path / "o.h5"
    assert invoke("extract", records, out, *SMALL, "--targets", "cinc2021").exit_code == 0
    names, matrix, attrs = targets_of(out)
    assert matrix.shape == (12, 26) and matrix.dtype == np.uint8 and attrs["vocabulary"] == "cinc2021"
    assert json.loads(attrs["codes"])[5] == ["713427006", "59118001"]
    with ecgspec.open(out, columns=("targets",)) as ds:
        assert ds.classes == json.loads(attrs["classes"]) and ds.classes[5] == "CRBBB"
        assert np.array_equal(ds.records["targets"], matrix)
        _, name, _, columns = ds[3]
        row = columns["targets"]
        assert row.dtype == torch.float32 and row.shape == (26,)
        assert np.array_equal(row.numpy(), matrix[names.index(name)])
        batch = next(iter(DataLoader(ds, batch_size=5)))
        assert batch.columns["targets"].shape == (5, 26) and batch.columns["targets"].dtype == torch.float32
        assert np.array_equal(batch.columns["targets"].numpy(), matrix[ds.windows["record"][:5]])
    nsr = json.loads(attrs["classes"]).index("NSR")
    with ecgspec.open(out, where=lambda r: r["targets"][:, nsr] == 1) as ds:  # a mask over records, as any column
        assert len(ds) == int(matrix[:, nsr].sum())
    with ecgspec.open(out) as ds:
        assert ds.classes == json.loads(attrs["classes"])
    text = invoke("info", out).output
    counts = dict(zip(json.loads(attrs["classes"]), matrix.sum(axis=0).tolist()))
    assert f"targets: cinc2021, 26 classes: {', '.join(f'{k} {v}' for k, v in counts.items())}" in text
    assert json.loads(invoke("info", out, "--json").output)["targets"] == {"vocabulary": "cinc2021", "classes": counts}
    plain = tmp_path / "plain.h5"
    assert invoke("extract", records, plain, *SMALL).exit_code == 0
    assert "targets: none" in invoke("info", plain).output
    with ecgspec.open(plain) as ds:
        assert ds.classes == [] and "targets" not in ds.records


def test_targets_required_skips_records_whose_header_gives_no_class(tmp_path: Path, records: Path) -> None:
    out = tmp_path / "o.h5"
    result = invoke("extract", records, out, *SMALL, "--targets", "cinc2021", "--targets-required")
    assert result.exit_code == 1
    with ecgspec.open(out) as ds:
        assert ds.errors == [("E07505", "has no class of cinc2021 (--targets-required)")]
        assert "E07505" not in ds.records["name"] and ds.records["targets"].sum(axis=1).min() >= 1
    plan = json.loads(invoke("extract", records, tmp_path / "d.h5", *SMALL, "--targets", "cinc2021",
                             "--targets-required", "--dry-run", "--json").output)
    assert [s["name"] for s in plan["skipped"]] == ["E07505"]


def test_a_file_with_no_record_written_holds_an_empty_targets_matrix(tmp_path: Path, records: Path) -> None:
    out = tmp_path / "o.h5"  # every record lacks lead "foo": fewer than fail-fast's 20, so the file is finished
    result = invoke("extract", records, out, *SMALL, "--targets", "cinc2021", "--leads", "I,foo", "--n-channels", "2")
    assert result.exit_code == 1 and "internal error" not in result.output
    names, matrix, attrs = targets_of(out)
    assert names == [] and matrix.shape == (0, len(json.loads(attrs["classes"]))) == (0, 26)


def test_code15_targets_come_from_exams_csv_joined_by_exam_id(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    rng = np.random.default_rng(0)
    exams = (1169160, 2977, 31)
    w.code15_part(tmp_path / "in" / "exams_part3.hdf5", [(e, rng.normal(0, 0.3, (2800, 12)).astype(np.float32), 10)
                                                         for e in exams])
    table = tmp_path / "exams.csv"
    table.write_text("exam_id,age,is_male,nn_predicted_age,1dAVb,RBBB,LBBB,SB,ST,AF,patient_id,death,timey,normal_ecg,"
                     "trace_file\n"
                     "1169160,60,True,58.1,False,True,False,False,False,True,7,False,,False,exams_part3.hdf5\n"
                     "2977,41,False,45.0,False,False,False,False,False,False,9,False,,True,exams_part3.hdf5\n"
                     "31,80,True,79.5,True,False,False,True,True,False,7,,,False,exams_part3.hdf5\n")
    out = tmp_path / "o.h5"
    result = invoke("extract", tmp_path / "in", out, "--fs", "400", "--n-samples", "2000", *SMALL, "--labels", table,
                    "--label-key", "exam_id", "--targets", "code15", "--targets-required")
    assert result.exit_code == 1, result.output
    with ecgspec.open(out) as ds:
        assert ds.classes == ["1dAVb", "RBBB", "LBBB", "SB", "AF", "ST"]
        rows = dict(zip(ds.records["name"], ds.records["targets"].tolist()))
        assert rows == {"exams_part3/1169160": [0, 1, 0, 0, 1, 0], "exams_part3/31": [1, 0, 0, 1, 0, 1]}
        assert ds.errors == [("exams_part3/2977", "has no class of code15 (--targets-required)")]
        assert ds.records["labels/patient_id"].tolist() == [7, 7]  # for a split by patient
    table.write_text(table.read_text().replace("1169160,60,True,58.1,False", "1169160,60,True,58.1,maybe"))
    result = invoke("extract", tmp_path / "in", tmp_path / "p.h5", *SMALL, "--labels", table, "--label-key", "exam_id",
                    "--targets", "code15")
    assert result.exit_code == 2 and "row 1 (exam_id '1169160'): column '1dAVb': 'maybe' is not a boolean" in result.output


def test_codes_of_a_labels_column_with_min_count(tmp_path: Path, records: Path) -> None:
    table = tmp_path / "icd.csv"
    diag = ["['I10', 'E785']", "['I10']", "['I48', 'I10']", "", "['E785']", "['Z00']"] * 2
    table.write_text("record,all_diag_all\n" + "".join(f'{n},"{d}"\n' for n, d in zip(NAMES, diag)))
    out = tmp_path / "o.h5"
    result = invoke("extract", records, out, *SMALL, "--labels", table, "--label-key", "record",
                    "--targets", "codes:labels/all_diag_all", "--min-count", "3", "--targets-required")
    assert result.exit_code == 1
    got = by_name(out)
    assert targets_of(out)[2]["classes"] == '["E785", "I10"]'  # I48 and Z00: 2 records each
    assert got["E07500"] == ["E785", "I10"] and got["E07502"] == ["I10"] and got["E07505"] == []
    with ecgspec.open(out) as ds:
        assert sorted(n for n, _ in ds.errors) == ["E07503", "E07509"]  # no code at all
        assert ds.config["targets"] == {"vocabulary": "codes:labels/all_diag_all", "source": "labels/all_diag_all",
                                        "min_count": 3}
    result = invoke("extract", records, tmp_path / "p.h5", *SMALL, "--labels", table, "--label-key", "record",
                    "--targets", "codes:labels/diag")
    assert result.exit_code == 2 and "reads column 'diag', which" in result.output and "(columns: all_diag_all)" in result.output


def test_shards_merged_hold_one_runs_targets_even_codes_seen_in_both(tmp_path: Path, records: Path) -> None:
    for vocabulary in (("--targets", "cinc2021"), ("--targets", "codes:meta/Dx", "--min-count", "2")):
        single = tmp_path / "single.h5"
        assert invoke("extract", records, single, *SMALL, *vocabulary, "--overwrite").exit_code == 0
        parts = [tmp_path / f"p{k}.h5" for k in range(2)]
        for k, part in enumerate(parts):
            assert invoke("extract", records, part, *SMALL, *vocabulary, "--shard", f"{k}/2", "--overwrite").exit_code == 0
        merged = tmp_path / "merged.h5"
        merge_parts(parts, merged, overwrite=True)
        (names, matrix, attrs), (names1, matrix1, attrs1) = targets_of(merged), targets_of(single)
        assert names == names1 and np.array_equal(matrix, matrix1) and attrs == attrs1
    # a code two records hold, one in each part: kept by the whole run's count, by neither part's
    halves = [json.loads(targets_of(p)[2]["classes"]) for p in parts]
    assert set(json.loads(attrs["classes"])) - set(halves[0]) - set(halves[1]), (attrs["classes"], halves)
    other = tmp_path / "other.h5"
    assert invoke("extract", records, other, *SMALL, "--targets", "cinc2020", "--shard", "1/2").exit_code == 0
    with pytest.raises(MergeError, match="different configs: field targets"):
        merge_parts([parts[0], other], tmp_path / "bad.h5")


@pytest.mark.slow  # 4 s: three runs; the targets of a run are the tests above
def test_resume_adds_records_to_the_targets_and_refuses_other_targets(tmp_path: Path, copy_records,
                                                                      cinc_dir: Path) -> None:
    for vocabulary in (("--targets", "cinc2021"), ("--targets", "codes:meta/Dx", "--min-count", "2")):
        folder = copy_records(cinc_dir, NAMES[:7], dest=f"r{len(vocabulary)}")
        out = tmp_path / f"o{len(vocabulary)}.h5"
        assert invoke("extract", folder, out, *SMALL, *vocabulary).exit_code == 0
        copy_records(cinc_dir, NAMES[7:], dest=f"r{len(vocabulary)}")
        assert invoke("extract", folder, out, *SMALL, *vocabulary, "--resume").exit_code == 0
        fresh = tmp_path / f"f{len(vocabulary)}.h5"
        assert invoke("extract", folder, fresh, *SMALL, *vocabulary).exit_code == 0
        assert by_name(out) == by_name(fresh) and len(by_name(out)) == 12
        assert targets_of(out)[2] == targets_of(fresh)[2]
    before = out.read_bytes()
    for other in (("--targets", "cinc2020"), ("--targets", "codes:meta/Dx", "--min-count", "3"), ()):
        result = invoke("extract", folder, out, *SMALL, *other, "--resume")
        assert result.exit_code == 2 and "different config: field targets" in result.output, result.output
    assert out.read_bytes() == before
