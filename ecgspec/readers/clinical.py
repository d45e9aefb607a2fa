"""Clinical ECG files through ecgdatakit (the optional extra ``ecgspec[clinical]``, with pydicom).

GE MUSE, Philips Sierra, HL7 aECG and Mortara XML (``.xml``), DICOM 12-lead waveforms (``.dcm``),
SCP-ECG (``.scp``), ISHNE Holter (``.ecg``) and MFER (``.mwf``/``.mfer``/``.mfr``): ecgdatakit
tells the format from the content and reads the whole file, at open (these are 10 s resting ECGs;
a Holter file is read whole too). The record is its rhythm waveform (never the median beat), each
lead in mV as ecgdatakit scales it (the file's own resolution, offset and units), each at its own
rate, lead names in the standard spelling (``I``, ``aVR``, ``V1``). The acquisition time is the
header's ``start_time``; the patient, device and acquisition fields ecgdatakit gives are ``meta``.

ecgdatakit is imported only when such a file is opened; without it, or without pydicom for a
DICOM file, the file is the one-line error naming the extra. A file ecgdatakit cannot parse is a
RecordError with ecgdatakit's reason.
"""

from __future__ import annotations

import dataclasses
import threading
import warnings
from typing import Any

import numpy as np

from .base import Header, Record, RecordError, RecordRef, checked_header, one_line

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


def _check_leads(leads: list[Any]) -> None:
    if not leads:
        raise RecordError("has no rhythm waveform (only median beats or none)")
    raw = [lead.label for lead in leads if lead.is_raw]
    if raw:
        raise RecordError(f"leads {', '.join(raw)} hold raw ADC counts: the file gives no physical unit for them")
    bad = [lead.label for lead in leads if not lead.sampling_rate or lead.sampling_rate <= 0]
    if bad:
        raise RecordError(f"leads {', '.join(bad)} have no sampling rate")


def open_clinical(ref: RecordRef) -> Record:
    """A clinical file's record of its rhythm leads in mV (DICOM by :mod:`.dicom`, which falls back
    to ecgdatakit for the files it does not read); RecordError otherwise."""
    if ref.path.suffix.lower() == ".dcm":
        from .dicom import open_dicom

        return open_dicom(ref)
    return open_with_ecgdatakit(ref)


def open_with_ecgdatakit(ref: RecordRef) -> Record:
    """Parse a clinical file whole by ecgdatakit into a record of its rhythm leads in mV; RecordError otherwise."""
    record, caught = parse(ref.path)
    _check_leads(record.leads)
    names = [lead_name(lead.label) for lead in record.leads]
    signals = [np.asarray(lead.samples, dtype=np.float32) for lead in record.leads]
    rates = [float(lead.sampling_rate) for lead in record.leads]
    lengths = [len(s) for s in signals]
    top = max(range(len(rates)), key=lambda i: (rates[i], lengths[i]))
    uneven = len(set(rates)) > 1 or len(set(lengths)) > 1
    header = checked_header(rates[top], lengths[top], tuple(names), len(names),
                            tuple(rates) if uneven else (), tuple(lengths) if uneven else ())
    if min(lengths) < 1:
        raise RecordError(f"lead {names[lengths.index(min(lengths))]} has no samples")
    start = record.recording.date.isoformat() if record.recording.date else ""
    header = dataclasses.replace(header, units=tuple(lead.units for lead in record.leads),
                                 meta=meta_fields(record, caught), start_time=start)
    return ClinicalRecord(ref, header, signals)
