"""The DICOM reader's walk past sequences it does not read (readers/dicom_parts.py: ``skip`` and
``walk``), on hand-built data sets that pydicom reads as the reference: nested sequences and items
of undefined length, the bytes of every delimiter inside OB and UN values, sequences and items of
defined length inside undefined ones; the walk lands where pydicom does, and a data set cut at any
byte of the skipped region, or with its structure broken, is Unhandled, never another exception."""

from __future__ import annotations

import struct
from io import BytesIO
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.filereader import read_dataset

from ecgspec.readers import RecordRef
from ecgspec.readers.clinical import dicom, dicom_parts
from ecgspec.readers.registry import Unhandled

UNDEF = 0xFFFFFFFF
ITEM, ITEM_END, SEQ_END = (0xFFFE, 0xE000), (0xFFFE, 0xE00D), (0xFFFE, 0xE0DD)
TRAPS = (struct.pack("<HHI", *ITEM_END, 0) + struct.pack("<HHI", *SEQ_END, 0)
         + struct.pack("<HHI", *ITEM, UNDEF) + struct.pack("<HHI", *ITEM, 4))  # every delimiter's bytes
WANT = {0x00100020: "LO"}


def _delim(tag: tuple[int, int], length: int = 0) -> bytes:
    return struct.pack("<HHI", *tag, length)


def _el(group: int, elem: int, vr: str, value: bytes, explicit: bool, length: int | None = None) -> bytes:
    size = len(value) if length is None else length
    if not explicit:
        return struct.pack("<HHI", group, elem, size) + value
    if vr in ("OB", "UN", "SQ"):
        return struct.pack("<HH2s2xI", group, elem, vr.encode(), size) + value
    return struct.pack("<HH2sH", group, elem, vr.encode(), size) + value


def _seq(elem: int, items: list[bytes], explicit: bool, defined: bool) -> bytes:
    body = b"".join(items)
    if defined:
        return _el(0x0009, elem, "SQ", body, explicit)
    return _el(0x0009, elem, "SQ", body, explicit, UNDEF) + _delim(SEQ_END)


def _item(body: bytes, defined: bool) -> bytes:
    return _delim(ITEM, len(body)) + body if defined else _delim(ITEM, UNDEF) + body + _delim(ITEM_END)


def _body(depth: int, explicit: bool) -> bytes:
    """An item's elements: an OB and a UN value holding every delimiter's bytes, a defined-length
    sequence (its defined-length item holding them too, and an undefined-length one), and, below
    ``depth`` 0, a sequence of undefined length of two items (one of each length) nesting more."""
    out = _el(0x0009, 0x1002, "OB", TRAPS, explicit) + _el(0x0009, 0x1003, "UN", TRAPS[::-1] + TRAPS, explicit)
    inner = _el(0x0009, 0x1004, "OB", TRAPS, explicit)
    out += _seq(0x1005, [_item(inner, True), _item(inner, False)], explicit, defined=True)
    if depth:
        nested = _body(depth - 1, explicit)
        out += _seq(0x1001, [_item(nested, False), _item(nested, True)], explicit, defined=False)
    return out


def _simple(explicit: bool) -> bytes:
    """An item of short elements and a code sequence, as an annotation's (what skip matches at C speed)."""
    code = _item(_el(0x0008, 0x0100, "SH", b"2:1 ", explicit) + _el(0x0008, 0x0104, "LO", b"Lead I" * 10, explicit), False)
    return _item(_el(0x0009, 0x1006, "US", b"\x01\x00", explicit) + _seq(0x1007, [code, code], explicit, False)
                 + _seq(0x1008, [], explicit, False) + _el(0x0009, 0x1009, "CS", b"", explicit), False)


def _dataset(depth: int, explicit: bool) -> tuple[bytes, int, int]:
    """A data set: a creator, a private sequence of undefined length (complex items among simple
    ones), then PatientID; and where the sequence starts and ends."""
    head = _el(0x0009, 0x0010, "LO", b"ECGSPEC TEST", explicit)
    simple = _simple(explicit)
    seq = _seq(0x1001, [simple, _item(_body(depth, explicit), False), simple, simple,
                        _item(_body(depth, explicit), True), simple], explicit, False)
    return head + seq + _el(0x0010, 0x0020, "LO", b"ID42", explicit), len(head), len(head) + len(seq)


