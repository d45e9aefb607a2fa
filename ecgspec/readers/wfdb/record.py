"""Opening and reading single-segment WFDB records, and the dispatch to multi-segment ones.

Headers are parsed by :mod:`.wfdb_header` and the samples of the common uncompressed formats
decoded by :mod:`.wfdb_signal` straight from the wanted byte range, every signal at its own rate
(frame rate x samples per frame, never averaged). The result is identical to
``wfdb.rdrecord(..., physical=True, smooth_frames=False).e_p_signal`` cast to float32. What the
fast path does not cover (skew, formats 8, 310, 311 and FLAC, a file's signals split or in two
formats, headers it cannot parse) is read through wfdb, imported only then.
"""

from __future__ import annotations

import datetime
import functools
from pathlib import Path
from typing import Any

import numpy as np

from ..base import HEADER_WARNINGS, Header, Record, RecordError, RecordRef, checked_header, framed, record_errors, replaced
from .header import MasterHeader, WfdbHeader, comment_lines, comment_meta, parse_header, start_time_text
from .signal import AMPLITUDE_BITS, INVALID_SAMPLE, SignalFile, check_signal_files, digital_limits, fast_layout, read_samples


class WfdbRecord(Record):
    """A WFDB record read through ``wfdb.rdrecord``: the fallback for what :class:`FastWfdbRecord` does not cover."""

    def __init__(self, ref: RecordRef, header: Header, spf: list[int]) -> None:
        super().__init__(ref, header)
        self._spf = spf

    def _read(self, start: int, stop: int, channels: list[int]) -> np.ndarray:
        import wfdb

        spf = self._spf[channels[0]]
        f0, f1 = start // spf, -(-stop // spf)
        rec = wfdb.rdrecord(str(self.ref.path.with_suffix("")), sampfrom=f0, sampto=f1, channels=channels,
                            physical=True, smooth_frames=False)
        lead = start - f0 * spf
        return np.stack([signal[lead:lead + stop - start] for signal in rec.e_p_signal])


