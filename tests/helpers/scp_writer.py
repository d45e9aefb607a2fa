"""SCP-ECG (EN 1064 / ISO 11073-91064) records with known signals, written from the specification
for the reader tests and the readers benchmark (not a test module).

A record is the preamble (CRC-CCITT, record size) and Sections 0 (pointers), 1 (header tags),
2 (Huffman tables: the default table as the code 19999, or the record's own), 3 (lead
definitions), 4 (reference beat length and QRS locations, when the data are Huffman coded or
asked for), 5 (reference beats), 6 (rhythm data: amplitudes, first or second differences, int16
or Huffman coded) and any others given, each with its CRC. The options make the variants the
tests need: rates, amplitude multipliers, lead subsets and codes, per-lead sample ranges, tags
missing or added, the flags of bimodal compression and reference beat subtraction, spoiled CRCs.
"""

from __future__ import annotations

import binascii
import struct
from pathlib import Path

import numpy as np

LEADS12 = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
ACQUIRED = (2021, 3, 14, 10, 11, 12)
SCP_CODES = {"I": 1, "II": 2, "V1": 3, "V2": 4, "V3": 5, "V4": 6, "V5": 7, "V6": 8,
             "III": 61, "aVR": 62, "aVL": 63, "aVF": 64}
DEFAULT_HUFFMAN = 19999


def crc(data: bytes) -> int:
    """CRC-CCITT, polynomial 0x1021, initial value 0xFFFF (EN 1064 5.3.2)."""
    return binascii.crc_hqx(data, 0xFFFF)


def section(sid: int, body: bytes, version: int = 20, protocol: int = 20) -> bytes:
    """A section: CRC, ID, length, section and protocol versions, 6 reserved bytes; even length."""
    body += b"\0" * (len(body) % 2)
    reserved = b"SCPECG" if sid == 0 else b"\0" * 6
    rest = struct.pack("<HIBB", sid, 16 + len(body), version, protocol) + reserved + body
    return struct.pack("<H", crc(rest)) + rest


def tag(number: int, value: bytes) -> bytes:
    """A Section 1 tag: number, length, value."""
    return struct.pack("<BH", number, len(value)) + value


def default_tags() -> list[tuple[int, bytes]]:
    """Patient ID, sex, acquisition date and time (the tags every test record has)."""
    y, mo, d, h, mi, s = ACQUIRED
    return [(2, b"SCP-314\0"), (8, b"\x01"), (25, struct.pack("<HBB", y, mo, d)), (26, bytes([h, mi, s]))]


def device_id(manufacturer: bytes = b"", model: bytes = b"", code: int = 0, language: int = 0, protocol: int = 20,
              strings: tuple[bytes, ...] = ()) -> bytes:
    """Tag 14/15's machine ID: numbers, type, manufacturer code, model, protocol, language, and the
    strings after byte 36 (analysis program, serial number, software, SCP implementation, manufacturer)."""
    head = struct.pack("<HHHBB", 7, 3, 42, 0, code) + model[:6].ljust(6, b"\0")
    head += bytes([protocol, 0, language, 0, 1]) + b"\0" * 17
    texts = [*strings[:4], *[b""] * (4 - len(strings[:4]))]
    return head + b"\0".join([*texts, manufacturer]) + b"\0"


# ---------------------------------------------------------------- Huffman coding

def default_table() -> list[tuple[int, int, int, int, str]]:
    """The default table of Annex C as (prefix bits, total bits, mode, value, prefix code MSB first)."""
    codes = [(1, 1, 1, 0, "0")]
    for m in range(1, 9):
        codes += [(m + 2, m + 2, 1, m, "1" * m + "00"), (m + 2, m + 2, 1, -m, "1" * m + "01")]
    return codes + [(10, 18, 1, 0, "1" * 9 + "0"), (10, 26, 1, 0, "1" * 10)]


def _code(value: int, table: list[tuple[int, int, int, int, str]]) -> str:
    """The shortest bit string that codes ``value`` in ``table``'s data codes."""
    for prefix, total, mode, base, code in sorted(table, key=lambda c: c[1]):
        extra = total - prefix
        if mode == 0 or not (value == base if extra == 0 else -(1 << (extra - 1)) <= value - base < 1 << (extra - 1)):
            continue
        return code + (format((value - base) & ((1 << extra) - 1), f"0{extra}b") if extra else "")
    raise ValueError(f"{value} has no code in the table")


