"""WFDB header parsing without importing wfdb (which brings pandas): single-segment headers into
:class:`WfdbHeader`, multi-segment (master) headers into :class:`MasterHeader`.

The line patterns and text handling are copied from wfdb-python 4.3 (``wfdb/io/header.py``,
MIT licence, (c) MIT Laboratory for Computational Physiology) so that this parser accepts exactly
the headers ``wfdb.rdheader`` accepts and gives the same values, but for the record lines whole
PhysioNet datasets wrote in their own way (:mod:`.record_line`), read for what they say and
noted; tests/readers/test_wfdb_decoder.py checks that on randomly mutated real headers.
"""

from __future__ import annotations

import datetime
import functools
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, TypeVar

from ..base import comment_meta, iso_datetime  # noqa: F401 - comment_meta: WFDB comments' fields
from .record_line import RX_RECORD, record_line, strpdate, strptime

# Signal line: FILE_NAME FORMATxSAMP_PER_FRAME:SKEW+BYTE_OFFSET ADC_GAIN(BASELINE)/UNITS ADC_RES ADC_ZERO
# CHECKSUM BLOCK_SIZE DESCRIPTION (wfdb.io.header.rx_signal)
RX_SIGNAL = re.compile(
    r"""
    [ \t]* (?P<file_name>~?[-\w]*\.?[\w]*)
    [ \t]+ (?P<fmt>\d+)
           x?(?P<samps_per_frame>\d*)
           :?(?P<skew>\d*)
           \+?(?P<byte_offset>\d*)
    [ \t]* (?P<adc_gain>-?\d*\.?\d*e?[\+-]?\d*)
           \(?(?P<baseline>-?\d*)\)?
           /?(?P<units>[\w\^\-\?%\/]*)
    [ \t]* (?P<adc_res>\d*)
    [ \t]* (?P<adc_zero>-?\d*)
    [ \t]* (?P<init_value>-?\d*)
    [ \t]* (?P<checksum>-?\d*)
    [ \t]* (?P<block_size>\d*)
    [ \t]* (?P<sig_name>[\S]?[^\t\n\r\f\v]*)
    """,
    re.VERBOSE,
)
# Segment line: SEGMENT_NAME SAMPS_IN_SEG (wfdb.io.header.rx_segment)
RX_SEGMENT = re.compile(r"[ \t]* (?P<seg_name>[-\w]*~?) [ \t]+ (?P<seg_len>\d+)", re.VERBOSE)


@dataclass(frozen=True)
class WfdbHeader:
    """The fields of a single-segment WFDB header, named, typed and defaulted as ``wfdb.rdheader`` gives
    them on its ``Record``: a missing rate is 250, a missing or zero gain 200, a missing baseline the
    ADC zero (else 0), a missing samples-per-frame 1, and other missing fields None. Signal fields
    are lists with one item per signal line."""

    fs: float
    n_sig: int
    sig_len: int | None
    base_time: datetime.time | None
    base_date: datetime.date | None
    file_name: list[str]
    fmt: list[str]
    samps_per_frame: list[int]
    skew: list[int | None]
    byte_offset: list[int | None]
    adc_gain: list[float]
    baseline: list[int]
    units: list[str]
    adc_res: list[int | None]
    adc_zero: list[int | None]
    init_value: list[int | None]
    checksum: list[int | None]
    block_size: list[int | None]
    sig_name: list[str | None]
    warnings: tuple[str, ...] = ()  # the record line's departures from the format, read all the same (.record_line)


@dataclass(frozen=True)
class MasterHeader:
    """A multi-segment WFDB header: the record line's fields and one (name, length) per segment line.
    Variable layout when the first segment has length 0 (it is then the ``_layout`` header)."""

    fs: float
    n_sig: int
    sig_len: int | None
    seg_name: list[str]
    seg_len: list[int]
    base_time: datetime.time | None = None
    base_date: datetime.date | None = None
    warnings: tuple[str, ...] = ()  # as WfdbHeader's

    @property
    def layout(self) -> str:
        return "variable" if self.seg_len and self.seg_len[0] == 0 else "fixed"


_T = TypeVar("_T")


def _optional(convert: Callable[[str], _T], text: str) -> _T | None:
    """``convert(text)``, or None for an empty field: wfdb's read default for most fields."""
    return None if text == "" else convert(text)


def _header_fs(text: str) -> float:
    """The sampling rate as wfdb reads it: 250 when missing, an int when within 1e-8 of one."""
    if text == "":
        return 250
    fs = float(text)
    return int(fs) if round(fs, 8) == float(int(fs)) else fs