def _pydicom(buf: bytes, explicit: bool) -> pydicom.Dataset:
    return read_dataset(BytesIO(buf), is_implicit_VR=not explicit, is_little_endian=True)


@pytest.mark.parametrize("explicit", [True, False])
@pytest.mark.parametrize("depth", [0, 1, 3])
def test_the_walk_lands_after_the_sequence_where_pydicom_does(depth: int, explicit: bool) -> None:
    buf, start, stop = _dataset(depth, explicit)
    ds = _pydicom(buf, explicit)
    assert ds.PatientID == "ID42"
    seq = ds[0x00091001].value
    assert len(seq) == 6 and seq[1][0x00091002].value == TRAPS  # pydicom: the delimiters' bytes are a value
    assert len(seq[0][0x00091007].value) == 2 and len(seq[0][0x00091008].value) == 0
    if depth:
        assert len(seq[1][0x00091001].value) == 2
    assert dicom_parts.skip(buf, start + (12 if explicit else 8), len(buf), explicit) == stop
    values, _, end = dicom_parts.walk(buf, 0, len(buf), explicit, WANT, {})
    assert values[0x00100020] == ("LO" if explicit else "LO", b"ID42") and end == len(buf)


@pytest.mark.parametrize("explicit", [True, False])
def test_the_sequence_read_as_items_is_pydicoms(explicit: bool) -> None:
    """Entered rather than skipped, and kept as a span then read, the same items pydicom reads."""
    buf, _, _ = _dataset(2, explicit)
    ob = {0x00091002: "OB"}
    for spec in ((ob, {}), dicom_parts.SPAN):
        _, seqs, _ = dicom_parts.walk(buf, 0, len(buf), explicit, WANT, {0x00091001: spec})
        found = seqs[0x00091001] if spec != dicom_parts.SPAN else dicom_parts.items(seqs[0x00091001], (ob, {}))
        reference = _pydicom(buf, explicit)[0x00091001].value
        assert [item["values"].get(0x00091002, (0, None))[1] for item in found] == [
            item.get(0x00091002, pydicom.DataElement(0x00091002, "OB", None)).value for item in reference]


@pytest.mark.parametrize("explicit", [True, False])
def test_cut_at_any_byte_of_the_skipped_sequence_is_a_fallback(explicit: bool) -> None:
    buf, start, stop = _dataset(3, explicit)
    for cut in range(start + 1, stop):
        with pytest.raises(Unhandled):
            dicom_parts.walk(buf[:cut], 0, cut, explicit, WANT, {})
        with pytest.raises(Unhandled):  # the same bytes, a data set bounded short of them
            dicom_parts.walk(buf, 0, cut, explicit, WANT, {})
    assert dicom_parts.walk(buf[:stop], 0, stop, explicit, WANT, {})[0] == {}


def _open(*parts: bytes) -> bytes:
    """A private sequence of undefined length opened, then ``parts``, then PatientID."""
    return _el(0x0009, 0x1001, "SQ", b"", True, UNDEF) + b"".join(parts) + _el(0x0010, 0x0020, "LO", b"ID42", True)


BODY = _body(1, True)
BROKEN = {  # each a structure pydicom's reading would reject or read otherwise
    "item end in a sequence": _open(_delim(ITEM_END), _delim(SEQ_END)),
    "sequence end in an item": _open(_delim(ITEM, UNDEF), BODY, _delim(SEQ_END), _delim(SEQ_END)),
    "item in an item": _open(_delim(ITEM, UNDEF), _delim(ITEM, UNDEF), BODY, _delim(ITEM_END), _delim(ITEM_END),
                             _delim(SEQ_END)),
    "an element in a sequence": _open(_el(0x0009, 0x1010, "LO", b"AB", True), _delim(SEQ_END)),
    "another FFFE element": _open(_delim((0xFFFE, 0xE001)), _delim(SEQ_END)),
    "an undefined-length OB": _open(_delim(ITEM, UNDEF), _el(0x0009, 0x1002, "OB", b"", True, UNDEF),
                                    _delim(ITEM_END), _delim(SEQ_END)),
    "an undefined-length UN": _open(_delim(ITEM, UNDEF), _el(0x0009, 0x1002, "UN", b"", True, UNDEF),
                                    _delim(ITEM_END), _delim(SEQ_END)),
    "a lowercase VR": _open(_delim(ITEM, UNDEF), _el(0x0009, 0x1002, "lo", b"AB", True), _delim(ITEM_END),
                            _delim(SEQ_END)),
    "a defined item too long": _open(_delim(ITEM, len(BODY) + 1 << 20), BODY, _delim(SEQ_END)),
    "no sequence end": _open(_delim(ITEM, UNDEF), BODY, _delim(ITEM_END)),
    "an item end with a length": _open(_delim(ITEM, UNDEF), BODY, _delim(ITEM_END, 8), _delim(SEQ_END)),
    "a sequence end with a length": _open(_delim(ITEM, UNDEF), BODY, _delim(ITEM_END), _delim(SEQ_END, 8)),
}


