"""GE MUSE XML (``RestingECG``, restecg.dtd) decoded by ecgspec, equal to ecgdatakit's reading.

The rhythm ``Waveform``'s leads, Base64 little-endian signed integers of ``LeadSampleSize``
bytes scaled by ``LeadAmplitudeUnitsPerBit`` ``LeadAmplitudeUnits``, at ``SampleBase x
10^SampleExponent`` Hz, in mV; the header fields ecgdatakit gives. The same checks as ecgdatakit
(Base64, byte and sample counts, every waveform's leads, the median beat's too).

Left to ecgdatakit (:class:`~ecgspec.readers.registry.Unhandled`): any file on which ecgdatakit warns (a CRC32
mismatch, a second waveform of one type, a lead without a voltage unit or with a non-zero
``FirstSampleBaseline``/``LeadOffsetFirstSample``), a root other than ``RestingECG``, a
document that declares entities or that expat cannot parse as it stands, and anything broken.
"""

from __future__ import annotations

import functools
import math
import xml.etree.ElementTree as ET
import zlib
from datetime import date, datetime

import numpy as np

from .ecgdatakit_facts import clinical_name, lead_label, unique_labels
from .xml_common import Decoded, Payloads, Unhandled, base64_strict, leads_to_mv, parse

FORMAT = "GE MUSE XML"
_UNITS = {"MICROVOLTS": "uV", "MICROVOLT": "uV", "UV": "uV", "MILLIVOLTS": "mV", "MILLIVOLT": "mV", "MV": "mV",
          "VOLTS": "V", "VOLT": "V", "V": "V", "NANOVOLTS": "nV", "NANOVOLT": "nV", "NV": "nV"}
_AGE_UNITS = {"YEARS": 1.0, "MONTHS": 1 / 12, "WEEKS": 7 / 365.25, "DAYS": 1 / 365.25, "HOURS": 1 / 8766}
_DTYPES = {1: np.dtype("<i1"), 2: np.dtype("<i2"), 4: np.dtype("<i4")}
_MEASURED = ("VentricularRate", "PRInterval", "QRSDuration", "QTInterval", "QTcFrederica", "PAxis", "RAxis",
             "TAxis", "QRSCount")  # those ecgdatakit rounds to int (so a nan or inf there is its error)


def _text(el: ET.Element | None) -> str:
    return "" if el is None else " ".join("".join(el.itertext()).split())


def _get(node: ET.Element | None, tag: str) -> str:
    """Text of ``node``'s child ``tag``, case-insensitive where the exact case is missing."""
    if node is None:
        return ""
    el = node.find(tag)
    if el is None:
        low = tag.lower()
        el = next((c for c in node if c.tag.lower() == low), None)
    return _text(el)


@functools.lru_cache(maxsize=4096)  # the same few values, lead after lead
def _num(text: str) -> float | None:
    try:
        return float(text.replace(",", "."))
    except (ValueError, AttributeError):
        return None


def _date(text: str) -> date | None:
    for fmt in ("%m-%d-%Y", "%m/%d/%Y", "%Y-%m-%d", "%Y%m%d", "%d-%b-%Y"):
        try:
            return datetime.strptime(text.strip(), fmt).date()
        except ValueError:
            continue
    return None


def _datetime(date_text: str, time_text: str) -> datetime | None:
    d = _date(date_text) if date_text else None
    if d is None or not time_text:
        return None
    for fmt in ("%H:%M:%S", "%H:%M"):
        try:
            return datetime.combine(d, datetime.strptime(time_text.strip(), fmt).time())
        except ValueError:
            continue
    return None


def _patient(demo: ET.Element | None, acquired: datetime | None) -> dict:
    if demo is None:
        return {}
    p: dict = {"patient_id": _get(demo, "PatientID"), "first_name": _get(demo, "PatientFirstName"),
               "last_name": _get(demo, "PatientLastName")}
    dob = _get(demo, "DateofBirth")
    d = _date(dob) if dob else None
    birth = datetime.combine(d, datetime.min.time()) if d else None
    p["birth_date"] = birth.isoformat() if birth else None
    gender = _get(demo, "Gender").upper()
    if gender:
        p["sex"] = "M" if gender in ("M", "MALE") else "F" if gender in ("F", "FEMALE") else "U"
    p["race"] = _get(demo, "Race")
    age, factor = _num(_get(demo, "PatientAge")), _AGE_UNITS.get(_get(demo, "AgeUnits").upper())
    if age is not None and factor:
        p["age"] = int(age * factor)
    elif age is None and birth and acquired:
        a, b = acquired.date(), birth.date()
        p["age"] = a.year - b.year - ((a.month, a.day) < (b.month, b.day))
    p["weight"], p["height"] = _measure(demo, "WeightKG", "WeightLBS", 0.45359237), _measure(demo, "HeightCM", "HeightIN", 2.54)
    return p


