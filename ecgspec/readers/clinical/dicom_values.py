"""The DICOM waveform reader's fields, made as ecgdatakit 's DICOM parser makes them (its
``dicom_waveform`` module: lead labels from channel sources, scales, dates, patient and device),
so that :mod:`.dicom` gives the same record without ecgdatakit. Each function names the
ecgdatakit code it follows; the tests compare them with ecgdatakit's on varied files.
"""

from __future__ import annotations

import functools
from datetime import date, datetime, timedelta, timezone

from ..registry import Unhandled
from . import dicom_parts as dp
from .ecgdatakit_facts import TO_UV, clinical_name, lead_label, unique_labels, unit_of

_LEAD_CODES = {1: "I", 2: "II", 3: "V1", 4: "V2", 5: "V3", 6: "V4", 7: "V5", 8: "V6", 9: "V7", 10: "V2R",
               11: "V3R", 12: "V4R", 13: "V5R", 14: "V6R", 15: "V7R", 16: "X", 17: "Y", 18: "Z", 19: "CC5",
               20: "CM5", 61: "III", 62: "aVR", 63: "aVL", 64: "aVF", 65: "-aVR", 66: "V8", 67: "V9",
               68: "V8R", 69: "V9R"}
_SOP_CLASSES = {f"1.2.840.10008.5.1.4.1.1.9.{k}": v for k, v in {
    "1.1": "12-lead ECG Waveform", "1.2": "General ECG Waveform", "1.3": "Ambulatory ECG Waveform",
    "1.4": "General 32-bit ECG Waveform", "2.1": "Hemodynamic Waveform",
    "3.1": "Cardiac Electrophysiology Waveform"}.items()}


def lead_names(labels: list[str]) -> list[str]:
    """ecgdatakit's ``unique_labels`` of the channel labels, then :func:`.ecgdatakit_facts.clinical_name`."""
    return [clinical_name(label) for label in unique_labels(labels)]


def _code(item: dict | None) -> tuple[str, str, str]:
    """(scheme, value, meaning) of a code item (``_code_parts``)."""
    if item is None:
        return "", "", ""
    get = item["values"].get
    value = dp.text("SH", (get(0x00080100) or (0, None))[1]) or dp.text("UC", (get(0x00080119) or (0, None))[1])
    return dp.text("SH", (get(0x00080102) or (0, None))[1]), value, dp.text("LO", (get(0x00080104) or (0, None))[1])


def _lead_from_code(scheme: str, value: str) -> str:
    number = None
    if value.startswith("2:") or (scheme == "MDC" and value.isdigit()):
        number = value.split(":")[-1]
    elif value.startswith("5.6.3-9-"):
        number = value.rsplit("-", 1)[-1]
    elif value.upper().startswith("MDC_ECG_LEAD_"):
        label = lead_label(value[len("MDC_ECG_LEAD_"):])
        return label if label in _LEAD_CODES.values() else ""
    if number is not None and number.isdigit():
        return _LEAD_CODES.get(int(number), "")
    return ""


def _lead_from_meaning(meaning: str) -> str:
    text = meaning.split(",")[0].split("(")[0].strip()
    return lead_label(text) if text else ""


def channel(item: dict) -> tuple[str, float, float]:
    """(label, scale, shift) of a channel definition: ``_read_channel`` then ``_auto_scale`` to mV;
    Unhandled for a channel without a sensitivity in a voltage unit (raw counts to ecgdatakit)."""
    first = lambda tag: (item["seqs"].get(tag) or [None])[0]  # noqa: E731
    raw = lambda tag: (item["values"].get(tag) or (0, None))[1]  # noqa: E731
    scheme, value, meaning = _code(first(0x003A0208))
    label = _lead_from_code(scheme, value) or _lead_from_meaning(meaning)
    label = label or lead_label(dp.text("LO", raw(0x003A0203)))
    sensitivity, correction, baseline = (dp.number(raw(t)) for t in (0x003A0210, 0x003A0212, 0x003A0213))
    _, unit_value, unit_meaning = _code(first(0x003A0211))
    unit = next((unit_of(c) for c in (unit_value, unit_meaning) if c and unit_of(c)), None)
    if sensitivity is None or unit is None:
        raise Unhandled("a channel without a sensitivity in a voltage unit")
    resolution = sensitivity * (correction if correction is not None else 1.0)
    offset = baseline or 0.0
    factor = TO_UV[unit] / TO_UV["mV"]
    if resolution == 1.0 and offset == 0.0:  # already physical: only the unit changes
        return label, (1.0 if unit == "mV" else factor), 0.0
    return label, resolution * factor, offset * factor


@functools.lru_cache(maxsize=256)  # a file's study, content and acquisition dates are mostly one
def _da(text: str) -> date | None:
    """A DA as ecgdatakit reads it: ``strptime`` of its first 8 characters."""
    if len(text) >= 8 and text[:8].isdigit():
        try:
            return datetime.strptime(text[:8], "%Y%m%d").date()
        except ValueError:
            return None
    return None


