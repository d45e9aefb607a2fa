"""The header half of :mod:`.hl7`: the patient, recording, device and filter fields of an HL7
aECG file as ecgdatakit's ``HL7aECGParser`` derives them, and the check that its annotation
reading would not warn (an annotation unit it does not know) or fail."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone

from .xml_common import Unhandled

_AGE_TO_YEARS = {"a": 1.0, "yr": 1.0, "mo": 1 / 12, "wk": 7 / 365.25, "d": 1 / 365.25, "h": 1 / 8766}
_TS = re.compile(r"^(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(?:\.(\d+))?([+-]\d{4})?$")
_TABLES = {"time": {"ms", "s", "us", "µs", "min"}, "angle": {"deg", "rad"},
           "rate": {"bpm", "/min", "1/min", "{beats}/min", "{beat}/min", "Hz", "/s"}}
_FACTOR = {"ms": 1.0, "s": 1000.0, "us": 0.001, "µs": 0.001, "min": 60000.0, "bpm": 1.0, "/min": 1.0, "1/min": 1.0,
           "{beats}/min": 1.0, "{beat}/min": 1.0, "Hz": 60.0, "/s": 60.0, "deg": 1.0, "rad": 180.0 / 3.141592653589793}
_TIME = ("RR", "RR_GL", "PR", "PR_GL", "QRS", "QRS_GL", "QT", "QT_GL", "QTcB", "QTcF")
_ANGLE = ("P_FRONT", "P_FRONT_GL", "QRS_FRONT", "QRS_FRONT_GL", "T_FRONT", "T_FRONT_GL")
_QUANTITY = {"MDC_ECG_HEART_RATE": "rate", "MDC_ECG_QRS_COUNT": "count",
             **{f"MDC_ECG_TIME_PD_{k}": "time" for k in _TIME}, **{f"MDC_ECG_ANGLE_{k}": "angle" for k in _ANGLE},
             **{f"MINDRAY_ECG_{k}_AXIS": "angle" for k in ("P", "QRS", "T")}}


def text(el: ET.Element | None) -> str:
    """Whitespace-normalised text content of ``el`` and its children."""
    return "" if el is None else " ".join("".join(el.itertext()).split())


def attr(el: ET.Element | None, name: str) -> str:
    return "" if el is None else (el.get(name) or "").strip()


def path_all(el: ET.Element | None, path: str) -> list[ET.Element]:
    """``el.findall(path)`` of a path of child tags (``a/b/c``), a step at a time in C:
    ElementTree hands a path with a ``/`` to its Python ElementPath, a few times slower."""
    found = [] if el is None else [el]
    for tag in path.split("/"):
        found = [c for e in found for c in e.findall(tag)]
    return found


def child(el: ET.Element | None, path: str) -> ET.Element | None:
    """``el.find(path)`` of a path of child tags, None for no element."""
    if el is not None and "/" not in path:
        return el.find(path)
    found = path_all(el, path)
    return found[0] if found else None


def finite(value: str | None) -> float | None:
    """``float(value)`` when finite, else None."""
    try:
        result = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return result if result - result == 0 else None


def _placeholder(value: str) -> str:
    return "" if value in ("?", "UNK", "NA", "N/A") else value


def _ts(value: str | None, need_time: bool = False) -> datetime | None:
    """An HL7 TS (``YYYYMMDDHHMMSS.UUUU[+|-ZZzz]``) as ecgdatakit reads it."""
    m = _TS.match(value.strip()) if value else None
    if not m:
        return None
    year, month, day, hour, minute, second, frac, tz = m.groups()
    if day is None or (need_time and minute is None):
        return None
    zone = None
    if tz:
        zone = timezone((1 if tz[0] == "+" else -1) * timedelta(hours=int(tz[1:3]), minutes=int(tz[3:5])))
    try:
        return datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0),
                        int(frac[:6].ljust(6, "0")) if frac else 0, tzinfo=zone)
    except ValueError:
        return None


def _name(el: ET.Element | None) -> tuple[str, str, str]:
    """(family, given, full text) of a PN name."""
    if el is None:
        return "", "", ""
    family = " ".join(text(p) for p in el.findall("family") if text(p))
    given = " ".join(text(p) for p in el.findall("given") if text(p))
    if family or given:
        parts = [text(p) for p in el.findall("prefix")] + [given, family] + [text(p) for p in el.findall("suffix")]
        return family, given, " ".join(p for p in parts if p)
    return "", "", text(el)


def _patient(root: ET.Element) -> dict:
    subject = child(root, "componentOf/timepointEvent/componentOf/subjectAssignment/subject/trialSubject")
    if subject is None:
        return {}
    p: dict = {"patient_id": _placeholder(attr(subject.find("id"), "extension"))}
    person = subject.find("subjectDemographicPerson")
    if person is None:
        return p
    family, given, full = _name(person.find("name"))
    if family or given:
        p["last_name"], p["first_name"] = family, given
    elif full:
        p["last_name"] = full
    gender = attr(person.find("administrativeGenderCode"), "code").upper()
    if gender:
        p["sex"] = gender if gender in ("M", "F") else "U"
    p["birth_date"] = _ts(attr(person.find("birthTime"), "value"))
    race = person.find("raceCode")
    p["race"] = attr(race, "displayName") or attr(race, "code")
    return p


def _dates(root: ET.Element, rhythm: ET.Element, info: dict, n: int) -> tuple[datetime | None, dict]:
    """The acquisition time and the end date and duration ecgdatakit gives."""
    when = end = None
    for node in (root.find("effectiveTime"), rhythm.find("effectiveTime")):
        if node is None:
            continue
        low = attr(node.find("low"), "value") or attr(node.find("center"), "value")
        high = attr(node.find("high"), "value")
        if low and when is None:
            when = _ts(low, need_time=True)
        if high and end is None:
            end = _ts(high, need_time=True)
        if when:
            break
    if when is None and info.get("code", "").upper() == "TIME_ABSOLUTE":
        when = _ts(info.get("head"), need_time=True)
    duration = None
    if when and end and (when.tzinfo is None) == (end.tzinfo is None) and end >= when:
        duration = end - when
    elif info["sampling_rate"]:
        duration = timedelta(seconds=n / info["sampling_rate_exact"])
    return when, {"end_date": end.isoformat() if end else None,
                  "duration_seconds": duration.total_seconds() if duration else None}


def _device(rhythm: ET.Element, rec: dict) -> dict:
    dev: dict = {}
    author = child(rhythm, "author/seriesAuthor")
    device = child(author, "manufacturedSeriesDevice")
    if device is not None:
        dev["model"] = text(device.find("manufacturerModelName"))
        dev["software_version"] = text(device.find("softwareName"))
        serial = text(device.find("SerialNumber")) or text(device.find("serialNumber"))
        if not serial:
            serial = _placeholder(attr(device.find("id"), "extension"))
            serial = "" if serial == "0" else serial
        dev["serial_number"] = serial
        code = device.find("code")
        dev["acquisition_type"] = attr(code, "displayName") or attr(code, "code")
    dev["manufacturer"] = text(child(author, "manufacturerOrganization/name"))
    for path in ("secondaryPerformer", "performer"):
        for perf in rhythm.findall(path):
            name = _name(child(perf, "seriesPerformer/assignedPerson/name"))[2]
            ident = attr(child(perf, "seriesPerformer/id"), "extension")
            if name or ident:
                rec["technician"] = name or ident
                return dev
    return dev


def _filters(rhythm: ET.Element) -> dict:
    f: dict = {}
    for cv in path_all(rhythm, "controlVariable/controlVariable"):
        kind, freq = attr(cv.find("code"), "code").upper(), None
        for sub in path_all(cv, "component/controlVariable"):
            value = sub.find("value")
            if attr(sub.find("code"), "code").upper().endswith(("_CUTOFF_FREQ", "_NOTCH_FREQ")):
                v, unit = finite(attr(value, "value")), attr(value, "unit") or "Hz"
                if v is not None and unit in ("Hz", "kHz"):
                    freq = v * (1000.0 if unit == "kHz" else 1.0)
        freq = None if freq is not None and freq <= 0 else freq
        if kind.endswith("_FILTER_LOW_PASS"):
            f["lowpass"] = freq
        elif kind.endswith("_FILTER_HIGH_PASS"):
            f["highpass"] = freq
        elif kind.endswith("_FILTER_NOTCH"):
            f["notch"], f["notch_active"] = freq, True
    return f


def _context(root: ET.Element, patient: dict, rec: dict, dev: dict) -> None:
    """Institution, location, clinical history and a stated age, as ecgdatakit's ``_read_context``."""
    event = child(root, "componentOf/timepointEvent")
    trial = child(event, "componentOf/subjectAssignment/componentOf/clinicalTrial")
    site_loc = child(trial, "location/trialSite/location")
    dev["institution"] = text(child(site_loc, "name"))
    testing = child(root, "location/testingSite/location")
    for loc in (testing, site_loc):
        if loc is None:
            continue
        addr = loc.find("addr")
        parts = ([text(loc.find("name"))] if loc is testing else []) + [text(child(addr, p)) for p in ("city", "state", "country")]
        if ", ".join(p for p in parts if p):
            rec["location"] = ", ".join(p for p in parts if p)
            break
    notes = [n for n in (text(child(p, "subjectFindingComment/text")) for p in root.findall("pertainsTo")) if n]
    if notes:
        patient["clinical_history"] = "\n".join(notes)
    for obs in path_all(root, "controlVariable/relatedObservation"):
        value = obs.find("value")
        if attr(obs.find("code"), "code") == "21612-7":
            age, factor = finite(attr(value, "value")), _AGE_TO_YEARS.get(attr(value, "unit") or "a")
            if age is not None and factor:
                patient["age"] = int(age * factor)


