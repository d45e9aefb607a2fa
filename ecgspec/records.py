"""Find ECG records on disk (WFDB, ``.npy``, ``.npz``) and read slices of them.

Everything that makes a record unusable surfaces as a :class:`RecordError` with a
one-line reason, at :func:`open_record` where it can be seen from the header and
file sizes, so the pipeline reports it per record and goes on. Reads are sliced
(``wfdb.rdrecord`` with ``sampfrom``/``sampto``, memory-mapped ``.npy``), so a
24-hour record never has to sit in memory whole; ``.npz`` is the exception, as a
zip member cannot be memory-mapped.

WFDB records take a fast path: the header is parsed here (wfdb's own line patterns and
read defaults, without its pandas-driven field tables) and the samples of the common
uncompressed formats are decoded with numpy straight from the wanted byte range. The
result is identical to ``wfdb.rdrecord(..., physical=True).p_signal`` cast to float32;
anything the fast path does not cover (multi-segment, several samples per frame, skew,
formats 8, 310, 311 and FLAC, headers it cannot parse) goes through wfdb as before.
"""

from __future__ import annotations

import datetime
import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Callable, Sequence, TextIO, TypeVar

import numpy as np
import wfdb
from wfdb.io.header import parse_header_content, rx_record, rx_signal, wfdb_strptime

__all__ = ["RecordError", "RecordRef", "Header", "Record", "find_records", "open_record"]

KINDS = {".hea": "wfdb", ".npy": "npy", ".npz": "npz"}
# Bytes per sample of the WFDB signal formats whose file size follows from the sample count;
# 212 and 310/311 pack samples into words (see _signal_bytes), FLAC (508/516/524) cannot be sized.
_BYTES_PER_SAMPLE = {"8": 1, "80": 1, "16": 2, "61": 2, "160": 2, "24": 3, "32": 4}


class RecordError(ValueError):
    """A record that cannot be used; ``str(exc)`` is one line giving the reason, without the record name."""


@dataclass(frozen=True)
class RecordRef:
    """Where a record is: ``name`` relative to its input folder (posix, no extension), the file to open, its kind."""

    name: str
    path: Path
    kind: str


@dataclass(frozen=True)
class Header:
    """What a record's header says. ``leads`` is ``()`` when the record has no lead names (``.npy``)."""

    fs: float
    n_samples: int
    leads: tuple[str, ...]
    n_signals: int
    signal_fs: tuple[float, ...] = ()  # each signal's own rate; () means all are fs
    signal_samples: tuple[int, ...] = ()  # each signal's length at its own rate; () means all are n_samples

    def rate(self, i: int) -> float:
        """Signal ``i``'s own sampling rate."""
        return self.signal_fs[i] if self.signal_fs else self.fs

    def length(self, i: int) -> int:
        """Signal ``i``'s length in samples at its own rate."""
        return self.signal_samples[i] if self.signal_samples else self.n_samples


def _one_line(exc: BaseException) -> str:
    """The first non-empty line of an exception's message, or its type name when it has none."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


# ---------------------------------------------------------------- finding records


def _record_name(path: Path) -> str:
    """A file INPUT's record name: its file name without a known extension."""
    return path.stem if path.suffix in KINDS else path.name


def _resolve_file(path: Path) -> list[Path] | str:
    """The record file(s) a file INPUT names, or the reason it names none."""
    if path.is_file():
        if path.suffix in KINDS:
            return [path]
        header = path.with_suffix(".hea")  # a .dat/.mat/.xyz signal file of a WFDB record
        if header.is_file():
            return [header]
        return f"unknown file type: {path} (expected a .hea, .npy or .npz record)"
    found = [Path(f"{path}{ext}") for ext in KINDS if Path(f"{path}{ext}").is_file()]
    return found or f"no such file or folder: {path}"