def _measure(demo: ET.Element, metric: str, imperial: str, factor: float) -> float | None:
    value = _num(_get(demo, metric))
    if value is None and _num(_get(demo, imperial)) is not None:
        value = round(_num(_get(demo, imperial)) * factor, 1)
    return value or None


def _recording(test: ET.Element | None, root: ET.Element) -> tuple[datetime | None, dict, dict]:
    """The acquisition time, the recording fields and the device fields."""
    if test is None:
        return None, {}, {}
    when = _datetime(_get(test, "AcquisitionDate"), _get(test, "AcquisitionTime"))
    tech = " ".join(p for p in (_get(test, "AcquisitionTechFirstName"), _get(test, "AcquisitionTechLastName")) if p)
    ref = " ".join(p for p in (_get(test, "ReferringMDFirstName"), _get(test, "ReferringMDLastName")) if p)
    rec = {"technician": tech or _get(test, "AcquisitionTechID"), "referring_physician": ref or _get(test, "ReferringMDID"),
           "room": _get(test, "RoomID"), "location": _get(test, "LocationName")}
    dev = {"model": _get(test, "AcquisitionDevice"), "name": _get(test, "CartNumber"),
           "serial_number": _get(root.find("PharmaData"), "PharmaCartID"),
           "software_version": _get(test, "AcquisitionSoftwareVersion"), "institution": _get(test, "SiteName"),
           "acquisition_type": _get(test, "DataType")}
    return when, rec, dev


def _filters(wf: ET.Element) -> dict:
    hp, lp = _num(_get(wf, "HighPassFilter")), _num(_get(wf, "LowPassFilter"))
    f: dict = {"highpass": hp / 100.0 if hp else None, "lowpass": lp if lp else None}
    for value in [_text(el) for el in wf.findall("ACFilter") if _text(el)]:
        freq = _num(value)
        if freq:
            f["notch"], f["notch_active"] = freq, True
            break
        if value.upper() in ("NONE", "OFF"):
            f["notch_active"] = False
    return f


def _fields(node: ET.Element) -> dict:
    """``node``'s children by tag (the first of each, as ``find`` gives it)."""
    return {child.tag: child for child in reversed(node)}


def _field(kids: dict, node: ET.Element, tag: str) -> str:
    """``_get(node, tag)`` with ``node``'s children indexed by :func:`_fields`."""
    el = kids.get(tag)
    if el is None:
        return _get(node, tag)
    text = el.text
    return (" ".join(text.split()) if text else "") if len(el) == 0 else _text(el)


