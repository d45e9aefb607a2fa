"""Philips Sierra ECG XML (``restingecgdata``, SierraECG/PhilipsECG 1.03-1.04.02) decoded by
ecgspec, equal to ecgdatakit's reading.

The uncompressed Base64 ``parsedwaveforms``: int16 counts (uint16 where ``signalsigned`` is
false), lead after lead, ``durationperchannel`` ms at ``samplespersecond`` Hz each, of
``resolution`` uV above ``signaloffset``, in mV; the header fields ecgdatakit gives. The
representative beats are checked as ecgdatakit checks them. ecgdatakit reads these files with
xmltodict; here the same element and attribute lookups run on an ElementTree (the first child
of a name, the element's own text stripped).

Left to ecgdatakit (:class:`~ecgspec.readers.registry.Unhandled`): XLI-compressed or plain-text waveforms or
beats, ``parsedwaveforms`` outside ``waveforms``, namespace-prefixed element names, any file on
which ecgdatakit warns (no resolution; beats compressed, or without a rate or resolution), a
document that declares entities or that expat cannot parse as it stands, and anything broken.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta

import numpy as np

from .ecgdatakit_facts import clinical_name, lead_label, unique_labels
from .xml_common import Decoded, Payloads, Unhandled, base64_strict, leads_to_mv, parse

FORMAT = "Philips Sierra XML"
_STANDARD = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
_VERSIONS = {"1.03", "1.04", "1.04.01", "1.04.02"}
_SEX = {"male": "M", "m": "M", "female": "F", "f": "F"}
_PACED, _NOT_PACED = {"yes", "paced", "pacemaker", "true"}, {"no", "notpaced", "not paced", "nopacemaker",
                                                               "no pacemaker", "false"}
_PREFIXED = re.compile(rb"<[A-Za-z_][\w.-]*:")


def _get(el: ET.Element | None, *path: str) -> ET.Element | None:
    """xmltodict's ``_get``: the first child of each name in turn."""
    for tag in path:
        if el is None:
            return None
        el = el.find(tag)
    return el


def _text(el: ET.Element | None) -> str:
    """xmltodict's ``#text``: the element's own text pieces (not its children's), stripped."""
    if el is None:
        return ""
    return ((el.text or "") + "".join(c.tail or "" for c in el)).strip() if len(el) else (el.text or "").strip()


def _value(el: ET.Element | str | None) -> str:
    text = el.strip() if isinstance(el, str) else _text(el)
    return "" if text.strip("- ") == "" else text


def _attr(el: ET.Element | None, name: str) -> str:
    return "" if el is None else (el.get(name) or "").strip()


def _empty(el: ET.Element) -> bool:
    """Whether xmltodict makes ``el`` None: no attributes, children or text."""
    return not el.attrib and not len(el) and not _text(el)


def _float(text: str) -> float | None:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _int(text: str) -> int | None:
    value = _float(text)
    return None if value is None else int(round(value))


def _bool(text: str) -> bool | None:
    key = text.strip().lower()
    return True if key in ("true", "yes", "t", "1") else False if key in ("false", "no", "f", "0") else None


def _date(text: str, fmts: tuple[str, ...]) -> datetime | None:
    for fmt in fmts:
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    return None


def _base64(data: bytes | None, what: str) -> bytes:
    raw = base64_strict(data or b"")
    if raw is None:
        raise Unhandled(f"{what}: invalid Base64 data", malformed=True)
    if not raw:
        raise Unhandled(f"{what}: no waveform data", malformed=True)
    return raw


def _compressed(el: ET.Element) -> bool:
    flag, method = _attr(el, "compressflag"), _attr(el, "compression") or _attr(el, "compressmethod")
    return not (flag and _bool(flag) is False) and method.lower() not in ("", "uncompressed", "none")


def _labels(parsed: ET.Element, signal: ET.Element | None) -> list[str]:
    names = _attr(parsed, "leadlabels").split()
    if names:
        count = _int(_attr(parsed, "numberofleads"))
        names = names[:count] if count is not None and 0 < count < len(names) else names
    else:
        count = _int(_text(_get(signal, "numberchannelsallocated")))
        count = _int(_text(_get(signal, "numberchannelsvalid"))) if count is None else count
        if count is None or count <= 0:
            raise Unhandled("numberchannelsallocated is missing", malformed=True)
        lead_set = _text(_get(signal, "acquisitiontype")) or _text(_get(signal, "leadset"))
        names = [_STANDARD[k] if lead_set in ("STD-12", "10-WIRE") and k < 12 else f"Channel {k + 1}"
                 for k in range(count)]
    return unique_labels([lead_label(n) for n in names])


