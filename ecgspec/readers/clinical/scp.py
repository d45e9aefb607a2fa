"""SCP-ECG (``.scp``, EN 1064 / ISO 11073-91064) decoded by ecgspec, equal to ecgdatakit's reading.

The record is Section 6's rhythm data: each lead (Section 3's sample range and lead code, named
as ecgdatakit names it) int16 or Huffman coded (:mod:`.scp_codec`: the default table, or the
file's own first table when it is a prefix code without table switching), amplitudes or first
or second differences (wrapped to 16 bits), times the amplitude multiplier in nV, in mV, at
1,000,000 / the sample interval Hz (rounded); the acquisition time and the patient, device and
filter fields of Section 1 (:mod:`.scp_tags`). The file is told as ecgdatakit tells it (its SCP
detection, after the DICOM, ISHNE and EDF ones), and checked as ecgdatakit checks it: the
pointers and section headers, every CRC (the record's and those of Sections 0-11), Sections 2,
3 and 4, the reference beats of Section 5 (decoded, as ecgdatakit decodes them, then dropped),
and the structure of Sections 7, 8, 10 and 11, which ecgdatakit reads into fields ``meta`` does
not hold. Found, opened and read, the readers benchmark's record (12 x 5000 int16 amplitudes)
takes about 0.5 ms, about WFDB's time for the same samples (ecgdatakit: 2 ms, 0.8 ms of it two
CRC passes); the same samples Huffman coded take about 7 ms as an ECG's second differences (3.5
bits a code) and 20-30 ms at 9-24 bits a code, 5-8 times less than ecgdatakit's bit-by-bit walk.

Read although ecgdatakit refuses them, each noted in ``meta`` (``scp_warnings``): a Section 3
lead whose first sample is 0 (read as 1); an int16 Section 6 lead holding fewer samples than
Section 3 declares (read as far as it goes); Section 0 pointing to itself at 6, not 7 (the other
pointers counted from 0 where the sections lie there, else from 1), which ecgdatakit does not
take for SCP-ECG, so that what else this module finds wrong in such a file is a RecordError.

Left to ecgdatakit (:class:`.xml_common.Unhandled`, then :func:`ecgspec.readers.clinical._fallback`):
reference beat subtraction (Section 3's flag bit 0), bimodal compression (Section 6 byte 6
before protocol version 3.0), Huffman tables with table-switch codes, codes that are not a
prefix code or of prefixes or extra bits over 16 bits, SCP-ECG v3's long-term rhythm data
(Section 12), every file on which ecgdatakit warns (a CRC mismatch, section lengths that differ
between Section 0 and the section's header, Section 1 tag lengths it re-reads with the
standard's fixed sizes, truncated QRS locations, an amplitude multiplier of 0, reference beats
it skips), a file another ecgdatakit parser claims first, and every file this module finds
broken, which ecgdatakit then refuses with its reason (or, without the ``clinical`` extra, the
one-line reason found here).
"""

from __future__ import annotations

import struct
from datetime import timedelta
from typing import Callable

import numpy as np

from ...errors import RecordError
from ..base import SCP_WARNINGS
from . import scp_codec, scp_tags
from .ecgdatakit_facts import clinical_name, lead_label, unique_labels
from .xml_common import Decoded, Unhandled, leads_to_mv

FORMAT = "SCP-ECG"
SNIFF = 4096
_LEAD_NAMES = (
    "Unspecified", "I", "II", "V1", "V2", "V3", "V4", "V5", "V6", "V7",
    "V2R", "V3R", "V4R", "V5R", "V6R", "V7R", "X", "Y", "Z", "CC5",
    "CM5", "LA", "RA", "LL", "fI", "fE", "fC", "fA", "fM", "fF",
    "fH", "I-cal", "II-cal", "V1-cal", "V2-cal", "V3-cal", "V4-cal", "V5-cal", "V6-cal", "V7-cal",
    "V2R-cal", "V3R-cal", "V4R-cal", "V5R-cal", "V6R-cal", "V7R-cal", "X-cal", "Y-cal", "Z-cal", "CC5-cal",
    "CM5-cal", "LA-cal", "RA-cal", "LL-cal", "fI-cal", "fE-cal", "fC-cal", "fA-cal", "fM-cal", "fF-cal",
    "fH-cal", "III", "aVR", "aVL", "aVF", "-aVR", "V8", "V9", "V8R", "V9R",
    "D", "A", "J", "Defib", "ExtPace", "A1", "A2", "A3", "A4", "V8-cal",
    "V9-cal", "V8R-cal", "V9R-cal", "D-cal", "A-cal", "J-cal",
)  # ecgdatakit's Section 3 lead codes


