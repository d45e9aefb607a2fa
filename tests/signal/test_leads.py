"""leads: picking a record's channels by lead name or by index, on real headers."""

from __future__ import annotations

import pytest

from ecgspec.readers import RecordError, open_record
from ecgspec.signal.leads import lead_key, select_channels
from tests.helpers.records import found_ref

# ---------------------------------------------------------------- select_channels


def test_select_all_channels_in_file_order():
    assert select_channels(("I", "II"), None, 2) == [0, 1]
    assert select_channels((), None, 3, n_signals=3) == [0, 1, 2]


def test_select_wrong_count_without_leads(wfdb_dir):
    leads = open_record(found_ref(wfdb_dir / "s0010_re")).header.leads
    with pytest.raises(RecordError) as err:
        select_channels(leads, None, 12)
    assert str(err.value) == "has 15 signals, expected n_channels=12; use --leads or --channels to pick them"


def test_select_by_name_ignores_case_and_spaces_and_keeps_order(wfdb_dir, cinc_dir):
    ptb = open_record(found_ref(wfdb_dir / "s0010_re")).header.leads
    cinc = open_record(found_ref(cinc_dir / "E07500")).header.leads
    wanted = ["aVR", "I", "V1", "vz"]
    assert select_channels(ptb, wanted, 4) == [3, 0, 6, 14]
    assert select_channels(cinc, ["avr", "i", " V 6"], 3) == [3, 0, 11]
    assert select_channels(("ECG 1", "ECG 2"), ["ecg2", "ECG1"], 2) == [1, 0]


def test_select_missing_lead(cinc_dir):
    leads = open_record(found_ref(cinc_dir / "E07500")).header.leads
    with pytest.raises(RecordError) as err:
        select_channels(leads, ["I", "vx"], 2)
    assert str(err.value).startswith("has no lead vx (leads: I, II, III, aVR")


def test_select_unnamed_record_by_name_is_record_error():
    with pytest.raises(RecordError, match="no lead names"):
        select_channels((), ["I"], 1, n_signals=1)


def test_select_wanted_count_mismatch_is_config_error():
    with pytest.raises(ValueError, match="n_channels=3") as err:
        select_channels(("I", "II"), ["I", "II"], 3)
    assert not isinstance(err.value, RecordError)


def test_lead_key_ignores_case_and_every_space():
    assert lead_key(" a V R ") == lead_key("aVR") == "avr"
    assert lead_key("ECG,\t1") == "ecg,1"


def test_select_by_index_keeps_the_given_order(wfdb_dir):
    header = open_record(found_ref(wfdb_dir / "s0010_re")).header
    assert select_channels(header.leads, None, 3, header.n_signals, channels=[14, 0, 6]) == [14, 0, 6]
    assert select_channels((), None, 2, n_signals=3, channels=(2, 2)) == [2, 2]  # a channel twice is allowed


def test_select_index_out_of_range_is_record_error():
    with pytest.raises(RecordError) as err:
        select_channels(("I", "II"), None, 2, channels=[5, 0])
    assert str(err.value) == "has 2 signals, so channel 5 is out of range (0..1)"


def test_select_by_index_count_mismatch_and_both_are_config_errors():
    with pytest.raises(ValueError, match=r"^channels: 1 given \[0\] but n_channels=2") as err:
        select_channels(("I", "II"), None, 2, channels=[0])
    assert not isinstance(err.value, RecordError)
    with pytest.raises(ValueError, match="not both") as err:
        select_channels(("I", "II"), ["I"], 1, channels=[0])
    assert not isinstance(err.value, RecordError)


def test_select_names_holding_commas_and_spaces():
    leads = ("ECG, lead I", "ECG lead II", "Pleth")
    assert select_channels(leads, ["ecg lead ii", "ECG, Lead I"], 2) == [1, 0]
