"""A minimal walker of DICOM Part 10 data sets (explicit and implicit VR little endian) and the
value conversions of the fields the DICOM waveform reader needs, as pydicom gives them.

:func:`walk` reads only the elements it is asked for (and the items of the sequences it is asked
to enter, or keeps a sequence as a byte :class:`Span` whose items :func:`items` reads later);
every other element, sequences included, is jumped over by its length, or, for an undefined
length, by :func:`skip`: one loop over the nested elements counting the open sequences and items
to the sequence's own delimiter, which hands runs of simple items (short elements, code
sequences: an annotation's) to one regular-expression match that reads them element by element
exactly as the loop does (about 2.5x faster on pydicom's WaveformAnnotationSequence). Anything it cannot
read exactly is :class:`~ecgspec.readers.registry.Unhandled` with the reason (the registry then
hands the file to ecgdatakit), never a guess.
"""

from __future__ import annotations

import functools
import re
import struct
from typing import Any, NamedTuple

from ..registry import Unhandled

ITEM, ITEM_END, SEQ_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
UNDEFINED = 0xFFFFFFFF
SPAN = "span"  # in an ``enter`` spec: keep the sequence as a :class:`Span`, to read its items later
_LONG_VRS = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"UC", b"UN", b"UR", b"UT", b"SV", b"UV"}
_U16, _U32 = struct.Struct("<H"), struct.Struct("<I")
_HEAD = struct.Struct("<HHHHI")  # group, element, the VR's two bytes, a short VR's length, a long VR's length
_HEAD8 = struct.Struct("<HHHH")
_SQ = _U16.unpack(b"SQ")[0]
_CUT = 1 << 40  # a long length past any file: a header cut after 8 bytes reads as running past the end
# explicit VR: the VR's two bytes (as a little endian uint16) of every two capital letters -> (VR, header size)
_VRS = {_U16.unpack(bytes((a, b)))[0]: (chr(a) + chr(b), 12 if bytes((a, b)) in _LONG_VRS else 8)
        for a in range(65, 91) for b in range(65, 91)}
_SIZES = {code: size for code, (_, size) in _VRS.items()}
_LETTERS = "".join(chr(c) for c in range(65, 91))


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
_PRINTABLE = bytes(range(0x20, 0x7F))
_BINARY = {"OB", "OW"}  # values read by NumPy, not copied
_SINGLE = {"LT", "ST", "UT"}  # text VRs of one value (a backslash is text)


class Span(NamedTuple):
    """A sequence kept as bytes, its items read only when wanted (:func:`items`): ``buf[start:stop]``
    holds the items (a sequence of undefined length: up to its delimiter)."""

    buf: bytes
    start: int
    stop: int
    explicit: bool
    defined: bool


def walk(buf: bytes, pos: int, end: int, explicit: bool, want: dict[int, str], enter: dict[int, Any],
         in_item: bool = False) -> tuple[dict[int, tuple[str, bytes]], dict[int, Any], int]:
    """The elements of the data set from ``pos`` named in ``want`` (tag -> VR for implicit VR) as
    (VR, value bytes; a memoryview of ``buf`` where ``want`` names OB or OW); the sequences named in
    ``enter``: tag -> its own (want, enter), its items walked the same way (a list), or :data:`SPAN`
    (a :class:`Span`); and the position after it. The data set ends at ``end`` or, ``in_item`` (an
    item of undefined length), at its item delimiter."""
    values: dict[int, tuple[str, bytes]] = {}
    seqs: dict[int, Any] = {}
    while pos < end:
        tag, vr, length, pos = _header(buf, pos, end, explicit)
        if tag in want:
            if length == UNDEFINED or pos + length > end:
                raise Unhandled(f"element {tag:08X} has an undefined length or runs past the end of its data set")
            binary = want[tag] in _BINARY  # as the caller names it, whatever VR the file gives
            values[tag] = (vr or want[tag], memoryview(buf)[pos:pos + length] if binary else buf[pos:pos + length])
            pos += length
        elif length != UNDEFINED and tag >> 16 != 0xFFFE and tag not in enter:
            pos += length  # one past the end is caught below
        elif tag >> 16 == 0xFFFE:
            if tag == ITEM_END and in_item and not length:
                return values, seqs, pos
            raise Unhandled(f"a delimiter {tag:08X} inside a data set at byte {pos - 8}")
        else:
            pos = _sequence(buf, pos, end, explicit, tag, vr, length, enter.get(tag), seqs)
    if in_item or pos > end:
        raise Unhandled("an element runs past the end of its data set (the file is cut short?)")
    return values, seqs, pos


