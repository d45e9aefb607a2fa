"""lead_sets: the lead names real records use, the standard-12 layout with zeros and masks,
limb leads derived by Einthoven's and Goldberger's identities, and unit factors to mV."""

from __future__ import annotations

import re

import numpy as np
import pytest
import wfdb

from ecgspec.readers import RecordError
from ecgspec.signal.lead_sets import (
    STANDARD12,
    derivation,
    derive_limb_leads,
    mv_scale,
    parse_aliases,
    parse_lead_set,
    plan_leads,
    standard_name,
)


def _names(path) -> list[str]:
    return list(wfdb.rdheader(str(path)).sig_name)


# ---------------------------------------------------------------- names real records use


def test_standard_names_of_the_shared_records(cinc_dir, cpsc_dir, wfdb_dir):
    for path in sorted(cinc_dir.glob("*.hea")):
        assert [standard_name(n) for n in _names(path.with_suffix(""))] == list(STANDARD12)
    for path in sorted(cpsc_dir.glob("*.hea")):
        assert [standard_name(n) for n in _names(path.with_suffix(""))] == ["I", "II"]
    ptb = _names(wfdb_dir / "s0010_re")  # i, ii, ..., v6, vx, vy, vz
    assert [standard_name(n) for n in ptb] == list(STANDARD12) + [None, None, None]
    assert [standard_name(n) for n in _names(wfdb_dir / "100")] == ["II", "V5"]  # MLII, V5
    assert [standard_name(n) for n in _names(wfdb_dir / "a103l")] == ["II", None, None]  # II, V, PLETH
    assert [standard_name(n) for n in _names(wfdb_dir / "test01_00s")] == [None] * 4  # ECG 1 ... ECG 4


@pytest.mark.parametrize("name, lead", [
    ("MLII", "II"), ("ML II", "II"), ("mod. II", "II"), ("mod.V1", "V1"), ("MLIII", "III"), ("MLI", "I"),
    ("Lead I (Einthoven)", "I"), ("Lead aVR (Goldberger)", "aVR"), ("Lead V2 (Wilson)", "V2"),  # SCP-ECG / DICOM
    ("D1", "I"), ("DII", "II"), ("d3", "III"), ("DIII", "III"),
    ("ECG II", "II"), ("EKG II", "II"), ("ECG Lead II", "II"), ("ECG-V1", "V1"), ("ECG_aVF", "aVF"),  # EDF labels
    ("Lead aVL", "aVL"), ("AVR", "aVR"), ("v 6", "V6"),
    ("V", None), ("PLETH", None), ("ECG 1", None), ("ECG1", None), ("-aVR", None), ("V2-V1", None), ("ML5", None),
    ("D4", None), ("CM5", None),
])
def test_alias_table(name, lead):
    assert standard_name(name) == lead


# ---------------------------------------------------------------- lead sets and plans


def test_parse_lead_set():
    assert parse_lead_set("standard12") == STANDARD12
    assert parse_lead_set(" Standard12 ") == STANDARD12
    assert parse_lead_set("I,II,V1,V5") == ("I", "II", "V1", "V5")
    assert parse_lead_set(["II", "V5"]) == ("II", "V5")
    with pytest.raises(ValueError, match="lead_set: I, i named twice"):
        parse_lead_set("I,II,i")
    with pytest.raises(ValueError, match="lead_set"):
        parse_lead_set("I,,II")


