"""What ecgspec's own clinical decoders copy from ecgdatakit, in one place, and the version they
were checked against: a file they decode gives the header, ``meta`` and samples ecgdatakit gives,
so these must stay ecgdatakit's. ``tests/readers/test_registry.py`` compares each with the
installed ecgdatakit (its private unit table, ``normalize_lead_label``, ``unique_labels``, the
``to_dict`` keys, its parsers' detection), so a release that changes one fails there first.

- **Voltage units**: ``ecgdatakit.models._UNIT_ALIASES`` and ``_TO_UV`` (:func:`unit_of`, :data:`TO_UV`).
- **Lead naming**: ``ecgdatakit.parsing.helpers.normalize_lead_label`` and ``unique_labels``
  (:func:`lead_label`, :func:`unique_labels`), and ecgspec's spelling of what ecgdatakit gives,
  ``MDC_ECG_LEAD_`` dropped (:func:`clinical_name`: one function, for the decoders and for
  ecgdatakit's own records alike).
- **Detection order**: which parser ``FileParser`` hands a file to, by its first :data:`SNIFF`
  bytes: the binary formats first (DICOM, ISHNE, EDF, SCP-ECG, by PRIORITY), then the XML
  parsers of PRIORITY 50 in class-name order (GE MUSE, HL7 aECG, Mortara, Sierra) (:func:`detect`).
- **to_dict key order**: of ``PatientInfo``, ``RecordingInfo`` (less date, device, acquisition),
  ``DeviceInfo`` and ``FilterSettings``, the order of a record's ``meta`` (:data:`PATIENT_KEYS` ...).
- **Warning conditions**: a file on which ecgdatakit warns is left to ecgdatakit (the decoder
  raises :class:`ecgspec.readers.registry.Unhandled`), so that its warning reaches ``meta``.
  Where each is checked: GE MUSE (:mod:`.muse`): a CRC32 mismatch, a second waveform of a type,
  a lead without a voltage unit or with a non-zero ``FirstSampleBaseline``; HL7 aECG (:mod:`.hl7`,
  :mod:`.hl7_meta`): several rhythm or beat series or sequence sets, a sequence code it does not
  know, a rate further than :data:`RATE_TOLERANCE` from a whole number of Hz, a lead without a
  voltage unit, an annotation unit it does not know; Sierra (:mod:`.sierra`): no resolution,
  beats compressed or without a rate or resolution; SCP-ECG (:mod:`.scp`, :mod:`.scp_tags`): a
  CRC mismatch, section lengths that disagree, Section 1 tag lengths it re-reads, truncated QRS
  locations, amplitude multipliers of 0, v3 Section 12; DICOM (:mod:`.dicom_parts`): a value
  pydicom warns about.

Tables that only one decoder reads (HL7's annotation units, DICOM's lead codes, Sierra's words for
sex and pacemakers) sit beside that decoder, each naming the ecgdatakit function it follows.
"""

from __future__ import annotations

import functools
import re

CHECKED = "2.0.3"  # the ecgdatakit release these facts were checked against (pyproject.toml bounds it)

# ecgdatakit.models._UNIT_ALIASES and _TO_UV: voltage units and their size in uV
_UNIT_ALIASES = {
    "uV": "uV", "uv": "uV", "\u00b5V": "uV", "\u00b5v": "uV", "\u03bcV": "uV", "\u03bcv": "uV",
    "microvolt": "uV", "microvolts": "uV", "mV": "mV", "mv": "mV", "millivolt": "mV", "millivolts": "mV",
    "V": "V", "v": "V", "volt": "V", "volts": "V", "nV": "nV", "nv": "nV", "nanovolt": "nV", "nanovolts": "nV",
}
TO_UV = {"nV": 0.001, "uV": 1.0, "mV": 1_000.0, "V": 1_000_000.0}

_STANDARD = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
_EXTRA = ("V7", "V8", "V9", "V3R", "V4R", "V5R", "V6R", "V7R", "V8R", "V9R", "X", "Y", "Z", "-aVR")
_CANONICAL = {name.lower(): name for name in _STANDARD + _EXTRA}

# the keys of ecgdatakit's PatientInfo, RecordingInfo (less date, device, acquisition), DeviceInfo
# and FilterSettings to_dict(), in their order
PATIENT_KEYS = ("patient_id", "first_name", "last_name", "birth_date", "sex", "race", "age", "weight", "height",
                "medications", "clinical_history", "has_pacemaker", "pacemaker_type")
