"""``--labels TABLE --label-key COLUMN``: every join rule, typing rule and error, on the real CinC records."""

from __future__ import annotations

import json
import math
from pathlib import Path

import h5py
import numpy as np
import pytest
import wfdb
from click.testing import CliRunner, Result

import ecgspec
from ecgspec.cli import main
from ecgspec.errors import LabelError
from ecgspec.run.labels import read_labels

SMALL = ["--n-bins", "16", "--feature-fs", "20", "--workers", "1"]
NAMES = ["E07500", "E07501", "E07502", "E07503"]


def run(*args: object) -> Result:
    return CliRunner().invoke(main, ["extract", *map(str, args)], catch_exceptions=False)


@pytest.fixture
def records(copy_records, cinc_dir: Path) -> Path:
    return copy_records(cinc_dir, NAMES)


def labels_of(path: Path) -> dict[str, np.ndarray]:
    with h5py.File(path, "r") as f:
        group = f.get("records/labels", {})
        return {k: d.asstr()[()] if h5py.check_string_dtype(d.dtype) else d[()] for k, d in group.items()}


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_join_by_file_name_with_each_type(tmp_path: Path, records: Path) -> None:
    table = write(tmp_path / "t.csv", "fold,record,age,score,dx\n"
                                      "3,E07501,65,0.5,AF\n1,E07500,78,1,\n2,E07502,,2.25,SR\n4,E07503,50,1e3,AF\n")
    out = tmp_path / "o.h5"
    result = run(records, out, *SMALL, "--labels", table, "--label-key", "record", "--json", "--quiet")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["labels_matched"] == 4 and summary["labels_unmatched"] == 0
    labels = labels_of(out)
    assert set(labels) == {"fold", "age", "score", "dx"}  # every column but the key
    assert labels["fold"].dtype == np.int64 and labels["fold"].tolist() == [1, 3, 2, 4]  # rows in record order
    assert labels["age"].dtype == np.float64 and math.isnan(labels["age"][2])  # an empty cell: float, NaN
    assert labels["age"][[0, 1, 3]].tolist() == [78.0, 65.0, 50.0]
    assert labels["score"].dtype == np.float64 and labels["score"].tolist() == [1.0, 0.5, 2.25, 1000.0]
    assert labels["dx"].tolist() == ["", "AF", "SR", "AF"]
    with ecgspec.open(out) as ds:
        assert ds.records["labels/fold"].tolist() == [1, 3, 2, 4]


def test_unmatched_records_make_integers_float_and_are_named(tmp_path: Path, records: Path) -> None:
    table = write(tmp_path / "t.tsv", "id\tfold\tdx\nE07500\t1\tAF\nE07502\t2\tSR\nOTHER\t9\tx\n")
    out = tmp_path / "o.h5"
    result = run(records, out, *SMALL, "--labels", table, "--label-key", "id", "--json", "--quiet")
    summary = json.loads(result.output)
    assert (summary["labels_matched"], summary["labels_unmatched"], summary["labels_first_unmatched"]) == (
        2, 2, "E07501")
    labels = labels_of(out)
    assert labels["fold"].dtype == np.float64
    assert labels["fold"][[0, 2]].tolist() == [1.0, 2.0] and np.isnan(labels["fold"][[1, 3]]).all()
    assert labels["dx"].tolist() == ["AF", "", "SR", ""]
    result = run(records, tmp_path / "p.h5", *SMALL, "--labels", table, "--label-key", "id")
    assert "labels matched 2 of 4 records (first without: E07501)" in result.output


def test_labels_required_skips_records_without_a_row(tmp_path: Path, records: Path) -> None:
    table = write(tmp_path / "t.csv", "id,fold\nE07500,1\nE07503,4\n")
    out = tmp_path / "o.h5"
    result = run(records, out, *SMALL, "--labels", table, "--label-key", "id", "--labels-required", "--quiet")
    assert result.exit_code == 1  # records were skipped
    with ecgspec.open(out) as ds:
        assert ds.records["name"].tolist() == ["E07500", "E07503"]
        assert ds.records["labels/fold"].dtype == np.int64 and ds.records["labels/fold"].tolist() == [1, 4]
        assert [name for name, _ in ds.errors] == ["E07501", "E07502"]
        assert all("has no row in" in message for _, message in ds.errors)


