"""``--targets ptbxl:TASK``: every task equals the PTB-XL benchmark's aggregation (Strodthoff et al. 2021,
``compute_label_aggregations`` and ``select_data``; the reference below is written from its rules with
pandas, sklearn and the real ``scp_statements.csv``), on the 3,028 real rows and on records named by
``filename_hr`` extracted with the table as ``--labels``."""

from __future__ import annotations

import ast
import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from sklearn.preprocessing import MultiLabelBinarizer

import ecgspec
from ecgspec.cli import main
from ecgspec.errors import LabelError
from ecgspec.targets.ptbxl import TASKS, read_statements
from ecgspec.targets.vocabulary import vocabulary_of
from tests.helpers.ptbxl import STATEMENTS, ptbxl_tree, subset_rows, write_table

SMALL = {"n_bins": 16, "feature_fs": 20, "to1d": True}
SIZES = {"all": 71, "diagnostic": 44, "subdiagnostic": 23, "superdiagnostic": 5, "form": 19, "rhythm": 12}


def benchmark_classes(scp_codes: str, task: str, stat: pd.DataFrame) -> set[str]:
    """The benchmark's classes of one record (compute_label_aggregations): every key, whatever its likelihood."""
    keys = ast.literal_eval(scp_codes).keys()
    if task == "all":
        return set(keys)
    if task in ("form", "rhythm"):
        return {k for k in keys if k in stat[stat[task] == 1.0].index}
    diag = stat[stat.diagnostic == 1.0]
    column = {"subdiagnostic": "diagnostic_subclass", "superdiagnostic": "diagnostic_class"}.get(task)
    if column is None:
        return {k for k in keys if k in diag.index}
    return {str(diag.loc[k, column]) for k in keys if k in diag.index and str(diag.loc[k, column]) != "nan"}


def full_vocabulary(task: str, stat: pd.DataFrame) -> list[str]:
    """The classes the whole statements table gives the task (the benchmark's, on the full dataset), sorted."""
    diag = stat[stat.diagnostic == 1.0]
    classes = {"all": stat.index, "diagnostic": diag.index, "form": stat[stat.form == 1.0].index,
               "rhythm": stat[stat.rhythm == 1.0].index, "subdiagnostic": diag.diagnostic_subclass.dropna(),
               "superdiagnostic": diag.diagnostic_class.dropna()}[task]
    return sorted(set(map(str, classes)))


@pytest.fixture(scope="module")
def stat() -> pd.DataFrame:
    return pd.read_csv(STATEMENTS, index_col=0)


# 1.4-3 s each over the 3,028 rows, the same code for every task: superdiagnostic in the fast tier
@pytest.mark.parametrize("task", [t if t == "superdiagnostic" else pytest.param(t, marks=pytest.mark.slow) for t in TASKS])
def test_every_task_equals_the_benchmarks_aggregation_on_the_real_rows(task, stat) -> None:
    rows = subset_rows()
    assert len(rows) == 3028
    vocabulary = vocabulary_of(f"ptbxl:{task}", statements=STATEMENTS)
    table = vocabulary.table({"labels/scp_codes": np.array([r["scp_codes"] for r in rows], dtype=object)}, len(rows))
    expected_classes = full_vocabulary(task, stat)
    assert list(table.classes) == expected_classes and len(table.classes) == SIZES[task]
    sets = [benchmark_classes(r["scp_codes"], task, stat) for r in rows]
    assert np.array_equal(table.matrix, MultiLabelBinarizer(classes=expected_classes).fit_transform(sets))
    # select_data: records without a class dropped, the binarizer fitted on the rest (sorted classes)
    kept = [s for s in sets if s]
    fitted = MultiLabelBinarizer().fit(kept)
    columns = [expected_classes.index(c) for c in fitted.classes_]
    assert np.array_equal(table.matrix[[bool(s) for s in sets]][:, columns], fitted.transform(kept))


def test_a_class_merges_the_statements_mapping_to_it(stat) -> None:
    sub = vocabulary_of("ptbxl:subdiagnostic", statements=STATEMENTS)
    diag = stat[stat.diagnostic == 1.0]
    for name, codes in zip(sub.classes, sub.codes):
        assert set(codes) == set(diag.index[diag.diagnostic_subclass == name])
    sup = vocabulary_of("ptbxl:superdiagnostic", statements=STATEMENTS)
    assert sup.classes == ("CD", "HYP", "MI", "NORM", "STTC") and sup.codes[3] == ("NORM",)
    assert sum(map(len, sup.codes)) == len(diag)  # every diagnostic statement in one superclass