RECORDING_KEYS = ("end_date", "duration_seconds", "technician", "referring_physician", "room", "location")
DEVICE_KEYS = ("manufacturer", "model", "name", "serial_number", "software_version", "institution", "department",
               "acquisition_type")
FILTER_KEYS = ("highpass", "lowpass", "notch", "notch_active", "artifact_filter")

RATE_TOLERANCE = 1e-3  # HL7 aECG: a rate this far from a whole number of Hz is rounded, with a warning

SNIFF = 4096  # what ecgdatakit's detection reads of a file
_MUSE_ROOT = re.compile(r"<RESTINGECG[\s>]")
_HL7_ROOT = re.compile(r"<([A-Za-z_][\w.-]*:)?AnnotatedECG\b")
_MORTARA_ROOT = re.compile(r"<ECG[\s>/]")
_MORTARA_MARKERS = ("ACQUISITION_TIME", "<TYPICAL_CYCLE", "<CHANNEL", "<DEMOGRAPHIC_FIELDS", "<SUBJECT", "MORTARA",
                    "WELCH ALLYN", "ELI LINK")  # ecgdatakit's, which it tries before Sierra


def unit_of(text: str) -> str | None:
    """ecgdatakit's canonical voltage unit of ``text`` (``"uV"``), None when not a voltage."""
    return _UNIT_ALIASES.get(text) or _UNIT_ALIASES.get(text.strip().lower())


@functools.lru_cache(maxsize=4096)
def lead_label(label: str) -> str:
    """ecgdatakit's ``normalize_lead_label``: the standard spelling, prefixes ``ECG``/``Lead`` dropped."""
    text = label.strip()
    key = text.lower()
    for prefix in ("ecg lead ", "ecg ", "lead "):
        if key.startswith(prefix):
            key = key[len(prefix):].strip()
            break
    return _CANONICAL.get(key, text)


@functools.lru_cache(maxsize=4096)
def clinical_name(label: str) -> str:
    """A lead's name in ecgspec of an ecgdatakit label: the standard spelling (``AVR``, ``Lead aVR``,
    ``MDC_ECG_LEAD_AVR`` -> ``aVR``), others as given."""
    text = label.strip()
    if text.upper().startswith("MDC_ECG_LEAD_"):
        text = text[len("MDC_ECG_LEAD_"):]
    return lead_label(text)


def unique_labels(labels: list[str]) -> list[str]:
    """ecgdatakit's ``unique_labels``: repeats suffixed ``_2``, ``_3`` (never a label already present)."""
    originals, used, counts, out = set(labels), set(), {}, []
    for label in labels:
        name = label
        if name in used:
            n = counts.get(label, 1)
            while name in used or name in originals:
                n += 1
                name = f"{label}_{n}"
            counts[label] = n
        used.add(name)
        out.append(name)
    return out


@functools.lru_cache(maxsize=16)
def detect(head: bytes) -> str | None:
    """``"muse"``, ``"hl7"`` or ``"sierra"`` when ecgdatakit would hand a file starting with
    ``head`` to that parser, None otherwise (another parser first, Mortara, UTF-16, not XML)."""
    if b"\0" in head[:32] or head[128:132] == b"DICM" or head[:8] in (b"ISHNE1.0", b"0       ", b"\xffBIOSEMI"):
        return None  # a binary format ecgdatakit tries before the XML ones (or UTF-16)
    text = head.decode("utf-8", errors="ignore")
    upper = text.upper()
    if "<RESTINGECGDATA" not in upper and (_MUSE_ROOT.search(upper) or "<MUSEINFO" in upper):
        return "muse"
    if _HL7_ROOT.search(text):
        return "hl7"
    if _MORTARA_ROOT.search(text) and any(m in upper for m in _MORTARA_MARKERS):
        return None
    return "sierra" if b"<restingecgdata" in head else None


def is_muse(head: bytes) -> bool:
    """Whether ecgdatakit hands a file of this head to its GE MUSE parser."""
    return detect(head) == "muse"


def is_hl7(head: bytes) -> bool:
    """Whether ecgdatakit hands a file of this head to its HL7 aECG parser."""
    return detect(head) == "hl7"


def is_sierra(head: bytes) -> bool:
    """Whether ecgdatakit hands a file of this head to its Philips Sierra parser."""
    return detect(head) == "sierra"