def _leads(parsed: ET.Element, signal: ET.Element | None, texts: Payloads) -> tuple[list[str], list[np.ndarray], int]:
    """The rhythm leads' labels, mV samples and rate, as ecgdatakit's ``_read_leads`` and auto_scale."""
    rate = _int(_attr(parsed, "samplespersecond")) or _int(_text(_get(signal, "samplingrate")))
    duration = _float(_attr(parsed, "durationperchannel"))
    if not rate or rate <= 0 or duration is None or duration <= 0:
        raise Unhandled("Missing or invalid sampling rate or durationperchannel", malformed=True)
    n, labels = int(round(duration * rate / 1000)), _labels(parsed, signal)
    if _compressed(parsed) or _attr(parsed, "dataencoding") != "Base64":
        raise Unhandled("compressed or not Base64 waveforms")
    raw = _base64(texts.text(parsed), "parsedwaveforms")
    if len(raw) < len(labels) * n * 2:
        raise Unhandled(f"parsedwaveforms holds {len(raw)} bytes, {len(labels) * n * 2} expected", malformed=True)
    signed = _bool(_attr(parsed, "signalsigned") or _text(_get(signal, "signalsigned"))) is not False
    values = np.frombuffer(raw, dtype="<i2" if signed else "<u2", count=len(labels) * n)
    resolution = next((v for v in (_float(_attr(parsed, "resolution")), _float(_text(_get(signal, "resolution"))),
                                   _float(_text(_get(signal, "signalresolution")))) if v is not None and v > 0), None)
    if resolution is None:
        raise Unhandled("no signal resolution: ecgdatakit warns")
    zero = _int(_attr(parsed, "signaloffset") or _text(_get(signal, "signaloffset"))) or 0
    counts = values.reshape(len(labels), n) if len(labels) else values.reshape(0, n)
    return labels, leads_to_mv(list(counts), [(resolution, "uV", -zero * resolution)] * len(labels)), rate


