"""What every reader shares: the error type, where a record is, what its header says, and
:class:`Record`, whose :meth:`Record.read` checks a request and turns whatever a format's reader
raises into one :class:`RecordError` line."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import math
import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from ..errors import RecordError, one_line

# The ``meta`` keys under which a reader notes how a file departs from its format's standard
# where it read the file all the same (one note a departure, joined by "; "); --dry-run counts them.
HEADER_WARNINGS = "header_warnings"  # a WFDB header's record line (readers/wfdb/record_line.py)
SCP_WARNINGS = "scp_warnings"  # an SCP-ECG file's sections (readers/clinical/scp.py)
NOTE_KEYS = (HEADER_WARNINGS, SCP_WARNINGS)


@dataclass(frozen=True)
class RecordRef:
    """Where a record is: ``name`` relative to its input folder (posix, no extension), the file to open, its kind.

    ``row`` is the record's row in a file holding many records (a CODE-15% part's ``tracings``),
    None for a file that is one record.
    """

    name: str
    path: Path
    kind: str
    row: int | None = None


@dataclass(frozen=True)
class Header:
    """What a record's header says.

    ``fs`` is the record's base rate (WFDB: the frame rate; EDF: its fastest signal's rate) and
    ``n_samples`` its length at ``fs`` (WFDB: frames; multi-segment: the master header's length).
    ``signal_fs``/``signal_samples`` give each signal's own rate and length where they differ from
    ``fs``/``n_samples`` (``()`` means all signals run at ``fs`` for ``n_samples``); ask
    :meth:`rate` and :meth:`length`. ``leads`` is ``()`` when the record has no lead names (``.npy``).

    What the quality flags need (:mod:`ecgspec.signal.quality`), per signal, ``()`` where the format
    does not say: ``adc_step`` is one ADC step in physical units (WFDB ``1 / |adc_gain|``; EDF
    ``(physical range) / (digital range)``); ``clip_low``/``clip_high`` the physical values of the
    lowest and highest digital values the format or the header's ADC resolution allows (WFDB
    only), as float32 reads them, so a sample at the limit compares equal; ``-inf``/``inf`` where
    a signal has no known limit.

    What the header says beyond the samples, ``()``/``""`` where the format does not say:
    ``units`` each signal's physical unit as written (``"mV"``, ``"uV"``); ``comments`` the
    header's free-text comment lines as written; ``meta`` its ``key: value`` fields in order, key
    as written, value stripped (WFDB ``# Age: 74``; EDF's patient and recording fields);
    ``start_time`` the record's start as ISO 8601 (``2180-09-26T13:46:00.250``).
    """

    fs: float
    n_samples: int
    leads: tuple[str, ...]
    n_signals: int
    signal_fs: tuple[float, ...] = ()
    signal_samples: tuple[int, ...] = ()
    # what QC knows about the signals; not part of a header's equality (two headers of the same
    # signals compare equal whether or not a reader filled these)
    adc_step: tuple[float, ...] = dataclasses.field(default=(), compare=False)
    clip_low: tuple[float, ...] = dataclasses.field(default=(), compare=False)
    clip_high: tuple[float, ...] = dataclasses.field(default=(), compare=False)
    units: tuple[str, ...] = dataclasses.field(default=(), compare=False)
    comments: tuple[str, ...] = dataclasses.field(default=(), compare=False)
    meta: tuple[tuple[str, str], ...] = dataclasses.field(default=(), compare=False)
    start_time: str = dataclasses.field(default="", compare=False)

    def rate(self, i: int) -> float:
        """Signal ``i``'s sampling rate in Hz."""
        return self.signal_fs[i] if self.signal_fs else self.fs

    def length(self, i: int) -> int:
        """Signal ``i``'s length in samples at its own rate."""
        return self.signal_samples[i] if self.signal_samples else self.n_samples


_HEADER_FIELDS = frozenset(f.name for f in dataclasses.fields(Header))


def replaced(header: Header, **changes: Any) -> Header:
    """``dataclasses.replace(header, **changes)`` without its per-call introspection (a Header has
    no ``__post_init__`` to run): a record's header is built in steps on the read stage's hot path,
    where three ``replace`` calls were a sixth of opening a WFDB record."""
    unknown = changes.keys() - _HEADER_FIELDS
    if unknown:
        raise TypeError(f"Header has no field {sorted(unknown)[0]!r}")
    new = object.__new__(Header)
    new.__dict__.update(header.__dict__, **changes)  # frozen: its fields are set through __dict__
    return new


def scaled_rate(fs: float, factor: int) -> float:
    """``fs * factor`` computed on the shortest decimal of ``fs``, so that ``repr`` of the result is
    the exact decimal rate too (62.4725 x 4 is 249.89, not 249.88999999999999)."""
    return float(Fraction(repr(float(fs))) * factor) if factor != 1 else float(fs)


def framed(header: Header, spf: list[int]) -> Header:
    """``header`` with each signal's own rate and length for signals of ``spf[i]`` samples a frame
    (``header.fs`` frames a second, ``header.n_samples`` frames); unchanged when all are 1."""
    if all(s == 1 for s in spf):
        return header
    return replaced(header, signal_fs=tuple(scaled_rate(header.fs, s) for s in spf),
                    signal_samples=tuple(header.n_samples * s for s in spf))


# ``key: value``: a key without a colon, then a colon followed by white space or the line's end
# (so ``10:30`` inside a line is no separator)
_META = re.compile(r"(?P<key>[^:]*[^:\s])\s*:(?:\s+(?P<value>.*))?$")


def comment_meta(comments: tuple[str, ...] | list[str]) -> tuple[tuple[str, str], ...]:
    """The ``key: value`` fields of free-text comment lines, in order: key as written, value stripped
    (``Age: 74`` gives ``("Age", "74")``, ``Diagnose:`` gives ``("Diagnose", "")``); lines that are
    no such field (``69 M 1085 1629 x1``) are left out. Format-neutral: a WFDB header's comments
    give its :attr:`Header.meta` so, and the store derives ``/records/meta`` so for files written
    before ``/records/fields``."""
    fields = []
    for line in comments:
        match = _META.match(line.strip())
        if match is not None:
            fields.append((match.group("key").strip(), (match.group("value") or "").strip()))
    return tuple(fields)


def iso_datetime(moment: datetime.datetime) -> str:
    """ISO 8601 to the precision the value has: whole seconds, milliseconds or microseconds."""
    micro = moment.microsecond
    spec = "seconds" if micro == 0 else "milliseconds" if micro % 1000 == 0 else "microseconds"
    return moment.isoformat(timespec=spec)


@contextlib.contextmanager
def record_errors(what: str) -> Iterator[None]:
    """Let RecordError through and turn any other exception raised inside into
    ``RecordError(f"{what}: {first line}")``: the one place foreign errors become ours."""
    try:
        yield
    except RecordError:
        raise
    except Exception as exc:  # noqa: BLE001 - the one place a reader's foreign errors become a RecordError
        raise RecordError(f"{what}: {one_line(exc)}") from None


def checked_header(fs: object, n_samples: int, leads: tuple[str, ...], n_signals: int,
                   signal_fs: tuple[float, ...] = (), signal_samples: tuple[int, ...] = ()) -> Header:
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
    return Header(fs, int(n_samples), leads, n_signals, tuple(signal_fs), tuple(signal_samples))


class Record:
    """An open record: its ref and header; :meth:`read` returns a slice of it."""

    def __init__(self, ref: RecordRef, header: Header) -> None:
        self.ref = ref
        self.header = header

    def read(self, start: int, stop: int, channels: Sequence[int]) -> np.ndarray:
        """float32 C-contiguous ``(len(channels), stop - start)`` in physical units, NaN where a sample
        is missing, channels in the order asked. ``channels`` must share one rate
        (``header.rate``); ``start``/``stop`` count samples at that rate. Reads only that slice
        from disk (``.npz``: the whole signal once, cached). Raises ValueError for a range or
        channel outside the record or channels of different rates, RecordError when the file
        cannot be read.
        """
        channels = [int(c) for c in channels]
        h = self.header
        if not channels or not all(0 <= c < h.n_signals for c in channels):
            raise ValueError(f"read: channels {channels} must be non-empty, in 0..{h.n_signals - 1}")
        if h.signal_fs and len({h.signal_fs[c] for c in channels}) > 1:
            raise ValueError(f"read: channels {channels} have different rates {[h.rate(c) for c in channels]}")
        length = h.length(channels[0])
        if not 0 <= start <= stop <= length:
            raise ValueError(f"read({start}, {stop}): need 0 <= start <= stop <= {length}")
        if start == stop:
            return np.empty((len(channels), 0), dtype=np.float32)
        unique = sorted(set(channels))
        with record_errors(f"cannot read samples {start}..{stop}"):
            data = self._read(start, stop, unique)
        if data.shape != (len(unique), stop - start):
            raise RecordError(f"read samples {start}..{stop} gave shape {data.shape}; the signal file is short")
        order = [unique.index(c) for c in channels]
        if order != list(range(len(unique))):
            data = data[order]
        return np.ascontiguousarray(data, dtype=np.float32)

    def _read(self, start: int, stop: int, channels: list[int]) -> np.ndarray:
        """(len(channels), stop - start) for sorted unique channels of one rate; any dtype, exceptions allowed."""
        raise NotImplementedError