def _walk(folder: Path) -> list[tuple[str, Path]]:
    """(name, path) of every record file under ``folder``, hidden files and folders skipped."""
    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for file in files:
            path = Path(root, file)
            if not file.startswith(".") and path.suffix in KINDS:
                found.append((path.relative_to(folder).with_suffix("").as_posix(), path))
    return found


def _candidates(inputs: Sequence[str | os.PathLike], stdin: TextIO | None) -> tuple[list[tuple[str, Path]], list]:
    """Expand INPUTs (folders, files, ``-`` for paths on stdin) into (name, path) pairs and problems."""
    found: list[tuple[str, Path]] = []
    problems: list[tuple[str, str]] = []
    for item in inputs:
        if os.fspath(item) == "-":
            lines = (line.strip() for line in (stdin or sys.stdin))
            more, more_problems = _candidates([line for line in lines if line and line != "-"], None)
            found += more
            problems += more_problems
            continue
        path = Path(item)
        if path.is_dir():
            found += _walk(path)
            continue
        files = _resolve_file(path)
        if isinstance(files, str):
            problems.append((_record_name(path), files))
        else:
            found += [(_record_name(f), f) for f in files]
    return found, problems


def find_records(
    inputs: Sequence[str | os.PathLike], stdin: TextIO | None = None
) -> tuple[list[RecordRef], list[tuple[str, str]]]:
    """Records named by ``inputs``: record paths (with or without extension), folders searched
    recursively for ``*.hea``/``*.npy``/``*.npz``, or ``-`` for paths read from ``stdin``
    (``sys.stdin`` when None), one a line, each handled like an INPUT.

    Returns (refs sorted by name, problems as (name, reason)); never raises for a bad input.
    The same file named twice is read once; two files with one name keep the first by path
    and report the others as duplicates.
    """
    found, problems = _candidates(inputs, stdin)
    refs: dict[str, RecordRef] = {}
    seen: set[Path] = set()
    for name, path in sorted(found, key=lambda item: (item[0], str(item[1]))):
        if path.resolve() in seen:
            continue
        seen.add(path.resolve())
        if name in refs:
            problems.append((name, f"duplicate record name, already read from {refs[name].path}"))
        else:
            refs[name] = RecordRef(name, path, KINDS[path.suffix])
    return [refs[name] for name in sorted(refs)], problems


# ---------------------------------------------------------------- opening records


class Record:
    """An open record: its ref and header; :meth:`read` returns a slice of it."""

    def __init__(self, ref: RecordRef, header: Header) -> None:
        self.ref = ref
        self.header = header

    def read(self, start: int, stop: int, channels: Sequence[int]) -> np.ndarray:
        """float32 ``(len(channels), stop - start)`` in physical units, NaN where the file marks a
        sample missing, channels in the order asked. Reads only that slice from disk (``.npz``:
        the whole signal once, cached). Raises ValueError for a range or channel outside the
        record, RecordError when the file cannot be read.
        """
        channels = [int(c) for c in channels]
        if not 0 <= start <= stop <= self.header.n_samples:
            raise ValueError(f"read({start}, {stop}): need 0 <= start <= stop <= {self.header.n_samples}")
        if not channels or not all(0 <= c < self.header.n_signals for c in channels):
            raise ValueError(f"read: channels {channels} must be non-empty, in 0..{self.header.n_signals - 1}")
        if start == stop:
            return np.empty((len(channels), 0), dtype=np.float32)
        unique = sorted(set(channels))
        try:
            data = self._read(start, stop, unique)
        except RecordError:
            raise
        except Exception as exc:
            raise RecordError(f"cannot read samples {start}..{stop}: {_one_line(exc)}") from None
        if data.shape != (len(unique), stop - start):
            raise RecordError(f"read samples {start}..{stop} gave shape {data.shape}; the signal file is short")
        order = [unique.index(c) for c in channels]
        if order != list(range(len(unique))):
            data = data[order]
        return np.ascontiguousarray(data, dtype=np.float32)

    def _read(self, start: int, stop: int, channels: list[int]) -> np.ndarray:
        """(len(channels), stop - start) for sorted unique channels; any dtype, exceptions allowed."""
        raise NotImplementedError