def huffman_bytes(values: np.ndarray, table: list[tuple[int, int, int, int, str]]) -> bytes:
    """``values`` coded by ``table``, bits MSB first, the last byte padded with zeros."""
    codes: dict[int, str] = {}
    bits = "".join(codes.get(v) or codes.setdefault(v, _code(v, table)) for v in map(int, values))
    bits += "0" * (-len(bits) % 8)
    return int(bits, 2).to_bytes(len(bits) // 8, "big") if bits else b""


def table_section(tables: list[list[tuple[int, int, int, int, str]]] | None) -> bytes:
    """Section 2: the default table's code, or each table's codes with the prefix stored bit-reversed."""
    if tables is None:
        return section(2, struct.pack("<H", DEFAULT_HUFFMAN))
    body = struct.pack("<H", len(tables))
    for table in tables:
        body += struct.pack("<H", len(table))
        for prefix, total, mode, value, code in table:
            body += struct.pack("<BBBhI", prefix, total, mode, value, int(code[::-1], 2))
    return section(2, body)


# ---------------------------------------------------------------- leads

def differences(x: np.ndarray, mode: int) -> np.ndarray:
    """Amplitudes (0), first (1) or second (2) differences of one lead, first values kept, wrapped to
    16 bits as an encoder with int16 arithmetic keeps them (decoders wrap the sums back; int64 out)."""
    x = x.astype(np.int64)
    if mode == 0:
        return x
    d = x.copy()
    if mode == 1:
        d[1:] = x[1:] - x[:-1]
    else:
        d[2:] = x[2:] - 2 * x[1:-1] + x[:-2]
    return d.astype(np.int16).astype(np.int64)


def leads_section(sid: int, leads: list[np.ndarray], fs: int, avm_nv: int, diff: int = 0,
                  table: list | None = None, flag: int = 0, version: int = 20) -> bytes:
    """Section 5 or 6: AVM, sample interval, encoding, flag byte, lead byte counts, lead data."""
    data = []
    for lead in leads:
        d = differences(lead, diff)
        data.append(huffman_bytes(d, table) if table is not None else d.astype("<i2").tobytes())
    head = struct.pack("<HHBB", avm_nv, round(1_000_000 / fs), diff, flag) + struct.pack(f"<{len(data)}H", *map(len, data))
    return section(sid, head + b"".join(data), version)


def scp_ecg(path: Path, x: np.ndarray, fs: int = 500, avm_nv: int = 5000, *, codes: list[int] | None = None,
            ranges: list[tuple[int, int]] | None = None, diff: int = 0, huffman: str | list | None = None,
            tags: list[tuple[int, bytes]] | None = None, more_tags: list[tuple[int, bytes]] = (),
            header: bool = True, median: bool = True, reference: tuple | bool | None = None,
            lead_flags: int | None = None, flag: int = 0, protocol: int = 20,
            sections: dict[int, bytes] | None = None, spoil_crc: int | None = None,
            held: list[int] | None = None, pointers: tuple[int, int] = (7, 1)) -> Path:
    """An SCP-ECG record of the leads ``x`` (int16 amplitudes of ``avm_nv`` nV at ``fs`` Hz).

    ``codes``: Section 3 lead codes (default: the standard 12 leads' in order); ``ranges``: each
    lead's (first, last) sample number, the lead holding x[i, :last - first + 1]; ``diff``: 0, 1 or 2;
    ``huffman``: None (int16), ``"default"`` (Section 2 says 19999) or a list of own tables
    (:func:`default_table`'s layout); ``tags`` replaces :func:`default_tags`, ``more_tags`` are
    added before the terminator (tag 255); ``header``: Section 1 at all; ``median``: Section 5;
    ``reference``: Section 4 as (reference beat ms, fiducial, [(type, start, fiducial, end), ...]),
    False for none, None for (500, 200, []) where the reference beats are Huffman coded (their
    length is needed); ``lead_flags``: Section 3's flag byte; ``flag``: Section 6's byte 6 (bimodal up to
    version 2.x); ``protocol``: every section's protocol version; ``sections``: other section
    bodies by ID; ``spoil_crc``: the section whose CRC is written wrong (-1: the record's).
    Records that do not follow the standard as some writers' do not: ``ranges`` with a first
    sample of 0; ``held``: each lead's samples in Section 6, fewer than its range declares;
    ``pointers``: (Section 0's pointer to itself, the byte the others count from), not (7, 1).
    """
    codes = codes or [SCP_CODES[name] for name in LEADS12[: len(x)]]
    ranges = ranges or [(1, x.shape[1])] * len(x)
    leads = [x[i, : last - first + 1] for i, (first, last) in enumerate(ranges)]
    leads = leads if held is None else [lead[:n] for lead, n in zip(leads, held)]
    table = None if huffman is None else default_table() if huffman == "default" else huffman[0]
    t = tags if tags is not None else default_tags()
    s1 = section(1, b"".join(tag(n, v) for n, v in [*t, *more_tags]) + tag(255, b""), protocol=protocol)
    flags = lead_flags if lead_flags is not None else 0x04 | (len(x) << 3) & 0xF8
    s3 = section(3, bytes([len(x), flags]) + b"".join(struct.pack("<IIB", a, b, c) for (a, b), c in zip(ranges, codes)),
                 protocol=protocol)
    found = {1: s1, 3: s3} if header else {3: s3}
    if huffman is not None:
        found[2] = table_section(None if huffman == "default" else huffman)
    if median:
        found[5] = leads_section(5, [lead[: fs // 2] // 5 for lead in x], fs, avm_nv, diff, table)
    if reference is None and median and huffman is not None:
        reference = (500, 200, [])
    if reference:
        ms, fiducial, qrs = reference
        found[4] = section(4, struct.pack("<HHH", ms, fiducial, len(qrs))
                           + b"".join(struct.pack("<HIII", *q) for q in qrs), protocol=protocol)
    found[6] = leads_section(6, leads, fs, avm_nv, diff, table, flag)
    found.update({sid: section(sid, body, protocol=protocol) for sid, body in (sections or {}).items()})
    if spoil_crc in found:
        found[spoil_crc] = bytes([found[spoil_crc][0] ^ 0x55]) + found[spoil_crc][1:]
    return write_record(path, found, protocol, spoil_crc == -1, pointers)


def write_record(path: Path, found: dict[int, bytes], protocol: int = 20, spoil: bool = False,
                 counting: tuple[int, int] = (7, 1)) -> Path:
    """The preamble, Section 0 pointing at ``found``'s sections (IDs 0-11 and any others) in ID order,
    and them; ``counting``: Section 0's pointer to itself and the byte the others count from."""
    ids = sorted(set(range(12)) | set(found))
    own, base = counting
    start = 6 + 16 + len(ids) * 10 + base  # the index of the byte after Section 0, counted from ``base``
    pointers, offset, blob = [struct.pack("<HII", 0, 16 + len(ids) * 10, own)], start, b""
    for sid in ids[1:]:
        body = found.get(sid, b"")
        pointers.append(struct.pack("<HII", sid, len(body), offset if body else 0))
        offset, blob = offset + len(body), blob + body
    record = section(0, b"".join(pointers), protocol=protocol) + blob
    rest = struct.pack("<I", 6 + len(record)) + record
    path.write_bytes(struct.pack("<H", crc(rest) ^ (0x5555 if spoil else 0)) + rest)
    return path


def fix_crcs(raw: bytes) -> bytes:
    """``raw`` with the CRCs of the sections its Section 0 points at (IDs 0-11, those that lie in
    the record) and the record's CRC recomputed: a spoiled structure its checksums do not give away."""
    out = bytearray(raw)
    if len(out) < 22:
        return raw
    sec0 = struct.unpack_from("<I", out, 10)[0]
    spans = [(6, sec0)]
    for pos in range(22, min(6 + sec0, len(out)) - 9, 10):
        sid, length, index = struct.unpack_from("<HII", out, pos)
        if sid and 0 < sid < 12 and index and length >= 2:
            spans.append((index - 1, length))
    for offset, length in spans[1:] + spans[:1]:  # Section 0 last: its pointers stay as they are
        if 2 <= length and offset + length <= len(out):
            out[offset:offset + 2] = struct.pack("<H", crc(bytes(out[offset + 2:offset + length])))
    size = min(struct.unpack_from("<I", out, 2)[0], len(out))
    if size >= 2:
        out[0:2] = struct.pack("<H", crc(bytes(out[2:size])))
    return bytes(out)