@pytest.mark.parametrize("change", sorted(BROKEN))
def test_a_broken_structure_is_a_fallback(change: str) -> None:
    broken = BROKEN[change]
    with pytest.raises(Unhandled):
        dicom_parts.walk(broken, 0, len(broken), True, WANT, {})
    with pytest.raises(Unhandled):  # entered, not skipped
        dicom_parts.walk(broken, 0, len(broken), True, WANT, {0x00091001: ({}, {})})


def test_the_well_formed_one_is_read() -> None:
    good = _open(_delim(ITEM, UNDEF), BODY, _delim(ITEM_END), _delim(SEQ_END))
    for enter in ({}, {0x00091001: ({}, {})}, {0x00091001: dicom_parts.SPAN}):
        assert dicom_parts.walk(good, 0, len(good), True, WANT, enter)[0] == {0x00100020: ("LO", b"ID42")}
    assert _pydicom(good, True).PatientID == "ID42"


def test_pydicoms_file_cut_inside_its_annotation_sequence_is_a_fallback() -> None:
    """The Mortara file's WaveformAnnotationSequence (undefined length, 77 items): cut at every byte
    of its first 600 and every 37th after, the fast reader gives up."""
    raw = Path(get_testdata_file("waveform_ecg.dcm")).read_bytes()
    start = raw.index(b"\x40\x00\x20\xb0SQ")
    stop = dicom_parts.skip(raw, start + 12, len(raw), True)
    assert raw[stop - 8:stop] == _delim(SEQ_END) and stop - start > 10000
    cuts = list(range(start + 1, start + 600)) + list(range(start + 600, stop, 37))
    for cut in cuts:
        with pytest.raises(Unhandled):
            dicom._dataset(raw[:cut])


def test_the_fast_reader_gives_a_fallback_or_the_whole_record_on_any_cut(tmp_path: Path) -> None:
    """Every 307th cut of the whole file: a Fallback, or (cut at an element boundary after the
    waveforms) the whole file's record; never another exception."""
    source = Path(get_testdata_file("waveform_ecg.dcm"))
    raw, whole = source.read_bytes(), dicom.read_fast(RecordRef("whole", source, "clinical")).header
    path = tmp_path / "cut.dcm"
    for cut in range(0, len(raw), 307):
        path.write_bytes(raw[:cut])
        try:
            header = dicom.read_fast(RecordRef("whole", path, "clinical")).header
        except Unhandled:
            continue
        assert header == whole and cut > raw.index(b"\x00\x54\x00\x01SQ")


def _plain(monkeypatch: pytest.MonkeyPatch) -> None:
    """skip without its C-speed run of simple items: the element loop alone."""
    monkeypatch.setattr(dicom_parts, "_SIMPLE", __import__("re").compile(b""))


def _outcome(buf: bytes, start: int) -> int | str:
    try:
        return dicom_parts.skip(buf, start, len(buf), True)
    except Unhandled:
        return "fallback"


