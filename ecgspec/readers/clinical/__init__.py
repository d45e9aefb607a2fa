"""Clinical ECG files: DICOM waveforms, SCP-ECG and GE MUSE, Philips Sierra and HL7 aECG XML
through ecgspec's own readers, the rest through ecgdatakit (the optional extra ``ecgspec[clinical]``, with
pydicom).

GE MUSE, Philips Sierra, HL7 aECG and Mortara XML (``.xml``), DICOM 12-lead waveforms (``.dcm``),
SCP-ECG (``.scp``), ISHNE Holter (``.ecg``) and MFER (``.mwf``/``.mfer``/``.mfr``), each read
whole at open (these are 10 s resting ECGs; a Holter file is read whole too). The record is its
rhythm waveform (never the median beat), each lead in mV as ecgdatakit scales it (the file's own
resolution, offset and units), each at its own rate, lead names in the standard spelling (``I``,
``aVR``, ``V1``). The acquisition time is the header's ``start_time``; the patient, device and
acquisition fields ecgdatakit gives are ``meta``.

An ``.xml`` file that ecgdatakit would hand to its GE MUSE, HL7 aECG or Sierra parser (its own
detection, replayed on the first 4096 bytes) is decoded by :mod:`.muse`, :mod:`.hl7` or
:mod:`.sierra` into exactly what :func:`open_with_ecgdatakit` gives (header, meta, float32
samples bit for bit), without ecgdatakit, and an ``.scp`` file by :mod:`.scp`; the variants each
leaves to ecgdatakit go there (:func:`_fallback`); a DICOM file is :mod:`.dicom`'s, which does the same. Every other file is
ecgdatakit's, imported only when such a file is opened;
without it, or without pydicom for a DICOM file, the file is the one-line error naming the extra.
A file ecgdatakit cannot parse is a RecordError with ecgdatakit's reason.
"""

from __future__ import annotations

import dataclasses
import importlib
import threading
import warnings
from typing import Any

import numpy as np

from ..base import Header, Record, RecordError, RecordRef, checked_header, one_line

SUFFIXES = (".xml", ".dcm", ".scp", ".ecg", ".mwf", ".mfer", ".mfr")
EXTRA = "pip install ecgspec[clinical]"

# ecgdatakit's parse records and re-emits the parsers' warnings with warnings.catch_warnings, which
# is process-wide state: one parse at a time keeps each file's warnings its own (the parse is
# Python code holding the GIL, so threads lose little by waiting)
_parse_lock = threading.Lock()


def _ecgdatakit(suffix: str) -> Any:
    try:
        import ecgdatakit
    except ImportError:
        raise RecordError(f"reading {suffix} files needs ecgdatakit: {EXTRA}") from None
    return ecgdatakit


class ClinicalRecord(Record):
    """A clinical file's rhythm leads, parsed at open, each at its own rate and length."""

    def __init__(self, ref: RecordRef, header: Header, leads: list[np.ndarray]) -> None:
        super().__init__(ref, header)
        self._leads = leads

    def _read(self, start: int, stop: int, channels: list[int]) -> np.ndarray:
        return np.stack([self._leads[c][start:stop] for c in channels])


def parse(path: Any) -> tuple[Any, list[str]]:
    """ecgdatakit's record of ``path`` in mV and the warnings its parser gave, or a RecordError
    with ecgdatakit's reason (the extra named when ecgdatakit or pydicom is missing)."""
    edk = _ecgdatakit(path.suffix)
    with _parse_lock, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            record = edk.FileParser.parse(path, auto_scale=True, units="mV")
        except ImportError as exc:
            raise RecordError(f"reading {path.suffix} files needs {exc.name or 'pydicom'}: {EXTRA}") from None
        except edk.UnsupportedFormatError:
            raise RecordError(f"not a format ecgdatakit reads ({_formats(path.suffix)})") from None
        except Exception as exc:  # noqa: BLE001 - ecgdatakit raises CorruptedFileError, MissingElementError, and its own bugs
            raise RecordError(one_line(exc).replace(str(path), path.name)) from None
    return record, [one_line(w.message) for w in caught]  # type: ignore[arg-type]


