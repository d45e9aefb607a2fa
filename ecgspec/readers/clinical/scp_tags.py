"""SCP-ECG Section 1 (header tags) read as ecgdatakit's ``scp_ecg`` parser reads them, for
:mod:`.scp`: the patient, recording, device and filter fields that reach ``meta`` (as the
``to_dict()`` values of ecgdatakit's models), the acquisition time, and the protocol version of
tag 14. Tags that only fill fields ``meta`` leaves out (comments, analysing device, blood
pressure, manufacturer tags, ...) are walked over as ecgdatakit walks them.
"""

from __future__ import annotations

import struct
from datetime import datetime, timedelta, timezone

from .xml_common import Unhandled

# ecgdatakit's tables (scp_ecg.py): manufacturer codes, language codes, race, sex, units
MANUFACTURERS = ("", "Burdick", "Cambridge", "Compumed", "Datamed", "Fukuda", "Hewlett-Packard",
                 "Marquette Electronics", "Mortara Instruments", "Nihon Kohden", "Okin", "Quinton",
                 "Siemens", "Spacelabs", "Telemed", "Hellige", "ESA-OTE", "Schiller",
                 "Picker-Schwarzer", "et medical devices", "Zw\u00f6nitz")
LANGUAGE_CODECS = {0x03: "iso8859_2", 0x0B: "iso8859_4", 0x13: "iso8859_5", 0x1B: "iso8859_6",
                   0x23: "iso8859_7", 0x2B: "iso8859_8", 0x33: "iso8859_11", 0x3B: "iso8859_15",
                   0x07: "utf-16-le", 0x0F: "shift_jis", 0x17: "euc_jp", 0x1F: "euc_jp",
                   0x27: "gb2312", 0x2F: "cp949", 0x37: "utf-8"}
RACE = {1: "Caucasian", 2: "Black", 3: "Oriental"}
SEX = {1: "M", 2: "F"}
AGE_UNITS = {1: 1.0, 2: 1 / 12, 3: 7 / 365.25, 4: 1 / 365.25, 5: 1 / 8766}
HEIGHT_TO_CM = {1: 1.0, 2: 2.54, 3: 0.1}
WEIGHT_TO_KG = {1: 1.0, 2: 0.001, 3: 0.45359237, 4: 0.028349523125}
FIXED_SIZES = {4: 3, 5: 4, 6: 3, 7: 3, 8: 1, 9: 1, 11: 2, 12: 2, 24: 1, 25: 4, 26: 3, 27: 2, 28: 2, 29: 1, 33: 2}
PACEMAKER_HISTORY_CODE = 42
_TEXT = {0: ("patient", "last_name"), 1: ("patient", "first_name"), 2: ("patient", "patient_id"),
         16: ("device", "institution"), 18: ("device", "department"), 20: ("recording", "referring_physician"),
         22: ("recording", "technician"), 23: ("recording", "room")}


def decode_text(raw: bytes, encoding: str | None) -> str:
    """ecgdatakit's ``decode_text``: ``encoding``, then UTF-8, then Latin-1 (never fails)."""
    for enc in (encoding, "utf-8"):
        if enc:
            try:
                return raw.decode(enc)
            except (UnicodeDecodeError, LookupError):
                continue
    return raw.decode("latin-1")