def _sequence(buf: bytes, pos: int, end: int, explicit: bool, tag: int, vr: str, length: int, spec: Any,
              seqs: dict[int, Any]) -> int:
    """Past a sequence (or, implicit VR, an element of undefined length) whose value starts at ``pos``,
    its items (``spec``: (want, enter)) or :class:`Span` (:data:`SPAN`) put in ``seqs``."""
    if vr not in ("SQ", ""):
        raise Unhandled(f"element {tag:08X} of VR {vr} is a sequence or has an undefined length")
    if length == UNDEFINED and spec in (None, SPAN):
        stop = skip(buf, pos, end, explicit)
        if spec == SPAN:
            seqs[tag] = Span(buf, pos, stop - 8, explicit, False)
        return stop
    if length == UNDEFINED:
        seqs[tag], pos = _items(buf, pos, end, explicit, spec, None)
        return pos
    if pos + length > end:
        raise Unhandled(f"sequence {tag:08X} runs past the end of its data set (the file is cut short?)")
    found, _ = _items(buf, pos, end, explicit, ({}, {}) if spec == SPAN else spec, pos + length)
    seqs[tag] = Span(buf, pos, pos + length, explicit, True) if spec == SPAN else found
    return pos + length


def _header(buf: bytes, pos: int, end: int, explicit: bool) -> tuple[int, str, int, int]:
    """(tag, VR or "", length, the value's start) of the element at ``pos``."""
    if pos + 12 <= end:
        group, elem, code, short, long = _HEAD.unpack_from(buf, pos)
    elif pos + 8 <= end:
        (group, elem, code, short), long = _HEAD8.unpack_from(buf, pos), _CUT
    else:
        raise Unhandled(f"an element header runs past the end at byte {pos} (the file is cut short?)")
    if group == 0xFFFE or not explicit:
        return group << 16 | elem, "", code | short << 16, pos + 8
    vr, size = _VRS.get(code) or _no_vr(group, elem)
    if size == 8:
        return group << 16 | elem, vr, short, pos + 8
    return group << 16 | elem, vr, long, pos + 12


def _no_vr(group: int, elem: int) -> Any:
    raise Unhandled(f"element {group:04X}{elem:04X} has no explicit VR")


def items(span: Span, spec: tuple[dict, dict]) -> list[dict]:
    """The items of a kept sequence, each walked by ``spec`` (want, enter) as {"values": ..., "seqs": ...}."""
    return _items(span.buf, span.start, span.stop, span.explicit, spec, span.stop)[0]


def _items(buf: bytes, pos: int, end: int, explicit: bool, spec: tuple[dict, dict],
           stop: int | None) -> tuple[list[dict], int]:
    """The items of a sequence from ``pos`` to ``stop`` (None: undefined length, to its delimiter,
    within ``end``) and the position after it."""
    out = []
    limit = end if stop is None else stop
    while stop is None or pos < stop:
        tag, _, length, pos = _header(buf, pos, limit, False)
        if tag == SEQ_END and stop is None and not length:
            return out, pos
        if tag != ITEM:
            raise Unhandled(f"a sequence holds element {tag:08X}, not an item")
        if length == UNDEFINED:
            values, seqs, pos = walk(buf, pos, limit, explicit, *spec, in_item=True)
        elif pos + length > limit:
            raise Unhandled("a sequence item runs past the end (the file is cut short?)")
        else:
            values, seqs, pos = walk(buf, pos, pos + length, explicit, *spec)
        out.append({"values": values, "seqs": seqs})
    return out, pos