class _WfdbRecord(Record):
    """A WFDB record read through ``wfdb.rdrecord``: the fallback for what :class:`_FastWfdbRecord` does not cover."""

    def _read(self, start: int, stop: int, channels: list[int]) -> np.ndarray:
        rec = wfdb.rdrecord(
            str(self.ref.path.with_suffix("")), sampfrom=start, sampto=stop, channels=channels, physical=True
        )
        return rec.p_signal.T


class _FastWfdbRecord(Record):
    """A single-segment WFDB record decoded with numpy (see :func:`_fast_layout` for which ones).

    Gives exactly what ``wfdb.rdrecord(..., physical=True).p_signal.T`` gives, as float32:
    ``(digital - baseline) / gain`` in float64, NaN where the digital value is the format's
    invalid-sample marker.
    """

    def __init__(self, ref: RecordRef, header: Header, h: _WfdbHeader, files: list[_SignalFile]) -> None:
        super().__init__(ref, header)
        self._wfdb = h
        self._files = files
        self._baseline = np.array(h.baseline, dtype=np.float64)[:, None]
        self._gain = np.array(h.adc_gain, dtype=np.float64)[:, None]

    def _read(self, start: int, stop: int, channels: list[int]) -> np.ndarray:
        _check_start_time(self._wfdb, start)
        out = np.empty((len(channels), stop - start), dtype=np.float32)
        wanted = np.array(channels)
        for file in self._files:
            rows = np.flatnonzero((wanted >= file.first) & (wanted < file.first + file.n_signals))
            if rows.size == 0:
                continue
            digital = _read_frames(file, start, stop)  # (samples, signals of the file)
            if rows.size < file.n_signals:
                digital = digital[:, wanted[rows] - file.first]
            out[rows] = self._physical(np.ascontiguousarray(digital.T), wanted[rows], _INVALID_SAMPLE[file.fmt])
        return out

    def _physical(self, digital: np.ndarray, channels: np.ndarray, invalid: int) -> np.ndarray:
        """float64 ``(digital - baseline) / gain`` of ``channels``, NaN where ``digital == invalid``:
        the same operations in the same order as wfdb's ``Record.dac``, hence the same bits."""
        physical = np.empty(digital.shape, dtype=np.float64)
        np.subtract(digital, self._baseline[channels], out=physical)
        physical /= self._gain[channels]
        missing = digital == invalid
        if missing.any():
            physical[missing] = np.nan
        return physical


class _NpyRecord(Record):
    def _read(self, start: int, stop: int, channels: list[int]) -> np.ndarray:
        return np.load(self.ref.path, mmap_mode="r", allow_pickle=False)[channels, start:stop]


class _NpzRecord(Record):
    _signal: np.ndarray | None = None

    def _read(self, start: int, stop: int, channels: list[int]) -> np.ndarray:
        if self._signal is None:
            with open(self.ref.path, "rb") as fp, np.load(fp, allow_pickle=False) as npz:
                self._signal = npz["signal"]
        return self._signal[channels, start:stop]


# ---------------------------------------------------------------- WFDB fast path: header parser and decoders


@dataclass(frozen=True)
class _WfdbHeader:
    """The fields of a single-segment WFDB header, named, typed and defaulted as ``wfdb.rdheader`` gives
    them on its ``Record`` (so the checks above work on either): a missing rate is 250, a missing
    or zero gain 200, a missing baseline the ADC zero (else 0), a missing samples-per-frame 1, and
    other missing fields None. Signal fields are lists with one item per signal line."""

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


@dataclass(frozen=True)
class _SignalFile:
    """One signal file of a fast-path record: its signals are header lines ``first .. first + n_signals - 1``,
    one sample each per frame, stored from byte ``offset`` on in format ``fmt``."""

    path: Path
    fmt: str
    offset: int
    first: int
    n_signals: int


