"""HL7 aECG (``AnnotatedECG``, ANSI/HL7 V3 ECG R1-2004) decoded by ecgspec, equal to ecgdatakit's reading.

The first rhythm ``series``' ``sequenceSet``: each ``SLIST_PQ`` lead ``origin + scale x digit``
in mV at the rate of the ``TIME_*`` sequence's ``increment``; the header fields ecgdatakit gives.
The representative beat series is checked as ecgdatakit checks it. The digits are parsed by
ecgspec's compiled parser (:mod:`ecgspec.readers.digits`) or, where it was not built or refuses
them, by numpy (``np.fromstring`` into int64 after a check that every token is a plain integer):
the exact float64 value of each, ``-0`` kept negative as ecgdatakit's float parse keeps it.

Left to ecgdatakit too: digits with a ``+`` sign.

Left to ecgdatakit (:class:`~ecgspec.readers.registry.Unhandled`): digits that are not plain integers
(decimals, exponents, beyond 2^53), any file on which ecgdatakit warns (several rhythm series,
beat series or sequence sets, sequences it does not know, a rate that is not a whole number, an
annotation unit it does not know, a lead without a voltage unit), a root other than
``AnnotatedECG``, a document that declares entities or that expat cannot parse as it stands,
and anything broken.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np

from ..digits import spaced_integers
from .ecgdatakit_facts import RATE_TOLERANCE, TO_UV, clinical_name, lead_label, unique_labels, unit_of
from .hl7_meta import attr, child, finite, header_fields, path_all
from .xml_common import Decoded, Payloads, Unhandled, mv_scale, parse, to_mv

FORMAT = "HL7 aECG"
_INCREMENT_TO_S = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6}
_INTEGER_TEXT = b"0123456789- \t\n\r"
_ATTRIBUTES = (b"code", b"value", b"unit", b"extension", b"root", b"displayName")  # the ones read


def _integers(chunk: bytes | memoryview) -> np.ndarray:
    """One lead's digits as float64 (ecgspec's compiled parse, :mod:`..digits`) or, where it
    was not built or refuses the text, :func:`_integers_numpy`'s."""
    values = spaced_integers(chunk)
    return _integers_numpy(bytes(chunk)) if values is None else values


def _lead_mv(chunk: bytes | memoryview, scale: tuple[float, str, float] | None) -> np.ndarray:
    """A rhythm lead's digits in float32 mV (:func:`.xml_common.to_mv` of them), parsed and scaled
    in one pass where the compiled parser reads them; only parsed (for its errors) without a scale."""
    if scale is None:
        return _integers(chunk)
    mv = spaced_integers(chunk, *mv_scale(*scale))
    return to_mv(_integers(chunk), *scale) if mv is None else mv


def _blank(chunk: bytes | memoryview | None) -> bool:
    """Whether a lead's digits are empty or whitespace alone (copied only when they start with a space)."""
    return not chunk or (bytes(chunk[:1]).isspace() and bytes(chunk).isspace())


def _integers_numpy(chunk: bytes) -> np.ndarray:
    """One lead's digits as int64, or float64 where a ``-0`` is (ecgdatakit keeps it negative)."""
    negative_zero = _check_digits(chunk)
    try:
        values = np.fromstring(chunk, dtype=np.float64 if negative_zero else np.int64, sep=" ")
    except ValueError:
        raise Unhandled("Invalid digits: not whitespace-separated integers", malformed=True) from None
    if len(values) == 0:
        raise Unhandled("a lead has no digits", malformed=True)
    if values.max() >= 2 ** 53 or values.min() <= -2 ** 53:
        raise Unhandled("digits beyond 2^53")
    return values


def _check_digits(chunk: bytes) -> bool:
    """Unhandled unless every token of a lead's digits is ``-?digits`` (``np.fromstring`` reads a
    lone ``-`` as 0; a ``+`` goes to ecgdatakit); whether a ``-0`` is among them. A lead at a
    time: its temporaries stay in the CPU cache."""
    left = chunk.translate(None, _INTEGER_TEXT)
    if left:
        raise Unhandled("digits that are not plain integers", malformed=bool(left.translate(None, b"+.eE")))
    a = np.frombuffer(chunk, np.uint8)
    minus = a == 45
    if minus[-1]:
        raise Unhandled("Invalid digits: a sign without digits", malformed=True)
    minus = minus[:-1]
    digit = a[1:] - np.uint8(48)  # what follows each character, as a digit (> 9: not one)
    if (minus & (digit > 9)).any():
        raise Unhandled("Invalid digits: a sign without digits", malformed=True)
    return bool((minus & (digit == 0)).any())


def _time(code: str, value: ET.Element | None) -> dict:
    head, inc = child(value, "head"), child(value, "increment")
    info = {"code": code, "head": attr(head, "value"), "sampling_rate": 0}
    step = finite(attr(inc, "value"))
    if not step or step <= 0:
        return info
    unit = attr(inc, "unit")
    if unit not in _INCREMENT_TO_S:
        raise Unhandled(f"time increment unit {unit!r} is missing or not supported", malformed=True)
    rate = 1.0 / (step * _INCREMENT_TO_S[unit])
    if abs(rate - round(rate)) > RATE_TOLERANCE:
        raise Unhandled(f"sampling rate {rate:.4f} Hz is not an integer: ecgdatakit warns")
    info.update(sampling_rate=int(round(rate)), sampling_rate_exact=rate)
    return info