def _broken(reason: str) -> Unhandled:
    return Unhandled(f"SCP-ECG: {reason}", True)


def is_scp(head: bytes) -> bool:
    """Whether ecgdatakit hands a file starting with ``head`` to its SCP-ECG parser: its
    ``can_parse``, and none of the DICOM, ISHNE and EDF/BDF detections it tries first."""
    if head[128:132] == b"DICM" and len(head) >= 132 or head[:8] in (b"ISHNE1.0", b"\xffBIOSEMI", b"0       "):
        return False  # (an EDF header that ecgdatakit's EDF detection refuses is not SCP either: its size field)
    if len(head) < 32:
        return False
    size, _, sid, length = struct.unpack_from("<IHHI", head, 2)
    if sid != 0 or length < 26 or (length - 16) % 10 or size < 6 + length:
        return False
    return struct.unpack_from("<H", head, 22)[0] == 0 and struct.unpack_from("<I", head, 28)[0] == 7


def counts_from_zero(head: bytes) -> bool:
    """Whether a file starting with ``head`` is an SCP-ECG record but for Section 0's pointer to
    itself, 6 where the standard says 7 (a handheld device's files; ecgdatakit: not SCP-ECG)."""
    return len(head) >= 32 and struct.unpack_from("<I", head, 28)[0] == 6 and is_scp(
        head[:28] + struct.pack("<I", 7) + head[32:])


def decode(raw: bytes, meta_pairs: Callable[..., tuple[tuple[str, str], ...]]) -> Decoded:
    """The rhythm leads of an SCP-ECG record, header fields as ``meta_pairs`` orders them, what it
    departs from the standard in noted (``scp_warnings``); Unhandled otherwise. A record whose
    Section 0 points to itself at 6 is no SCP-ECG to ecgdatakit: what this module cannot read of
    it is a RecordError with the reason found here."""
    if is_scp(raw[:SNIFF]):
        return _decode(raw, meta_pairs, None)
    if not counts_from_zero(raw[:SNIFF]):
        raise Unhandled("not an SCP-ECG record (ecgdatakit decides what it is)")
    try:
        return _decode(raw, meta_pairs, 6)
    except Unhandled as exc:
        reason = str(exc).removeprefix("SCP-ECG: ").removesuffix(" (ecgdatakit warns)")
        raise RecordError(f"SCP-ECG (Section 0's pointer to itself 6, not 7; ecgdatakit does not read such files):"
                          f" {reason}") from None


