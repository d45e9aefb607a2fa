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

Which reader reads a file is the registry's choice (:mod:`ecgspec.readers.registry`): DICOM by
:mod:`.dicom`, SCP-ECG by :mod:`.scp`, and an ``.xml`` file that ecgdatakit would hand to its GE
MUSE, HL7 aECG or Sierra parser (its own detection, replayed on the first 4096 bytes) by
:mod:`.muse`, :mod:`.hl7` or :mod:`.sierra` (:func:`read_muse` ...), each into exactly what
:func:`open_with_ecgdatakit` gives (header, meta, float32 samples bit for bit), without
ecgdatakit; the variants each leaves (:class:`~ecgspec.readers.registry.Unhandled`) and every
other file are ecgdatakit's (:func:`read_by_ecgdatakit`), imported only when such a file is opened;
without it, or without pydicom for a DICOM file, the file is the one-line error naming the extra.
A file ecgdatakit cannot parse is a RecordError with ecgdatakit's reason.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import threading
import warnings
from typing import Any

import numpy as np

from ..base import Header, Record, RecordError, RecordRef, checked_header, one_line
from ..registry import Unhandled, read
from .ecgdatakit_facts import DEVICE_KEYS, FILTER_KEYS, PATIENT_KEYS, RECORDING_KEYS, clinical_name

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
    suffix = path.suffix.lower()
    edk = _ecgdatakit(suffix)
    with _parse_lock, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            record = edk.FileParser.parse(path, auto_scale=True, units="mV")
        except ImportError as exc:
            raise RecordError(f"reading {suffix} files needs {exc.name or 'pydicom'}: {EXTRA}") from None
        except edk.UnsupportedFormatError:
            raise RecordError(f"not a format ecgdatakit reads ({_formats(suffix)})") from None
        except Exception as exc:  # noqa: BLE001 - ecgdatakit raises CorruptedFileError, MissingElementError, and its own bugs
            raise RecordError(one_line(exc).replace(str(path), path.name)) from None
    return record, [one_line(w.message) for w in caught]  # type: ignore[arg-type]


def _formats(suffix: str) -> str:
    if suffix == ".xml":
        return "GE MUSE, Philips Sierra, HL7 aECG or Mortara XML"
    return {".dcm": "DICOM waveform", ".scp": "SCP-ECG", ".ecg": "ISHNE Holter"}.get(suffix, "MFER")


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
    return _record(ref, [clinical_name(lead.label) for lead in record.leads],
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


def _decoder(name: str):
    """The registry's reader of ecgspec's own decoder ``name`` (:mod:`.muse`, :mod:`.hl7`,
    :mod:`.sierra`, :mod:`.scp`): the record it decodes from the file's bytes; Unhandled for a
    file it leaves to ecgdatakit, and for any failure (ecgdatakit would fail too, and gives its reason)."""

    def read_decoded(ref: RecordRef, data: bytes) -> Record:
        decoder = importlib.import_module(f"{__package__}.{name}")
        try:
            got = decoder.decode(data, meta_pairs)
        except (Unhandled, RecordError):  # RecordError: a file only ecgspec's decoder takes for what it is
            raise
        except Exception as exc:  # noqa: BLE001 - where ecgdatakit would raise too; it gives its reason
            raise Unhandled(one_line(exc), malformed=True) from None
        if not got.signals:
            raise Unhandled("no rhythm leads", malformed=True)
        return _record(ref, got.names, got.signals, got.rates, got.units, got.start_time, got.meta)

    read_decoded.__name__ = read_decoded.__qualname__ = f"read_{name}"
    return read_decoded


read_muse, read_hl7, read_sierra, read_scp = (_decoder(name) for name in ("muse", "hl7", "sierra", "scp"))


def read_by_ecgdatakit(ref: RecordRef, declined: Unhandled | None) -> Record:
    """The registry's last clinical reader: ecgdatakit's reading (:func:`open_with_ecgdatakit`) of a
    file no reader before it read (``declined``: why the last one passed it on). Without
    ecgdatakit (or, for DICOM, pydicom), the one-line error: a broken file's reason, or what the file
    is and the extra that reads it."""
    suffix = ref.path.suffix.lower()
    needs = [name for name in ("ecgdatakit", "pydicom")[: 2 if suffix == ".dcm" else 1] if not _installed(name)]
    if not needs:
        return open_with_ecgdatakit(ref)
    if declined is None:
        raise RecordError(f"reading {suffix} files needs {needs[0]}: {EXTRA}")
    if suffix == ".dcm":
        raise RecordError(f"DICOM: {declined}; reading such a file needs pydicom: {EXTRA}")
    if declined.malformed:
        raise RecordError(str(declined))
    raise RecordError(f"reading {suffix} files of this kind ({declined}) needs ecgdatakit: {EXTRA}")


def _installed(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def open_clinical(ref: RecordRef) -> Record:
    """A clinical file's record of its rhythm leads in mV (the registry's reading of it); RecordError otherwise."""
    return read(ref)