def _tm(text: str) -> tuple[int, int, int, int] | None:
    text = text.replace(":", "")
    if len(text) < 2 or not text[:2].isdigit():
        return None
    main, _, frac = text.partition(".")
    try:
        hour = int(main[0:2])
        minute = int(main[2:4]) if len(main) >= 4 else 0
        second = int(main[4:6]) if len(main) >= 6 else 0
        micro = int((frac + "000000")[:6]) if frac.isdigit() else 0
        datetime(2000, 1, 1, hour, minute, min(second, 59), micro)
    except ValueError:
        return None
    return hour, minute, min(second, 59), micro


def _tz(text: str) -> timezone | None:
    if len(text) == 5 and text[0] in "+-" and text[1:].isdigit():
        delta = timedelta(hours=int(text[1:3]), minutes=int(text[3:5]))
        return timezone(-delta if text[0] == "-" else delta)
    return None


def _dt(text: str, tz: timezone | None) -> datetime | None:
    if len(text) < 10 or not text[:8].isdigit():
        return None
    for sign in "+-":
        idx = text.find(sign, 8)
        if idx != -1:
            tz = _tz(text[idx:]) or tz
            text = text[:idx]
            break
    day, tm = _da(text[:8]), _tm(text[8:])
    if day is None or tm is None:
        return None
    return datetime(day.year, day.month, day.day, *tm, tzinfo=tz)


def _value(top: dict, tag: int) -> str:
    found = top.get(tag)
    return "" if found is None else dp.text(found[0], found[1])


def acquired(top: dict) -> tuple[str, datetime | None]:
    """The acquisition time (``_read_recording``): ISO text and the datetime."""
    tz = _tz(_value(top, 0x00080201))
    found = _dt(_value(top, 0x0008002A), tz)
    for date_tag, time_tag in ((0x00080022, 0x00080032), (0x00080023, 0x00080033), (0x00080020, 0x00080030)):
        day, tm = _da(_value(top, date_tag)), _tm(_value(top, time_tag))
        if found is None and day is not None and tm is not None:
            found = datetime(day.year, day.month, day.day, *tm, tzinfo=tz)
    return (found.isoformat() if found else ""), found


def _person(top: dict, tag: int) -> tuple[str, str, str, str]:
    found = top.get(tag)
    return dp.person(None if found is None else found[1])


def _patient(top: dict, when: datetime | None) -> dict:
    """``_read_patient``'s PatientInfo.to_dict() fields."""
    family, given, _, joined = _person(top, 0x00100010)
    if 0x00100010 in top and not family and not given:
        family = dp.text("PN", top[0x00100010][1])
    sex = _value(top, 0x00100040).upper()
    dob = _da(_value(top, 0x00100030))
    age_text, age = _value(top, 0x00101010).upper(), None
    if len(age_text) == 4 and age_text[:3].isdigit() and age_text[3] in "DWMY":
        n = int(age_text[:3])
        age = {"Y": n, "M": n // 12, "W": n // 52, "D": n // 365}[age_text[3]]
    elif dob is not None and when is not None:
        years = when.year - dob.year - ((when.month, when.day) < (dob.month, dob.day))
        age = years if years >= 0 else None
    size = dp.number((top.get(0x00101020) or (0, None))[1])
    return {"patient_id": _value(top, 0x00100020), "first_name": given, "last_name": family,
            "birth_date": datetime(dob.year, dob.month, dob.day).isoformat() if dob else None,
            "sex": sex if sex in ("M", "F") else "U", "race": _value(top, 0x00102160), "age": age,
            "weight": dp.number((top.get(0x00101030) or (0, None))[1]),
            "height": round(size * 100, 1) if size else None, "clinical_history": _value(top, 0x001021B0)}


def meta(top: dict, when: datetime | None, filters: dict, seconds: float | None) -> tuple[tuple[str, str], ...]:
    """:func:`.clinical.meta_fields` of ecgdatakit's record of this file (no parser warnings)."""
    sop = _value(top, 0x00080016)
    if sop not in _SOP_CLASSES:
        raise Unhandled(f"SOP class {sop or 'none'}")
    recording = {"duration_seconds": seconds, "technician": _person(top, 0x00081070)[3],
                 "referring_physician": _person(top, 0x00080090)[3], "location": _value(top, 0x00380300)}
    device = {"manufacturer": _value(top, 0x00080070), "model": _value(top, 0x00081090),
              "name": _value(top, 0x00081010), "serial_number": _value(top, 0x00181000),
              "software_version": _value(top, 0x00181020), "institution": _value(top, 0x00080080),
              "department": _value(top, 0x00081040), "acquisition_type": _SOP_CLASSES[sop]}
    out = [("format", "DICOM Waveform")]
    for prefix, fields in (("", _patient(top, when)), ("", recording), ("device_", device), ("filter_", filters)):
        for key, value in fields.items():
            if value is None or value == "":
                continue
            text = str(value).strip()
            out.append((prefix + key, text[:-len("T00:00:00")] if key == "birth_date" and text.endswith("T00:00:00") else text))
    return tuple(out)