def _formats(suffix: str) -> str:
    if suffix == ".xml":
        return "GE MUSE, Philips Sierra, HL7 aECG or Mortara XML"
    return {".dcm": "DICOM waveform", ".scp": "SCP-ECG", ".ecg": "ISHNE Holter"}.get(suffix, "MFER")


def lead_name(label: str) -> str:
    """The standard spelling of a lead label (``AVR``, ``Lead aVR``, ``MDC_ECG_LEAD_AVR`` -> ``aVR``); others as given."""
    from ecgdatakit.parsing.helpers import normalize_lead_label

    text = label.strip()
    if text.upper().startswith("MDC_ECG_LEAD_"):
        text = text[len("MDC_ECG_LEAD_"):]
    return normalize_lead_label(text)


def _text(key: str, value: Any) -> str:
    """A field's value as text: lists joined, a date of birth without its midnight time."""
    if isinstance(value, list):
        return ", ".join(map(str, value))
    text = str(value).strip()
    return text[:-len("T00:00:00")] if key == "birth_date" and text.endswith("T00:00:00") else text


def meta_fields(record: Any, caught: list[str]) -> tuple[tuple[str, str], ...]:
    """The patient, recording, device and filter fields ecgdatakit gives (those it left empty
    skipped), the file format, and the parser's warnings (CRC mismatches, ...)."""
    rec = record.recording
    groups = [("", record.patient.to_dict()), ("", {k: v for k, v in rec.to_dict().items()
                                                    if k not in ("date", "device", "acquisition")}),
              ("device_", rec.device.to_dict()), ("filter_", rec.acquisition.filters.to_dict())]
    out = [("format", record.file_format.name)] if record.file_format.name else []
    for prefix, fields in groups:
        for key, value in fields.items():
            if value is None or value == "" or value == [] or value == {}:
                continue
            out.append((prefix + key, _text(key, value)))
    out += [("warning", message) for message in caught]
    return tuple(out)


# the keys of ecgdatakit's PatientInfo, RecordingInfo (less date, device, acquisition), DeviceInfo
# and FilterSettings to_dict(), in their order
PATIENT_KEYS = ("patient_id", "first_name", "last_name", "birth_date", "sex", "race", "age", "weight", "height",
                "medications", "clinical_history", "has_pacemaker", "pacemaker_type")
RECORDING_KEYS = ("end_date", "duration_seconds", "technician", "referring_physician", "room", "location")
DEVICE_KEYS = ("manufacturer", "model", "name", "serial_number", "software_version", "institution", "department",
               "acquisition_type")
FILTER_KEYS = ("highpass", "lowpass", "notch", "notch_active", "artifact_filter")


def meta_pairs(fmt: str, patient: dict, recording: dict, device: dict, filters: dict) -> tuple[tuple[str, str], ...]:
    """What :func:`meta_fields` gives for a file of format ``fmt`` whose ecgdatakit to_dict()
    fields (patient, recording, device, filters) are these, a missing key counting as empty."""
    out = [("format", fmt)]
    for prefix, keys, fields in (("", PATIENT_KEYS, patient), ("", RECORDING_KEYS, recording),
                                 ("device_", DEVICE_KEYS, device), ("filter_", FILTER_KEYS, filters)):
        for key in keys:
            value = fields.get(key)
            if value is None or value == "" or value == [] or value == {}:
                continue
            out.append((prefix + key, _text(key, value)))
    return tuple(out)


def _check_leads(leads: list[Any]) -> None:
    if not leads:
        raise RecordError("has no rhythm waveform (only median beats or none)")
    raw = [lead.label for lead in leads if lead.is_raw]
    if raw:
        raise RecordError(f"leads {', '.join(raw)} hold raw ADC counts: the file gives no physical unit for them")
    bad = [lead.label for lead in leads if not lead.sampling_rate or lead.sampling_rate <= 0]
    if bad:
        raise RecordError(f"leads {', '.join(bad)} have no sampling rate")