class FastWfdbRecord(Record):
    """A single-segment WFDB record decoded with numpy (see :func:`.wfdb_signal.fast_layout` for which ones).

    Gives exactly what ``wfdb.rdrecord(..., physical=True, smooth_frames=False).e_p_signal`` gives,
    as float32: ``(digital - baseline) / gain`` in float64, NaN where the digital value is the
    format's invalid-sample marker. Where :func:`float32_exact` allows it (most records) the same
    bits come from float32 arithmetic, in a third of the time.
    """

    def __init__(self, ref: RecordRef, header: Header, h: WfdbHeader, files: list[SignalFile]) -> None:
        super().__init__(ref, header)
        self._wfdb = h
        self._files = files
        dtype = np.float32 if float32_exact(h) else np.float64
        self._baseline = np.array(h.baseline, dtype=dtype)[:, None]
        self._gain = np.array(h.adc_gain, dtype=dtype)[:, None]

    def _read(self, start: int, stop: int, channels: list[int]) -> np.ndarray:
        spf = self._wfdb.samps_per_frame[channels[0]]
        _check_start_time(self._wfdb, start // spf)
        out = np.empty((len(channels), stop - start), dtype=np.float32)
        wanted = np.array(channels)
        for file in self._files:
            rows = np.flatnonzero((wanted >= file.first) & (wanted < file.first + len(file.spf)))
            if rows.size:
                whole = rows.size == len(channels)  # one file holds them all: write straight into out
                part = out if whole else np.empty((rows.size, stop - start), dtype=np.float32)
                self._physical(file, wanted[rows], start, stop, spf, part)
                if not whole:
                    out[rows] = part
        return out

    def _physical(self, file: SignalFile, channels: np.ndarray, start: int, stop: int, spf: int,
                  out: np.ndarray) -> None:
        """``out[:] = (digital - baseline) / gain`` of ``channels`` of ``file``, NaN where ``digital`` is the
        format's invalid-sample marker (its lowest value): the same operations in the same order as
        wfdb's ``Record.dac``, hence the same bits."""
        invalid = INVALID_SAMPLE[file.fmt]
        if self._gain.dtype == np.float32:
            read_samples(file, channels, start, stop, spf, out=out)  # integers below 2**24: exact
            missing = out == invalid if out.size and out.min() == invalid else None
            out -= self._baseline[channels]
            out /= self._gain[channels]
        else:
            digital = read_samples(file, channels, start, stop, spf)
            missing = digital == invalid if digital.size and digital.min() == invalid else None
            physical = digital.astype(np.float64, order="C")
            physical -= self._baseline[channels]
            physical /= self._gain[channels]
            out[...] = physical
        if missing is not None:
            out[missing] = np.nan


def float32_exact(h: WfdbHeader) -> bool:
    """Whether float32 ``(d - baseline) / gain`` gives, for every digital value ``d`` of every signal,
    the bits of float64 ``(d - baseline) / gain`` cast to float32 (what wfdb and so ecgspec give).

    It does when ``d - baseline`` is an integer below 2**24 (exact in float32) and the gain is a
    float32 value (most are: 200, 1000, 123.5): IEEE division is correctly rounded, and rounding
    a float64 quotient to float32 equals rounding the exact one, as 53 >= 2 * 24 + 2 (double
    rounding is innocuous; Figueroa 1995). Gains are kept to 1e-6..1e12 so no quotient is
    subnormal or overflows. tests/readers/test_wfdb_decoder.py checks it on every 16-bit value.
    """
    return _float32_exact(tuple(zip(h.fmt, h.baseline, h.adc_gain)))


@functools.lru_cache(maxsize=1024)
def _float32_exact(signals: tuple[tuple[str, int, float], ...]) -> bool:
    """:func:`float32_exact` of the signals' (fmt, baseline, gain); cached, as :func:`_adc_limits`."""
    for fmt, baseline, gain in signals:
        bits = AMPLITUDE_BITS.get(fmt)
        if bits is None or bits > 24 or not 1e-6 <= abs(gain) <= 1e12 or float(np.float32(gain)) != gain:
            return False
        if abs(baseline) + 2 ** (bits - 1) > 2**24:
            return False
    return True


def _check_start_time(h: WfdbHeader, frame: int) -> None:
    """Raise where wfdb.rdrecord would when it moves the record's start time to ``frame``
    (an OverflowError past year 9999), so the fast path fails exactly where wfdb does."""
    if frame and h.base_time is not None:
        day = h.base_date if h.base_date is not None else datetime.date.today()
        datetime.datetime.combine(day, h.base_time) + datetime.timedelta(seconds=frame / h.fs)


def wfdb_header_of(h: Any) -> Header:
    """The Header of a parsed single-segment WFDB header (a WfdbHeader or wfdb's Record), or the
    RecordError for a header that gives no length, no usable rate or length, or fewer signal lines
    than signals. Signals of several samples a frame get their own rate and length."""
    if h.sig_len is None:  # wfdb.rdrecord cannot read a slice of such a record without reading it all
        raise RecordError("header gives no length (number of samples)")
    leads = tuple("" if s is None else str(s) for s in h.sig_name or ())
    header = checked_header(h.fs, h.sig_len, leads, h.n_sig or 0)
    if any(len(field or ()) != h.n_sig for field in (h.file_name, h.fmt)) or None in h.fmt:
        raise RecordError(f"header: says {h.n_sig} signals but does not describe them all")
    units = tuple(str(u) if u else "mV" for u in (h.units or ()))  # WFDB: a signal without units is in mV
    return framed(with_adc_limits(header, h, units), [s or 1 for s in h.samps_per_frame])


def physical32(digital: np.ndarray, baseline: np.ndarray, gain: np.ndarray) -> np.ndarray:
    """``digital`` in physical units as the readers give them: ``(digital - baseline) / gain`` in
    float64, then float32 (a limit beyond float32 becomes +-inf: no sample reaches it)."""
    with np.errstate(over="ignore"):
        return ((digital - baseline) / gain).astype(np.float32)


def with_adc_limits(header: Header, h: Any, units: tuple[str, ...]) -> Header:
    """``header`` with ``units``, the ADC step and the clipping limits (physical, per signal) of parsed
    header ``h``; no limits where the header's fields cannot give them (QC then knows nothing of its ADC)."""
    try:
        fields = tuple(zip(h.fmt, h.adc_gain, h.baseline, h.adc_res, h.adc_zero, strict=True))
        limits = _adc_limits(fields)
    except (TypeError, ValueError, OverflowError):  # unhashable or unusable fields
        limits = None
    if limits is None:
        return replaced(header, units=units)
    step, low, high = limits
    return replaced(header, units=units, adc_step=step, clip_low=low, clip_high=high)


@functools.lru_cache(maxsize=1024)
def _adc_limits(fields: tuple[tuple[Any, ...], ...]) -> tuple[tuple[float, ...], ...] | None:
    """(ADC steps, low clips, high clips) of the signals' (fmt, gain, baseline, adc_res, adc_zero), or
    None for no signal. Cached: the records of a collection share a few sets of signal fields, and
    opening a record is on the read stage's hot path."""
    if not fields:
        return None
    limits = np.array([digital_limits(str(fmt), res, zero) for fmt, _, _, res, zero in fields], dtype=np.float64)
    gain = np.array([float(g or 200.0) for _, g, _, _, _ in fields])  # wfdb's default for a missing or zero gain
    baseline = np.array([float(b or 0) for _, _, b, _, _ in fields])
    ends = physical32(limits.reshape(-1, 2), baseline[:, None], gain[:, None])
    return (tuple((1.0 / np.abs(gain)).tolist()), tuple(ends.min(axis=1).tolist()), tuple(ends.max(axis=1).tolist()))


def open_slow(ref: RecordRef) -> Record:
    """Open through ``wfdb.rdheader``: the authority on headers the fast parser does not take."""
    import wfdb

    with record_errors("header"):
        h = wfdb.rdheader(str(ref.path.with_suffix("")))
    if not isinstance(h, wfdb.Record):
        raise RecordError("header: a multi-segment header wfdb reads but ecgspec cannot parse")
    header = wfdb_header_of(h)
    check_signal_files(ref.path.parent, h)
    record = WfdbRecord(ref, header, [s or 1 for s in h.samps_per_frame])
    return described(record, h.comments or (), h.base_date, h.base_time)


def open_single(ref: RecordRef, h: WfdbHeader) -> Record:
    """Open a parsed single-segment header: the fast reader where it covers the record, else wfdb."""
    header = wfdb_header_of(h)
    check_signal_files(ref.path.parent, h)
    files = fast_layout(ref.path.parent, h)
    if files is None:
        if h.warnings:
            _wfdb_reads_header(ref, h)
        return WfdbRecord(ref, header, [s or 1 for s in h.samps_per_frame])
    return FastWfdbRecord(ref, header, h, files)


def _wfdb_reads_header(ref: RecordRef, h: WfdbHeader) -> None:
    """RecordError unless wfdb, which reads the samples of a record the fast path does not cover,
    reads its header too (it refuses some record lines :mod:`.record_line` reads)."""
    import wfdb

    formats = ",".join(sorted(set(h.fmt)))
    with record_errors(f"header: format {formats} is read through wfdb, which refuses this record line ({h.warnings[0]})"):
        wfdb.rdheader(str(ref.path.with_suffix("")))


def read_header(path: Path) -> WfdbHeader | MasterHeader | None:
    """The parsed header at ``path``, None when the parser rejects it (wfdb then gives the reason);
    RecordError for an empty file."""
    return _parsed(_header_bytes(path))


def _header_bytes(path: Path) -> bytes:
    content = path.read_bytes()
    if not content:
        raise RecordError("header file is empty")
    return content


def _parsed(content: bytes) -> WfdbHeader | MasterHeader | None:
    try:
        return parse_header(content)
    except RecordError:  # a record line read for its departures, whose start is still ambiguous
        raise
    except (ValueError, IndexError):  # wfdb rejects it too (the parser takes exactly what wfdb takes): let it say why
        return None


def described(record: Record, comments: tuple[str, ...] | list[str], date: datetime.date | None,
              time: datetime.time | None, warnings: tuple[str, ...] = ()) -> Record:
    """``record`` with its header's comment lines, their ``key: value`` fields, its start time and
    the record line's departures from the format (``header_warnings``, after the fields) filled in."""
    comments = tuple(str(line) for line in comments)
    meta = comment_meta(comments) + (((HEADER_WARNINGS, "; ".join(warnings)),) if warnings else ())
    record.header = replaced(record.header, comments=comments, meta=meta, start_time=start_time_text(date, time))
    return record


def read_header_text(path: Path) -> tuple[WfdbHeader | MasterHeader | None, tuple[str, ...]]:
    """:func:`read_header`, and the header's comment lines as wfdb gives them (``Record.comments``)."""
    content = _header_bytes(path)
    return _parsed(content), comment_lines(content)