def _converts(value: str, unit: str, quantity: str) -> float | None:
    """ecgdatakit's ``_convert``; Unhandled where it warns."""
    v = finite(value)
    if v is None or quantity == "count" or not unit:
        return v
    if unit not in _TABLES[quantity]:
        raise Unhandled(f"annotation unit {unit!r} ecgdatakit does not know: it warns")
    return v * _FACTOR[unit]


def _walk(ann: ET.Element, relative: bool, in_beat: bool) -> None:
    """What of ecgdatakit's ``_walk`` can warn or fail: measurement units, rounding, fiducials."""
    code, value = attr(ann.find("code"), "code"), ann.find("value")
    upper = code.upper()
    if upper == "MDC_ECG_BEAT":
        for sub in path_all(ann, "component/annotation"):
            _walk(sub, relative, True)
        return
    if any("_ECG_LEAD_" in attr(b.find("code"), "code").upper()
           for b in path_all(ann, "support/supportingROI/component/boundary")):
        return
    if upper in ("MDC_ECG_WAVC", "MDC_ECG_WAVC_TYPE"):
        boundary = child(ann, "support/supportingROI/component/boundary")
        if (relative and not in_beat and attr(value, "code").upper() in
                ("MDC_ECG_WAVC_PWAVE", "MDC_ECG_WAVC_QRSWAVE", "MDC_ECG_WAVC_TWAVE") and boundary is not None
                and attr(boundary.find("code"), "code").upper() == "TIME_RELATIVE"):
            for edge in ("low", "high"):
                el = boundary.find(f"value/{edge}")
                _converts(attr(el, "value"), attr(el, "unit"), "time")
    elif code in _QUANTITY and value is not None and attr(value, "value"):
        converted = _converts(attr(value, "value"), attr(value, "unit"), _QUANTITY[code])
        if converted is not None and not in_beat:
            int(round(converted))  # raises where ecgdatakit's rounding raises (an overflow to inf)
    for sub in path_all(ann, "component/annotation"):
        _walk(sub, relative, in_beat)


def header_fields(root: ET.Element, rhythm: ET.Element, derived: ET.Element | None, info: dict,
                  n: int) -> tuple[datetime | None, tuple[dict, dict, dict, dict]]:
    """The acquisition time and the (patient, recording, device, filter) fields of ecgdatakit's
    to_dict(); ``n`` is the first lead's length. Unhandled where ecgdatakit's annotation reading warns."""
    patient = _patient(root)
    when, rec = _dates(root, rhythm, info, n)
    dev = _device(rhythm, rec)
    filters = _filters(rhythm)
    for series, relative in ((rhythm, False), (derived, True)):
        for aset in path_all(series, "subjectOf/annotationSet") if series is not None else ():
            for ann in path_all(aset, "component/annotation"):
                _walk(ann, relative, False)
    _context(root, patient, rec, dev)
    birth = patient.get("birth_date")
    if patient.get("age") is None and birth and when:
        acq, dob = when.date(), birth.date()
        patient["age"] = acq.year - dob.year - ((acq.month, acq.day) < (dob.month, dob.day))
    if birth:
        patient["birth_date"] = birth.isoformat()
    return when, (patient, rec, dev, filters)