# Formats the fast path decodes: numpy dtype of the stored unit (212 and 24: bytes, unpacked below).
_FAST_DTYPES = {"16": "<i2", "61": ">i2", "32": "<i4", "80": "u1", "160": "<u2", "24": "u1", "212": "u1"}
# The digital value that marks a sample missing, per format, as wfdb's _signal.INVALID_SAMPLE_VALUE.
_INVALID_SAMPLE = {"16": -(2**15), "61": -(2**15), "160": -(2**15), "32": -(2**31), "80": -(2**7),
                   "24": -(2**23), "212": -(2**11)}
_INT64 = (-(2**63), 2**63 - 1)


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


def _parse_header(content: bytes) -> _WfdbHeader | None:
    """Parse a WFDB header the way ``wfdb.rdheader`` does, minus its per-field pandas lookups.

    Uses wfdb's own line patterns (``wfdb.io.header.rx_record`` / ``rx_signal``), its text
    decoding (ASCII, other bytes dropped) and its comment and blank-line handling, so that it
    accepts exactly the headers wfdb accepts and gives the same values. Returns None for a
    multi-segment header; raises (ValueError and the like) where wfdb would raise.
    """
    lines, _comments = parse_header_content(content.decode("ascii", errors="ignore"))
    record = rx_record.match(lines[0])
    if record is None:
        raise ValueError("invalid syntax in record line")
    _name, n_seg, n_sig, fs, counter_freq, base_counter, sig_len, base_time, base_date = record.groups()
    if n_seg != "":
        return None
    for unused in (counter_freq, base_counter):
        _optional(float, unused)  # wfdb rejects what float() rejects (such as "-"), so must we
    time = _optional(wfdb_strptime, base_time)
    date = _optional(lambda d: datetime.datetime.strptime(d, "%d/%m/%Y").date(), base_date)
    signals = [_signal_line(line) for line in lines[1:]]
    columns = list(zip(*signals)) if signals else [()] * 14
    return _WfdbHeader(_header_fs(fs), int(n_sig), _optional(int, sig_len), time, date,
                       *(list(column) for column in columns))


def _signal_line(line: str) -> tuple[object, ...]:
    """The 14 fields of one signal line, in _WfdbHeader's order, with wfdb's read defaults."""
    match = rx_signal.match(line)
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


def _fast_layout(folder: Path, h: _WfdbHeader) -> list[_SignalFile] | None:
    """The signal files of a record the fast path reads exactly as wfdb does, or None to leave it to wfdb:
    every signal one sample per frame, no skew, a format in _FAST_DTYPES, each file's signals on
    consecutive header lines with one format, and baselines that fit int64 (as wfdb's arrays need)."""
    if any(f not in _FAST_DTYPES for f in h.fmt) or any(spf != 1 for spf in h.samps_per_frame):
        return None
    if any(skew not in (None, 0) for skew in h.skew) or any(not _INT64[0] <= b <= _INT64[1] for b in h.baseline):
        return None
    files: list[_SignalFile] = []
    for index, name in enumerate(h.file_name):
        if files and files[-1].path.name == name and files[-1].fmt == h.fmt[index]:
            last = files[-1]
            files[-1] = _SignalFile(last.path, last.fmt, last.offset, last.first, last.n_signals + 1)
        elif any(f.path.name == name for f in files) or name.startswith("~"):
            return None  # a file's signals split by another file's, or a format change within a file
        else:
            files.append(_SignalFile(folder / name, h.fmt[index], h.byte_offset[index] or 0, index, 1))
    return files


def _check_start_time(h: _WfdbHeader, start: int) -> None:
    """Raise where wfdb.rdrecord would when it moves the record's start time to sample ``start``
    (an OverflowError past year 9999), so the fast path fails exactly where wfdb does."""
    if start and h.base_time is not None:
        day = h.base_date if h.base_date is not None else datetime.date.today()
        datetime.datetime.combine(day, h.base_time) + datetime.timedelta(seconds=start / h.fs)


