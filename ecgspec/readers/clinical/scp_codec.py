"""The codings of SCP-ECG (EN 1064) that :mod:`.scp` decodes: CRC-CCITT checksums, Huffman coded
lead data (Section 2's tables), and first or second differences, each with the result
ecgdatakit's ``scp_ecg`` parser gives (``Unhandled`` where that parser refuses a file, or where
this module does not decode a table it reads).

CRC-CCITT (polynomial 0x1021, initial value 0xFFFF, as ``binascii.crc_hqx``) of a long span is
folded first: the polynomial's period is 32767 bits, so shifting the register by 32767 bytes is
the identity, and the CRC of a message equals that of the XOR of its 32767-byte blocks (aligned
on its end, the initial value XORed into its first two bytes); a 120 kB lead section costs one
``crc_hqx`` of 32 kB. The record's CRC is put together from the sections' (a register shifted
over a span's length by tables of shifts by 2^k bytes), so that the record is read once.

Huffman codes are found in one of two ways: short codes (an ECG's second differences) by the
code starting at every bit, the next code's start from each, and jumps of 16 codes by doubling,
the chain of jumps then walked in Python (a 16th of the codes); long codes by a regular
expression of the table's code tree (one match a code, the walk done by the ``re`` engine) whose
match lengths give every code's start. Each value (base plus its signed extra bits) is taken from
the codes' 32-bit windows with NumPy. Decoded: the default table, and a file's own first table when it is a prefix code of
prefixes and extra bits of at most 16 bits each, without table-switch codes (anything else goes
to ecgdatakit).
"""

from __future__ import annotations

import binascii
import functools
import re
import struct
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .xml_common import Unhandled

PERIOD = 32767  # bytes after which a CRC-CCITT register shifted over zeros is back where it was
DEFAULT_HUFFMAN = 19999
_LEVELS = 4  # Huffman jump tables: 2^4 codes a jump chased in Python
_OFFSETS = 8 - np.arange(8, dtype=np.int64)  # a bit's 32-bit window within its byte's 40-bit one


# ---------------------------------------------------------------- CRC-CCITT

def crc(buf: memoryview, start: int, stop: int, init: int = 0xFFFF) -> int:
    """``binascii.crc_hqx(buf[start:stop], init)``, folded to at most 32767 bytes first."""
    n = stop - start
    if n <= PERIOD:
        return binascii.crc_hqx(buf[start:stop], init)
    k, head = divmod(n, PERIOD)
    rows = np.frombuffer(buf, np.uint8, k * PERIOD, start + head).reshape(k, PERIOD)
    fold = np.bitwise_xor.reduce(rows, axis=0)
    pad = PERIOD - head if head else 0
    if head:
        fold[pad:] ^= np.frombuffer(buf, np.uint8, head, start)
    fold[pad % PERIOD] ^= init >> 8
    fold[(pad + 1) % PERIOD] ^= init & 0xFF
    return binascii.crc_hqx(fold, 0)


@functools.cache
def _shift_tables() -> list[tuple[list[int], list[int]]]:
    """For k = 0..14, the high- and low-byte tables of a register shifted over 2^k zero bytes."""
    hi = [binascii.crc_hqx(b"\0", h << 8) for h in range(256)]
    lo = [binascii.crc_hqx(b"\0", v) for v in range(256)]
    tables = [(hi, lo)]
    for _ in range(14):  # shifting twice by 2^k bytes is shifting by 2^(k+1); the shift is linear
        h, low = tables[-1]
        tables.append(([h[v >> 8] ^ low[v & 0xFF] for v in h], [h[v >> 8] ^ low[v & 0xFF] for v in low]))
    return tables


def shift(register: int, n: int) -> int:
    """``binascii.crc_hqx(bytes(n), register)`` without the bytes: tables of 2^k-byte shifts."""
    n %= PERIOD
    k = 0
    tables = _shift_tables()
    while n:
        if n & 1:
            hi, lo = tables[k]
            register = hi[register >> 8] ^ lo[register & 0xFF]
        n >>= 1
        k += 1
    return register


def chain(register: int, span_crc: int, length: int) -> int:
    """The CRC of a span of ``length`` bytes from ``register``, given its CRC from 0xFFFF (linearity)."""
    return span_crc ^ shift(register ^ 0xFFFF, length)


# ---------------------------------------------------------------- Huffman tables


@dataclass(frozen=True)
class Table:
    """A Huffman table decoded here: a pattern matching one code (or a single bit where no code
    matches), and by entry (a sentinel last) its prefix bits, extra bits and base value."""

    pattern: re.Pattern
    width: int  # the longest prefix, bits
    lut: np.ndarray  # entry of each width-bit window (the sentinel where no prefix matches)
    length: np.ndarray  # prefix + extra bits, 0 for the sentinel
    shift: np.ndarray  # 32 - length
    mask: np.ndarray
    half: np.ndarray  # the sign bit of the extra bits (beyond any value where there are none)
    full: np.ndarray
    base: np.ndarray