def _lead(ld: ET.Element, kind: str, texts: Payloads) -> tuple[str, np.ndarray, float, str]:
    """One LeadData: its label, counts, resolution and unit; Unhandled where ecgdatakit raises or warns."""
    kids = _fields(ld)
    lead_id = _field(kids, ld, "LeadID")
    data = texts.text(ld.find("WaveFormData")) or b""
    if not lead_id or not data.strip():
        raise Unhandled(f"lead {lead_id or '?'} ({kind}) has no LeadID or no WaveFormData", malformed=True)
    payload = base64_strict(data)
    if payload is None:
        raise Unhandled(f"Invalid Base64 in lead {lead_id} ({kind})", malformed=True)
    size = int(_num(_field(kids, ld, "LeadSampleSize")) or 2)
    byte_count = _num(_field(kids, ld, "LeadByteCountTotal"))
    if size not in (1, 2, 4) or len(payload) % size or (byte_count is not None and int(byte_count) != len(payload)):
        raise Unhandled(f"lead {lead_id} ({kind}): {len(payload)} bytes do not match LeadSampleSize or LeadByteCountTotal",
                        malformed=True)
    counts = np.frombuffer(payload, dtype=_DTYPES[size])
    sample_count = _num(_field(kids, ld, "LeadSampleCountTotal"))
    if sample_count is not None and int(sample_count) != len(counts):
        raise Unhandled(f"lead {lead_id} ({kind}): LeadSampleCountTotal {int(sample_count)} but {len(counts)} samples",
                        malformed=True)
    crc = _field(kids, ld, "LeadDataCRC32")
    if crc.isdigit() and (zlib.crc32(payload) & 0xFFFFFFFF) != int(crc):
        raise Unhandled(f"CRC32 mismatch in lead {lead_id} ({kind})")
    scale = _num(_field(kids, ld, "LeadAmplitudeUnitsPerBit"))
    unit = _UNITS.get(_field(kids, ld, "LeadAmplitudeUnits").upper(), "") if scale is not None else ""
    if (not unit or scale == 0.0 or _num(_field(kids, ld, "FirstSampleBaseline"))
            or _num(_field(kids, ld, "LeadOffsetFirstSample"))):
        raise Unhandled(f"lead {lead_id} ({kind}) is unscaled or offset: ecgdatakit warns")
    return lead_label(lead_id), counts, float(scale), unit


def _waveforms(root: ET.Element, texts: Payloads) -> tuple[ET.Element, list, float]:
    """The rhythm waveform, its leads and rate, every waveform's leads checked as ecgdatakit checks them."""
    rhythm, found = None, set()
    for wf in root.findall("Waveform"):
        kind = _get(wf, "WaveformType").lower() or "rhythm"
        if kind in found:
            raise Unhandled(f"a second {kind} waveform: ecgdatakit warns")
        found.add(kind)
        base, exponent = _num(_get(wf, "SampleBase")), _num(_get(wf, "SampleExponent")) or 0
        if not base or base <= 0:
            raise Unhandled(f"{kind} waveform has no valid SampleBase", malformed=True)
        rate = int(round(base * 10 ** exponent))
        leads = [_lead(ld, kind, texts) for ld in wf.findall("LeadData")]
        if kind == "rhythm":
            rhythm = (wf, leads, rate)
    texts.all_used()
    if rhythm is None or not rhythm[1]:
        raise Unhandled("No rhythm waveform", malformed=True)
    return rhythm


def _check_measurements(root: ET.Element) -> None:
    """Raise (for the fallback) where ecgdatakit's measurement reading raises: a nan or inf it rounds."""
    current = root.find("RestingECGMeasurements")
    primary = current if current is not None else root.find("OriginalRestingECGMeasurements")
    for child in primary if primary is not None else ():
        number = _num(_text(child)) if child.tag in _MEASURED else None
        if number is not None:
            int(round(number))
    rr = _num(_get(root.find("QRSTimesTypes"), "GlobalRR"))
    rr = _num(_get(root.find("PharmaData"), "PharmaRRinterval")) if rr is None else rr
    if rr:
        int(round(rr))


def decode(raw: bytes, meta_of) -> Decoded:
    """The rhythm leads and header of a MUSE file's bytes; ``meta_of`` orders the fields as
    :func:`.clinical.meta_fields`. Unhandled for what is left to ecgdatakit."""
    root, texts = parse(raw, (b"WaveFormData",))  # no attribute is read
    if root.tag.lower() != "restingecg":
        raise Unhandled("Missing RestingECG root element")
    when, rec, dev = _recording(root.find("TestDemographics"), root)
    patient = _patient(root.find("PatientDemographics"), when)
    wf, leads, rate = _waveforms(root, texts)
    _check_measurements(root)
    names = unique_labels([label for label, _, _, _ in leads])
    if any(math.isnan(scale) for _, _, scale, _ in leads):
        raise Unhandled("a lead's LeadAmplitudeUnitsPerBit is nan")
    return Decoded(names=[clinical_name(n) for n in names],
                   signals=leads_to_mv([counts for _, counts, _, _ in leads], [(s, u, 0.0) for _, _, s, u in leads]),
                   rates=[float(rate)] * len(leads), units=["mV"] * len(leads),
                   start_time=when.isoformat() if when else "",
                   meta=meta_of(FORMAT, patient, rec, dev, _filters(wf)))
