"""Lead labels and voltage units as ecgdatakit spells them, for ecgspec's own clinical decoders
(:mod:`.muse`, :mod:`.hl7`, :mod:`.sierra`, :mod:`.dicom`): each follows the ecgdatakit function it
names, so that a file decoded here is labelled as ecgdatakit's path labels it.
"""

from __future__ import annotations

import functools

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
    """What :func:`ecgspec.readers.clinical.lead_name` makes of an ecgdatakit label (``MDC_ECG_LEAD_`` dropped)."""
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