def test_mixed_folder_plans(cinc_dir, cpsc_dir, wfdb_dir):
    masks = {}
    for path in [cinc_dir / "E07500", cpsc_dir / "data_101_6", wfdb_dir / "100", wfdb_dir / "a103l", wfdb_dir / "s0010_re"]:
        plan = plan_leads(_names(path), STANDARD12)
        masks[path.name] = [lead for lead, m in zip(STANDARD12, plan.present) if m]
        assert not plan.derived_mask.any()
    assert masks == {"E07500": list(STANDARD12), "data_101_6": ["I", "II"], "100": ["II", "V5"], "a103l": ["II"],
                     "s0010_re": list(STANDARD12)}
    with pytest.raises(RecordError) as err:
        plan_leads(_names(wfdb_dir / "test01_00s"), STANDARD12)
    assert str(err.value) == ("has none of the leads I, II, III, aVR, aVL, aVF, V1, V2, V3, V4, V5, V6 "
                              "(leads: ECG 1, ECG 2, ECG 3, ECG 4)")
    with pytest.raises(RecordError, match=r"\(no lead names\)"):
        plan_leads((), ("I", "II"))


def test_assemble_lays_out_mitbih_with_zeros(wfdb_dir):
    record = wfdb.rdrecord(str(wfdb_dir / "100"), sampto=3000)
    plan = plan_leads(record.sig_name, STANDARD12)
    assert plan.reads == (0, 1)
    out = plan.assemble(record.p_signal.T.astype(np.float32))
    assert out.shape == (12, 3000) and out.dtype == np.float32
    np.testing.assert_array_equal(out[1], record.p_signal[:, 0].astype(np.float32))  # MLII -> II
    np.testing.assert_array_equal(out[10], record.p_signal[:, 1].astype(np.float32))  # V5
    assert not out[[0, 2, 3, 4, 5, 6, 7, 8, 9, 11]].any()


def test_user_aliases_extend_and_win(wfdb_dir):
    names = _names(wfdb_dir / "test01_00s")
    aliases = parse_aliases({"ECG 1": "I", "ecg2": "ii"}, STANDARD12)
    assert aliases == {"ecg1": "I", "ecg2": "II"}
    plan = plan_leads(names, STANDARD12, aliases)
    assert plan.sources[:3] == (0, 1, None) and plan.present.sum() == 2
    with pytest.raises(ValueError, match=r"lead_aliases\.CH1: V7 is not in the lead set"):
        parse_aliases({"CH1": "V7"}, STANDARD12)
    # the same name beats a built-in alias, whatever the header order; a user alias beats both
    assert plan_leads(["MLII", "II"], ("II",)).sources == (1,)
    assert plan_leads(["MLII", "ML II"], ("II",)).sources == (0,)
    assert plan_leads(["II", "D2"], ("II",), parse_aliases({"D2": "II"}, ("II",))).sources == (1,)


def test_explicit_lead_set_by_any_name(wfdb_dir):
    names = _names(wfdb_dir / "test01_00s")
    plan = plan_leads(names, ("ecg 3", "ECG 1", "V1"))
    assert plan.sources == (2, 0, None) and plan.reads == (0, 2)


# ---------------------------------------------------------------- derived limb leads


def _limb_references(i: np.ndarray, ii: np.ndarray) -> dict[str, np.ndarray]:
    """The six limb leads by the textbook identities, in float64 from wfdb's signals."""
    return {"I": i, "II": ii, "III": ii - i, "aVR": -(i + ii) / 2, "aVL": i - ii / 2, "aVF": ii - i / 2}


def test_derived_leads_on_cpsc_equal_the_identities(cpsc_dir):
    for path in sorted(cpsc_dir.glob("*.hea"))[:6]:
        record = wfdb.rdrecord(str(path.with_suffix("")))
        plan = plan_leads(record.sig_name, STANDARD12, derive=True)
        assert [lead for lead, m in zip(STANDARD12, plan.derived_mask) if m] == ["III", "aVR", "aVL", "aVF"]
        assert plan.present[:6].all() and not plan.present[6:].any()
        out = plan.assemble(record.p_signal.T.astype(np.float32))
        refs = _limb_references(record.p_signal[:, 0], record.p_signal[:, 1])
        scale = np.abs(record.p_signal).max()  # float32 rounding of the leads read
        for row, lead in enumerate(STANDARD12[:6]):
            np.testing.assert_allclose(out[row], refs[lead], rtol=0, atol=2e-7 * scale, err_msg=f"{path.name} {lead}")
        # Einthoven's law and Goldberger's sum hold on what was derived
        np.testing.assert_allclose(out[0] + out[2], out[1], rtol=0, atol=1e-6 * np.abs(out[1]).max())
        np.testing.assert_allclose(out[3] + out[4] + out[5], 0, rtol=0, atol=1e-6 * np.abs(out[:2]).max())


