"""``--targets cinc2021`` / ``cinc2020``: ecgspec's tables are torch_ecg's (the challenges' own), and on the
50 shared CinC records the written rows are torch_ecg's labels, scored classes only, pairs merged."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
import wfdb
from torch_ecg.databases.aux_data import cinc2020_aux_data as a20
from torch_ecg.databases.aux_data import cinc2021_aux_data as a21

import ecgspec
from ecgspec.targets.cinc import ABBREVIATIONS, challenge_classes

SMALL = {"n_bins": 16, "feature_fs": 20, "to1d": True}


def reference_classes(aux) -> tuple[list[str], dict[str, str]]:
    """torch_ecg's class of each scored code, and the classes in weights.csv order (a pair at its first column)."""
    code_column = "SNOMEDCTCode" if "SNOMEDCTCode" in aux.dx_mapping_scored else "SNOMED CT Code"
    abbr = dict(zip(aux.dx_mapping_scored[code_column].astype(str), aux.dx_mapping_scored["Abbreviation"]))
    class_of = {code: aux.equiv_class_dict.get(a, a) for code, a in abbr.items()}
    order = [class_of[c.split("|")[0]] for c in aux.df_weights.columns]
    return list(dict.fromkeys(order)), class_of


@pytest.mark.parametrize("name, aux, n_codes, n_classes", [("cinc2021", a21, 30, 26), ("cinc2020", a20, 27, 24)])
def test_tables_are_torch_ecgs(name, aux, n_codes, n_classes) -> None:
    classes, codes = challenge_classes(name)
    order, class_of = reference_classes(aux)
    assert len(class_of) == n_codes and len(classes) == n_classes
    assert list(classes) == order
    for cls, members in zip(classes, codes):
        assert {c for c, k in class_of.items() if k == cls} == set(members)  # every scored code, in its class
        assert ABBREVIATIONS[members[0]] == cls  # named by its representative
    code_column = "SNOMEDCTCode" if "SNOMEDCTCode" in aux.dx_mapping_scored else "SNOMED CT Code"
    for code, abbr in zip(aux.dx_mapping_scored[code_column].astype(str), aux.dx_mapping_scored["Abbreviation"]):
        assert ABBREVIATIONS[code] == abbr


def test_the_pairs_are_the_published_ones() -> None:
    pairs21 = [c for c in challenge_classes("cinc2021")[1] if len(c) == 2]
    assert pairs21 == [("733534002", "164909002"), ("713427006", "59118001"), ("284470004", "63593006"),
                       ("427172004", "17338001")]
    classes20, codes20 = challenge_classes("cinc2020")
    assert [(k, c) for k, c in zip(classes20, codes20) if len(c) == 2] == [
        ("RBBB", ("59118001", "713427006")), ("PAC", ("284470004", "63593006")), ("PVC", ("427172004", "17338001"))]
    assert classes20.index("RBBB") == 4  # at CRBBB's column, the pair's first in 2020's weights.csv


def dx_codes(header: Path) -> list[str]:
    comments = wfdb.rdheader(str(header.with_suffix(""))).comments
    return next((c.split(":", 1)[1].strip().split(",") for c in comments if c.startswith("Dx:")), [])


def written(path: Path) -> tuple[list[str], list[str], np.ndarray, dict]:
    with h5py.File(path, "r") as f:
        t = f["records/targets"]
        return f["records/name"].asstr()[()].tolist(), json.loads(t.attrs["classes"]), t[()], dict(t.attrs)


@pytest.mark.parametrize("name, aux", [("cinc2021", a21), ("cinc2020", a20)])
def test_the_50_records_rows_are_torch_ecgs_labels(tmp_path: Path, cinc_dir: Path, name, aux) -> None:
    out = tmp_path / "o.h5"
    ecgspec.extract(cinc_dir, out, SMALL, targets=name, workers=0, log=lambda m: None)
    names, classes, matrix, attrs = written(out)
    assert len(names) == 50 and matrix.dtype == np.uint8 and attrs["vocabulary"] == name
    order, class_of = reference_classes(aux)
    assert classes == order and matrix.shape == (50, len(order))
    for record, row in zip(names, matrix):
        expected = {class_of[c] for c in dx_codes(cinc_dir / f"{record}.hea") if c in class_of}
        assert {classes[i] for i in np.flatnonzero(row)} == expected, record
    # torch_ecg's own reader of the database, on a copy (it writes its record list into the folder)
    from torch_ecg.databases import CINC2020, CINC2021

    db_dir = tmp_path / "db"
    shutil.copytree(cinc_dir, db_dir)
    db = (CINC2021 if name == "cinc2021" else CINC2020)(db_dir=str(db_dir), verbose=0)
    checked = [r for tranche in db.all_records.values() for r in tranche]
    assert len(checked) == (50 if name == "cinc2021" else 30)  # 2020 has no Chapman-Shaoxing tranche
    for record in checked:
        row = matrix[names.index(record)]
        assert {classes[i] for i in np.flatnonzero(row)} == set(db.get_labels(record, fmt="a")), record