def _lead_code(code: str) -> str | None:
    upper = code.upper()
    if "_ECG_LEAD_" not in upper:
        return None
    suffix = code[upper.index("_ECG_LEAD_") + len("_ECG_LEAD_"):]
    return None if not suffix else "-aVR" if suffix.upper() == "AVRNEG" else lead_label(suffix)


def _scale(value: ET.Element) -> tuple[float, str, float]:
    """A lead's resolution, its voltage unit and offset (in that unit), as ecgdatakit makes them."""
    scale_el, origin_el = value.find("scale"), value.find("origin")
    scale, origin = finite(attr(scale_el, "value")), finite(attr(origin_el, "value")) or 0.0
    unit = unit_of(attr(scale_el, "unit")) if attr(scale_el, "unit") else None
    origin_unit = unit_of(attr(origin_el, "unit")) if attr(origin_el, "unit") else None
    resolution, offset = scale if scale is not None else 1.0, origin
    if unit and origin_unit and origin_unit != unit:
        offset = origin * TO_UV[origin_unit] / TO_UV[unit]
    raw = not (bool(unit) and resolution == 1.0 and offset == 0.0)
    if not unit or (raw and resolution == 0.0):
        raise Unhandled("a lead without a voltage unit or scale: ecgdatakit warns")
    return resolution, unit, offset


def _sequences(series: ET.Element | None, texts: Payloads) -> tuple[list, dict]:
    """A series' leads as (label, digit text, value element) and its time info."""
    sets = [] if series is None else path_all(series, "component/sequenceSet")
    if len(sets) > 1:
        raise Unhandled("several sequence sets: ecgdatakit warns")
    info: dict = {}
    entries = []
    for seq in path_all(sets[0], "component/sequence") if sets else ():
        code, value = attr(seq.find("code"), "code"), seq.find("value")
        if code.upper().startswith("TIME_"):
            info = info or _time(code, value)
            continue
        label = _lead_code(code)
        if label is None:
            raise Unhandled(f"sequence {code} ecgdatakit does not know: it warns")
        chunk = texts.text(child(value, "digits"))
        if _blank(chunk):
            raise Unhandled(f"Lead {code} has no digits", malformed=True)
        entries.append((label, chunk, value))
    if entries and not info.get("sampling_rate"):
        raise Unhandled("No usable time increment", malformed=True)
    return entries, info


def _series(root: ET.Element) -> tuple[ET.Element, ET.Element | None]:
    rhythm, beats = [], []
    for series in path_all(root, "component/series"):
        (beats if attr(series.find("code"), "code").upper() == "REPRESENTATIVE_BEAT" else rhythm).append(series)
        beats += [d for d in path_all(series, "derivation/derivedSeries")
                  if attr(d.find("code"), "code").upper() in ("REPRESENTATIVE_BEAT", "")]
    if not rhythm:
        raise Unhandled("No rhythm series", malformed=True)
    if len(rhythm) > 1 or len(beats) > 1:
        raise Unhandled("several rhythm or beat series: ecgdatakit warns")
    return rhythm[0], beats[0] if beats else None


def decode(raw: bytes, meta_of) -> Decoded:
    """The rhythm leads and header of an HL7 aECG file's bytes; ``meta_of`` orders the fields as
    :func:`.clinical.meta_fields`. Unhandled for what is left to ecgdatakit."""
    root, texts = parse(raw, (b"digits",), _ATTRIBUTES, views=True)  # (the digits parsed where they lie)
    if root.tag != "AnnotatedECG":
        raise Unhandled("Missing AnnotatedECG root element")
    rhythm, derived = _series(root)
    entries, info = _sequences(rhythm, texts)
    if not entries:
        raise Unhandled("No ECG lead sequence in the rhythm series", malformed=True)
    beats, _ = _sequences(derived, texts)
    texts.all_used()
    scales, scale_error = [], None
    for _, _, value in entries:  # the beats' units are not checked (no warning)
        try:
            scales.append(_scale(value))
        except Exception as exc:  # noqa: BLE001 - raised after the digits' errors, as ecgdatakit meets them
            scales.append(None)
            scale_error = scale_error or exc
    signals = [_lead_mv(chunk, scale) for (_, chunk, _), scale in zip(entries, scales)]
    for _, chunk, _ in beats:
        _integers(chunk)
    if scale_error is not None:
        raise scale_error
    rate = info["sampling_rate"]
    when, fields = header_fields(root, rhythm, derived, info, len(signals[0]))
    names = unique_labels([label for label, _, _ in entries])
    return Decoded(names=[clinical_name(n) for n in names],
                   signals=signals,
                   rates=[float(rate)] * len(entries), units=["mV"] * len(entries),
                   start_time=when.isoformat() if when else "", meta=meta_of(FORMAT, *fields))
