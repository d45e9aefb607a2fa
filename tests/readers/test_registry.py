"""The reader registry (readers/registry.py) and the facts copied from ecgdatakit
(readers/clinical/ecgdatakit_facts.py): formats registered, not chained; one "not mine"
exception; the facts equal to the installed ecgdatakit's, checked against the version recorded."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from pathlib import Path

import ecgdatakit
import numpy as np
import pytest
from ecgdatakit.models import _TO_UV, _UNIT_ALIASES
from ecgdatakit.parsing.helpers import normalize_lead_label

from ecgspec.readers import RecordError, RecordRef, open_record, registry
from ecgspec.readers.clinical import ecgdatakit_facts as facts
from ecgspec.readers.registry import FORMATS, KINDS, Unhandled, formats_for
from tests.helpers import ecg_writers as w
from tests.helpers.paths import DATA, ROOT

REAL = DATA / "real" / "clinical"


def test_every_format_declares_lower_case_extensions_of_one_kind_and_a_priority() -> None:
    for fmt in FORMATS:
        assert fmt.suffixes and all(re.fullmatch(r"\.[a-z0-9]+", s) for s in fmt.suffixes), fmt
        assert isinstance(fmt.priority, int) and ":" in fmt.reader
    kinds: dict[str, set[str]] = {}
    for fmt in FORMATS:
        for suffix in fmt.suffixes:
            kinds.setdefault(suffix, set()).add(fmt.kind)
    assert all(len(k) == 1 for k in kinds.values()) and KINDS == {s: k.pop() for s, k in kinds.items()}
    assert [f.priority for f in FORMATS] == sorted(f.priority for f in FORMATS)


@pytest.mark.parametrize("suffix", [".xml", ".XML", ".dcm", ".Dcm", ".scp", ".SCP", ".ecg", ".MWF", ".mfer", ".mfr"])
def test_ecgspecs_own_decoders_come_before_the_ecgdatakit_adapter(suffix: str) -> None:
    names = [f.name for f in formats_for(RecordRef("r", Path(f"r{suffix}"), "clinical"))]
    own = {".xml": ["GE MUSE XML", "HL7 aECG", "Philips Sierra XML"], ".dcm": ["DICOM waveform"],
           ".scp": ["SCP-ECG"]}.get(suffix.lower(), [])
    assert names == own + ["ecgdatakit"]


def test_a_kind_without_a_format_is_refused_and_an_unknown_extension_gets_every_format_of_its_kind() -> None:
    with pytest.raises(ValueError, match="unknown record kind 'nope'"):
        formats_for(RecordRef("r", Path("r.xml"), "nope"))
    assert [f.name for f in formats_for(RecordRef("r", Path("r.bin"), "wfdb"))] == ["WFDB"]


def test_one_exception_says_not_mine() -> None:
    """Every reader that passes a file on raises registry.Unhandled: no second class for it."""
    from ecgspec.readers.clinical import dicom, dicom_parts, scp, xml_common

    for module in (dicom, dicom_parts, scp, xml_common):
        assert getattr(module, "Unhandled", Unhandled) is Unhandled
        assert not hasattr(module, "Fallback")
    source = "\n".join(p.read_text() for p in (ROOT / "ecgspec" / "readers").rglob("*.py"))
    assert re.findall(r"^class (\w+)\((?:EcgspecError|Exception)\)", source, re.M) == ["Unhandled"]


def test_a_decoder_that_declines_a_file_hands_it_to_the_next_format(tmp_path: Path, monkeypatch) -> None:
    """A GE MUSE file with a CRC mismatch (ecgdatakit warns): MUSE's decoder declines it, the sniffs of
    HL7 and Sierra refuse it, ecgdatakit reads it and its warning reaches meta."""
    from ecgspec.readers import clinical

    path = w.muse_xml(tmp_path / "r.xml", w.counts(8, 500), crc="bad")
    calls = []
    real = clinical.open_with_ecgdatakit
    monkeypatch.setattr(clinical, "open_with_ecgdatakit", lambda ref: calls.append(ref.name) or real(ref))
    record = open_record(RecordRef("r", path, "clinical"))
    assert calls == ["r"] and any(key == "warning" and "CRC" in value for key, value in record.header.meta)


def test_a_file_no_reader_takes_is_the_last_reasons_one_line(tmp_path: Path) -> None:
    path = tmp_path / "r.XML"
    path.write_bytes(b'<?xml version="1.0"?><note/>')
    with pytest.raises(RecordError, match=r"^not a format ecgdatakit reads \(GE MUSE, Philips Sierra"):
        open_record(RecordRef("r", path, "clinical"))


def test_readers_are_imported_when_a_file_of_theirs_is_opened() -> None:
    code = "import sys; from ecgspec.readers import discover, open_record, registry; print(' '.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    modules = set(out.stdout.split())
    assert "ecgspec.readers.registry" in modules
    assert not {"h5py", "ecgdatakit", "edfio", "pydicom", "ecgspec.readers.clinical", "ecgspec.readers.edf"} & modules


# ---------------------------------------------------------------- the facts copied from ecgdatakit


def test_the_facts_record_the_ecgdatakit_version_they_were_checked_against() -> None:
    """pyproject.toml bounds ecgdatakit from the version checked to the next minor release, and the
    one installed here is within: a release past the bound needs the facts checked again."""
    text = (ROOT / "pyproject.toml").read_text()
    major, minor, _ = facts.CHECKED.split(".")
    bound = f'"ecgdatakit>={facts.CHECKED},<{major}.{int(minor) + 1}"'
    assert text.count(bound) == 2, bound  # the clinical and the test extras
    assert ecgdatakit.__version__.split(".")[:2] == [major, minor]


def test_the_unit_table_is_ecgdatakits() -> None:
    assert facts._UNIT_ALIASES == _UNIT_ALIASES and facts.TO_UV == _TO_UV
    for text in [*_UNIT_ALIASES, " mV ", "MV", "Microvolts", "mmHg", ""]:
        expected = _UNIT_ALIASES.get(text) or _UNIT_ALIASES.get(text.strip().lower())
        assert facts.unit_of(text) == expected, text


def test_lead_names_are_made_once_for_both_paths() -> None:
    """ecgdatakit's records get their names from clinical_name too (no second copy of the rules)."""
    from ecgspec.readers import clinical

    assert not hasattr(clinical, "lead_name")
    labels = ["AVR", "Lead aVR", "MDC_ECG_LEAD_AVR", "mdc_ecg_lead_v1", " ECG Lead II ", "V4R", "Pleth", ""]
    assert [facts.clinical_name(x) for x in labels] == ["aVR", "aVR", "aVR", "V1", "II", "V4R", "Pleth", ""]
    stripped = [x.strip()[len("MDC_ECG_LEAD_"):] if x.strip().upper().startswith("MDC_ECG_LEAD_") else x for x in labels]
    assert [facts.clinical_name(x) for x in labels] == [normalize_lead_label(x.strip()) for x in stripped]