def _check_beats(repbeats: ET.Element | None, texts: Payloads) -> None:
    """Raise where ecgdatakit's ``_read_representative_beats`` raises or warns."""
    if repbeats is None or _empty(repbeats):
        return
    if _attr(repbeats, "compression") or _attr(repbeats, "dataencoding") != "Base64":
        raise Unhandled("representative beats compressed or not Base64")
    rate = _int(_attr(repbeats, "samplespersec")) or _int(_attr(repbeats, "samplespersecond"))
    resolution = _float(_attr(repbeats, "resolution"))
    if not rate or rate <= 0 or resolution is None or resolution <= 0:
        raise Unhandled("representative beats without a rate or resolution: ecgdatakit warns")
    for item in repbeats.findall("repbeat"):
        waveform = item.find("waveform")
        holder = waveform if waveform is not None and not _empty(waveform) else item
        raw = _base64(texts.text(holder), "repbeat")
        duration = _float(_attr(holder, "duration") or _attr(item, "duration"))
        if len(raw) % 2 or (duration is not None and duration > 0 and len(raw) // 2 < int(round(duration * rate / 1000))):
            raise Unhandled("repbeat: odd byte count or fewer samples than its duration", malformed=True)


def _patient(root: ET.Element, acquired: datetime | None) -> dict:
    data = _get(root, "patient", "generalpatientdata")
    if data is None:
        return {}
    name, age = _get(data, "name"), _get(data, "age")
    dob = _value(_get(age, "dateofbirth")) or _value(_get(data, "dateofbirth"))
    birth = _date(dob, ("%Y-%m-%d", "%m/%d/%Y")) if dob else None
    p: dict = {"patient_id": _value(_get(data, "patientid")) or _value(_get(data, "MRN")),
               "first_name": _value(_get(name, "firstname")) or _value(_get(data, "firstname")),
               "last_name": _value(_get(name, "lastname")) or _value(_get(data, "lastname")),
               "birth_date": birth.isoformat() if birth else None, "race": _value(_get(data, "race"))}
    years = _int(_value(_get(age, "years")))
    if years is not None:
        p["age"] = years
    elif birth is not None and acquired is not None:
        b, w = birth.date(), acquired.date()
        p["age"] = w.year - b.year - ((w.month, w.day) < (b.month, b.day))
    sex = _value(_get(data, "sex"))
    p["sex"] = _SEX.get(sex.lower(), "U") if sex else ""
    for key, metric, imperial, factor in (("height", "cm", "inch", 2.54), ("weight", "kg", "lb", 0.45359237)):
        node = _get(data, key)
        a, b = _float(_value(_get(node, metric))), _float(_value(_get(node, imperial)))
        p[key] = a if a is not None else (round(b * factor, 1) if b is not None else None)
    pace = _value(_get(data, "pacestatus")).lower()
    p["has_pacemaker"] = True if pace in _PACED else False if pace in _NOT_PACED else None
    return p


def _recording(root: ET.Element, acq: ET.Element | None, parsed: ET.Element, signal: ET.Element | None) -> tuple:
    """The acquisition time and the recording, device and filter fields."""
    when = None
    if _attr(acq, "date") and _attr(acq, "time"):
        when = _date(f"{_attr(acq, 'date')} {_attr(acq, 'time')}", ("%Y-%m-%d %H:%M:%S",))
    duration = _float(_attr(parsed, "durationperchannel"))
    acquirer = _get(acq, "acquirer")
    operator = _get(acquirer, "operator")
    span = timedelta(milliseconds=duration) if duration is not None and duration > 0 else None
    rec: dict = {"duration_seconds": span.total_seconds() if span else None,
                 "technician": _value(_attr(operator, "id")) or _value(operator) or _value(_get(acquirer, "operatorid")),
                 "room": _value(_get(acquirer, "room")),
                 "location": _value(_get(acquirer, "facilityname")) or _value(_get(acquirer, "institutionlocationid"))}
    for node, keys in ((acquirer, ("referringclinician", "orderingclinician")),
                       (_get(root, "orderinfo"), ("referringphysician", "orderingphysician"))):
        found = next((n for n in (_value(_get(node, k)) for k in keys) if n.strip(" ,.;")), "")
        if found:
            rec["referring_physician"] = found
            break
    machine = _get(acq, "machine")
    parts = [p.strip() for p in _attr(machine, "detaildescription").split(":")]
    dev = {"manufacturer": parts[0], "model": _value(machine) or (parts[1] if len(parts) >= 2 else ""),
           "name": _value(_attr(machine, "machineid")),
           "software_version": ":".join(parts[2:]) if len(parts) >= 3 and parts[2] else "",
           "institution": _value(_get(acquirer, "institutionname")),
           "department": _value(_get(acquirer, "departmentname")),
           "acquisition_type": _text(_get(signal, "acquisitiontype"))}
    return when, rec, dev, _filters(parsed, signal)


def _filters(parsed: ET.Element, signal: ET.Element | None) -> dict:
    def pick(name: str) -> str:
        return _attr(parsed, name) or _text(_get(signal, name))

    high, low = _float(pick("hipass")), _float(pick("lowpass"))
    if high is None and low is None:
        band = _text(_get(signal, "signalbandwidth")).split("-")
        if len(band) == 2:
            high, low = _float(band[0]), _float(band[1])
    notch = _float(pick("notchfilterfreqs"))
    return {"highpass": None if high == 0 else high, "lowpass": None if low == 0 else low,
            "notch": notch if notch else None, "notch_active": _bool(pick("notchfiltered")),
            "artifact_filter": _bool(_attr(parsed, "artfiltered"))}


def decode(raw: bytes, meta_of) -> Decoded:
    """The rhythm leads and header of a Sierra file's bytes; ``meta_of`` orders the fields as
    :func:`.clinical.meta_fields`. Unhandled for what is left to ecgdatakit."""
    # no attribute names are stripped of their namespace (xmltodict keeps prefixed ones as written)
    root, texts = parse(raw, (b"parsedwaveforms", b"waveform"),
                        refuse=lambda small: "namespace-prefixed element names" if _PREFIXED.search(small) else None)
    info = _get(root, "documentinfo")
    if root.tag != "restingecgdata" or _empty(root) or info is None:
        raise Unhandled("Missing <restingecgdata> root or documentinfo", malformed=True)
    if (_text(_get(info, "documenttype")) not in ("SierraECG", "PhilipsECG")
            or _text(_get(info, "documentversion")) not in _VERSIONS):
        raise Unhandled("an unsupported document type or version", malformed=True)
    acq = _get(root, "dataacquisition")
    signal, parsed = _get(acq, "signalcharacteristics"), _get(root, "waveforms", "parsedwaveforms")
    if parsed is None or _empty(parsed):
        raise Unhandled("no parsedwaveforms under waveforms")
    when, rec, dev, filters = _recording(root, acq, parsed, signal)
    labels, signals, rate = _leads(parsed, signal, texts)
    _check_beats(_get(root, "waveforms", "repbeats"), texts)
    texts.all_used()
    return Decoded(names=[clinical_name(n) for n in labels], signals=signals, rates=[float(rate)] * len(labels),
                   units=["mV"] * len(labels), start_time=when.isoformat() if when else "",
                   meta=meta_of(FORMAT, _patient(root, when), rec, dev, filters))