NEAR_SIMPLE = {  # items the run of simple items leaves to the loop (or takes whole), valid or not
    "odd length": _item(_el(9, 0x1010, "SH", b"ABC", True), False),
    "length 66": _item(_el(9, 0x1010, "LO", b"A" * 66, True), False),
    "length 64": _item(_el(9, 0x1010, "LO", b"A" * 64, True), False),
    "long VR": _item(_el(9, 0x1010, "UT", b"AB", True), False),
    "unknown VR": _item(_el(9, 0x1010, "ZZ", b"AB", True), False),
    "lowercase VR": _item(_el(9, 0x1010, "sh", b"AB", True), False),
    "defined sequence": _item(_seq(0x1011, [_simple(True)], True, True), False),
    "item end with a length": _delim(ITEM, UNDEF) + _el(9, 0x1010, "SH", b"AB", True) + _delim(ITEM_END, 4) + b"\0" * 4,
    "item end missing": _delim(ITEM, UNDEF) + _el(9, 0x1010, "SH", b"AB", True),
    "delimiter element": _item(_delim((0xFFFE, 0xE001)), False),
    "an item that reads as an element": _item(struct.pack("<HH2sH", *ITEM, b"SH", 2) + b"AB", False),
    "a delimiter that reads as an element": _item(struct.pack("<HH2sH", 0xFFFE, 0xE001, b"SH", 2) + b"AB", False),
    "a delimiter that reads as a sequence": _item(struct.pack("<HH2sHI", 0xFFFE, 0xE001, b"SQ", 0, UNDEF)
                                                  + _simple(True) + _delim(SEQ_END), False),
    "sequence end in it": _item(_el(9, 0x1010, "SH", b"AB", True) + _delim(SEQ_END), False),
    "nested deeper than the run": _item(_seq(0x1012, [_item(_seq(0x1013, [_item(_seq(0x1014, [
        _item(_seq(0x1015, [_simple(True)], True, False), False)], True, False), False)], True, False), False)],
        True, False), False),
}


@pytest.mark.parametrize("name", sorted(NEAR_SIMPLE))
def test_the_run_of_simple_items_lands_where_the_element_loop_does(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Between simple items, each near-simple item: skip with the run gives what the loop alone gives
    (the same end, or both a Fallback), and, cut at every byte, both a Fallback."""
    simple = _simple(True)
    buf = _seq(0x1001, [simple, NEAR_SIMPLE[name], simple], True, False) + _el(0x0010, 0x0020, "LO", b"ID42", True)
    fast = _outcome(buf, 12)
    cuts = {cut: _outcome(buf[:cut], 12) for cut in range(12, len(buf) - 12)}
    _plain(monkeypatch)
    assert fast == _outcome(buf, 12)
    assert cuts == {cut: _outcome(buf[:cut], 12) for cut in cuts}
    assert all(found == "fallback" for found in cuts.values()) or fast == "fallback"


def test_the_run_takes_pydicoms_annotation_items_whole() -> None:
    """The Mortara file's 77 annotation items and each group's 12 channel definitions are simple:
    one match each, to the sequence's delimiter."""
    raw = Path(get_testdata_file("waveform_ecg.dcm")).read_bytes()
    for tag in (b"\x40\x00\x20\xb0SQ", b"\x3a\x00\x00\x02SQ"):
        start = raw.index(tag) + 12
        stop = dicom_parts.skip(raw, start, len(raw), True)
        assert dicom_parts._SIMPLE.match(raw, start).end() == stop - 8


def test_with_and_without_the_run_the_hand_built_set_skips_alike(monkeypatch: pytest.MonkeyPatch) -> None:
    """The hand-built sequence (simple items among complex ones, nested 3 deep), whole and cut at
    every byte: the same end or Fallback with the run as with the element loop alone."""
    buf, start, stop = _dataset(3, True)
    assert dicom_parts._SIMPLE.match(buf, start + 12).end() > start + 12  # the first item is taken by the run
    fast = [_outcome(buf[:cut], start + 12) for cut in range(start + 12, stop + 1)]
    _plain(monkeypatch)
    assert fast == [_outcome(buf[:cut], start + 12) for cut in range(start + 12, stop + 1)]
    assert fast[-1] == stop and set(fast[:-1]) == {"fallback"}


def test_a_delimiter_given_a_length_falls_back_as_pydicom_reads_on_by_it(tmp_path: Path) -> None:
    """An item delimiter of the annotation sequence given a length (found by fuzzing): pydicom reads
    on by it and gives up later, so the fast reader must not read the file."""
    from ecgspec.readers import RecordError, clinical

    raw = bytearray(Path(get_testdata_file("waveform_ecg.dcm")).read_bytes())
    at = raw.index(_delim(ITEM_END), raw.index(b"\x40\x00\x20\xb0SQ"))
    raw[at + 4:at + 8] = b"SQ\0\0"
    path = tmp_path / "delimiter.dcm"
    path.write_bytes(bytes(raw))
    ref = RecordRef("delimiter", path, "clinical")
    with pytest.raises(Unhandled, match="has a length"):
        dicom.read_fast(ref)
    with pytest.raises(RecordError) as info:
        clinical.open_clinical(ref)
    assert "\n" not in str(info.value)