@pytest.mark.parametrize("path", sorted(p for p in REAL.rglob("*") if p.suffix.lower() in (".xml", ".dcm", ".scp", ".ecg")),
                         ids=lambda p: p.name)
def test_detection_is_ecgdatakits_on_the_real_files(path: Path) -> None:
    """Which XML decoder a real file goes to is the parser ecgdatakit picks for it (a UTF-16 file,
    which ecgspec's decoders do not read, goes to ecgdatakit itself)."""
    theirs = ecgdatakit.FileParser.detect_format(path)
    parser = theirs["parser"] if theirs else None
    head = path.read_bytes()[:registry.SNIFF]
    expected = {"GEMuseXMLParser": "muse", "HL7aECGParser": "hl7", "SierraXMLParser": "sierra"}.get(parser)
    utf16 = head[:2] in (b"\xff\xfe", b"\xfe\xff")
    assert facts.detect(head) == (None if utf16 else expected), parser


def test_detection_follows_ecgdatakits_parser_order() -> None:
    """The XML parsers of PRIORITY 50 in class-name order, after every binary format: the facts' order."""
    from ecgdatakit.parsing.parser import _discover

    order = [p.__name__ for p in _discover()]
    xml = [n for n in order if n in ("GEMuseXMLParser", "HL7aECGParser", "MortaraEL250Parser", "SierraXMLParser")]
    assert xml == ["GEMuseXMLParser", "HL7aECGParser", "MortaraEL250Parser", "SierraXMLParser"]
    first_xml = order.index("GEMuseXMLParser")
    assert {"DICOMWaveformParser", "ISHNEHolterParser", "EDFParser", "SCPECGParser"} <= set(order[:first_xml])


def test_meta_keys_are_ecgdatakits_to_dict_keys() -> None:
    from ecgdatakit.models import DeviceInfo, FilterSettings, PatientInfo, RecordingInfo

    assert facts.PATIENT_KEYS == tuple(PatientInfo().to_dict())
    recording = tuple(k for k in RecordingInfo().to_dict() if k not in ("date", "device", "acquisition"))
    assert facts.RECORDING_KEYS == recording
    assert facts.DEVICE_KEYS == tuple(DeviceInfo().to_dict()) and facts.FILTER_KEYS == tuple(FilterSettings().to_dict())


def test_a_rate_off_a_whole_number_by_more_than_the_tolerance_is_left_to_ecgdatakit(tmp_path: Path) -> None:
    """HL7 aECG: ecgdatakit rounds the rate and warns past RATE_TOLERANCE Hz; ecgspec's decoder leaves such a file."""
    hl7 = importlib.import_module("ecgspec.readers.clinical.hl7")
    from ecgspec.readers import clinical

    for step, left in (("0.002000001", False), ("0.002001", True)):  # s: 499.99975 Hz and 499.75 Hz
        path = w.hl7_aecg(tmp_path / "r.xml", w.counts(12, 100))
        text = path.read_text()
        assert '<increment value="0.002" unit="s"/>' in text
        path.write_text(text.replace('<increment value="0.002" unit="s"/>', f'<increment value="{step}" unit="s"/>'))
        try:
            hl7.decode(path.read_bytes(), clinical.meta_pairs)
            declined = False
        except Unhandled:
            declined = True
        assert declined == left, step
    assert np.isclose(facts.RATE_TOLERANCE, 1e-3)