def text(value: bytes, encoding: str | None) -> str:
    """A NUL-terminated text in the Section 1 encoding (UTF-16 ends at a 2-byte NUL), stripped."""
    if encoding == "utf-16-le":
        if value[:2] in (b"\xff\xfe", b"\xfe\xff"):
            encoding = "utf-16"
        end = next((i for i in range(0, len(value) - 1, 2) if value[i:i + 2] == b"\x00\x00"), None)
        value = value[:end] if end is not None else value[: len(value) // 2 * 2]
    else:
        value = value.split(b"\x00", 1)[0]
    return decode_text(value, encoding).strip()


def split_tags(body: bytes) -> list[tuple[int, bytes]]:
    """(tag, value) to the terminator; Unhandled where ecgdatakit re-reads with fixed sizes (a
    warning) or refuses the section."""
    tags, pos = [], 0
    while pos + 3 <= len(body):
        tag, length = body[pos], struct.unpack_from("<H", body, pos + 1)[0]
        pos += 3
        if tag == 255:
            return tags
        if pos + length > len(body):
            raise Unhandled("SCP-ECG: Section 1 has a wrong tag length (ecgdatakit warns or refuses)")
        tags.append((tag, body[pos:pos + length]))
        pos += length
    return tags


def _date(raw: bytes) -> datetime | None:
    if len(raw) < 4:
        return None
    try:
        year = struct.unpack_from("<H", raw)[0]
        return datetime(year, raw[2], raw[3]) if year else None
    except ValueError:
        return None


def _time(raw: bytes) -> tuple[int, int, int] | None:
    if len(raw) < 3 or raw[0] > 23 or raw[1] > 59 or raw[2] > 59:
        return None
    return raw[0], raw[1], raw[2]


def _u16(value: bytes) -> int:
    return struct.unpack_from("<H", value)[0]


def read(body: bytes) -> tuple[dict, dict, dict, dict, datetime | None, int]:
    """The patient, recording, device and filter fields, the acquisition time and tag 14's protocol
    version (0 without one) of Section 1's ``body``."""
    tags = split_tags(body)
    encoding = None
    for tag, value in tags:
        if tag == 14 and len(value) > 16 and value[16] & 0x01:
            encoding = LANGUAGE_CODECS.get(value[16], "latin-1")
    fields: dict[str, dict] = {"patient": {"medications": []}, "recording": {}, "device": {}, "filters": {}}
    state = {"history": [], "age": None, "date": None, "time": None, "tz": None, "protocol": 0}
    for tag, value in tags:
        _tag(tag, value, encoding, fields, state)
    patient = fields["patient"]
    patient["clinical_history"] = "\n".join(h for h in state["history"] if h)
    acq_date, acq_time = state["date"], state["time"]
    start = None
    if acq_date is not None and acq_time is not None:
        start = acq_date.replace(hour=acq_time[0], minute=acq_time[1], second=acq_time[2], tzinfo=state["tz"])
    if state["age"]:
        patient["age"] = state["age"]
    elif patient.get("birth_date") is not None and acq_date is not None:
        born, on = patient["birth_date"], acq_date
        age = on.year - born.year - ((on.month, on.day) < (born.month, born.day))
        patient["age"] = age if age >= 0 else None
    if patient.get("birth_date") is not None:
        patient["birth_date"] = patient["birth_date"].isoformat()
    return patient, fields["recording"], fields["device"], fields["filters"], start, state["protocol"]


def _tag(tag: int, value: bytes, encoding: str | None, fields: dict[str, dict], state: dict) -> None:
    """One tag into ``fields`` (ecgdatakit's models' keys) or ``state``, as ecgdatakit reads it."""
    if tag in _TEXT:
        group, key = _TEXT[tag]
        fields[group][key] = text(value, encoding)
    elif 4 <= tag <= 10:
        _patient_tag(tag, value, encoding, fields["patient"], state)
    elif tag in (13, 35):
        state["history"].append(text(value, encoding))
    elif tag == 14 and len(value) >= 36:
        _device(value, encoding, fields["device"], state)
    elif tag == 25:
        state["date"] = _date(value)
    elif tag == 26:
        state["time"] = _time(value)
    elif tag in (27, 28, 29):
        _filter_tag(tag, value, fields["filters"])
    elif tag == 32 and value:
        if value[0] == 0 and PACEMAKER_HISTORY_CODE in value[1:]:
            fields["patient"]["has_pacemaker"] = True
    elif tag == 34 and len(value) >= 4:
        offset = struct.unpack_from("<h", value)[0]
        if offset != 0x7FFF and abs(offset) <= 14 * 60:
            state["tz"] = timezone(timedelta(minutes=offset))


def _patient_tag(tag: int, value: bytes, encoding: str | None, patient: dict, state: dict) -> None:
    """Tags 4-10: age (into ``state``), birth date, height, weight, sex, race, medications."""
    if tag == 4 and len(value) >= 3:
        age, unit = _u16(value), value[2]
        if age and unit in AGE_UNITS:
            state["age"] = int(age * AGE_UNITS[unit])
    elif tag == 5:
        patient["birth_date"] = _date(value)
    elif tag in (6, 7) and len(value) >= 3:
        amount, unit = _u16(value), value[2]
        if tag == 6 and amount and unit in HEIGHT_TO_CM:
            patient["height"] = round(amount * HEIGHT_TO_CM[unit], 1)
        elif tag == 7 and amount and unit in WEIGHT_TO_KG:
            patient["weight"] = round(amount * WEIGHT_TO_KG[unit], 2)
    elif tag == 8 and value:
        patient["sex"] = SEX.get(value[0], "U")
    elif tag == 9 and value:
        patient["race"] = RACE.get(value[0], "" if value[0] == 0 else f"code {value[0]}")
    elif tag == 10 and value:
        drug = text(value[3:], encoding) if len(value) > 3 else ""
        if not drug and len(value) >= 3:
            drug = f"table {value[0]} class {value[1]} code {value[2]}"
        if drug:
            patient["medications"].append(drug)


def _filter_tag(tag: int, value: bytes, filters: dict) -> None:
    """Tags 27-29: the high-pass, low-pass and notch filters."""
    if tag == 27 and len(value) >= 2:
        filters["highpass"] = _u16(value) / 100.0 or None
    elif tag == 28 and len(value) >= 2:
        filters["lowpass"] = float(_u16(value)) or None
    elif tag == 29 and value:
        bitmap = value[0]
        filters["notch"] = 60.0 if bitmap & 0x01 else 50.0 if bitmap & 0x02 else None
        filters["notch_active"] = bool(bitmap & 0x03)
        filters["artifact_filter"] = bool(bitmap & 0x04)


def _device(value: bytes, encoding: str | None, device: dict, state: dict) -> None:
    """Tag 14's machine ID: the manufacturer (its text, else its code's name), model, serial
    number, software, and the protocol version."""
    strings = value[36:].split(b"\x00") + [b""] * 5
    manufacturer = text(strings[4], encoding)
    if not manufacturer and value[7] < len(MANUFACTURERS):
        manufacturer = MANUFACTURERS[value[7]]
    device["manufacturer"] = manufacturer
    device["model"] = text(value[8:14], encoding)
    device["serial_number"] = text(strings[1], encoding)
    device["software_version"] = text(strings[2], encoding)
    state["protocol"] = value[14]