def _simple_items(depth: int = 3) -> re.Pattern[bytes]:
    """A run of whole items of undefined length holding only elements of a short explicit VR and an
    even length up to 64 and sequences of undefined length of such items, nested up to ``depth``
    deep (a WaveformAnnotationSequence's and a ChannelDefinitionSequence's items, code items in
    them). Each piece is one element exactly as :func:`skip` reads it (a header fixes its length,
    and no two pieces can start alike), so a match is the items that loop would walk, to the same
    place, each delimiter where it belongs; anything else (a long VR, another length, a delimiter
    with a length) ends the run, and the loop goes on from there."""
    seconds = {a: "".join(b for b in _LETTERS if (a + b).encode() not in _LONG_VRS) for a in _LETTERS}
    any_second = "".join(a for a in _LETTERS if seconds[a] == _LETTERS)  # one class for these first letters
    short_vr = b"|".join([f"[{any_second}][A-Z]".encode()] + [f"{a}[{seconds[a]}]".encode()
                                                            for a in _LETTERS if a not in any_second])
    lengths = b"|".join(re.escape(struct.pack("<H", n)) + b".{%d}" % n for n in range(0, 65, 2))
    tag = rb"(?!\xfe\xff).{4}"
    element = tag + b"(?:" + short_vr + b")(?:" + lengths + b")"
    item_open, item_end, seq_end = (re.escape(struct.pack("<HHI", 0xFFFE, e, n))
                                    for e, n in ((0xE000, UNDEFINED), (0xE00D, 0), (0xE0DD, 0)))
    item = item_open + b"(?:" + element + b")*" + item_end
    for _ in range(depth):
        seq = tag + b"SQ\x00\x00\xff\xff\xff\xff(?:" + item + b")*" + seq_end
        item = item_open + b"(?:" + element + b"|" + seq + b")*" + item_end
    return re.compile(b"(?:" + item + b")*", re.DOTALL)


_SIMPLE = _simple_items()


def skip(buf: bytes, pos: int, end: int, explicit: bool) -> int:
    """The position after a sequence of undefined length whose items start at ``pos``, every nested
    element visited in one loop (items and sequences of defined length jumped whole): ``depth``
    counts the open sequences and items of undefined length, which alternate, so an odd depth is
    inside a sequence. Unhandled for anything out of place: an element in a sequence, a misplaced
    delimiter or one with a length (pydicom reads on by it), an undefined length but on a sequence
    (or, implicit VR, any element), anything past ``end``."""
    unpack, sizes, depth, simple, ran = _HEAD.unpack_from, _SIZES, 1, _SIMPLE.match, -1
    while True:
        if pos + 12 <= end:
            group, elem, code, short, long = unpack(buf, pos)
        elif pos + 8 <= end:
            (group, elem, code, short), long = _HEAD8.unpack_from(buf, pos), _CUT
        else:
            raise Unhandled("a sequence runs past the end of its data set (the file is cut short?)")
        if group == 0xFFFE:
            pos += 8
            length = code | short << 16
            if elem == 0xE000 and depth & 1:
                if length != UNDEFINED:
                    pos += length
                elif explicit and pos - 8 != ran:  # items of short elements, at C speed
                    ran = simple(buf, pos - 8, end).end()
                    pos, depth = (ran, depth) if ran > pos - 8 else (pos, depth + 1)
                else:
                    depth += 1
            else:
                depth = _closed(elem, length, depth, pos - 8)
                if not depth:
                    return pos
        elif depth & 1:
            raise Unhandled(f"a sequence holds element {group:04X}{elem:04X}, not an item")
        elif not explicit:
            length = code | short << 16
            if length == UNDEFINED:
                depth += 1
            pos += 8 if length == UNDEFINED else 8 + length
        elif sizes.get(code) == 8:
            pos += 8 + short
        else:
            pos, depth = _explicit_long(group, elem, code, long, pos, depth)


