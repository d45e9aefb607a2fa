"""``ecgspec.split``: grouped iterative stratification (each class's share per part closer to the fractions
than random grouped splits, measured on the 3,028 real PTB-XL rows) and published folds."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

import ecgspec
from ecgspec.targets.splits import class_share_error, grouped_parts, stratified_parts
from ecgspec.targets.vocabulary import vocabulary_of
from tests.helpers.ptbxl import STATEMENTS, subset_rows

FRACTIONS = (0.8, 0.1, 0.1)


def real_dataset(task: str) -> SimpleNamespace:
    """An opened output's tables as split reads them: a record per real row, 1 to 3 windows each."""
    rows = subset_rows()
    vocabulary = vocabulary_of(f"ptbxl:{task}", statements=STATEMENTS)
    targets = vocabulary.table({"labels/scp_codes": np.array([r["scp_codes"] for r in rows], dtype=object)}, len(rows))
    windows = np.random.default_rng(0).integers(1, 4, len(rows))
    records = {"labels/patient_id": np.array([float(r["patient_id"]) for r in rows]), "targets": targets.matrix,
               "labels/strat_fold": np.array([int(r["strat_fold"]) for r in rows])}
    return SimpleNamespace(windows={"record": np.repeat(np.arange(len(rows)), windows)}, records=records)


def owners(ds: SimpleNamespace, parts: list) -> np.ndarray:
    owner = np.full(len(ds.windows["record"]), -1)
    for k, part in enumerate(parts):
        owner[part.indices] = k
    return owner


def share_error(ds: SimpleNamespace, parts: list) -> float:
    """class_share_error of the parts, counted in windows."""
    owner = owners(ds, parts)
    held = ds.records["targets"][ds.windows["record"]]
    return class_share_error(owner, held, np.array(FRACTIONS))


@pytest.mark.parametrize("task", ["subdiagnostic", "all", "rhythm"])
def test_stratified_parts_are_closer_to_the_fractions_than_random_grouped_ones(task) -> None:
    ds = real_dataset(task)
    held = ds.records["targets"].sum(axis=0)
    assert (held[held > 0] < 10).sum() >= 3  # rare classes: a handful of records
    random = [share_error(ds, ecgspec.split(ds, by="labels/patient_id", fractions=FRACTIONS, seed=s)) for s in range(10)]
    stratified = [share_error(ds, ecgspec.split(ds, by="labels/patient_id", fractions=FRACTIONS, seed=s,
                                                stratify="targets")) for s in range(3)]
    assert max(stratified) < min(random) and np.mean(stratified) < 0.6 * np.mean(random), (stratified, random)


def test_a_stratified_split_keeps_groups_whole_sizes_close_and_is_deterministic() -> None:
    ds = real_dataset("subdiagnostic")
    parts = ecgspec.split(ds, by="labels/patient_id", fractions=FRACTIONS, seed=3, stratify="targets")
    owner = owners(ds, parts)
    assert (owner >= 0).all() and all(p.indices == sorted(p.indices) for p in parts)  # a partition
    patient = ds.records["labels/patient_id"][ds.windows["record"]]
    for p in np.unique(patient):  # each patient's windows in one part
        assert len(set(owner[patient == p])) == 1
    sizes = np.array([len(p) for p in parts]) / len(owner)
    assert np.all(np.abs(sizes - FRACTIONS) < 0.01), sizes
    again = ecgspec.split(ds, by="labels/patient_id", fractions=FRACTIONS, seed=3, stratify="targets")
    assert [p.indices for p in again] == [p.indices for p in parts]


def test_stratified_parts_on_groups_of_one_class_each() -> None:
    sizes = np.ones(40)
    counts = np.zeros((40, 3))
    counts[:20, 0] = counts[20:30, 1] = counts[30:, 2] = 1
    part_of = stratified_parts(sizes, counts, np.array([0.5, 0.5]), seed=0)
    for k in range(3):
        assert np.bincount(part_of[counts[:, k] == 1], minlength=2).tolist() == [counts[:, k].sum() / 2] * 2
    assert class_share_error(part_of, counts, np.array([0.5, 0.5])) == 0.0
    worst = np.where(counts[:, 0] == 1, 0, 1)  # class 0 all in part 0, the others in part 1
    assert class_share_error(worst, counts, np.array([0.5, 0.5])) == 1.0


def test_groups_without_a_class_fill_the_parts_furthest_below_their_share() -> None:
    sizes = np.ones(100)
    counts = np.zeros((100, 2))
    counts[:6, 0] = 1
    part_of = stratified_parts(sizes, counts, np.array([0.5, 0.3, 0.2]), seed=1)
    assert np.bincount(part_of, minlength=3).tolist() == [50, 30, 20]
    assert np.array_equal(part_of, stratified_parts(sizes, counts, np.array([0.5, 0.3, 0.2]), seed=1))
    assert not np.array_equal(grouped_parts(sizes, np.array([0.5, 0.3, 0.2]), 1),
                              grouped_parts(sizes, np.array([0.5, 0.3, 0.2]), 2))


def test_published_folds_make_the_parts() -> None:
    ds = real_dataset("superdiagnostic")
    train, val, test = ecgspec.split(ds, folds="labels/strat_fold", parts=(range(1, 9), (9,), (10,)))
    fold = ds.records["labels/strat_fold"][ds.windows["record"]]
    assert np.isin(fold[train.indices], range(1, 9)).all() and (fold[val.indices] == 9).all()
    assert (fold[test.indices] == 10).all() and len(train) + len(val) + len(test) == len(fold)
    every = ecgspec.split(ds, folds="labels/strat_fold")  # a part a fold
    assert len(every) == 10 and [set(fold[p.indices]) for p in every] == [{k} for k in range(1, 11)]
    only = ecgspec.split(ds, folds="labels/strat_fold", parts=((9,), (10,)))  # the others in no part
    assert len(only[0]) + len(only[1]) == len(val) + len(test)
    with pytest.raises(ValueError, match="9 is in parts 0 and 1"):
        ecgspec.split(ds, folds="labels/strat_fold", parts=((8, 9), (9,)))
    with pytest.raises(ValueError, match="no record has labels/strat_fold = 11"):
        ecgspec.split(ds, folds="labels/strat_fold", parts=((10,), (11,)))
    with pytest.raises(ValueError, match="not both"):
        ecgspec.split(ds, folds="labels/strat_fold", stratify="targets")
    with pytest.raises(ValueError, match="'labels/fold' is not a /records column"):
        ecgspec.split(ds, folds="labels/fold")


def test_a_one_dimensional_column_stratifies_by_its_values() -> None:
    rng = np.random.default_rng(2)
    n = 600
    sex = np.where(rng.random(n) < 0.1, "F", "M").astype(object)  # a rare value
    ds = SimpleNamespace(windows={"record": np.arange(n)}, records={"labels/sex": sex})
    parts = ecgspec.split(ds, fractions=(0.5, 0.5), seed=0, stratify="labels/sex")
    rare = np.flatnonzero(sex == "F")
    assert abs(np.isin(rare, parts[0].indices).sum() - len(rare) / 2) <= 1