def _build(codes: dict[str, tuple[int, int]]) -> Table:
    """The :class:`Table` of a prefix code: code string (first bit first) -> (extra bits, base value)."""
    width = max(map(len, codes))
    names = list(codes)
    lut = np.full(1 << width, len(names), np.int64)
    for i, code in enumerate(names):
        first = int(code, 2) << (width - len(code))
        lut[first:first + (1 << (width - len(code)))] = i
    extra = np.array([codes[c][0] for c in names] + [0], np.int64)
    length = np.array([len(c) for c in names] + [0], np.int64) + extra
    length[-1] = 0
    return Table(re.compile(_tree(codes, "") + "|[01]"), width, lut, length, 32 - length, (1 << extra) - 1,
                 np.where(extra > 0, 1 << np.maximum(extra - 1, 0), 1 << 40), 1 << extra,
                 np.array([codes[c][1] for c in names] + [0], np.int64))


def _tree(codes: dict[str, tuple[int, int]], prefix: str) -> str:
    """The regular expression of the codes below ``prefix`` (a prefix code: a trie, each bit read once)."""
    if prefix in codes:
        extra = codes[prefix][0]
        return f"[01]{{{extra}}}" if extra else ""
    parts = [bit + _tree(codes, prefix + bit) for bit in "01" if any(c.startswith(prefix + bit) for c in codes)]
    return parts[0] if len(parts) == 1 else "(?:" + "|".join(parts) + ")"


@functools.cache
def default_table() -> Table:
    """Annex C's default table: 0; 1^m 0 s for +-m (m <= 8); 1^9 0 and 8 bits; 1^10 and 16 bits."""
    codes = {"0": (0, 0)}
    for m in range(1, 9):
        codes["1" * m + "00"] = (0, m)
        codes["1" * m + "01"] = (0, -m)
    codes["1" * 9 + "0"] = (8, 0)
    codes["1" * 10] = (16, 0)
    return _build(codes)


def tables(body: bytes) -> Table:
    """Section 2's first table, after the checks ecgdatakit makes of every table; Unhandled for a
    table this module does not decode (malformed where ecgdatakit refuses the section)."""
    if len(body) < 2:
        raise Unhandled("SCP Section 2 is too short", True)
    count = struct.unpack_from("<H", body)[0]
    if count == DEFAULT_HUFFMAN:
        return default_table()
    if count == 0:
        raise Unhandled("SCP Section 2 declares no Huffman table", True)
    pos, first = 2, None
    for t in range(count):
        if pos + 2 > len(body) or pos + 2 + 9 * struct.unpack_from("<H", body, pos)[0] > len(body):
            raise Unhandled(f"SCP Section 2 truncated in Huffman table {t + 1}", True)
        n = struct.unpack_from("<H", body, pos)[0]
        codes = [struct.unpack_from("<BBBhI", body, pos + 2 + 9 * i) for i in range(n)]
        pos += 2 + 9 * n
        for prefix, total, *_ in codes:
            if not 1 <= min(prefix, total) <= 32:
                raise Unhandled(f"SCP Section 2: invalid Huffman prefix length {min(prefix, total)}", True)
        first = codes if first is None else first
    return _own_table(first)


def _own_table(entries: list[tuple[int, int, int, int, int]]) -> Table:
    """A file's first table as ecgdatakit keys it ((prefix bits, code): the last entry wins)."""
    keyed = {}
    for prefix, total, mode, value, stored in entries:
        prefix, total = min(prefix, total), max(prefix, total)
        code = format(stored & ((1 << prefix) - 1), f"0{prefix}b")[::-1]
        keyed[(prefix, code)] = (mode, total - prefix, value)
    if not keyed:
        raise Unhandled("a Huffman table without codes")
    if any(mode == 0 for mode, _, _ in keyed.values()):
        raise Unhandled("Huffman table switching")
    if max(p for p, _ in keyed) > 16 or max(extra for _, extra, _ in keyed.values()) > 16:
        raise Unhandled("Huffman codes of more than 16 prefix or extra bits")
    names = sorted(code for _, code in keyed)
    if any(b.startswith(a) for a, b in zip(names, names[1:])):
        raise Unhandled("a Huffman table that is not a prefix code")
    return _build({code: (extra, value) for (_, code), (_, extra, value) in keyed.items()})