def test_keys_holding_a_slash_match_whole_names_only(tmp_path: Path, cinc_dir: Path, copy_records) -> None:
    copy_records(cinc_dir, ["E07500"], dest="in/a")
    copy_records(cinc_dir, ["E07501"], dest="in/b")
    table = write(tmp_path / "t.csv", "filename_hr,strat_fold\na/E07500,7\nE07501,8\n")
    out = tmp_path / "o.h5"
    run(tmp_path / "in", out, *SMALL, "--labels", table, "--label-key", "filename_hr", "--quiet")
    with ecgspec.open(out) as ds:
        assert ds.records["name"].tolist() == ["a/E07500", "b/E07501"]
        fold = ds.records["labels/strat_fold"]
        assert fold[0] == 7 and np.isnan(fold[1])  # "E07501" is no whole name, and file names are not tried
    table = write(tmp_path / "u.csv", "study_id,fold\nE07500,7\nE07501,8\n")  # no key holds a /: file names
    run(tmp_path / "in", out, *SMALL, "--labels", table, "--label-key", "study_id", "--quiet", "--overwrite")
    assert labels_of(out)["fold"].tolist() == [7, 8]


@pytest.mark.parametrize("table, key, message", [
    ("id,fold\nE07500,1\nE07501,2\nE07500,3\n", "id", "key 'E07500' (record E07500) is in rows 1 and 3 of column 'id'"),
    ("name,fold\nE07500,1\n", "id", "has no column 'id' (columns: name, fold)"),
    ("id,fold\nE07500,1,2\n", "id", "line 2 has 3 fields, the header 2"),
    ("", "id", "it is empty"),
])
def test_table_errors_are_one_line_before_any_work(tmp_path: Path, records: Path, table: str, key: str,
                                                   message: str) -> None:
    path = write(tmp_path / "t.csv", table)
    out = tmp_path / "o.h5"
    result = run(records, out, *SMALL, "--labels", path, "--label-key", key)
    assert result.exit_code != 0
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0] and str(path) in lines[0], result.output
    assert not out.exists() and not Path(f"{out}.partial").exists()


def test_unreadable_table_and_option_errors(tmp_path: Path, records: Path) -> None:
    out = tmp_path / "o.h5"
    result = run(records, out, *SMALL, "--labels", tmp_path / "none.csv", "--label-key", "id")
    assert result.exit_code != 0 and "cannot read" in result.output and "none.csv" in result.output
    assert len(result.output.strip().splitlines()) == 1
    (tmp_path / "bin.csv").write_bytes(b"id,x\n\xff\xfe\n")
    result = run(records, out, *SMALL, "--labels", tmp_path / "bin.csv", "--label-key", "id")
    assert "not UTF-8" in result.output and len(result.output.strip().splitlines()) == 1
    result = run(records, out, *SMALL, "--labels", tmp_path / "bin.csv")
    assert "needs label_key" in result.output
    result = run(records, out, *SMALL, "--label-key", "id")
    assert "label_key: given without labels" in result.output
    assert not out.exists()


def test_yaml_keys(tmp_path: Path, records: Path) -> None:
    table = write(tmp_path / "t.csv", "id,fold\nE07500,1\nE07501,2\nE07502,3\n")
    config = write(tmp_path / "c.yaml", f"n_bins: 16\nfeature_fs: 20\nextract:\n  labels: {table}\n  label_key: id\n"
                                        "  labels_required: true\n")
    out = tmp_path / "o.h5"
    run(records, out, "--config", config, "--quiet")
    assert labels_of(out)["fold"].tolist() == [1, 2, 3]