def _decode(raw: bytes, meta_pairs: Callable[..., tuple[tuple[str, str], ...]], own_pointer: int | None) -> Decoded:
    """:func:`decode` of a record whose Section 0 points to itself at ``own_pointer`` (None: 7, as the standard says)."""
    notes: list[str] = []
    size = struct.unpack_from("<I", raw, 2)[0]
    if size > len(raw):
        raise _broken(f"the record declares {size} bytes but the file has {len(raw)}")
    buf = memoryview(raw)[:size]
    sections = _pointers(buf, 1 if own_pointer is None else _pointer_base(buf, notes))
    _check_crcs(buf, sections)
    body = {sid: bytes(buf[off + 16:off + length]) for sid, (off, length) in sections.items() if 0 < sid < 12 and sid != 6}
    protocol = buf[15]
    if 6 not in sections:
        raise _broken("Section 6 (rhythm data) is missing")
    if 3 not in sections:
        raise _broken("Section 3 (lead definition) is missing")
    table = scp_codec.tables(body[2]) if 2 in body else None
    leads, flags = _leads(body[3], notes)
    if flags & 0x01:
        raise Unhandled("reference beat subtraction")
    ref_ms = _reference_length(body.get(4))
    patient, recording, device, filters, start, tag_protocol = scp_tags.read(body[1]) if 1 in body else (
        {}, {}, {}, {}, None, 0)
    protocol = protocol or tag_protocol
    if 5 in body:
        _check_medians(body[5], leads, table, ref_ms)
    off, length = sections[6]
    rate, avm, counts = _rhythm(buf[off + 16:off + length], leads, table, protocol, notes)
    _check_others(body)
    if protocol >= 30 and 12 in sections:
        raise Unhandled("SCP-ECG v3 long-term rhythm data (Section 12, ecgdatakit warns)")
    names = unique_labels([lead_label(_LEAD_NAMES[code]) if code < len(_LEAD_NAMES) else f"Lead{code}"
                           for _, _, code in leads])
    longest = max(range(len(counts)), key=lambda i: len(counts[i]))
    recording = {**recording, "duration_seconds": timedelta(seconds=len(counts[longest]) / rate).total_seconds()}
    meta = meta_pairs(FORMAT, patient, recording, device, filters) + (((SCP_WARNINGS, "; ".join(notes)),) if notes else ())
    return Decoded([clinical_name(n) for n in names], leads_to_mv(counts, [(avm / 1000.0, "uV", 0.0)] * len(counts)),
                   [float(rate)] * len(counts), ["mV"] * len(counts), start.isoformat() if start else "", meta)


def _pointer_base(buf: memoryview, notes: list[str]) -> int:
    """The byte Section 0's pointers count from in a record whose pointer to Section 0 is 6: 0 where
    the first other section they point to starts at its pointer counted from 0 (a writer that counts
    every pointer from 0), else 1 (the standard's, Section 0's own pointer alone off by one)."""
    length = struct.unpack_from("<I", buf, 10)[0]
    for pos in range(32, min(6 + length, len(buf)) - 9, 10):
        sid, size, index = struct.unpack_from("<HII", buf, pos)
        if 0 < sid < 12 and size >= 16 and index + 4 <= len(buf):
            if struct.unpack_from("<H", buf, index + 2)[0] == sid:
                notes.append("Section 0's pointers count bytes from 0 (Section 0 at 6; the standard: from 1, at 7)")
                return 0
            break
    notes.append("Section 0 points to itself at 6 (the standard: 7)")
    return 1


def _pointers(buf: memoryview, base: int = 1) -> dict[int, tuple[int, int]]:
    """Section ID -> (offset, length) as ecgdatakit reads Section 0 (a later pointer to an ID wins);
    ``base``: the byte the pointers count from (the standard's 1)."""
    sid, length = struct.unpack_from("<HI", buf, 8)
    if sid != 0:
        raise _broken(f"expected Section 0 at byte 7, found section {sid}")
    if length < 16 or 6 + length > len(buf):
        raise _broken(f"invalid Section 0 length {length}")
    sections = {0: (6, length)}
    for pos in range(22, 6 + length - 9, 10):
        sid, size, index = struct.unpack_from("<HII", buf, pos)
        if sid == 0 or size == 0:
            continue
        if index < base or index - base + size > len(buf):
            raise _broken(f"Section {sid} lies outside the record")
        offset = index - base
        if sid > 11:
            sections[sid] = (offset, size)  # manufacturer sections: not checked, not read
            continue
        if size < 16:
            raise _broken(f"Section {sid} is shorter than its header")
        header_id, header_size = struct.unpack_from("<HI", buf, offset + 2)
        if header_id != sid:
            raise _broken(f"Section 0 points to section {sid} but the header says {header_id}")
        if header_size != size:
            raise Unhandled(f"Section {sid}'s lengths differ (ecgdatakit warns)")
        sections[sid] = (offset, size)
    return sections


