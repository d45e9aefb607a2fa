"""A minimal walker of DICOM Part 10 data sets (explicit and implicit VR little endian) and the
value conversions of the fields the DICOM waveform reader needs, as pydicom gives them.

:func:`walk` reads only the elements it is asked for (and the items of the sequences it is asked
to enter); every other element, sequences included, is jumped over by its length, or, for an
undefined length, by counting its nested items and sequences to its own delimiter. Anything it
cannot read exactly is a :class:`Fallback` with the reason (the caller then reads the file the
slow way), never a guess.
"""

from __future__ import annotations

import re
import struct

from ..errors import EcgspecError

ITEM, ITEM_END, SEQ_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
UNDEFINED = 0xFFFFFFFF
_LONG_VRS = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"UC", b"UN", b"UR", b"UT", b"SV", b"UV"}
_U16, _U32 = struct.Struct("<H"), struct.Struct("<I")
_TAG = struct.Struct("<HH")
_ELEMENT = struct.Struct("<HH2sH")  # explicit VR: group, element, VR, a short VR's length

# pydicom's reading validation (pydicom.valuerep): a value it would warn about is read by pydicom
_MAX_LEN = {"CS": 16, "DS": 16, "IS": 12, "LO": 64, "LT": 10240, "SH": 16, "ST": 1024, "UI": 64}
_RANGE = r"^{0}$|^\-{0} ?$|^{0}\- ?$|^{0}\-{0} ?$"
_REGEX = {vr: re.compile(rx) for vr, rx in {
    "AS": r"^\d\d\d[DWMY]$", "CS": r"^[A-Z0-9 _]*$",
    "DS": r"^ *[+\-]?(\d+|\d+\.\d*|\.\d+)([eE][+\-]?\d+)? *$",
    "DA": _RANGE.format(r"\d{4}(0[1-9]|1[0-2])([0-2]\d|3[01])"),
    "DT": _RANGE.format(r"\d{4}((0[1-9]|1[0-2])(([0-2]\d|3[01])(([01]\d|2[0-3])"
                        r"([0-5]\d((60|[0-5]\d)(\.\d{1,6} ?)?)?)?)?)?)?([+-][01]\d\d\d)?"),
    "TM": _RANGE.format(r"([01]\d|2[0-3])([0-5]\d((60|[0-5]\d)(\.\d{1,6} ?)?)?)?"),
    "UI": r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$"}.items()}
_SINGLE = {"LT", "ST", "UT"}  # text VRs of one value (a backslash is text)


class Fallback(EcgspecError):
    """The file is of a variant (or is malformed in a way) this reader does not read exactly."""


def walk(buf: bytes, pos: int, end: int, explicit: bool, want: dict[int, str],
         enter: dict[int, dict]) -> tuple[dict[int, tuple[str, bytes]], dict[int, list[dict]]]:
    """The elements of the data set ``buf[pos:end]`` named in ``want`` (tag -> VR for implicit VR) as
    (VR, value bytes), and the items of the sequences named in ``enter`` (tag -> its own
    (want, enter)), each item walked the same way."""
    values: dict[int, tuple[str, bytes]] = {}
    seqs: dict[int, list[dict]] = {}
    while pos < end:
        tag, vr, length, pos = _element(buf, pos, end, explicit)
        if tag in (ITEM_END, SEQ_END, ITEM):
            raise Fallback(f"a delimiter (FFFE) inside a data set at byte {pos}")
        if tag in enter and vr not in ("SQ", ""):
            raise Fallback(f"sequence {tag:08X} is stored as VR {vr}")
        if length == UNDEFINED:
            if vr not in ("SQ", ""):
                raise Fallback(f"element {tag:08X} of VR {vr} has an undefined length")
            if tag in enter:
                seqs[tag], pos = _items(buf, pos, end, explicit, enter[tag], None)
            else:
                pos = _skip_undefined(buf, pos, end, explicit)
            continue
        if pos + length > end:
            raise Fallback(f"element {tag:08X} runs past the end of its data set (the file is cut short?)")
        if tag in enter:
            seqs[tag], _ = _items(buf, pos, pos + length, explicit, enter[tag], pos + length)
        elif tag in want:
            values[tag] = (vr or want[tag], buf[pos:pos + length])
        pos += length
    return values, seqs


def _element(buf: bytes, pos: int, end: int, explicit: bool) -> tuple[int, str, int, int]:
    """(tag, VR or "", length, the value's start) of the element at ``pos``."""
    if pos + 8 > end:
        raise Fallback(f"an element header runs past the end at byte {pos}")
    group, elem = _TAG.unpack_from(buf, pos)
    tag = group << 16 | elem
    if group == 0xFFFE or not explicit:
        return tag, "", _U32.unpack_from(buf, pos + 4)[0], pos + 8
    vr = buf[pos + 4:pos + 6]
    if not (65 <= vr[0] <= 90 and 65 <= vr[1] <= 90):
        raise Fallback(f"element {tag:08X} has no explicit VR")
    if vr in _LONG_VRS:
        if pos + 12 > end:
            raise Fallback(f"an element header runs past the end at byte {pos}")
        return tag, vr.decode(), _U32.unpack_from(buf, pos + 8)[0], pos + 12
    return tag, vr.decode(), _U16.unpack_from(buf, pos + 6)[0], pos + 8


def _items(buf: bytes, pos: int, end: int, explicit: bool, spec: dict, stop: int | None) -> tuple[list[dict], int]:
    """The items of a sequence from ``pos`` (to ``stop`` for a defined length, else to its delimiter),
    each as {"values": ..., "seqs": ...}, and the position after the sequence."""
    items = []
    while stop is None or pos < stop:
        tag, _, length, pos = _element(buf, pos, end, False)
        if tag == SEQ_END and stop is None:
            return items, pos
        if tag != ITEM:
            raise Fallback(f"a sequence holds element {tag:08X}, not an item")
        if length == UNDEFINED:
            item_end = _dataset_end(buf, pos, end, explicit)
            values, seqs = walk(buf, pos, item_end, explicit, *spec)
            pos = item_end + 8
        else:
            if pos + length > end:
                raise Fallback("a sequence item runs past the end (the file is cut short?)")
            values, seqs = walk(buf, pos, pos + length, explicit, *spec)
            pos += length
        items.append({"values": values, "seqs": seqs})
    return items, pos


def _skip_undefined(buf: bytes, pos: int, end: int, explicit: bool) -> int:
    """The position after a sequence of undefined length whose items start at ``pos``: one loop over
    its nested elements (items and sequences of defined length jumped whole), a stack of the open
    sequences ("S") and items ("I") matching each delimiter to its opening, so a delimiter inside
    a nested sequence never ends the outer one."""
    stack = [b"S"]
    unpack = _ELEMENT.unpack_from
    u32 = _U32.unpack_from
    while True:
        if pos + 8 > end:
            raise Fallback("a sequence of undefined length runs past the end (the file is cut short?)")
        group, elem, vr, short = unpack(buf, pos)
        if group == 0xFFFE:
            length = u32(buf, pos + 4)[0]
            pos += 8
            top = stack[-1]
            if elem == 0xE000 and top == b"S":
                if length == UNDEFINED:
                    stack.append(b"I")
                else:
                    pos += length
            elif elem == 0xE00D and top == b"I" or elem == 0xE0DD and top == b"S":
                stack.pop()
                if not stack:
                    return pos
            else:
                raise Fallback(f"a misplaced delimiter FFFE{elem:04X} at byte {pos - 8}")
            continue
        if stack[-1] != b"I":
            raise Fallback(f"a sequence holds element {group:04X}{elem:04X}, not an item")
        if not explicit:
            length, pos = u32(buf, pos + 4)[0], pos + 8
        elif vr in _LONG_VRS:
            if pos + 12 > end:
                raise Fallback("an element header runs past the end (the file is cut short?)")
            length, pos = u32(buf, pos + 8)[0], pos + 12
        elif 65 <= vr[0] <= 90 and 65 <= vr[1] <= 90:
            length, pos = short, pos + 8
        else:
            raise Fallback(f"element {group:04X}{elem:04X} has no explicit VR")
        if length == UNDEFINED:
            if explicit and vr != b"SQ":
                raise Fallback(f"element {group:04X}{elem:04X} of VR {vr.decode()} has an undefined length")
            stack.append(b"S")
        else:
            pos += length
        if pos > end:
            raise Fallback("an element runs past the end of the file (the file is cut short?)")


def _dataset_end(buf: bytes, pos: int, end: int, explicit: bool) -> int:
    """Where the item delimiter of an item of undefined length starting at ``pos`` begins."""
    while True:
        tag, vr, length, value = _element(buf, pos, end, explicit)
        if tag == ITEM_END:
            return pos
        if tag in (ITEM, SEQ_END):
            raise Fallback(f"a misplaced delimiter {tag:08X} in an item")
        if length == UNDEFINED:
            if vr not in ("SQ", ""):
                raise Fallback(f"element {tag:08X} of VR {vr} has an undefined length")
            pos = _skip_undefined(buf, value, end, explicit)
        else:
            pos = value + length
            if pos > end:
                raise Fallback(f"element {tag:08X} runs past the end (the file is cut short?)")


def text(vr: str, raw: bytes | None) -> str:
    """A string value as ecgdatakit's ``_text`` makes of pydicom's: stripped, several values joined
    by "; " ("" when absent); Fallback for a value pydicom would decode otherwise or warn about."""
    if raw is None:
        return ""
    if raw.translate(None, bytes(range(0x20, 0x7F))).strip(b"\r\n\t\f\0"):
        raise Fallback(f"a {vr} value holds bytes beyond ASCII (its character set decides)")
    value = raw.decode("ascii").rstrip(" \0")
    if "\0" in value:
        raise Fallback(f"a {vr} value holds a NUL")
    parts = [value] if vr in _SINGLE else value.split("\\")
    for part in parts:
        _check(vr, part)
    if len(parts) == 1:
        return value.strip()
    return "; ".join(p.strip() for p in parts if p.strip())


def _check(vr: str, value: str) -> None:
    if not value:
        return
    if len(value) > _MAX_LEN.get(vr, 1 << 30) or (vr in _REGEX and not _REGEX[vr].match(value)):
        raise Fallback(f"a {vr} value pydicom would warn about ({value[:20]!r})")
    if vr == "PN" and ("=" in value or any(len(g) > 64 for g in value.split("="))):
        raise Fallback("a person name of several component groups")


def number(raw: bytes | None) -> float | None:
    """A DS value as ecgdatakit's ``_float`` makes of pydicom's (None: absent, empty or several)."""
    if raw is None:
        return None
    value = text("DS", raw)
    if not value or ";" in value:
        return None
    return float(value)


def unsigned(raw: bytes | None, vr: str) -> int:
    """A US or UL value (0 when absent); Fallback for several or a length of another VR."""
    if raw is None:
        return 0
    size = 2 if vr == "US" else 4
    if len(raw) != size:
        raise Fallback(f"a {vr} value of {len(raw)} bytes")
    return (_U16 if size == 2 else _U32).unpack(raw)[0]


def person(raw: bytes | None) -> tuple[str, str, str, str]:
    """(family, given, middle, joined "prefix given middle family suffix") of a PN, as ecgdatakit reads it."""
    value = text("PN", raw)
    if b"\\" in (raw or b""):
        raise Fallback("several person names in one element")
    parts = (value.split("^") + [""] * 5)[:5]
    family, given, middle, prefix, suffix = parts
    joined = " ".join(p.strip() for p in (prefix, given, middle, family, suffix) if p and p.strip())
    return family.strip(), given.strip(), middle.strip(), joined or value.replace("^", " ").strip()