def header_lines(content: bytes) -> list[str]:
    """The non-comment, non-blank lines of a header, stripped; ASCII with other bytes dropped (as wfdb)."""
    lines = (line.strip() for line in content.decode("ascii", errors="ignore").splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def comment_lines(content: bytes) -> tuple[str, ...]:
    """The header's comment lines as ``wfdb.rdheader`` gives them in ``Record.comments``: each line
    starting with ``#`` (after stripping), with spaces, tabs and ``#`` stripped from both ends."""
    lines = (line.strip() for line in content.decode("ascii", errors="ignore").splitlines())
    return tuple(line.strip(" \t#") for line in lines if line.startswith("#"))


def start_time_text(date: datetime.date | None, time: datetime.time | None) -> str:
    """A record's start as ISO 8601 (``2180-09-26T13:46:00.250``; the date alone without a time),
    ``""`` without a date."""
    if date is None:
        return ""
    if time is None:
        return date.isoformat()
    return iso_datetime(datetime.datetime.combine(date, time))


def parse_header(content: bytes) -> WfdbHeader | MasterHeader:
    """Parse a WFDB header the way ``wfdb.rdheader`` does, minus its per-field pandas lookups;
    raises (ValueError, IndexError and the like) where wfdb would raise. A record line as some
    PhysioNet datasets wrote it is read for what it says (:mod:`.record_line`), its departures in
    ``warnings``, or a RecordError naming the field."""
    lines = header_lines(content)
    line = record_line(lines)
    record = RX_RECORD.match(line.text)
    if record is None:
        raise ValueError("invalid syntax in record line")
    _name, n_seg, n_sig, fs, counter_freq, base_counter, sig_len, base_time, base_date = record.groups()
    for unused in (counter_freq, base_counter):
        _optional(float, unused)  # wfdb rejects what float() rejects (such as "-"), so must we
    time, date = line.start or (_optional(strptime, base_time), _optional(strpdate, base_date))
    if n_seg != "":
        segments = [_segment_line(line) for line in lines[1:]]
        return MasterHeader(_header_fs(fs), int(n_sig), _optional(int, sig_len), [name for name, _ in segments],
                            [length for _, length in segments], time, date, line.warnings)
    signals = [_signal_line(line) for line in lines[1:]]
    columns = list(zip(*signals)) if signals else [()] * 14
    return WfdbHeader(_header_fs(fs), int(n_sig), _optional(int, sig_len), time, date,
                      *(list(column) for column in columns), warnings=line.warnings)


def _segment_line(line: str) -> tuple[str, int]:
    match = RX_SEGMENT.match(line)
    if match is None:
        raise ValueError("invalid syntax in segment line")
    return match.group("seg_name"), int(match.group("seg_len"))


_FILE_NAME = re.compile(r"~?[-\w]*\.?[\w]*")


def _signal_line(line: str) -> tuple[object, ...]:
    """The 14 fields of one signal line, in WfdbHeader's order, with wfdb's read defaults.

    Records of a dataset repeat their signal lines but for the file name (MIMIC's 800,000 headers
    hold a few dozen distinct lines), so the rest of a line is parsed once (:func:`_signal_fields`)."""
    parts = line.split(None, 1)
    if len(parts) == 2 and _FILE_NAME.fullmatch(parts[0]) and line[len(parts[0])] in " \t":
        return (parts[0], *_signal_fields(parts[1]))
    return _parse_signal_line(line)


@functools.lru_cache(maxsize=4096)
def _signal_fields(rest: str) -> tuple[object, ...]:
    """Fields 2..14 of a signal line whose file name is followed by ``rest``."""
    return _parse_signal_line("x " + rest)[1:]


def _parse_signal_line(line: str) -> tuple[object, ...]:
    match = RX_SIGNAL.match(line)
    if match is None:
        raise ValueError("invalid syntax in signal line")
    (file_name, fmt, spf, skew, offset, gain, baseline, units, adc_res, adc_zero,
     init_value, checksum, block_size, sig_name) = match.groups()
    gain_value = 200.0 if gain == "" else float(gain)
    return (
        file_name, fmt, 1 if spf == "" else int(spf), _optional(int, skew), _optional(int, offset),
        200.0 if gain_value == 0 else gain_value,
        int(baseline) if baseline != "" else int(adc_zero) if adc_zero != "" else 0,
        units or "mV", _optional(int, adc_res), _optional(int, adc_zero), _optional(int, init_value),
        _optional(int, checksum), _optional(int, block_size), sig_name or None,
    )


def segment_headers(path: Path) -> list[Path]:
    """The header files a master header at ``path`` names (segments and layout, gaps left out);
    ``[]`` for a single-segment header or one that cannot be read. Used by discovery, so cheap:
    only headers whose record line says ``/n_seg`` are parsed."""
    try:
        with open(path, "rb") as fp:
            # a header is small: past 1 MiB it is no header (read() sizes its buffer to the file;
            # read(1 << 20) would allocate a MiB a call, 5x the cost of reading a 12-lead header)
            content = fp.read() if os.fstat(fp.fileno()).st_size <= 1 << 20 else fp.read(1 << 20)
        lines = header_lines(content)
        record = RX_RECORD.match(lines[0]) if lines else None
        parsed = parse_header(content) if record is not None and record.group("n_seg") else None
    except (OSError, ValueError, IndexError):  # unreadable or not a master header: discovery passes it over
        return []
    if not isinstance(parsed, MasterHeader):
        return []
    return [path.parent / f"{name}.hea" for name in parsed.seg_name if name and name != "~"]
