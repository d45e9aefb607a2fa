"""EDF, EDF+ and BDF records through edfio (the optional extra ``ecgspec[edf]``).

edfio parses the header, leniently: fields are decoded as Latin-1, so the non-ASCII physical
dimensions devices write (``°C``) are accepted, where strict readers refuse the file. It gets
the header bytes only (with the data-record count set to 0), so opening never touches the data.
Samples are then read here, one slice of data records at a time, from the layout the header
gives (each data record holds ``samples_per_data_record`` samples of each signal in turn, 16-bit
for EDF, 24-bit for BDF), and calibrated with edfio's own formula, ``(digital + offset) * gain``.
EDF+ annotation signals are not signals of the record. Each signal keeps its own rate. An EDF+D
("discontinuous") file is read only when its data records' time-keeping annotations leave no gaps.
"""

from __future__ import annotations

import dataclasses
import datetime
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from .base import Header, Record, RecordError, RecordRef, checked_header, iso_datetime, record_errors

_ANNOTATIONS = ("EDF Annotations", "BDF Annotations")


@dataclass(frozen=True)
class _Layout:
    """Where the samples are: header size, data records, each record's size and each raw signal's
    (offset, count) within a record, in samples; bytes a sample."""

    header_bytes: int
    n_records: int
    record_samples: int
    spans: tuple[tuple[int, int], ...]
    width: int


def _field(raw: bytes, start: int, length: int, what: str) -> str:
    text = raw[start:start + length].decode("latin-1").strip()
    if not text:
        raise RecordError(f"header: {what} is empty")
    return text


def _layout(raw: bytes, file_size: int, width: int) -> _Layout:
    """The data layout the fixed header fields give, checked against the file size:
    RecordError for a broken header or a file that ends inside a data record."""
    if len(raw) < 256:
        raise RecordError(f"header: {len(raw)} bytes, an EDF header has at least 256")
    with record_errors("header"):
        header_bytes = int(_field(raw, 184, 8, "header size"))
        declared = int(_field(raw, 236, 8, "number of data records"))
        n_signals = int(_field(raw, 252, 4, "number of signals"))
        if n_signals < 1 or header_bytes != 256 * (n_signals + 1) or len(raw) < header_bytes:
            raise RecordError(f"header: says {n_signals} signals in {header_bytes} bytes")
        at = 256 + 216 * n_signals
        counts = [int(_field(raw, at + 8 * i, 8, "samples per data record")) for i in range(n_signals)]
    if any(c < 0 for c in counts) or sum(counts) < 1:
        raise RecordError(f"header: samples per data record {counts} are not positive")
    record_samples = sum(counts)
    data = file_size - header_bytes
    n_records, partial = divmod(data, record_samples * width)
    if partial:
        raise RecordError(f"truncated: the file ends inside data record {n_records + 1}")
    if declared not in (-1, n_records):
        raise RecordError(f"truncated: the header says {declared} data records, the file holds {n_records}")
    offsets = np.cumsum([0] + counts[:-1]).tolist()
    return _Layout(header_bytes, n_records, record_samples, tuple(zip(offsets, counts)), width)


def _edfio(path_suffix: str) -> Any:
    try:
        import edfio
    except ImportError:
        raise RecordError(f"reading {path_suffix} files needs edfio: pip install ecgspec[edf]") from None
    return edfio


class EdfRecord(Record):
    """An EDF/BDF record: slices of data records read from disk, each signal at its own rate."""

    def __init__(self, ref: RecordRef, header: Header, layout: _Layout, raw_index: list[int],
                 gain_offset: list[tuple[float, float] | None]) -> None:
        super().__init__(ref, header)
        self._layout = layout
        self._raw = raw_index
        self._calibration = gain_offset

    def _read(self, start: int, stop: int, channels: list[int]) -> np.ndarray:
        lay = self._layout
        count = lay.spans[self._raw[channels[0]]][1]
        r0, r1 = start // count, -(-stop // count)
        records = _read_records(self.ref.path, lay, r0, r1)
        out = np.empty((len(channels), stop - start), dtype=np.float64)
        lead = start - r0 * count
        for row, channel in enumerate(channels):
            offset, n = lay.spans[self._raw[channel]]
            digital = records[:, offset:offset + n].reshape(-1)[lead:lead + stop - start]
            calibration = self._calibration[channel]
            if calibration is None:
                out[row] = digital
            else:
                gain, shift = calibration
                out[row] = (digital + shift) * gain
        return out


def _read_records(path: Any, lay: _Layout, r0: int, r1: int) -> np.ndarray:
    """Digital samples of data records ``r0 .. r1 - 1``: ``(r1 - r0, record_samples)`` integers."""
    n = (r1 - r0) * lay.record_samples
    offset = lay.header_bytes + r0 * lay.record_samples * lay.width
    if lay.width == 2:
        flat = np.fromfile(path, dtype="<i2", count=n, offset=offset)
    else:
        raw = np.fromfile(path, dtype=np.uint8, count=3 * n, offset=offset)
        triples = raw[: raw.size - raw.size % 3].reshape(-1, 3).astype(np.int32)
        flat = triples[:, 0] | (triples[:, 1] << 8) | (triples[:, 2] << 16)
        flat -= (flat & 0x800000) << 1
    if flat.size < n:
        raise RecordError(f"{path.name} is short: ends inside data record {r0 + flat.size // lay.record_samples + 1}")
    return flat.reshape(r1 - r0, lay.record_samples)