@pytest.mark.parametrize("text, message", [
    (None, "cannot read the PTB-XL statements"),
    ("code,description\nNORM,normal\n", "has no column 'diagnostic'"),
    (",diagnostic,form,rhythm,diagnostic_class,diagnostic_subclass\nNORM,yes,,,NORM,NORM\n", "diagnostic is 'yes'"),
    (",diagnostic,form,rhythm,diagnostic_class,diagnostic_subclass\nNORM,1.0,,,NORM,NORM\nNORM,1.0,,,NORM,NORM\n",
     "statement 'NORM' is in two rows"),
    (",diagnostic,form,rhythm,diagnostic_class,diagnostic_subclass\n", "holds no statement"),
    (",diagnostic,form,rhythm,diagnostic_class,diagnostic_subclass\nNORM,1.0,,NORM\n", "line 2 has 4 fields"),
    ("", "is empty"),
])
def test_a_missing_or_malformed_statements_table_is_one_line(tmp_path: Path, text, message) -> None:
    path = tmp_path / "scp_statements.csv"
    if text is not None:
        path.write_text(text)
    with pytest.raises(LabelError, match=message) as info:
        read_statements(path)
    assert "\n" not in str(info.value) and str(path) in str(info.value)


def rows_of(path: Path) -> tuple[list[str], list[str], np.ndarray, list[tuple[str, str]]]:
    with h5py.File(path, "r") as f:
        errors = list(zip(f["errors/name"].asstr()[()], f["errors/message"].asstr()[()]))
        t = f["records/targets"]
        return f["records/name"].asstr()[()].tolist(), json.loads(t.attrs["classes"]), t[()], errors


@pytest.fixture(scope="module")
def ptbxl_run(tmp_path_factory, cinc_dir: Path) -> tuple[Path, Path, list[dict[str, str]]]:
    """40 real rows as records named by filename_hr, the table and the statements beside it."""
    tmp = tmp_path_factory.mktemp("ptbxl")
    rows = subset_rows()[:40]
    folder = ptbxl_tree(tmp / "ptb-xl", cinc_dir, rows)
    table = write_table(tmp / "ptb-xl" / "ptbxl_database.csv", rows)
    shutil.copy(STATEMENTS, tmp / "ptb-xl" / "scp_statements.csv")
    return folder, table, rows


@pytest.mark.parametrize("task", TASKS)
def test_extracted_records_carry_the_benchmarks_rows(tmp_path: Path, ptbxl_run, stat, task) -> None:
    folder, table, rows = ptbxl_run
    out = tmp_path / "o.h5"
    ecgspec.extract(folder, out, SMALL, labels=table, label_key="filename_hr", targets=f"ptbxl:{task}",
                    targets_required=True, workers=0, log=lambda m: None)
    names, classes, matrix, errors = rows_of(out)
    assert classes == full_vocabulary(task, stat)
    by_name = {r["filename_hr"]: benchmark_classes(r["scp_codes"], task, stat) for r in rows}
    assert sorted(n for n, _ in errors) == sorted(n for n, s in by_name.items() if not s)  # dropped, as select_data
    assert all(m == f"has no class of ptbxl:{task} (--targets-required)" for _, m in errors)
    assert len(names) == sum(1 for s in by_name.values() if s) > 0
    for name, row in zip(names, matrix):
        assert {classes[i] for i in np.flatnonzero(row)} == by_name[name], name
    with ecgspec.open(out) as ds:
        config = ds.config["targets"]
        assert config["vocabulary"] == f"ptbxl:{task}" and config["source"].startswith("labels/scp_codes; scp_statements")


def test_bad_ptbxl_input_is_one_line_before_any_record_is_read(tmp_path: Path, ptbxl_run) -> None:
    folder, table, rows = ptbxl_run
    out = tmp_path / "o.h5"

    def fails(*args: object, message: str) -> None:
        result = CliRunner().invoke(main, ["extract", str(folder), str(out), "--n-bins", "16", *map(str, args)])
        assert result.exit_code == 2, result.output
        assert message in result.output and result.output.count("\n") == 1, result.output
        assert not out.exists() and not Path(f"{out}.partial").exists()

    fails("--targets", "ptbxl:superdiagnostic", message="reads its scp_codes column of --labels")
    fails("--targets", "ptbxl:super", "--labels", table, "--label-key", "filename_hr",
          message="the PTB-XL tasks are all, diagnostic, subdiagnostic, superdiagnostic, form, rhythm")
    fails("--targets", "ptbxl:all", "--labels", table, "--label-key", "filename_hr", "--ptbxl-statements",
          tmp_path / "none.csv", message="cannot read the PTB-XL statements")
    bad = [dict(r) for r in rows]
    bad[3]["scp_codes"] = "NORM"
    fails("--targets", "ptbxl:all", "--labels", write_table(folder / "bad.csv", bad), "--label-key", "filename_hr",
          message=f"bad.csv row 4 (filename_hr '{rows[3]['filename_hr']}'): column 'scp_codes': 'NORM' is not a"
                  " valid literal")
    bad[3]["scp_codes"] = "{'NORM': 100.0, 'XYZ': 0.0}"
    fails("--targets", "ptbxl:rhythm", "--labels", write_table(folder / "bad.csv", bad), "--label-key", "filename_hr",
          message="scp_codes key 'XYZ' is not a statement of the PTB-XL statements table")
    fails("--targets", "ptbxl:all", "--labels", write_table(folder / "nocol.csv", [{"filename_hr": "x"}]),
          "--label-key", "filename_hr", message="reads column 'scp_codes', which")