def test_parquet(tmp_path: Path, records: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    table = pa.table({"study_id": ["E07500", "E07501", "E07502", "E07503"], "fold": [1, 2, None, 4],
                      "n": [5, 6, 7, 8], "x": [0.5, 1.5, 2.5, None], "dx": ["AF", None, "SR", "AF"]})
    pq.write_table(table, tmp_path / "t.parquet")
    out = tmp_path / "o.h5"
    run(records, out, *SMALL, "--labels", tmp_path / "t.parquet", "--label-key", "study_id", "--quiet")
    labels = labels_of(out)
    assert labels["n"].dtype == np.int64 and labels["n"].tolist() == [5, 6, 7, 8]
    assert labels["fold"].dtype == np.float64 and np.isnan(labels["fold"][2]) and labels["fold"][3] == 4
    assert labels["x"][:3].tolist() == [0.5, 1.5, 2.5] and np.isnan(labels["x"][3])
    assert labels["dx"].tolist() == ["AF", "", "SR", "AF"]


def test_read_labels_without_key_and_typing_edges(tmp_path: Path) -> None:
    with pytest.raises(LabelError, match="needs --label-key"):
        read_labels(write(tmp_path / "t.csv", "id\nE1\n"), None)
    table = read_labels(write(tmp_path / "u.csv", "id,big,neg,mixed\n1,99999999999999999999,-3,1\n2,1,4,a\n"), "id")
    assert table.kinds == {"big": "float", "neg": "int", "mixed": "str"}  # beyond int64: a float
    cols = table.columns(["1", "2", "3"])
    assert cols["neg"].dtype == np.float64 and np.isnan(cols["neg"][2]) and cols["mixed"].tolist() == ["1", "a", ""]


def test_meta_of_the_real_headers_beside_labels(tmp_path: Path, records: Path) -> None:
    """The join leaves /records/meta as the headers say (Dx, Age, Sex: the values wfdb reads)."""
    table = write(tmp_path / "t.csv", "id,fold\nE07500,1\n")
    out = tmp_path / "o.h5"
    run(records, out, *SMALL, "--labels", table, "--label-key", "id", "--quiet")
    with ecgspec.open(out) as ds:
        for row, name in enumerate(ds.records["name"]):
            fields = dict(line.split(": ", 1) for line in wfdb.rdheader(str(records / name)).comments)
            for key in ("Dx", "Age", "Sex"):
                assert ds.records[f"meta/{key}"][row] == fields[key]


def test_dry_run_checks_the_table_and_counts_matches(tmp_path: Path, records: Path) -> None:
    table = write(tmp_path / "t.csv", "id,fold\nE07500,1\nE07502,2\n")
    out = tmp_path / "o.h5"
    result = run(records, out, *SMALL, "--labels", table, "--label-key", "id", "--labels-required", "--dry-run",
                 "--json")
    plan = json.loads(result.output.strip().splitlines()[-1])
    assert (plan["labels_matched"], plan["labels_unmatched"], plan["labels_first_unmatched"]) == (2, 2, "E07501")
    assert plan["records_skipped"] == 2 and plan["windows"] == 2 and not out.exists()
    result = run(records, out, *SMALL, "--labels", table, "--label-key", "nope", "--dry-run")
    assert result.exit_code != 0 and "has no column 'nope'" in result.output


@pytest.mark.slow  # a Dask cluster (6 s)
def test_cluster_run_joins_labels_as_one_process(tmp_path: Path, cinc_dir: Path, copy_records) -> None:
    pytest.importorskip("distributed")
    src = copy_records(cinc_dir, ["E07500", "E07501", "E07502", "E07503", "E07504", "E07505"])
    table = write(tmp_path / "t.csv", "id,fold,dx\nE07500,1,AF\nE07502,2,SR\nE07503,3,AF\nE07505,4,x\n")
    single, spread = tmp_path / "single.h5", tmp_path / "cluster.h5"
    common = [*SMALL, "--labels", table, "--label-key", "id", "--quiet", "--json"]
    one = json.loads(run(src, single, *common).output)
    many = json.loads(run(src, spread, *common, "--cluster", "local:2").output.strip().splitlines()[-1])
    for key in ("labels_matched", "labels_unmatched", "labels_first_unmatched"):
        assert one[key] == many[key]
    a, b = labels_of(single), labels_of(spread)
    assert a.keys() == b.keys() == {"fold", "dx"}
    for key in a:
        assert a[key].dtype == b[key].dtype
        np.testing.assert_array_equal(a[key], b[key])
