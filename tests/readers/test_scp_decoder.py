"""ecgspec's own SCP-ECG decoder (readers/clinical/scp.py) against ecgdatakit
(``clinical.open_with_ecgdatakit``): the same header, units, start time, meta and float32
samples bit for bit on varied records written from the specification (rates, amplitude
multipliers, lead subsets and codes, int16 or Huffman coded amplitudes and differences, tags
missing or added, more sections), and the known signal; the variants it leaves to ecgdatakit
taken there; broken records refused as ecgdatakit refuses them, in one line; and, without
ecgdatakit, records read and the others one-line errors."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
from ecgdatakit import FileParser

from ecgspec.readers import RecordError, RecordRef, clinical, open_record
from ecgspec.readers.clinical import scp, scp_codec
from ecgspec.readers.clinical.xml_common import Unhandled
from tests.helpers import ecg_writers as w
from tests.helpers import scp_writer as sw
from tests.helpers.clinical import decoded_as_ecgdatakit, no_fallback, read_without_ecgdatakit, summary
from tests.helpers.paths import DATA

N = 2000
LATIN = 0x3B  # Section 1 language code: ISO 8859-15


def own_table() -> list[tuple[int, int, int, int, str]]:
    """A prefix code other than the default: 0 and +-1 short, then 4, 8 and 16 extra bits."""
    return [(2, 2, 1, 0, "00"), (2, 2, 1, 1, "01"), (3, 3, 1, -1, "100"), (3, 7, 1, 0, "101"),
            (4, 12, 1, 0, "1100"), (4, 20, 1, 0, "1101"), (5, 5, 1, 5, "11100"), (5, 5, 1, 200, "11101"),
            (4, 4, 1, -2, "1111")]


def many_tags(language: int = 0x37) -> list[tuple[int, bytes]]:
    """Every tag ecgdatakit reads into a field ``meta`` holds, and some it reads elsewhere or not at all."""
    text = {0x37: "Zoë Ångström".encode(), LATIN: "Zoë Ångström".encode("iso8859_15")}[language]
    return [(0, b"Doe\0"), (1, text + b"\0"), (2, b"PID-77\0"), (3, b"Second\0"), (4, struct.pack("<HB", 54, 1)),
            (5, struct.pack("<HBB", 1967, 5, 6)), (6, struct.pack("<HB", 70, 2)), (7, struct.pack("<HB", 176, 3)),
            (8, b"\x02"), (9, b"\x01"), (10, b"\x00\x01\x02Aspirin\0"), (10, b"\x01\x02\x03"), (11, b"\x78\x00"),
            (13, b"chest pain\0"), (14, sw.device_id(b"Acme Medical", b"AC-100", 7, language, 20,
                                                   (b"prog", b"SN-42", b"v1.2", b"scp"))),
            (15, sw.device_id(model=b"HOST")), (16, b"General\0"), (17, b"Other\0"), (18, b"Cardio\0"),
            (20, b"Dr Who\0"), (21, b"Dr Confirm\0"), (22, b"Tech A\0"), (23, b"Room 5\0"), (24, b"\x01"),
            *sw.default_tags()[2:], (27, struct.pack("<H", 5)), (28, struct.pack("<H", 150)), (29, b"\x05"),
            (30, b"a comment\0"), (31, b"seq 9\0"), (32, b"\x00\x2a\x01"), (33, b"\x01\x02"),
            (34, struct.pack("<hH", 60, 0) + b"CET\0"), (35, b"more history\0"), (200, b"vendor\0"), (99, b"\x01")]


def sections_7_to_11() -> dict[int, bytes]:
    """Valid measurement (7, 10), statement (8, 11), Section 9 and manufacturer (14) section bodies."""
    s7 = bytes([1, 0]) + struct.pack("<HH", 800, 800) + struct.pack("<5H3h", 100, 200, 300, 400, 700, 10, 45, 30)
    s8 = bytes([0]) + struct.pack("<HBB", 2021, 3, 14) + bytes([10, 11, 12, 1]) + struct.pack("<BH", 1, 12) + b"Sinus rhythm"
    s10 = struct.pack("<HH", 1, 0) + struct.pack("<HH", 1, 4) + struct.pack("<hh", 80, 160)
    s11 = bytes([0]) + struct.pack("<HBB", 2021, 3, 14) + bytes([10, 11, 12, 1]) + struct.pack("<BH", 1, 5) + b"\x01abc\0"
    return {7: s7, 8: s8, 9: b"free text", 10: s10, 11: s11, 14: b"vendor section"}


def ranges(n: int) -> list[tuple[int, int]]:
    return [(1, n - 37 * (i % 3)) for i in range(11)] + [(5, n)]


# case -> (writer options, the number of leads); the signal is x x avm nV
HANDLED = {
    "default": ({}, 12),
    "250 Hz, 2.5 uV, 8 leads": ({"fs": 250, "avm_nv": 2500}, 8),
    "1000 Hz, 1 uV (no scaling to undo)": ({"fs": 1000, "avm_nv": 1000}, 12),
    "first differences": ({"diff": 1}, 12),
    "second differences, wrapping": ({"diff": 2}, 12),
    "default Huffman, second differences": ({"huffman": "default", "diff": 2}, 12),
    "default Huffman, amplitudes, no reference beats": ({"huffman": "default", "median": False}, 12),
    "default Huffman, small second differences": ({"huffman": "default", "diff": 2, "small": True}, 12),
    "own Huffman table, small first differences": ({"huffman": [own_table()], "diff": 1, "small": True}, 12),
    "own Huffman table, first differences, a second table": ({"huffman": [own_table(), sw.default_table()],
                                                              "diff": 1}, 12),
    "no Section 1": ({"header": False}, 12),
    "only the terminator in Section 1": ({"tags": []}, 3),
    "many tags, UTF-8 texts, time zone": ({"tags": many_tags()}, 12),
    "Latin-9 texts, a date without a time": ({"tags": many_tags(LATIN)[:-10] + [(25, struct.pack("<HBB", 2020, 1, 2))]},
                                             12),
    "lead codes unknown, repeated, unspecified; lead ranges": ({"codes": [1, 2, 0, 150, 2, 61, 62, 63, 64, 3, 4, 66],
                                                              "ranges": ranges(N)}, 12),
    "Sections 7 to 11 and a manufacturer section": ({"sections": sections_7_to_11()}, 12),
    "protocol 3.0: byte 6 reserved, not bimodal": ({"protocol": 30, "flag": 1}, 12),
    "QRS locations without subtraction": ({"reference": (500, 200, [(0, 100, 200, 300)])}, 12),
}
# case -> writer options: records ecgdatakit reads (or refuses) its own way
FALLBACK = {
    "CRC mismatch in Section 6 (a warning)": {"spoil_crc": 6},
    "CRC mismatch in the record (a warning)": {"spoil_crc": -1},
    "reference beat subtraction": {"lead_flags": 0x05 | 12 << 3, "reference": (500, 200, [(0, 100, 200, 300)])},
    "subtraction without Section 4 (refused)": {"lead_flags": 0x05 | 12 << 3},
    "bimodal compression (version 2.0)": {"flag": 1},
    "Section 1 tag lengths wrong (a warning, fixed sizes used)": {"sections": {1: bytes([8, 6, 0, 1, 255, 0, 0])}},
    "Huffman table switching": {"huffman": [own_table()[:-1] + [(4, 4, 0, 2, "1111")], sw.default_table()]},
    "Huffman codes not a prefix code": {"huffman": [own_table() + [(1, 1, 1, 7, "1")]]},
    "Section 12 in a version 3 record (a warning)": {"protocol": 30, "sections": {12: b"long-term"}},
    "amplitude multiplier 0 (a warning, raw counts)": {"avm_nv": 0},
    "Huffman reference beats without their length (a warning)": {"huffman": "default", "reference": False},
    "truncated QRS locations (a warning)": {"sections": {4: struct.pack("<HHHHI", 500, 200, 1, 0, 1)}},
}


def signal(leads: int, seed: int, wrap: bool) -> np.ndarray:
    x = w.counts(12, N, seed)[:leads]
    if wrap:  # jumps whose second differences need more than 16 bits
        x[:, 500], x[:, 501] = 32000, -32000
    return x


def write(options: dict, leads: int, folder: Path, seed: int = 0) -> tuple[Path, np.ndarray]:
    """A record of the known signal (``small``: 1/256 of it, an ECG's few bits a Huffman code)."""
    options = dict(options)
    x = signal(leads, seed, options.get("diff") == 2) // (256 if options.pop("small", False) else 1)
    return sw.scp_ecg(folder / "r.scp", x, **options), x


def outcome(opener, ref: RecordRef):
    """A record's header, meta and samples, or its one-line error."""
    try:
        record = opener(ref)
    except RecordError as exc:
        assert "\n" not in str(exc)
        return str(exc)
    h = record.header
    return (h, h.units, h.meta, h.start_time, [record.read(0, h.length(c), [c]).tobytes() for c in range(h.n_signals)])


@pytest.mark.parametrize("case", sorted(HANDLED))
def test_fast_decoder_equals_ecgdatakit_and_the_known_signal(case: str, tmp_path: Path, monkeypatch) -> None:
    options, leads = HANDLED[case]
    path, x = write(options, leads, tmp_path)
    got = decoded_as_ecgdatakit(path, monkeypatch)
    h = got.header
    assert h.fs == options.get("fs", 500) and h.units == ("mV",) * leads and dict(h.meta)["format"] == "SCP-ECG"
    spans = options.get("ranges", [(1, N)] * leads)
    for c, (first, last) in enumerate(spans):
        assert h.length(c) == last - first + 1
        known = x[c, : last - first + 1] * (options.get("avm_nv", 5000) / 1e6)
        np.testing.assert_allclose(got.read(0, h.length(c), [c])[0], known, rtol=1e-6, atol=1e-9)


def test_header_fields_are_ecgdatakits_and_what_the_tags_say(tmp_path: Path, monkeypatch) -> None:
    path, _ = write({"tags": many_tags()}, 12, tmp_path)
    monkeypatch.setattr(clinical, "open_with_ecgdatakit", no_fallback)
    h = clinical.open_clinical(RecordRef("r", path, "clinical")).header
    meta = dict(h.meta)
    assert h.start_time == "2021-03-14T10:11:12+01:00"
    assert meta["first_name"] == "Zoë Ångström" and meta["birth_date"] == "1967-05-06" and meta["age"] == "54"
    assert meta["height"] == "177.8" and meta["weight"] == "79.83" and meta["sex"] == "F"
    assert meta["medications"] == "Aspirin, table 1 class 2 code 3" and meta["has_pacemaker"] == "True"
    assert meta["device_manufacturer"] == "Acme Medical" and meta["device_serial_number"] == "SN-42"
    assert meta["filter_highpass"] == "0.05" and meta["filter_notch"] == "60.0" and meta["filter_artifact_filter"] == "True"


@pytest.mark.parametrize("case", sorted(FALLBACK))
def test_variant_left_to_ecgdatakit_is_read_as_ecgdatakit_reads_it(case: str, tmp_path: Path, monkeypatch) -> None:
    path, _ = write(FALLBACK[case], 12, tmp_path)
    with pytest.raises(Unhandled):
        scp.decode(path.read_bytes(), clinical.meta_pairs)
    ref = RecordRef(path.stem, path, "clinical")
    real, calls = clinical.open_with_ecgdatakit, []
    monkeypatch.setattr(clinical, "open_with_ecgdatakit", lambda r: calls.append(r) or real(r))
    got, expected = outcome(clinical.open_clinical, ref), outcome(real, ref)
    assert calls == [ref] and got == expected
    if "warning" in case:
        assert isinstance(expected, str) or any(key == "warning" for key, _ in expected[2]), expected


def test_section_lengths_that_disagree_are_left_to_ecgdatakit(tmp_path: Path, monkeypatch) -> None:
    """Section 5's header giving it two bytes more than Section 0 does: ecgdatakit warns and reads."""
    path, _ = write({}, 12, tmp_path)
    raw = path.read_bytes()
    at = _section_at(raw, 5) + 4
    path.write_bytes(_spoil_structure(raw, at, struct.pack("<I", struct.unpack_from("<I", raw, at)[0] + 2)))
    with pytest.raises(Unhandled, match="lengths differ"):
        scp.decode(path.read_bytes(), clinical.meta_pairs)
    ref = RecordRef("r", path, "clinical")
    expected = outcome(clinical.open_with_ecgdatakit, ref)
    assert any(key == "warning" and "Section 5 length" in value for key, value in expected[2]), expected[2]
    assert outcome(clinical.open_clinical, ref) == expected


# ---------------------------------------------------------------- the codings, against ecgdatakit's


@pytest.mark.parametrize("n", [0, 1, 2, 1000, 32766, 32767, 32768, 65534, 65535, 65536, 98302, 120001])
def test_folded_crc_is_crc_hqx(n: int) -> None:
    data = np.random.default_rng(n).integers(0, 256, n + 3, np.uint8).tobytes()
    for init in (0xFFFF, 0, 0x1D0F):
        assert scp_codec.crc(memoryview(data), 3, n + 3, init) == __import__("binascii").crc_hqx(data[3:], init)
    for length in (0, 1, 255, 4096, 32767, 40000):
        assert scp_codec.shift(0xBEEF, length) == __import__("binascii").crc_hqx(bytes(length), 0xBEEF)


def _edk_tables(body: bytes):
    from ecgdatakit.parsing.parsers import scp_ecg

    return scp_ecg._parse_huffman_tables(body)


@pytest.mark.parametrize("walk", [scp_codec.by_jumps, scp_codec.by_regex])
@pytest.mark.parametrize("table", ["default", "own"])
def test_huffman_decoding_is_ecgdatakits_on_coded_and_on_random_bytes(table: str, walk) -> None:
    """Values equal where ecgdatakit decodes, Unhandled (malformed) where it raises."""
    from ecgdatakit.exceptions import CorruptedFileError
    from ecgdatakit.parsing.parsers import scp_ecg

    codes = sw.default_table() if table == "default" else own_table()
    body = sw.table_section(None if table == "default" else [codes])[16:]
    ours, theirs = scp_codec.tables(body), _edk_tables(body)
    rng = np.random.default_rng(7)
    chunks = [(sw.huffman_bytes(d, codes), len(d)) for d in
              (rng.integers(-3, 4, 400), rng.integers(-40000, 40000, 300).clip(-32768, 32767), rng.integers(-200, 200, 50))]
    chunks += [(rng.integers(0, 256, size, np.uint8).tobytes(), count) for size, count in
               ((100, 200), (100, 400), (7, 30), (0, 1), (300, 1000), (50, 10))]
    chunks += [(chunk[:cut], count) for chunk, count in chunks[:3] for cut in (len(chunk) - 1, len(chunk) // 2)]
    for chunk, count in chunks:
        try:
            expected = scp_ecg._huffman_decode(chunk, count, theirs, "test")
        except CorruptedFileError:
            with pytest.raises(Unhandled) as info:
                scp_codec.huffman(chunk, count, ours, walk)
            assert info.value.malformed
            continue
        assert np.array_equal(scp_codec.huffman(chunk, count, ours, walk), expected)
    assert np.array_equal(scp_codec.huffman(chunks[0][0], 400, ours), scp_codec.huffman(chunks[0][0], 400, ours, walk))


@pytest.mark.parametrize("mode", [1, 2])
def test_differences_are_undone_as_ecgdatakit_undoes_them(mode: int) -> None:
    from ecgdatakit.parsing.parsers import scp_ecg

    values = np.random.default_rng(mode).integers(-40000, 40000, 1000)
    for v in (values, values[:2], values[:1]):
        assert np.array_equal(scp_codec.undo_differences(v, mode), scp_ecg._undo_differences(v, mode))


@pytest.mark.parametrize("body, reason", [
    (b"\x00", "too short"), (b"\x00\x00", "no Huffman table"), (b"\x01\x00\x02\x00", "truncated"),
    (b"\x01\x00\x01\x00" + struct.pack("<BBBhI", 0, 0, 1, 0, 0), "prefix length"),
])
def test_a_broken_section_2_is_refused_as_ecgdatakit_refuses_it(body: bytes, reason: str) -> None:
    from ecgdatakit.exceptions import CorruptedFileError

    with pytest.raises(CorruptedFileError, match=reason):
        _edk_tables(body)
    with pytest.raises(Unhandled, match=reason) as info:
        scp_codec.tables(body)
    assert info.value.malformed


# ---------------------------------------------------------------- detection and broken records


def test_a_record_is_told_as_ecgdatakit_tells_it(tmp_path: Path) -> None:
    path, _ = write({}, 12, tmp_path)
    raw = path.read_bytes()
    ishne = w.ishne(tmp_path / "h.scp", w.counts(12, 500))
    heads = {"scp": raw, "dicom preamble": raw[:128] + b"DICM" + raw[132:], "ishne": ishne.read_bytes(),
             "junk": b"SCP" * 100, "short": raw[:31], "no section 0 pointer": raw[:28] + b"\x08" + raw[29:]}
    for name, head in heads.items():
        (tmp_path / f"{name}.scp").write_bytes(head)
        parser = FileParser._find_parser(tmp_path / f"{name}.scp")
        assert scp.is_scp(head[:scp.SNIFF]) == (parser is not None and parser.FORMAT_NAME == "SCP-ECG"), name


def _spoil_structure(raw: bytes, at: int, value: bytes) -> bytes:
    return sw.fix_crcs(raw[:at] + value + raw[at + len(value):])


def _section_at(raw: bytes, sid: int) -> int:
    """The offset of section ``sid`` as Section 0 points to it."""
    for pos in range(22, 22 + 10 * 12, 10):
        found, _, index = struct.unpack_from("<HII", raw, pos)
        if found == sid:
            return index - 1
    raise KeyError(sid)


BROKEN = {  # case -> spoil of a written record (CRCs made right again where the structure is spoiled)
    "record size beyond the file": lambda r: r[:-10],
    "record size too small": lambda r: _spoil_structure(r, 2, struct.pack("<I", 100)),
    "a pointer beyond the record": lambda r: _spoil_structure(r, 22 + 10 * 6 + 6, struct.pack("<I", len(r) - 50)),
    "a pointer to another section": lambda r: _spoil_structure(r, 22 + 10 * 6 + 6, r[22 + 10 * 5 + 6:22 + 10 * 5 + 10]),
    "Section 6 lead bytes beyond it": lambda r: _spoil_structure(r, _section_at(r, 6) + 16 + 6, b"\xff\xff"),
    "Section 3 lead range ends at 0": lambda r: _spoil_structure(r, _section_at(r, 3) + 16 + 2, bytes(8)),
    "unknown difference encoding": lambda r: _spoil_structure(r, _section_at(r, 6) + 16 + 4, b"\x07"),
    "sample interval 0": lambda r: _spoil_structure(r, _section_at(r, 6) + 16 + 2, b"\0\0"),
    "Section 3 lead range backwards": lambda r: _spoil_structure(r, _section_at(r, 3) + 16 + 2, struct.pack("<I", N + 5)),
    "Section 3 missing": lambda r: _spoil_structure(r, 22 + 10 * 3, struct.pack("<HII", 3, 0, 0)),
    "Section 1 tags beyond it": lambda r: _spoil_structure(r, _section_at(r, 1) + 16 + 1, b"\xff\x7f"),
    "Section 7 truncated": None,
    "Section 8 statements truncated": None,
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_record_is_refused_as_ecgdatakit_refuses_it(case: str, tmp_path: Path) -> None:
    options = {"sections": {7: b"\x05\x00\x00\x00\x00\x00"}} if case == "Section 7 truncated" else \
        {"sections": {8: bytes(8) + b"\x02" + struct.pack("<BH", 1, 40) + b"short"}} if case.startswith("Section 8") else {}
    path, _ = write(options, 12, tmp_path)
    if BROKEN[case] is not None:
        path.write_bytes(BROKEN[case](path.read_bytes()))
    with pytest.raises(Unhandled) as info:
        scp.decode(path.read_bytes(), clinical.meta_pairs)
    ref = RecordRef("r", path, "clinical")
    got, expected = outcome(clinical.open_clinical, ref), outcome(clinical.open_with_ecgdatakit, ref)
    assert isinstance(expected, str) and got == expected, (got, expected)
    # broken, but for a record that is no SCP-ECG to ecgdatakit and tags it re-reads (with a warning, or refuses)
    assert info.value.malformed == (case not in ("record size too small", "Section 1 tags beyond it")), info.value


def test_a_record_cut_anywhere_is_what_ecgdatakit_makes_of_it(tmp_path: Path) -> None:
    path, _ = write({"huffman": "default", "diff": 2, "sections": sections_7_to_11()}, 12, tmp_path)
    raw = path.read_bytes()
    ref = RecordRef("r", path, "clinical")
    for cut in sorted({*range(0, 400, 7), *range(400, len(raw), len(raw) // 40), len(raw) - 1}):
        for spoiled in (raw[:cut], sw.fix_crcs(raw[:cut])):
            path.write_bytes(spoiled)
            got, expected = outcome(clinical.open_clinical, ref), outcome(clinical.open_with_ecgdatakit, ref)
            assert got == expected, (cut, got, expected)


def test_another_kind_of_file_named_scp_is_what_ecgdatakit_makes_of_it(tmp_path: Path) -> None:
    ishne = w.ishne(tmp_path / "holter.scp", w.counts(12, 500))
    junk = tmp_path / "junk.scp"
    junk.write_bytes(b"SCP" * 100)
    for path in (ishne, junk):
        ref = RecordRef(path.stem, path, "clinical")
        assert outcome(clinical.open_clinical, ref) == outcome(clinical.open_with_ecgdatakit, ref)
    assert "not a format ecgdatakit reads" in outcome(clinical.open_clinical, RecordRef("j", junk, "clinical"))


# ---------------------------------------------------------------- records that do not follow the standard

SCP_REAL = DATA / "real" / "clinical" / "scp"
START_0 = "Section 3 numbers the samples of 12 of 12 leads from 0 (the standard: from 1): read from 1"
COUNTED_FROM_0 = "Section 0's pointers count bytes from 0 (Section 0 at 6; the standard: from 1, at 7)"
# case -> (the non-compliant record's writer options, the compliant one's, the note); both of the same samples
VARIANTS = {
    "a lead start of 0": ({"ranges": [(0, N)] * 12}, {}, START_0),
    "a lead start of 0, Huffman coded differences": ({"ranges": [(0, N)] * 12, "huffman": "default", "diff": 2},
                                                     {"huffman": "default", "diff": 2}, START_0),
    "Section 6 shorter than Section 3 declares": (
        {"held": [1500] * 12}, {"ranges": [(1, 1500)] * 12},
        "Section 6 holds 1500 samples of 12 leads whose Section 3 declares 2000: read as far as they go"),
    "Section 6 shorter by lead, second differences": (
        {"held": [1500] * 6 + [N] * 5 + [7], "diff": 2}, {"ranges": [(1, 1500)] * 6 + [(1, N)] * 5 + [(1, 7)], "diff": 2},
        "Section 6 holds 7 samples of 1 leads whose Section 3 declares 2000: read as far as they go; Section 6 holds"
        " 1500 samples of 6 leads whose Section 3 declares 2000: read as far as they go"),
    "Section 0's pointers counted from 0": ({"pointers": (6, 0)}, {}, COUNTED_FROM_0),
    "Section 0's own pointer 6, the others from 1": ({"pointers": (6, 1)}, {}, "Section 0 points to itself at 6 (the standard: 7)"),
    "all three": ({"pointers": (6, 0), "ranges": [(0, N)] * 12, "held": [1999] * 12}, {"ranges": [(1, 1999)] * 12},
                  f"{COUNTED_FROM_0}; {START_0}; Section 6 holds 1999 samples of 12 leads whose Section 3 declares 2000:"
                  " read as far as they go"),
}


@pytest.mark.parametrize("case", sorted(VARIANTS))
def test_non_compliant_record_reads_as_the_compliant_one_of_the_same_samples(case: str, tmp_path: Path) -> None:
    options, compliant_options, note = VARIANTS[case]
    x = signal(12, 0, options.get("diff") == 2)
    variant = sw.scp_ecg(tmp_path / "v.scp", x, **options)
    compliant = sw.scp_ecg(tmp_path / "c.scp", x, **compliant_options)
    expected = outcome(clinical.open_with_ecgdatakit, RecordRef("c", compliant, "clinical"))
    assert not isinstance(expected, str) and outcome(clinical.open_clinical, RecordRef("c", compliant, "clinical")) == expected
    got = outcome(clinical.open_clinical, RecordRef("v", variant, "clinical"))
    assert got[0] == expected[0] and got[1] == expected[1] and got[3:] == expected[3:]
    assert got[2] == (*expected[2], ("scp_warnings", note))
    refused = outcome(clinical.open_with_ecgdatakit, RecordRef("v", variant, "clinical"))
    assert isinstance(refused, str)  # ecgdatakit refuses each variant


@pytest.mark.parametrize("case, options, message", [
    ("a Huffman coded lead shorter than declared", {"held": [1500] * 12, "huffman": "default", "diff": 2}, None),
    ("a lead start of 0 after its end", {"ranges": [(0, 0)] * 12}, None),
    ("pointers from 0, a CRC spoiled", {"pointers": (6, 0), "spoil_crc": 6},
     "SCP-ECG (Section 0's pointer to itself 6, not 7; ecgdatakit does not read such files): CRC mismatch in Section 6"),
    ("pointers from 0, the record cut", {"pointers": (6, 0), "cut": 3000},
     "SCP-ECG (Section 0's pointer to itself 6, not 7; ecgdatakit does not read such files): the record declares"),
])
def test_non_compliant_record_broken_otherwise_is_one_line(case: str, options: dict, message: str | None,
                                                           tmp_path: Path) -> None:
    """What else is wrong with such a record is one line: ecgdatakit's reason, or (for the pointer
    variant, which ecgdatakit does not take for SCP-ECG) the decoder's."""
    options = dict(options)
    cut = options.pop("cut", None)
    path = sw.scp_ecg(tmp_path / "v.scp", signal(12, 0, False), **options)
    if cut:
        path.write_bytes(path.read_bytes()[:cut])
    got = outcome(clinical.open_clinical, RecordRef("v", path, "clinical"))
    assert isinstance(got, str), case
    assert got.startswith(message) if message else got == outcome(clinical.open_with_ecgdatakit, RecordRef("v", path, "clinical"))


def _corrected(raw: bytes, lead_range: tuple[int | None, int | None]) -> bytes:
    """``raw`` with every Section 3 lead's first and/or last sample set (None: kept), CRCs made right."""
    at = _section_at(raw, 3) + 16
    out = bytearray(raw)
    for i in range(raw[at]):
        first, last = struct.unpack_from("<II", raw, at + 2 + 9 * i)
        struct.pack_into("<II", out, at + 2 + 9 * i, lead_range[0] or first, lead_range[1] or last)
    return sw.fix_crcs(bytes(out))


@pytest.mark.parametrize("name, lead_range, note", [
    ("ecgsoft_demo.scp", (1, None), "Section 3 numbers the samples of 8 of 8 leads from 0 (the standard: from 1): read from 1"),
    ("contec_0000050.ECG.scp", (None, 32767),
     "Section 6 holds 32767 samples of 12 leads whose Section 3 declares 37855: read as far as they go"),
])
def test_real_non_compliant_file_reads_as_ecgdatakit_reads_the_corrected_copy(name: str, lead_range: tuple, note: str,
                                                                             tmp_path: Path) -> None:
    real = RecordRef(name, SCP_REAL / name, "clinical")
    assert isinstance(outcome(clinical.open_with_ecgdatakit, real), str)  # ecgdatakit refuses the file as written
    fixed = tmp_path / name
    fixed.write_bytes(_corrected(real.path.read_bytes(), lead_range))
    expected = outcome(clinical.open_with_ecgdatakit, RecordRef(name, fixed, "clinical"))
    got = outcome(clinical.open_clinical, real)
    assert got[0] == expected[0] and got[1] == expected[1] and got[3:] == expected[3:]
    assert got[2] == (*expected[2], ("scp_warnings", note))


def test_contec_file_holds_the_first_samples_of_the_recording_its_edf_holds_whole() -> None:
    """The same Contec ECG90A recording as EDF (37855 samples a lead) and as SCP-ECG cut at 32767:
    the SCP-ECG leads are the first 32767 samples of the EDF's, up to the EDF's scaling."""
    scp_record = clinical.open_clinical(RecordRef("s", SCP_REAL / "contec_0000050.ECG.scp", "clinical"))
    edf = open_record(RecordRef("e", DATA / "real" / "clinical" / "edf" / "contec_0000050.ECG.edf", "edf"))
    assert scp_record.header.n_samples == 32767 and edf.header.n_samples == 37855
    a = scp_record.read(0, 32767, range(12)).astype(np.float64)
    b = edf.read(0, 32767, range(12)).astype(np.float64)
    scale, offset = np.polyfit(a[1], b[1], 1)  # lead II
    assert np.abs(a * scale + offset - b).max() < 1e-5 * np.abs(b).max() and np.ptp(a[1]) > 1


@pytest.mark.parametrize("name", ["healforce_62.SCP", "healforce_63.SCP"])
def test_real_pointer_variant_broken_otherwise_is_one_line(name: str) -> None:
    """A handheld device's files: pointers counted from 0, and a record size past the file (and more
    the decoder does not get to): one line naming both."""
    got = outcome(clinical.open_clinical, RecordRef(name, SCP_REAL / name, "clinical"))
    assert got == ("SCP-ECG (Section 0's pointer to itself 6, not 7; ecgdatakit does not read such files):"
                   " the record declares 1928331264 bytes but the file has 32768")


# ---------------------------------------------------------------- without ecgdatakit



def test_without_ecgdatakit_records_read_and_the_others_are_one_line_errors(tmp_path: Path) -> None:
    paths, expected = [], []
    for i, case in enumerate(("default", "default Huffman, second differences", "many tags, UTF-8 texts, time zone")):
        (tmp_path / str(i)).mkdir()
        path, _ = write(HANDLED[case][0], HANDLED[case][1], tmp_path / str(i))
        paths.append(path)
        expected.append(summary(clinical.open_with_ecgdatakit(RecordRef("r", path, "clinical"))))
    for name, options in (("crc", {"spoil_crc": 6}), ("sub", FALLBACK["reference beat subtraction"])):
        (tmp_path / name).mkdir()
        paths.append(write(options, 12, tmp_path / name)[0])
    (tmp_path / "cut").mkdir()
    cut = write({}, 12, tmp_path / "cut")[0]
    size = len(cut.read_bytes())
    cut.write_bytes(cut.read_bytes()[:5000])
    junk = tmp_path / "junk.scp"
    junk.write_bytes(b"SCP" * 100)
    lines = read_without_ecgdatakit([*paths, cut, junk])
    assert lines[:3] == expected
    extra = "needs ecgdatakit: pip install ecgspec[clinical]"
    assert lines[3].startswith("ERROR reading .scp files of this kind (CRC mismatch") and lines[3].endswith(extra)
    assert lines[4].startswith("ERROR reading .scp files of this kind (reference beat subtraction)")
    assert lines[5] == f"ERROR SCP-ECG: the record declares {size} bytes but the file has 5000"
    assert lines[6].startswith("ERROR reading .scp files of this kind (not an SCP-ECG record") and len(lines) == 7
