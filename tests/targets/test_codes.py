"""A record's codes from a cell (lists, literals, flags) and the vocabularies' spelling rules."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ecgspec.errors import ConfigError
from ecgspec.targets.codes import code_list, dict_keys, flag
from ecgspec.targets.spec import check_targets, parse_spec
from ecgspec.targets.vocabulary import vocabulary_of


@pytest.mark.parametrize("cell, codes", [
    ("426783006,164865005", ("426783006", "164865005")),  # a CinC header's Dx
    (" I10; E785  Z87891 ", ("I10", "E785", "Z87891")),  # semicolons and spaces
    ("['I10', 'E785', 'I10']", ("I10", "E785")),  # MIMIC-IV-ECG-ICD's list literals; once each
    ('["I10", "E785"]', ("I10", "E785")),  # JSON
    ("{'NORM': 100.0, 'SR': 0.0}", ("NORM", "SR")),  # a dict literal's keys
    ("", ()), (math.nan, ()), (None, ()),  # a record without a row
    (426783006, ("426783006",)), (426783006.0, ("426783006",)),  # an int64 or float64 label column
    ("[426783006, 164865005]", ("426783006", "164865005")),
])
def test_code_list_reads_lists_literals_and_numbers(cell, codes) -> None:
    assert code_list(cell) == codes


@pytest.mark.parametrize("cell", ["['I10', 'E785'", "{'NORM': }", "[__import__('os')]", "(1"])
def test_code_list_refuses_a_cell_that_opens_as_a_literal_but_is_none(cell) -> None:
    with pytest.raises(ValueError, match="literal"):
        code_list(cell)


def test_dict_keys_takes_every_key_whatever_its_value_and_only_dicts() -> None:
    assert dict_keys("{'NORM': 100.0, 'SR': 0.0, 'LVH': 50.0}") == ("NORM", "SR", "LVH")
    assert dict_keys("") == () and dict_keys(math.nan) == ()
    for bad in ("NORM", "['NORM']", "{'NORM': 100.0"):
        with pytest.raises(ValueError):
            dict_keys(bad)


@pytest.mark.parametrize("cell, value", [("True", True), ("False", False), ("true", True), (1, True), (0, False),
                                         (1.0, True), ("", False), (math.nan, False), (True, True), ("0", False)])
def test_flag_reads_booleans(cell, value) -> None:
    assert flag(cell) is value


@pytest.mark.parametrize("cell", ["maybe", 2, "2", 0.5])
def test_flag_refuses_other_values(cell) -> None:
    with pytest.raises(ValueError, match="boolean"):
        flag(cell)


@pytest.mark.parametrize("spec, parsed", [("cinc2021", ("cinc2021", "")), ("ptbxl:rhythm", ("ptbxl", "rhythm")),
                                          ("code15", ("code15", "")), ("codes:meta/Dx", ("codes", "meta/Dx")),
                                          ("codes:labels/all_diag_all", ("codes", "labels/all_diag_all"))])
def test_parse_spec_reads_every_vocabulary(spec, parsed) -> None:
    assert parse_spec(spec) == parsed


@pytest.mark.parametrize("spec, message", [
    ("cinc2019", "must be one of cinc2021, cinc2020, ptbxl:TASK"), ("ptbxl:sub", "the PTB-XL tasks are all, diagnostic"),
    ("ptbxl", "the PTB-XL tasks are"), ("codes:Dx", "codes:labels/COLUMN"), ("codes:meta/", "codes:meta/KEY"),
    ("cinc2021:x", "takes no"), ("", "must be one of"), (3, "must be one of"),
])
def test_parse_spec_names_what_is_allowed(spec, message) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_spec(spec)


def test_check_targets_refuses_what_cannot_work_before_anything_is_read() -> None:
    ok = {"labels": True, "min_count": None, "statements": None, "required": False}
    check_targets("ptbxl:all", **ok)
    check_targets(None, **{**ok, "labels": False})
    with pytest.raises(ConfigError, match="reads its scp_codes column of --labels"):
        check_targets("ptbxl:all", **{**ok, "labels": False})
    with pytest.raises(ConfigError, match="reads its columns 1dAVb, RBBB"):
        check_targets("code15", **{**ok, "labels": False})
    with pytest.raises(ConfigError, match="reads labels/x of --labels"):
        check_targets("codes:labels/x", **{**ok, "labels": False})
    check_targets("codes:meta/Dx", **{**ok, "labels": False, "min_count": 3})
    with pytest.raises(ConfigError, match="min_count.*only for --targets codes:COLUMN"):
        check_targets("cinc2021", **{**ok, "min_count": 3})
    with pytest.raises(ConfigError, match="min_count: got 0"):
        check_targets("codes:meta/Dx", **{**ok, "min_count": 0})
    with pytest.raises(ConfigError, match="ptbxl_statements: given with --targets cinc2021"):
        check_targets("cinc2021", **{**ok, "statements": "s.csv"})
    for name in ("targets_required", "min_count", "ptbxl_statements"):
        value = {"targets_required": True, "min_count": 2, "ptbxl_statements": "s.csv"}[name]
        args = {**ok, {"targets_required": "required", "min_count": "min_count", "ptbxl_statements": "statements"}[name]: value}
        with pytest.raises(ConfigError, match=f"{name}: given without targets"):
            check_targets(None, **args)


def test_a_codes_vocabulary_is_the_sorted_codes_records_hold_at_least_min_count_times() -> None:
    cells = np.array(["b,a", "a", "['c', 'a']", "", "b"], dtype=object)
    table = vocabulary_of("codes:labels/dx").table({"labels/dx": cells}, 5)
    assert table.classes == ("a", "b", "c") and table.codes == (("a",), ("b",), ("c",))
    assert table.matrix.tolist() == [[1, 1, 0], [1, 0, 0], [1, 0, 1], [0, 0, 0], [0, 1, 0]]
    rarer = vocabulary_of("codes:labels/dx", min_count=2).table({"labels/dx": cells}, 5)
    assert rarer.classes == ("a", "b") and rarer.matrix.tolist() == [[1, 1], [1, 0], [1, 0], [0, 0], [0, 1]]
    none = vocabulary_of("codes:meta/Nothing").table({}, 3)  # a column no record has: no class
    assert none.classes == () and none.matrix.shape == (3, 0)


def test_code15_sets_a_class_per_true_column_in_the_papers_order() -> None:
    v = vocabulary_of("code15")
    assert v.classes == ("1dAVb", "RBBB", "LBBB", "SB", "AF", "ST")
    columns = {f"labels/{c}": np.array(["False", "True"], dtype=object) for c in v.classes}
    columns["labels/AF"] = np.array(["True", "False"], dtype=object)
    assert v.table(columns, 2).matrix.tolist() == [[0, 0, 0, 0, 1, 0], [1, 1, 1, 1, 0, 1]]