def _check_crcs(buf: memoryview, sections: dict[int, tuple[int, int]]) -> None:
    """Unhandled (ecgdatakit warns) unless the record's CRC and those of Sections 0-11 hold. The
    record's is chained from the sections' where they follow each other; computed where not."""
    register, pos, whole = scp_codec.crc(buf, 2, 6), 6, True
    for sid, (off, length) in sorted(sections.items(), key=lambda item: item[1]):
        if sid > 11:
            continue
        own = scp_codec.crc(buf, off + 2, off + length)
        if own != struct.unpack_from("<H", buf, off)[0]:
            raise Unhandled(f"CRC mismatch in Section {sid} (ecgdatakit warns)")
        if whole and off >= pos:
            register = scp_codec.crc(buf, pos, off + 2, register)
            register, pos = scp_codec.chain(register, own, length - 2), off + length
        else:
            whole = False
    register = scp_codec.crc(buf, pos, len(buf), register) if whole else scp_codec.crc(buf, 2, len(buf))
    if register != struct.unpack_from("<H", buf, 0)[0]:
        raise Unhandled("CRC mismatch in the record (ecgdatakit warns)")


def _leads(body: bytes, notes: list[str]) -> tuple[list[tuple[int, int, int]], int]:
    """Section 3: each lead's (first sample, last sample, code), and the flag byte. A first sample of
    0 (a writer counting from 0; the standard counts from 1) is read as 1, and noted."""
    if len(body) < 2:
        raise _broken("Section 3 is too short")
    count, flags = body[0], body[1]
    if count == 0:
        raise _broken("Section 3 defines no leads")
    if 2 + 9 * count > len(body):
        raise _broken(f"Section 3 declares {count} leads but holds {(len(body) - 2) // 9}")
    leads = [struct.unpack_from("<IIB", body, 2 + 9 * i) for i in range(count)]
    if any(first == 0 for first, _, _ in leads):
        zero = sum(first == 0 for first, _, _ in leads)
        notes.append(f"Section 3 numbers the samples of {zero} of {count} leads from 0 (the standard: from 1): read from 1")
        leads = [(first or 1, last, code) for first, last, code in leads]
    if any(last < first for first, last, _ in leads):
        raise _broken("a lead has an invalid sample range")
    return leads, flags


def _reference_length(body: bytes | None) -> int:
    """Section 4's reference beat length in ms (0 without the section), its QRS locations checked."""
    if body is None:
        return 0
    if len(body) < 6:
        raise _broken("Section 4 is too short")
    length, _, qrs = struct.unpack_from("<HHH", body)
    if 6 + 14 * qrs > len(body):
        raise Unhandled("Section 4's QRS locations are truncated (ecgdatakit warns)")
    return length


def _lead_data(body: memoryview | bytes, n_leads: int, what: str) -> tuple[int, int, int, int, list]:
    """Section 5 or 6's AVM, sample interval, difference mode, byte 6 and each lead's bytes."""
    if len(body) < 6 + 2 * n_leads:
        raise _broken(f"{what} is too short")
    avm, interval, diff, flag = struct.unpack_from("<HHBB", body)
    if diff not in (0, 1, 2):
        raise _broken(f"{what} has unknown difference encoding {diff}")
    sizes = struct.unpack_from(f"<{n_leads}H", body, 6)
    pos = 6 + 2 * n_leads
    if pos + sum(sizes) > len(body):
        raise _broken(f"{what} lead data exceed the section")
    chunks = []
    for size in sizes:
        chunks.append(body[pos:pos + size])
        pos += size
    return avm, interval, diff, flag, chunks