def test_any_two_of_i_ii_iii_give_the_same_leads(cpsc_dir):
    record = wfdb.rdrecord(str(cpsc_dir / "data_101_6"))
    refs = _limb_references(record.p_signal[:, 0], record.p_signal[:, 1])
    for pair in [("I", "II"), ("I", "III"), ("II", "III")]:
        signals = {lead: refs[lead].astype(np.float32) for lead in pair}
        derived = derive_limb_leads(signals, STANDARD12)
        assert sorted(derived) == sorted(set(STANDARD12[:6]) - set(pair))
        for lead, values in derived.items():
            assert values.dtype == np.float32
            np.testing.assert_allclose(values, refs[lead], rtol=0, atol=4e-7 * np.abs(record.p_signal).max(),
                                       err_msg=f"{lead} from {pair}")
    assert derivation("V1", ["I", "II"]) is None and derivation("aVR", ["I", "V1"]) is None


def test_derivation_bases_outside_the_set(cpsc_dir):
    record = wfdb.rdrecord(str(cpsc_dir / "data_101_6"), sampto=2000)
    plan = plan_leads(record.sig_name, ("aVR", "V1"), derive=True)
    assert plan.reads == (0, 1) and plan.present.tolist() == [True, False]
    out = plan.assemble(record.p_signal.T.astype(np.float32))
    np.testing.assert_allclose(out[0], -(record.p_signal[:, 0] + record.p_signal[:, 1]) / 2, rtol=0, atol=1e-6)
    assert not out[1].any()
    with pytest.raises(RecordError):
        plan_leads(record.sig_name, ("aVR", "V1"))  # without derivation, none of the set is there


# ---------------------------------------------------------------- units


@pytest.mark.parametrize("unit, factor", [
    ("mV", 1.0), ("mv", 1.0), ("MV", 1.0), ("millivolt", 1.0), ("Millivolts", 1.0),
    ("V", 1e3), ("volt", 1e3), ("Volts", 1e3),
    ("uV", 1e-3), ("\u00b5V", 1e-3), ("\u03bcV", 1e-3), ("microvolts", 1e-3), ("mcV", 1e-3), (" u V ", 1e-3),
    ("nV", 1e-6), ("nanovolt", 1e-6),
])
def test_unit_factors(unit, factor):
    assert mv_scale(unit) == factor


@pytest.mark.parametrize("unit", ["mmHg", "NU", "kV", "mA", "uVolt?", "degC"])
def test_unknown_units_are_a_record_error(unit):
    with pytest.raises(RecordError, match=re.escape(f"unit '{unit}' of lead PLETH is not a voltage --units mV converts")):
        mv_scale(unit, "PLETH")


@pytest.mark.parametrize("unit", ["", "  ", None])
def test_no_unit_is_a_record_error(unit):
    with pytest.raises(RecordError, match="states no unit of lead 0, so --units mV cannot convert it"):
        mv_scale(unit, "0")


def test_units_of_the_shared_records(cinc_dir, wfdb_dir):
    """Every unit the shared headers state for an ECG signal converts; a103l's PLETH (NU) does not."""
    assert {mv_scale(u) for u in wfdb.rdheader(str(cinc_dir / "E07500")).units} == {1.0}
    a103l = wfdb.rdheader(str(wfdb_dir / "a103l"))
    ecg = [u for n, u in zip(a103l.sig_name, a103l.units) if n != "PLETH"]
    assert {mv_scale(u) for u in ecg} == {1.0}
    with pytest.raises(RecordError):
        mv_scale(a103l.units[a103l.sig_name.index("PLETH")], "PLETH")