def _read_frames(file: _SignalFile, start: int, stop: int) -> np.ndarray:
    """Digital samples of frames ``start .. stop - 1`` of a signal file, ``(stop - start, n_signals)``
    integers, read from just that byte range."""
    first, last = start * file.n_signals, stop * file.n_signals  # flat sample numbers
    if file.fmt == "212":  # pairs of 12-bit samples in 3 bytes: start at the pair holding `first`
        lead = first % 2
        n = last - first + lead
        raw = _read_units(file, (first - lead) * 3 // 2, (3 * n + 1) // 2)
        flat = _unpack_212(raw, n)[lead:]
    elif file.fmt == "24":
        flat = _unpack_24(_read_units(file, 3 * first, 3 * (last - first)))
    else:
        flat = _read_units(file, np.dtype(_FAST_DTYPES[file.fmt]).itemsize * first, last - first)
        if file.fmt == "80":  # offset binary
            flat = flat.astype(np.int16) - 128
        elif file.fmt == "160":
            flat = flat.astype(np.int32) - 32768
    return flat.reshape(stop - start, file.n_signals)


def _read_units(file: _SignalFile, byte: int, count: int) -> np.ndarray:
    """``count`` stored units (samples, or bytes for 212/24) from ``byte`` past the file's offset;
    RecordError when the file ends before them (cut after the record was opened)."""
    data = np.fromfile(file.path, dtype=_FAST_DTYPES[file.fmt], count=count, offset=file.offset + byte)
    if data.size < count:
        raise RecordError(f"signal file {file.path.name} is short: ends {count - data.size} units early")
    return data


def _unpack_212(raw: np.ndarray, n: int) -> np.ndarray:
    """``n`` int16 samples from format-212 bytes. Each 3-byte group holds two 12-bit two's-complement
    samples: the first is byte 0 plus the low nibble of byte 1 as bits 8-11, the second byte 2 plus
    the high nibble of byte 1. Read as two unaligned little-endian uint16 views of the bytes."""
    if raw.size % 3:
        raw = np.concatenate([raw, np.zeros(3 - raw.size % 3, dtype=np.uint8)])
    groups = raw.size // 3
    low = np.ndarray((groups,), "<u2", raw, 0, (3,))  # byte 0 | byte 1 << 8
    high = np.ndarray((groups,), "<u2", raw, 1, (3,))  # byte 1 | byte 2 << 8
    pairs = np.empty((groups, 2), dtype=np.int16)
    np.bitwise_and(low, 0x0FFF, out=pairs[:, 0], casting="unsafe")
    np.bitwise_or(high >> 8, (high & 0xF0) << 4, out=pairs[:, 1], casting="unsafe")
    flat = pairs.reshape(-1)[:n]
    flat <<= 4  # sign-extend the 12-bit values
    flat >>= 4
    return flat


def _unpack_24(raw: np.ndarray) -> np.ndarray:
    """int32 samples from format-24 bytes: 24-bit little-endian two's complement."""
    triples = raw.reshape(-1, 3).astype(np.int32)
    value = triples[:, 0] | (triples[:, 1] << 8) | (triples[:, 2] << 16)
    return value - ((value & 0x800000) << 1)


def _signal_bytes(fmt: str, n: int) -> int | None:
    """Bytes a WFDB signal file of format ``fmt`` needs for ``n`` samples; None if not computable."""
    if fmt == "212":  # two 12-bit samples in 3 bytes
        return math.ceil(n * 1.5)
    if fmt in ("310", "311"):  # three 10-bit samples in 4 bytes; 310 needs the whole word for two
        return 4 * (n // 3) + (0, 2, 4 if fmt == "310" else 3)[n % 3]
    if fmt in _BYTES_PER_SAMPLE:
        return n * _BYTES_PER_SAMPLE[fmt]
    return None


def _signal_files(h: wfdb.Record | _WfdbHeader) -> dict[str, tuple[str, int, int]]:
    """file name -> (format, byte offset, samples per frame) of each signal file; the format and
    offset are those of the file's first signal, as WFDB reads them."""
    files: dict[str, tuple[str, int, int]] = {}
    for name, fmt, offset, spf in zip(h.file_name, h.fmt, h.byte_offset, h.samps_per_frame):
        if name in files:
            fmt, offset, total = files[name]
            files[name] = (fmt, offset, total + (spf or 1))
        else:
            files[name] = (fmt, offset or 0, spf or 1)
    return files


def _check_wfdb(folder: Path, h: wfdb.Record | _WfdbHeader) -> None:
    """Check the signal files a header names exist and hold its n_samples (where the format can be sized)."""
    for name, (fmt, offset, per_frame) in _signal_files(h).items():
        file = folder / name
        if not file.is_file():
            raise RecordError(f"signal file {name} is missing")
        size = file.stat().st_size
        if size == 0:
            raise RecordError(f"signal file {name} is empty")
        needed = _signal_bytes(fmt, h.sig_len * per_frame)
        if needed is not None and size < offset + needed:
            raise RecordError(
                f"signal file {name} is truncated: {size} bytes, format {fmt} needs {offset + needed}"
                f" for {h.sig_len} samples x {per_frame} signals"
            )


def _wfdb_header_of(h: wfdb.Record | _WfdbHeader) -> Header:
    """The Header of a parsed single-segment WFDB header (wfdb's or ours), or the RecordError
    for a header that gives no length, no usable rate or length, or fewer signal lines than signals."""
    if h.sig_len is None:  # wfdb.rdrecord cannot read a slice of such a record without reading it all
        raise RecordError("header gives no length (number of samples)")
    leads = tuple("" if s is None else str(s) for s in h.sig_name or ())
    header = _checked_header(h.fs, h.sig_len, leads, h.n_sig or 0)
    if any(len(field or ()) != h.n_sig for field in (h.file_name, h.fmt)) or None in h.fmt:
        raise RecordError(f"header: says {h.n_sig} signals but does not describe them all")
    return header


def _open_wfdb_slow(ref: RecordRef) -> Record:
    """Open through ``wfdb.rdheader``: the authority on headers the fast parser does not take."""
    try:
        h = wfdb.rdheader(str(ref.path.with_suffix("")))
    except Exception as exc:
        raise RecordError(f"header: {_one_line(exc)}") from None
    if not isinstance(h, wfdb.Record):
        raise RecordError("multi-segment records are not supported")
    header = _wfdb_header_of(h)
    _check_wfdb(ref.path.parent, h)
    return _WfdbRecord(ref, header)


def _open_wfdb(ref: RecordRef) -> Record:
    """Open a WFDB record with the fast header parser, and with the fast reader where it covers the
    record; headers the parser rejects or leaves alone (multi-segment) go to :func:`_open_wfdb_slow`."""
    if ref.path.stat().st_size == 0:
        raise RecordError("header file is empty")
    try:
        h = _parse_header(ref.path.read_bytes())
    except Exception:  # wfdb rejects it too (the parser takes exactly what wfdb takes): let it say why
        h = None
    if h is None:  # multi-segment, or a header wfdb gives the error for
        return _open_wfdb_slow(ref)
    header = _wfdb_header_of(h)
    _check_wfdb(ref.path.parent, h)
    files = _fast_layout(ref.path.parent, h)
    return _WfdbRecord(ref, header) if files is None else _FastWfdbRecord(ref, header, h, files)


def _checked_header(fs: object, n_samples: int, leads: tuple[str, ...], n_signals: int) -> Header:
    """A Header, or a RecordError when the rate, length or signal count cannot be used."""
    if n_signals < 1:
        raise RecordError("has no signals")
    try:
        fs = float(fs)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise RecordError(f"sampling rate {fs!r} is not a number") from None
    if not math.isfinite(fs) or fs <= 0:
        raise RecordError(f"sampling rate {fs} must be a finite number > 0")
    if n_samples < 1:
        raise RecordError(f"has {n_samples} samples")
    return Header(fs, int(n_samples), leads, n_signals)


def _npy_header(fp: IO[bytes], what: str) -> tuple[int, ...]:
    """(n_signals, n_samples) from a .npy header, or RecordError for a shape/dtype we cannot use."""
    version = np.lib.format.read_magic(fp)
    read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, _, dtype = read(fp)
    if dtype.kind not in "iuf":
        raise RecordError(f"{what} has dtype {dtype}; need real numbers (int, uint or float)")
    if len(shape) != 2:
        raise RecordError(f"{what} has shape {shape}; need (n_channels, n_samples)")
    return shape


def _open_npy(ref: RecordRef, input_fs: float | None) -> Record:
    if input_fs is None:
        raise RecordError("a .npy record stores no sampling rate and no input_fs was given")
    try:
        with open(ref.path, "rb") as fp:
            n_signals, n_samples = _npy_header(fp, "npy")
        np.load(ref.path, mmap_mode="r", allow_pickle=False)  # fails here if truncated
    except RecordError:
        raise
    except Exception as exc:
        raise RecordError(f"npy: cannot read: {_one_line(exc)}") from None
    return _NpyRecord(ref, _checked_header(input_fs, n_samples, (), n_signals))


def _npz_leads(npz: np.lib.npyio.NpzFile, n_signals: int) -> tuple[str, ...]:
    """The optional ``leads`` array of an .npz: strings, one per signal."""
    if "leads" not in npz.files:
        return ()
    leads = npz["leads"]
    if leads.dtype.kind not in "US" or leads.shape != (n_signals,):
        raise RecordError(f"npz 'leads' has dtype {leads.dtype} shape {leads.shape}; need {n_signals} strings")
    return tuple(s.decode() if isinstance(s, bytes) else str(s) for s in leads.tolist())


def _open_npz(ref: RecordRef) -> Record:
    try:
        with open(ref.path, "rb") as fp, np.load(fp, allow_pickle=False) as npz:  # closed even if not a zip
            for key in ("signal", "fs"):
                if key not in npz.files:
                    raise RecordError(f"npz has no '{key}' array")
            with npz.zip.open("signal.npy") as fp:
                n_signals, n_samples = _npy_header(fp, "npz 'signal'")
            fs = npz["fs"]
            if fs.size != 1 or fs.dtype.kind not in "iuf":
                raise RecordError(f"npz 'fs' has dtype {fs.dtype} shape {fs.shape}; need one number")
            leads = _npz_leads(npz, n_signals)
    except RecordError:
        raise
    except Exception as exc:
        raise RecordError(f"npz: cannot read: {_one_line(exc)}") from None
    return _NpzRecord(ref, _checked_header(fs.item(), n_samples, leads, n_signals))


def open_record(ref: RecordRef, input_fs: float | None = None) -> Record:
    """Open a record reading only its header, and check it can be read in full: raises
    RecordError for an unreadable header, missing, empty or truncated signal files, no
    signals, no samples, a rate <= 0, or an array of the wrong shape or dtype.

    ``input_fs`` is the sampling rate of ``.npy`` records (which store none); WFDB and
    ``.npz`` records carry their own. A WFDB header without a rate means 250 Hz (the
    WFDB default); one without a length is a RecordError.
    """
    try:
        if ref.kind == "wfdb":
            return _open_wfdb(ref)
        if ref.kind == "npy":
            return _open_npy(ref, input_fs)
        if ref.kind == "npz":
            return _open_npz(ref)
    except OSError as exc:
        raise RecordError(f"cannot read {ref.path.name}: {exc.strerror or _one_line(exc)}") from None
    raise ValueError(f"unknown record kind {ref.kind!r}; expected one of {sorted(set(KINDS.values()))}")