def open_with_ecgdatakit(ref: RecordRef) -> Record:
    """Parse a clinical file whole by ecgdatakit into a record of its rhythm leads in mV; RecordError otherwise."""
    record, caught = parse(ref.path)
    _check_leads(record.leads)
    start = record.recording.date.isoformat() if record.recording.date else ""
    return _record(ref, [lead_name(lead.label) for lead in record.leads],
                   [np.asarray(lead.samples, dtype=np.float32) for lead in record.leads],
                   [float(lead.sampling_rate) for lead in record.leads], [lead.units for lead in record.leads],
                   start, meta_fields(record, caught))


def _record(ref: RecordRef, names: list[str], signals: list[np.ndarray], rates: list[float], units: list[str],
            start: str, meta: tuple[tuple[str, str], ...]) -> Record:
    """The record of a file's rhythm leads (float32 in mV, each at its own rate), its header checked."""
    lengths = [len(s) for s in signals]
    top = max(range(len(rates)), key=lambda i: (rates[i], lengths[i]))
    uneven = len(set(rates)) > 1 or len(set(lengths)) > 1
    header = checked_header(rates[top], lengths[top], tuple(names), len(names),
                            tuple(rates) if uneven else (), tuple(lengths) if uneven else ())
    if min(lengths) < 1:
        raise RecordError(f"lead {names[lengths.index(min(lengths))]} has no samples")
    header = dataclasses.replace(header, units=tuple(units), meta=meta, start_time=start)
    return ClinicalRecord(ref, header, signals)


def _open_fast(ref: RecordRef) -> Record | None:
    """A GE MUSE, HL7 aECG or Philips Sierra XML file or an SCP-ECG file decoded by ecgspec
    (:mod:`.muse`, :mod:`.hl7`, :mod:`.sierra`, :mod:`.scp`), ecgdatakit's path for the variants
    they leave to it; None for another XML file."""
    from .xml_common import SNIFF, Unhandled, sniff

    raw = ref.path.read_bytes()
    kind = "scp" if ref.path.suffix.lower() == ".scp" else sniff(raw[:SNIFF])
    if kind is None:
        return None
    decoder = importlib.import_module(f"{__package__}.{kind}")
    try:
        got = decoder.decode(raw, meta_pairs)
    except Unhandled as exc:
        return _fallback(ref, str(exc), exc.malformed)
    except RecordError:  # a file only ecgspec's decoder takes for what it is: its reason is the one
        raise
    except Exception as exc:  # noqa: BLE001 - where ecgdatakit would raise too; it gives its reason
        return _fallback(ref, one_line(exc), True)
    if not got.signals:
        return _fallback(ref, "no rhythm leads", True)
    return _record(ref, got.names, got.signals, got.rates, got.units, got.start_time, got.meta)


def _fallback(ref: RecordRef, reason: str, malformed: bool) -> Record:
    """ecgdatakit's reading of a file the fast decoders leave to it; without ecgdatakit, a broken
    file is ``reason`` and another the error naming the extra."""
    try:
        _ecgdatakit(ref.path.suffix)
    except RecordError:
        if malformed:
            raise RecordError(reason) from None
        raise RecordError(f"reading {ref.path.suffix} files of this kind ({reason}) needs ecgdatakit: {EXTRA}") from None
    return open_with_ecgdatakit(ref)


def open_clinical(ref: RecordRef) -> Record:
    """A clinical file's record of its rhythm leads in mV; RecordError otherwise. DICOM by
    :mod:`.dicom`, GE MUSE, HL7 aECG and Philips Sierra XML and SCP-ECG by :func:`_open_fast`
    (each falls back to ecgdatakit for the files it does not read), the rest by ecgdatakit."""
    suffix = ref.path.suffix.lower()
    if suffix == ".dcm":
        from .dicom import open_dicom

        return open_dicom(ref, open_with_ecgdatakit, EXTRA)
    if suffix in (".xml", ".scp"):
        record = _open_fast(ref)
        if record is not None:
            return record
    return open_with_ecgdatakit(ref)