def _values(chunks: list, counts: list[int], table: scp_codec.Table | None, diff: int,
            notes: list[str] | None = None) -> list[np.ndarray]:
    """Each lead's amplitudes: int16 (or Huffman coded) values, differences undone. With ``notes``,
    int16 leads that hold fewer samples than ``counts`` says are read as far as they go, and noted."""
    out, short = [], []
    for chunk, count in zip(chunks, counts):
        if table is not None:
            values = scp_codec.huffman(bytes(chunk), count, table)
        elif 2 * count > len(chunk):
            if notes is None or len(chunk) < 2:
                raise _broken(f"a lead holds {len(chunk) // 2} samples, expected {count}")
            values = np.frombuffer(chunk, "<i2", len(chunk) // 2)
            short.append((len(values), count))
        else:
            values = np.frombuffer(chunk, "<i2", count)
        out.append(scp_codec.undo_differences(values, diff))
    for held, declared in sorted(set(short)):
        notes.append(f"Section 6 holds {held} samples of {short.count((held, declared))} leads whose Section 3"  # type: ignore[union-attr]
                     f" declares {declared}: read as far as they go")
    return out


def _check_medians(body: bytes, leads: list, table: scp_codec.Table | None, ref_ms: int) -> None:
    """Section 5's reference beats decoded as ecgdatakit decodes them (and dropped)."""
    if len(body) < 6:
        raise _broken("Section 5 is too short")
    interval = struct.unpack_from("<H", body, 2)[0]
    if interval == 0:
        raise _broken("Section 5 sample interval is 0")
    avm, _, diff, _, chunks = _lead_data(body, len(leads), "Section 5")
    if ref_ms:
        n = round(ref_ms * 1000 / interval)
        if n < 1:
            raise Unhandled("a reference beat shorter than one sample (ecgdatakit warns)")
        counts = [n] * len(leads)
    elif table is not None:
        raise Unhandled("Huffman coded reference beats without their length (ecgdatakit warns)")
    else:
        counts = [len(chunk) // 2 for chunk in chunks]
    _values(chunks, counts, table, diff)
    if avm == 0:
        raise Unhandled("Section 5's amplitude multiplier is 0 (ecgdatakit warns)")


def _rhythm(body: memoryview, leads: list, table: scp_codec.Table | None, protocol: int,
            notes: list[str]) -> tuple[int, int, list]:
    """Section 6: the rate, the amplitude multiplier (nV) and each lead's amplitudes (as far as
    they go, noted, where they hold fewer samples than Section 3 declares)."""
    if len(body) < 6:
        raise _broken("Section 6 is too short")
    interval = struct.unpack_from("<H", body, 2)[0]
    if interval == 0:
        raise _broken("Section 6 sample interval is 0")
    if body[5] and protocol < 30:
        raise Unhandled("bimodal compression")
    avm, _, diff, _, chunks = _lead_data(body, len(leads), "Section 6")
    counts = _values(chunks, [last - first + 1 for first, last, _ in leads], table, diff, notes)
    if avm == 0:
        raise Unhandled("Section 6's amplitude multiplier is 0 (ecgdatakit warns)")
    return round(1_000_000 / interval), avm, counts


def _check_others(body: dict[int, bytes]) -> None:
    """The checks ecgdatakit's reading of Sections 7, 8, 10 and 11 makes (their fields are not in ``meta``)."""
    if 7 in body:
        s7 = body[7]
        if len(s7) < 6 or 6 + 16 * s7[0] + 10 * s7[1] > len(s7):
            raise _broken("Section 7 is too short or its measurement blocks are truncated")
    if 10 in body:
        s10 = body[10]
        if len(s10) < 4:
            raise _broken("Section 10 is too short")
        count = struct.unpack_from("<H", s10)[0]
        if not (_blocks_fit(s10, count, False) or _blocks_fit(s10, count, True)):
            raise _broken("Section 10 is truncated")
    for sid in (8, 11):
        if sid in body and not _statements_fit(body[sid]):
            raise _broken(f"Section {sid} is too short or its statements are truncated")


def _blocks_fit(body: bytes, count: int, with_header: bool) -> bool:
    """Whether Section 10's ``count`` lead blocks fit (block lengths with or without their 4-byte header)."""
    pos = 4
    for _ in range(count):
        if pos + 4 > len(body):
            return False
        size = struct.unpack_from("<H", body, pos + 2)[0] - (4 if with_header else 0)
        if size < 0 or pos + 4 + size > len(body):
            return False
        pos += 4 + size
    return True


def _statements_fit(body: bytes) -> bool:
    """Whether Section 8 or 11's statements fit in it."""
    if len(body) < 9:
        return False
    pos = 9
    for _ in range(body[8]):
        if pos + 3 > len(body):
            return False
        size = struct.unpack_from("<H", body, pos + 1)[0]
        if pos + 3 + size > len(body):
            return False
        pos += 3 + size
    return True