def _explicit_long(group: int, elem: int, code: int, long: int, pos: int, depth: int) -> tuple[int, int]:
    """:func:`skip`'s step over an explicit-VR element with a 4-byte length (or of an unknown VR):
    the position after it, and the depth (one more for a sequence of undefined length)."""
    if code not in _SIZES:
        _no_vr(group, elem)
    if long != UNDEFINED:
        return pos + 12 + long, depth
    if code == _SQ:
        return pos + 12, depth + 1
    raise Unhandled(f"element {group:04X}{elem:04X} of VR {_VRS[code][0]} has an undefined length")


def _closed(elem: int, length: int, depth: int, at: int) -> int:
    """The depth after the delimiter ``FFFE,elem`` at byte ``at`` of :func:`skip`'s walk: an item's
    end inside an item, a sequence's end inside a sequence; Unhandled for any other place or a length."""
    if length:
        raise Unhandled(f"delimiter FFFE{elem:04X} at byte {at} has a length ({length}), not 0")
    if (elem == 0xE00D and not depth & 1) or (elem == 0xE0DD and depth & 1):
        return depth - 1
    raise Unhandled(f"a misplaced delimiter FFFE{elem:04X} at byte {at}")


@functools.lru_cache(maxsize=4096)  # pure; the same codes, units and names recur file after file
def text(vr: str, raw: bytes | None) -> str:
    """A string value as ecgdatakit's ``_text`` makes of pydicom's: stripped, several values joined
    by "; " ("" when absent); Unhandled for a value pydicom would decode otherwise or warn about."""
    if raw is None:
        return ""
    if raw.translate(None, _PRINTABLE).strip(b"\r\n\t\f\0"):
        raise Unhandled(f"a {vr} value holds bytes beyond ASCII (its character set decides)")
    value = raw.decode("ascii").rstrip(" \0")
    if "\0" in value:
        raise Unhandled(f"a {vr} value holds a NUL")
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
        raise Unhandled(f"a {vr} value pydicom would warn about ({value[:20]!r})")
    if vr == "PN" and ("=" in value or any(len(g) > 64 for g in value.split("="))):
        raise Unhandled("a person name of several component groups")


@functools.lru_cache(maxsize=4096)
def number(raw: bytes | None) -> float | None:
    """A DS value as ecgdatakit's ``_float`` makes of pydicom's (None: absent, empty or several)."""
    if raw is None:
        return None
    value = text("DS", raw)
    if not value or ";" in value:
        return None
    return float(value)


def unsigned(raw: bytes | None, vr: str) -> int:
    """A US or UL value (0 when absent); Unhandled for several or a length of another VR."""
    if raw is None:
        return 0
    size = 2 if vr == "US" else 4
    if len(raw) != size:
        raise Unhandled(f"a {vr} value of {len(raw)} bytes")
    return (_U16 if size == 2 else _U32).unpack(raw)[0]


def person(raw: bytes | None) -> tuple[str, str, str, str]:
    """(family, given, middle, joined "prefix given middle family suffix") of a PN, as ecgdatakit reads it."""
    value = text("PN", raw)
    if b"\\" in (raw or b""):
        raise Unhandled("several person names in one element")
    parts = (value.split("^") + [""] * 5)[:5]
    family, given, middle, prefix, suffix = parts
    joined = " ".join(p.strip() for p in (prefix, given, middle, family, suffix) if p and p.strip())
    return family.strip(), given.strip(), middle.strip(), joined or value.replace("^", " ").strip()