def _calibration(signal: Any) -> tuple[float, float] | None:
    """edfio's (gain, offset) for a signal, None where it returns digital values uncalibrated."""
    try:
        gain = (signal.physical_max - signal.physical_min) / (signal.digital_max - signal.digital_min)
        return gain, signal.physical_max / gain - signal.digital_max
    except (ZeroDivisionError, ValueError):
        return None


def _check_contiguous(path: Any, lay: _Layout, notes: list[int], duration: Fraction, top_rate: float) -> None:
    """RecordError unless the data records of an EDF+D ("discontinuous") file follow each other
    without gaps, by their time-keeping annotations (each record's first TAL): read as one signal,
    the samples after a gap would silently be moved up. Reads the annotation signal of every record."""
    if not notes:
        raise RecordError("EDF+D without an annotation signal: its data records' start times are unknown")
    if lay.n_records == 0:
        return
    offset, count = lay.spans[notes[0]]
    data = np.memmap(path, dtype=np.uint8, mode="r", offset=lay.header_bytes,
                     shape=(lay.n_records, lay.record_samples * lay.width))
    first = None
    for r, row in enumerate(data[:, offset * lay.width:(offset + count) * lay.width]):
        with record_errors(f"EDF+D: data record {r + 1} has no time-keeping annotation"):
            onset = Fraction(bytes(row).split(b"\x14", 1)[0].decode("latin-1"))
        first = onset if first is None else first
        if abs(onset - first - r * duration) * Fraction(repr(top_rate)) >= Fraction(1, 2):
            raise RecordError(f"EDF+D: data record {r + 1} starts at {float(onset - first):g} s, not"
                              f" {float(r * duration):g} s after the first; recordings with gaps are not supported")


def _read_header_bytes(path: Any) -> bytes:
    """The fixed header and the signal headers it announces (as many as are there)."""
    with open(path, "rb") as fp:
        raw = fp.read(256)
        try:
            n_signals = int(raw[252:256].decode("latin-1").strip())
        except ValueError:
            return raw  # _layout says why
        return raw + fp.read(256 * max(0, n_signals))


def open_edf(ref: RecordRef) -> Record:
    """Open an EDF/EDF+/BDF file reading only its header; RecordError for a broken header, a file cut
    inside a data record, or a file of no samples, and without edfio one naming the extra."""
    edfio = _edfio(ref.path.suffix)
    bdf = ref.path.suffix.lower() == ".bdf"
    raw = _read_header_bytes(ref.path)
    lay = _layout(raw, ref.path.stat().st_size, 3 if bdf else 2)
    labels = [raw[256 + 16 * i:272 + 16 * i].decode("latin-1").strip() for i in range(len(lay.spans))]
    raw_index = [i for i, label in enumerate(labels) if label not in _ANNOTATIONS]
    if not raw_index:
        raise RecordError("has no signals (only annotations)")
    with record_errors("header"):
        duration = Fraction(raw[244:252].decode("latin-1").strip())
    if duration <= 0:
        raise RecordError(f"header: data record duration {duration} must be > 0")
    empty = raw[:236] + b"0".ljust(8) + raw[244:lay.header_bytes]  # no data records: edfio reads no data
    with record_errors("header"):
        read = edfio.read_bdf if bdf else edfio.read_edf
        edf = read(empty, header_encoding="latin-1")
        signals = list(edf.signals)
    if len(signals) != len(raw_index):
        raise RecordError(f"header: {len(signals)} signals besides annotations, expected {len(raw_index)}")
    counts = [lay.spans[i][1] for i in raw_index]
    if min(counts) < 1:
        raise RecordError("header: a signal has 0 samples per data record")
    rates = [float(Fraction(c) / duration) for c in counts]
    top = counts.index(max(counts))
    if raw[192:197] in (b"EDF+D", b"BDF+D"):
        notes = [i for i, label in enumerate(labels) if label in _ANNOTATIONS]
        _check_contiguous(ref.path, lay, notes, duration, rates[top])
    header = checked_header(rates[top], lay.n_records * counts[top], tuple(s.label for s in signals), len(signals))
    if len(set(counts)) > 1:
        header = dataclasses.replace(header, signal_fs=tuple(rates), signal_samples=tuple(lay.n_records * c for c in counts))
    calibration = [_calibration(s) for s in signals]
    steps = tuple(1.0 if c is None else abs(c[0]) for c in calibration)  # one digital step, in physical units
    units = tuple(str(s.physical_dimension).strip() for s in signals)
    header = dataclasses.replace(header, adc_step=steps, units=units, **_description(raw, edf))
    return EdfRecord(ref, header, lay, raw_index, calibration)


def _description(raw: bytes, edf: Any) -> dict[str, Any]:
    """Header fields beyond the samples: the patient and recording fields as ``patient: ...`` and
    ``recording: ...`` comment lines and ``key: value`` pairs, and the start as ISO 8601 (edfio's
    startdate and starttime: EDF+ takes the year from the recording field); ``""`` where edfio
    cannot read the date."""
    fields = (("patient", raw[8:88].decode("latin-1").strip()), ("recording", raw[88:168].decode("latin-1").strip()))
    try:
        start = iso_datetime(datetime.datetime.combine(edf.startdate, edf.starttime))
    except Exception:  # noqa: BLE001 - an unreadable or anonymised date: no start time, the record still reads
        start = ""
    return {"comments": tuple(f"{key}: {value}" for key, value in fields), "meta": fields, "start_time": start}