def huffman(chunk: bytes, count: int, table: Table, walk: Callable | None = None) -> np.ndarray:
    """The first ``count`` values (int64) coded in ``chunk`` (bits first-to-last, MSB first);
    Unhandled (malformed) where ecgdatakit finds the data ending early or an invalid code. Short
    codes (at most 6 bits a code on average) are walked by jump tables, longer ones by the regex
    (``walk``: :func:`by_jumps` or :func:`by_regex`, for the tests)."""
    if count > 8 * len(chunk):
        raise Unhandled("SCP Huffman data end before the samples do", True)
    walk = walk or (by_jumps if 8 * len(chunk) <= 6 * count else by_regex)
    entry, window = walk(chunk, count, table)
    raw = (window >> table.shift[entry]) & table.mask[entry]
    return table.base[entry] + raw - (raw >= table.half[entry]) * table.full[entry]


def by_regex(chunk: bytes, count: int, table: Table) -> tuple[np.ndarray, np.ndarray]:
    """Each of the first ``count`` codes' table entry and 32-bit window: the code lengths from the
    regular expression's matches (one a code, or a lone bit where none matches), checked against the table."""
    nbits = 8 * len(chunk)
    bits = bin(int.from_bytes(chunk, "big") | (1 << nbits))[3:]
    found = table.pattern.findall(bits)
    if len(found) < count:
        raise Unhandled("SCP Huffman data end before the samples do", True)
    lengths = np.fromiter(map(len, found[:count]), np.int64, count)
    starts = np.cumsum(lengths) - lengths
    padded = np.frombuffer(chunk + b"\0\0\0\0\0", np.uint8).astype(np.int64)
    at = starts >> 3
    window = (padded[at] << 32) | (padded[at + 1] << 24) | (padded[at + 2] << 16) | (padded[at + 3] << 8) | padded[at + 4]
    window = (window >> (8 - (starts & 7))) & 0xFFFFFFFF
    entry = table.lut[window >> (32 - table.width)]
    if not np.array_equal(table.length[entry], lengths):
        raise Unhandled("SCP Huffman data hold an invalid code or end early", True)
    return entry, window


def by_jumps(chunk: bytes, count: int, table: Table) -> tuple[np.ndarray, np.ndarray]:
    """Each of the first ``count`` codes' table entry and 32-bit window: the code starting at every
    bit, the next code's start from each (a sink where no code fits), jumps of 16 codes by
    doubling, those chased in Python and the 15 codes between filled in by NumPy."""
    nbits = 8 * len(chunk)
    padded = np.frombuffer(chunk + b"\0\0\0\0", np.uint8).astype(np.int64)
    w40 = (padded[:-4] << 32) | (padded[1:-3] << 24) | (padded[2:-2] << 16) | (padded[3:-1] << 8) | padded[4:]
    window = ((w40[:, None] >> _OFFSETS) & 0xFFFFFFFF).ravel()
    entry = table.lut[window >> (32 - table.width)]
    sink = nbits + 1
    jump = np.arange(nbits + 2, dtype=np.int64)
    length = table.length[entry]
    jump[:nbits] += length
    jump[:nbits][(length == 0) | (jump[:nbits] > nbits)] = sink  # no code, or one running past the data
    jump[nbits:] = sink
    far = jump
    for _ in range(_LEVELS):
        far = far[far]
    starts = np.empty(-(-count // (1 << _LEVELS)), np.int64)
    pos = 0
    for i in range(len(starts)):
        starts[i] = pos
        pos = far.item(pos)
    rows = [starts]
    for _ in range((1 << _LEVELS) - 1):
        rows.append(jump[rows[-1]])
    at = np.stack(rows, axis=1).ravel()[:count]
    if jump[at[-1]] == sink:  # (the sink keeps whatever falls in it)
        raise Unhandled("SCP Huffman data hold an invalid code or end early", True)
    return entry[at], window[at]


# ---------------------------------------------------------------- differences


def undo_differences(values: np.ndarray, mode: int) -> np.ndarray:
    """Amplitudes from first (1) or second (2) differences, wrapped to int16 as ecgdatakit wraps them."""
    if mode == 0 or len(values) == 0:
        return values
    values = values.astype(np.int64, copy=False)
    if mode == 1:
        out = np.cumsum(values)
    elif len(values) < 3:
        out = values.copy()
    else:  # x[n] = d[n] + 2 x[n-1] - x[n-2], x[0] = d[0], x[1] = d[1]
        slope = np.empty(len(values) - 1, dtype=np.int64)
        slope[0] = values[1] - values[0]
        slope[1:] = slope[0] + np.cumsum(values[2:])
        out = np.concatenate(([values[0]], values[0] + np.cumsum(slope)))
    return out.astype(np.int16)
