"""ecgspec's own GE MUSE, HL7 aECG and Philips Sierra XML decoders (readers/clinical/{muse,hl7,sierra}.py) against
ecgdatakit (``clinical.open_with_ecgdatakit``): the same header, units, start time, meta and
float32 samples bit for bit on varied files written from the specifications, and the known
signal; the variants they leave to ecgdatakit taken there; the formats told apart as ecgdatakit
tells them; and, without ecgdatakit, the XML files still read, broken ones a one-line reason."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from ecgdatakit import FileParser
from ecgdatakit.models import DeviceInfo, FilterSettings, PatientInfo, RecordingInfo
from ecgdatakit.parsing.helpers import normalize_lead_label
from ecgdatakit.parsing.helpers import unique_labels as edk_unique_labels
from hypothesis import given, settings
from hypothesis import strategies as st

from ecgspec.readers import RecordError, RecordRef, clinical
from ecgspec.readers.clinical import hl7 as xml_hl7
from ecgspec.readers.clinical import muse as xml_muse
from ecgspec.readers.clinical import sierra as xml_sierra
from ecgspec.readers.clinical.ecgdatakit_facts import SNIFF, lead_label, unique_labels
from ecgspec.readers.clinical.ecgdatakit_facts import detect as sniff
from ecgspec.readers.registry import Unhandled
from tests.helpers import ecg_writers as w
from tests.helpers.clinical import decoded_as_ecgdatakit, no_fallback, read_without_ecgdatakit, same, summary
from tests.helpers.fuzzing import examples

DECODER = {"muse": xml_muse, "hl7": xml_hl7, "sierra": xml_sierra}
N = 2000

MUSE_PATIENT = ("<PatientLastName>Doe</PatientLastName><PatientFirstName>Jane</PatientFirstName>"
                "<DateofBirth>02-03-1957</DateofBirth><HeightCM>170</HeightCM><WeightLBS>150</WeightLBS>"
                "<Race>CAUCASIAN</Race>")
MUSE_TEST = ("<LocationName>Ward 5</LocationName><RoomID>12</RoomID><AcquisitionTechFirstName>Al</AcquisitionTechFirstName>"
             "<ReferringMDLastName>House</ReferringMDLastName><SiteName>General</SiteName><CartNumber>7</CartNumber>"
             "<AcquisitionSoftwareVersion>010A</AcquisitionSoftwareVersion>")
HL7_PERSON = '<name><given>Ann</given><family>Lee</family></name><raceCode code="2106-3" displayName="White"/>'
HL7_SERIES = ('<author><seriesAuthor><manufacturedSeriesDevice><code code="12LEAD" displayName="12-lead ECG"/>'
              '<manufacturerModelName>MAC 5500</manufacturerModelName><softwareName>v9</softwareName>'
              '</manufacturedSeriesDevice><manufacturerOrganization><name>GE</name></manufacturerOrganization>'
              '</seriesAuthor></author><controlVariable><controlVariable><code code="MDC_ECG_CTL_VBL_ATTR_FILTER_LOW_PASS"/>'
              '<component><controlVariable><code code="MDC_ECG_CTL_VBL_ATTR_FILTER_CUTOFF_FREQ"/><value value="150" unit="Hz"/>'
              '</controlVariable></component></controlVariable></controlVariable>'
              '<subjectOf><annotationSet><component><annotation><code code="MDC_ECG_HEART_RATE"/>'
              '<value value="61" unit="bpm"/></annotation></component></annotationSet></subjectOf>')
HL7_ROOT = ('<location><testingSite><location><name>Site A</name><addr><city>Basel</city></addr></location>'
            '</testingSite></location><pertainsTo><subjectFindingComment><text>chest pain</text></subjectFindingComment>'
            '</pertainsTo>')
SIERRA_ATTRS = ' hipass="0.05" lowpass="150" notchfiltered="true" notchfilterfreqs="60" artfiltered="false"'
SIERRA_ACQ = ('<machine machineid="42" detaildescription="Philips:PW:A.01">PageWriter TC50</machine><acquirer>'
              '<operator id="OP1"/><room>3</room><facilityname>Clinic</facilityname><institutionname>Uni</institutionname>'
              '<departmentname>Cardio</departmentname><referringclinician>Dr X</referringclinician></acquirer>')
SIERRA_PATIENT = ('<name><firstname>Bo</firstname><lastname>Ek</lastname></name><age><years>54</years>'
                  '<dateofbirth>1967-05-06</dateofbirth></age><height><cm>180</cm></height><weight><lb>176</lb></weight>'
                  '<pacestatus>No</pacestatus><race>Other</race>')

# case -> (kind, leads, writer options, uV a count, origin uV); the signal is counts x scale + origin
HANDLED = {
    "muse 8 leads": ("muse", 8, {}, 4.88, 0.0),
    "muse 12 leads, one-line Base64, no CRC": ("muse", 12, {"wrap": False, "crc": "none"}, 4.88, 0.0),
    "muse millivolts, 250 Hz, SampleExponent": ("muse", 8, {"units": "MILLIVOLTS", "uv_per_bit": 0.00488, "fs": 250,
                                                             "exponent": 1}, 4.88, 0.0),
    "muse no median, more fields": ("muse", 8, {"median": False, "patient": MUSE_PATIENT, "test": MUSE_TEST}, 4.88, 0.0),
    "hl7 default": ("hl7", 12, {}, 5.0, 0.0),
    "hl7 mV scale, origin, newlines": ("hl7", 12, {"scale_uv": 0.0025, "scale_unit": "mV", "origin_uv": 12.5,
                                                   "sep": "\n"}, 2.5, 12.5),
    "hl7 CR LF tab, 250 Hz": ("hl7", 12, {"sep": "\r\n\t", "fs": 250}, 5.0, 0.0),
    "hl7 no beat, more fields": ("hl7", 12, {"beat": False, "person": HL7_PERSON, "series": HL7_SERIES,
                                             "root": HL7_ROOT}, 5.0, 0.0),
    "sierra default": ("sierra", 12, {}, 5.0, 0.0),
    "sierra offset, unsigned, 2.5 uV": ("sierra", 12, {"offset": 32768, "signed": False, "resolution_uv": 2.5}, 2.5, 0.0),
    "sierra 8 leads, no beats, 250 Hz": ("sierra", 8, {"labels": w.LEADS12[:8], "beats": False, "fs": 250}, 5.0, 0.0),
    "sierra namespace, more fields": ("sierra", 12, {"xmlns": "http://www3.medical.philips.com", "attrs": SIERRA_ATTRS,
                                                     "acquisition": SIERRA_ACQ, "patient": SIERRA_PATIENT}, 5.0, 0.0),
}
# case -> (kind, leads, writer options): files ecgdatakit reads (or refuses) its own way
FALLBACK = {
    "muse CRC mismatch (a warning)": ("muse", 8, {"crc": "bad"}),
    "muse FirstSampleBaseline (a warning)": ("muse", 8, {"baseline": 3}),
    "muse counts without a voltage unit": ("muse", 8, {"units": "COUNTS"}),
    "hl7 decimal digits": ("hl7", 12, {"digit": "{}.0"}),
    "hl7 plus signs": ("hl7", 12, {"digit": "{:+d}"}),
    "hl7 unknown annotation unit": ("hl7", 12, {"series": HL7_SERIES.replace('unit="bpm"', 'unit="furlong"')}),
    "hl7 scale without a unit": ("hl7", 12, {"scale_unit": ""}),
    "sierra XLI compression": ("sierra", 12, {"compression": "XLI"}),
}


def write(kind: str, leads: int, options: dict, folder: Path, n: int = N) -> tuple[Path, np.ndarray]:
    x = w.counts(12, n, seed=len(options))[:leads]
    x[:, 7::97] = 0  # zeros among the digits, for the -0 case
    writer = {"muse": w.muse_xml, "hl7": w.hl7_aecg, "sierra": w.sierra_xml}[kind]
    return writer(folder / f"{kind}.xml", x, **options), x


@pytest.mark.parametrize("case", sorted(HANDLED))
def test_fast_decoder_equals_ecgdatakit_and_the_known_signal(case: str, tmp_path: Path, monkeypatch) -> None:
    kind, leads, options, scale, origin = HANDLED[case]
    path, x = write(kind, leads, options, tmp_path)
    got = decoded_as_ecgdatakit(path, monkeypatch)
    h = got.header
    assert h.fs == options.get("fs", 500) and h.n_samples == N and h.units == ("mV",) * leads
    assert h.start_time == w.ISO and dict(h.meta)["format"] == DECODER[kind].FORMAT
    signal = got.read(0, N, range(leads))
    np.testing.assert_allclose(signal, (x * scale + origin) / 1000, rtol=1e-6, atol=1e-7)


def test_negative_zero_digits_stay_negative_as_ecgdatakit_keeps_them(tmp_path: Path, monkeypatch) -> None:
    path, x = write("hl7", 12, {}, tmp_path)
    text = path.read_text()
    assert " 0 " in text
    path.write_text(text.replace(" 0 ", " -0 "))
    ref = RecordRef(path.stem, path, "clinical")
    expected = clinical.open_with_ecgdatakit(ref)
    monkeypatch.setattr(clinical, "open_with_ecgdatakit", no_fallback)
    got = clinical.open_clinical(ref)
    same(got, expected)
    assert np.signbit(got.read(0, N, [0])[0][x[0] == 0]).any()


@pytest.mark.parametrize("case", sorted(FALLBACK))
def test_variant_left_to_ecgdatakit_is_read_as_ecgdatakit_reads_it(case: str, tmp_path: Path, monkeypatch) -> None:
    kind, leads, options = FALLBACK[case]
    path, _ = write(kind, leads, options, tmp_path)
    with pytest.raises(Unhandled):
        DECODER[kind].decode(path.read_bytes(), clinical.meta_pairs)
    ref = RecordRef(path.stem, path, "clinical")
    real, calls = clinical.open_with_ecgdatakit, []
    monkeypatch.setattr(clinical, "open_with_ecgdatakit", lambda r: calls.append(r) or real(r))
    outcome = [None, None]
    for i, opener in enumerate((clinical.open_clinical, real)):
        try:
            outcome[i] = opener(ref)
        except RecordError as exc:
            outcome[i] = str(exc)
    assert calls == [ref]
    if isinstance(outcome[1], str):
        assert outcome[0] == outcome[1]
    else:
        same(*outcome)


@pytest.mark.parametrize("head, kind, theirs", [
    (b'<?xml version="1.0"?><RestingECG><MuseInfo/>', "muse", "muse"),
    (b"<restingecgdata><!-- a RestingECG export? -->", "sierra", "sierra"),
    (b'<?xml version="1.0"?><hl7:AnnotatedECG xmlns:hl7="urn:hl7-org:v3">', "hl7", "hl7"),
    (b"<AnnotatedECG><!-- <MuseInfo> -->", "muse", "muse"),  # ecgdatakit tries MUSE first
    (b'<?xml version="1.0"?><ECG><CHANNEL NAME="I"/>', None, None),  # Mortara
    (b"<restingecgdata><!-- <ECG> from a Welch Allyn cart -->", None, None),  # Mortara's markers, tried before Sierra
    (b'<?xml version="1.0"?><note><to>x</to></note>', None, None),
    (b"\xff\xfe" + "<restingecgdata>".encode("utf-16-le"), None, "sierra"),  # UTF-16: left to ecgdatakit
])
def test_sniff_names_the_parser_ecgdatakit_would_use(head: bytes, kind: str | None, theirs: str | None,
                                                      tmp_path: Path) -> None:
    path = tmp_path / "f.xml"
    path.write_bytes(head + b"\n" * 10)
    parser = FileParser._find_parser(path)
    name = {"GEMuseXMLParser": "muse", "HL7aECGParser": "hl7", "SierraXMLParser": "sierra"}.get(
        parser.__name__ if parser else "")
    assert sniff(path.read_bytes()[:SNIFF]) == kind and name == theirs


@pytest.mark.parametrize("kind", sorted(DECODER))
def test_written_files_are_sniffed_as_ecgdatakit_detects_them(kind: str, tmp_path: Path) -> None:
    path, _ = write(kind, 12, {}, tmp_path, n=100)
    assert sniff(path.read_bytes()[:SNIFF]) == kind
    assert FileParser._find_parser(path).FORMAT_NAME == DECODER[kind].FORMAT


def test_meta_keys_and_lead_labels_are_ecgdatakits() -> None:
    assert clinical.PATIENT_KEYS == tuple(PatientInfo().to_dict())
    assert clinical.RECORDING_KEYS == tuple(k for k in RecordingInfo().to_dict() if k not in ("date", "device", "acquisition"))
    assert clinical.DEVICE_KEYS == tuple(DeviceInfo().to_dict()) and clinical.FILTER_KEYS == tuple(FilterSettings().to_dict())
    labels = ["AVR", "Lead aVL", "ECG V1", "ecg lead v3r", " II ", "v4R", "-AVR", "Channel 3", "X", "foo", "LEAD ", ""]
    assert [lead_label(x) for x in labels] == [normalize_lead_label(x) for x in labels]
    repeated = ["II", "II_2", "II", "V1", "V1", "II"]
    assert unique_labels(repeated) == edk_unique_labels(repeated)




def test_without_ecgdatakit_xml_files_read_and_broken_or_other_ones_are_one_line_errors(tmp_path: Path) -> None:
    paths, expected = [], []
    for kind in sorted(DECODER):
        (tmp_path / kind).mkdir()
        path, _ = write(kind, 12, {}, tmp_path / kind)
        paths.append(path)
        expected.append(summary(clinical.open_with_ecgdatakit(RecordRef("r", path, "clinical"))))
    (tmp_path / "xli").mkdir()
    paths.append(write("sierra", 12, {"compression": "XLI"}, tmp_path / "xli")[0])
    for kind, old, new in (("muse", "<WaveFormData>", "<WaveFormData>!!"), ("hl7", "<digits>", "<digits>- "),
                           ("sierra", '<waveform duration="500">', '<waveform duration="500">!')):
        (tmp_path / f"bad-{kind}").mkdir()
        bad = write(kind, 8 if kind == "muse" else 12, {}, tmp_path / f"bad-{kind}")[0]
        bad.write_text(bad.read_text(encoding="latin-1").replace(old, new, 1), encoding="latin-1")
        paths.append(bad)
    lines = read_without_ecgdatakit(paths)
    assert lines[:3] == expected
    assert lines[3].startswith("ERROR reading .xml files of this kind") and lines[3].endswith("pip install ecgspec[clinical]")
    assert lines[4:] == ["ERROR Invalid Base64 in lead I (median)", "ERROR Invalid digits: a sign without digits",
                         "ERROR repbeat: invalid Base64 data"]


def _names(root) -> list:
    return [(el.tag, sorted(el.attrib.items())) for el in root.iter()]


@pytest.mark.parametrize("doc, plain", [
    (b'<a xmlns="u"><b c="1"/></a>', True),
    (b'<?xml version="1.0"?>\n<!-- x --><a x="1" xmlns=\'u\' xmlns:xsi="v"><b xsi:type="t"/></a>', True),
    (b'<a t=\'"\' xmlns="u"><b/></a>', True),
    (b'<a xmlns="u"><b xmlns="w"/></a>', False), (b'<a><b xmlns="u"/></a>', False),
    (b'<x:a xmlns:x="u" xmlns="v"/>', False), (b'<a xmlns="u"><x:b xmlns:x="w"/></a>', False),
    (b'<a t="xmlns=1" xmlns="u"/>', False), (b'<a t=\' xmlns="u"\'/>', False), (b'<a/>', False),
    (b'<a xmlns="u"><xml:b/></a>', False), (b'<a xmlns="u" xmlns:x = "w"><b x:c="1"/><x:d/></a>', False),
    (b'<a xmlns="u" xmlns:x="w"><b x:c="1"/><!-- <x:d/> --></a>', False),  # (a comment may say no: never wrongly yes)
])
def test_a_root_default_namespace_is_dropped_only_where_it_gives_the_stripped_names(doc: bytes, plain: bool) -> None:
    from ecgspec.readers.clinical import xml_common

    dropped = xml_common.without_default_namespace(doc)
    assert (dropped is not None) == plain
    stripped = xml_common.ET.fromstring(doc)
    xml_common.strip_namespaces(stripped, attributes=False)
    if dropped is not None:
        assert _names(xml_common.ET.fromstring(dropped)) == _names(stripped)


_READ = (b"code", b"value")  # the attributes read in the next test


@pytest.mark.parametrize("doc", [
    b'<a xmlns="u"><b code="1"/></a>', b'<a xmlns="u" xmlns:x="w"><b x:code="1" value="2"/></a>',
    b'<a xmlns="u" xml:value="3"><b/></a>', b'<a xmlns="u" xmlns:x="w"><x:b code="1"/></a>',
    b'<x:a xmlns:x="w"><x:b x:value="1" code="2"/></x:a>', b'<a><b xmlns="u" value="1"/></a>', b'<a><b code="1"/></a>',
    b'<a xmlns="u" xmlns:x="w"><b x:codeSystem="9" code="1"/></a>',
    b'<a xml:code="1"><b xml:value="2"/></a>', b'<xml:a><b/></xml:a>',  # (xml: is bound without a declaration)
])
def test_parse_gives_the_names_and_read_attributes_that_stripping_every_namespace_gives(doc: bytes) -> None:
    """What ecgdatakit's parse_xml_root makes of a document (every tag and attribute namespace
    stripped) is what parse() gives of its tags and of the attributes the reader reads."""
    from ecgspec.readers.clinical import xml_common

    reference = xml_common.ET.fromstring(doc)
    xml_common.strip_namespaces(reference, attributes=True)
    root, _ = xml_common.parse(doc, (), _READ)

    def read(tree):
        return [(el.tag, [el.get(name.decode()) for name in _READ]) for el in tree.iter()]
    assert read(root) == read(reference)


@pytest.mark.parametrize("doc", [
    b'<a xmlns="u"><q:b/></a>', b'<a xmlns="u" xmlns:x="w"><b></c></a>',
    # what dropping the declaration would have hidden: a namespace name expat refuses, a name run on
    b'<a xmlns="a&b"><b/></a>', b'<a xmlns="&foo;"><b code="1"/></a>', b'<a xmlns="&#0;"/>', b'<a xmlns="\x01"/>',
    b'<a xmlns="http://www.w3.org/XML/1998/namespace"/>', b'<a xmlns="http://www.w3.org/2000/xmlns/"/>',
    b'<a xmlns="u"b/>', b'<AnnotatedECG xmlns="urn:hl7-org:v3"x><series/></AnnotatedECGx>',
])
def test_a_malformed_document_with_a_default_namespace_gets_the_error_where_it_has_it(doc: bytes) -> None:
    from ecgspec.readers.clinical import xml_common

    with pytest.raises(xml_common.ET.ParseError) as own:
        xml_common.ET.fromstring(doc)
    with pytest.raises(xml_common.Unhandled, match=re.escape(f"Malformed XML: {own.value}")):
        xml_common.parse(doc, ())


@settings(max_examples=examples(300), deadline=None)
@given(data=st.binary(max_size=80) | st.text(alphabet="QUJD=+/ \t\n\r\x0b", max_size=80).map(str.encode))
def test_xml_space_is_dropped_as_translate_drops_it(data: bytes) -> None:
    from ecgspec.readers.clinical.xml_common import without_xml_space

    assert without_xml_space(data) == data.translate(None, b" \t\n\r")


@pytest.mark.parametrize("path", ["component/series", "component/sequence", "a/b/c", "component", "x/y", "a/b"])
def test_child_paths_are_found_as_elementpath_finds_them(path: str) -> None:
    from ecgspec.readers.clinical.hl7_meta import child, path_all
    from ecgspec.readers.clinical.xml_common import ET

    root = ET.fromstring("<r><component><series i='1'/><sequence i='2'/><series i='3'/></component><a><b><c i='4'/></b>"
                         "<b/><b><c i='5'/><c i='6'/></b></a><component><series i='7'/></component><a/></r>")
    assert path_all(root, path) == root.findall(path)
    assert child(root, path) is root.find(path)
    assert path_all(None, path) == [] and child(None, path) is None
