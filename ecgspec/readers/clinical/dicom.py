"""DICOM 12-lead ECG waveforms (``.dcm``) by ecgspec's own reader, the same record as ecgdatakit's.

A Part 10 file (``DICM`` preamble) of explicit or implicit VR little endian is walked by element
lengths (:mod:`.dicom_parts`): only the patient, device and acquisition fields ecgdatakit puts in
``meta``, and the Waveform Sequence's multiplex groups (their counts, rate, label and samples) are
read; each group's channel definitions are kept as bytes (their structure checked) and read for
the rhythm group only; the Waveform Annotation and every other sequence are jumped over. The
record is the first group whose label is not a median beat (``MEDIAN``, ``REPRESENTATIVE``,
``AVERAGE``), each channel ``sample x ChannelSensitivity x ChannelSensitivityCorrectionFactor +
ChannelBaseline`` in its sensitivity units, converted to mV with ecgdatakit's arithmetic (float64,
then float32: one ufunc over all channels, the baseline added only where it is not 0), lead names
as ecgdatakit gives them (the channel source code, else its meaning, else the channel label).
Found, opened and read, pydicom's 12-lead file with 12 x 5000 samples takes about 1.1 ms, about
half WFDB's records/s for the same samples (``benchmarks/bench_readers.py``).

Read the slow way, by ecgdatakit and pydicom (the registry's next reader, :func:`.clinical.read_by_ecgdatakit`,
for the :class:`~ecgspec.readers.registry.Unhandled` raised here), is every other file: another transfer syntax (big endian, deflated, compressed), samples
other than 16-bit signed (``SS``), more than one rhythm or median group, a channel without a
sensitivity in a voltage unit, text beyond ASCII, a value pydicom would warn about, and any file
this reader finds malformed (cut short, wrong lengths, no waveform): then ecgdatakit gives the
reason, or, without the ``clinical`` extra, the one-line error names it and the extra. Not read,
so not checked: the annotation sequences, which ecgdatakit reads into fields ecgspec does not use
(a warning pydicom would give about a bad value inside them is not in ``meta``).
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import numpy as np

from ..base import Record, RecordRef, checked_header
from ..registry import Unhandled
from . import dicom_parts as dp
from . import dicom_values as dv

EXPLICIT_LE, IMPLICIT_LE = "1.2.840.10008.1.2.1", "1.2.840.10008.1.2"
TOP = {0x00080005: "CS", 0x00080016: "UI", 0x00080020: "DA", 0x00080022: "DA", 0x00080023: "DA",
       0x0008002A: "DT", 0x00080030: "TM", 0x00080032: "TM", 0x00080033: "TM", 0x00080201: "SH",
       0x00080070: "LO", 0x00080080: "LO", 0x00080090: "PN", 0x00081010: "SH", 0x00081040: "LO",
       0x00081070: "PN", 0x00081090: "LO", 0x00100010: "PN", 0x00100020: "LO", 0x00100030: "DA",
       0x00100040: "CS", 0x00101010: "AS", 0x00101020: "DS", 0x00101030: "DS", 0x00102160: "SH",
       0x001021B0: "LT", 0x00181000: "LO", 0x00181020: "LO", 0x00380300: "LO"}
CODE = {0x00080100: "SH", 0x00080102: "SH", 0x00080104: "LO", 0x00080119: "UC"}
CHANNEL = {0x003A0203: "LO", 0x003A0210: "DS", 0x003A0212: "DS", 0x003A0213: "DS", 0x003A0220: "DS",
           0x003A0221: "DS", 0x003A0222: "DS"}
GROUP = {0x003A0005: "US", 0x003A0010: "UL", 0x003A001A: "DS", 0x003A0020: "SH", 0x54001004: "US",
         0x54001006: "CS", 0x5400100A: "OW", 0x54001010: "OW"}
SOURCE, UNITS, CHANNELS, WAVEFORMS = 0x003A0208, 0x003A0211, 0x003A0200, 0x54000100
SPEC = (TOP, {WAVEFORMS: (GROUP, {CHANNELS: dp.SPAN})})  # channel definitions read for the rhythm group only
CHANNEL_SPEC = (CHANNEL, {SOURCE: (CODE, {}), UNITS: (CODE, {})})


class DicomRecord(Record):
    """A DICOM waveform's rhythm leads in mV, read at open."""

    def __init__(self, ref: RecordRef, header, signal: np.ndarray) -> None:
        super().__init__(ref, header)
        self._signal = signal

    def _read(self, start: int, stop: int, channels: list[int]) -> np.ndarray:
        return self._signal[channels, start:stop]


def read_fast(ref: RecordRef, buf: bytes | None = None) -> Record:
    """The record of a file of the variant this module reads (its bytes ``buf``, read here when None);
    :class:`~ecgspec.readers.registry.Unhandled` otherwise."""
    buf = ref.path.read_bytes() if buf is None else buf
    top, groups = _dataset(buf)
    rhythm = _rhythm(groups)
    signal, names, rate = _leads(rhythm)
    header = checked_header(float(rate), signal.shape[1], tuple(names), len(names))
    start, acquired = dv.acquired(top)
    meta = dv.meta(top, acquired, _filters(rhythm), _seconds(rhythm))
    header = dataclasses.replace(header, units=("mV",) * len(names), meta=meta, start_time=start)
    return DicomRecord(ref, header, signal)


def _dataset(buf: bytes) -> tuple[dict, list[dict]]:
    """The top-level values wanted and the Waveform Sequence's items, after the file meta group."""
    if len(buf) < 144 or buf[128:132] != b"DICM":
        raise Unhandled("no DICOM Part 10 preamble")
    if buf[132:140] != b"\x02\x00\x00\x00UL\x04\x00":
        raise Unhandled("the file meta group has no group length")
    start = 144 + dp.unsigned(buf[140:144], "UL")
    meta, _, _ = dp.walk(buf, 144, min(start, len(buf)), True, {0x00020010: "UI"}, {})
    syntax = dp.text("UI", meta.get(0x00020010, ("UI", None))[1])
    if syntax not in (EXPLICIT_LE, IMPLICIT_LE):
        raise Unhandled(f"transfer syntax {syntax or 'none'}")
    values, seqs, _ = dp.walk(buf, start, len(buf), syntax == EXPLICIT_LE, *SPEC)
    return values, seqs.get(WAVEFORMS, [])


def _get(item: dict, tag: int) -> bytes | None:
    found = item["values"].get(tag)
    return None if found is None else found[1]


def _rhythm(groups: list[dict]) -> dict:
    """The one rhythm group (its channel count, samples, rate, label checked as ecgdatakit checks
    every group); Unhandled when there is none, or more than one rhythm or median group."""
    usable = {"rhythm": [], "median": []}
    for group in groups:
        n_channels, n_samples = dp.unsigned(_get(group, 0x003A0005), "US"), dp.unsigned(_get(group, 0x003A0010), "UL")
        data = _get(group, 0x54001010)
        if data is None or not n_channels or not n_samples:
            continue
        bits = dp.unsigned(_get(group, 0x54001004), "US")
        kind = dp.text("CS", _get(group, 0x54001006)).upper() or {16: "SS"}.get(bits, "")
        if (bits, kind) != (16, "SS"):
            raise Unhandled(f"samples of {bits} bits {kind or '(no interpretation)'}")
        if len(data) < n_channels * n_samples * 2:
            raise Unhandled("a group's Waveform Data is shorter than its channels x samples")
        rate = dp.number(_get(group, 0x003A001A)) or 0.0
        if rate <= 0 or round(rate) < 1:
            raise Unhandled("a group's Sampling Frequency is missing or below 1 Hz")
        label = dp.text("SH", _get(group, 0x003A0020)).upper()
        median = any(word in label for word in ("MEDIAN", "REPRESENTATIVE", "AVERAGE"))
        usable["median" if median else "rhythm"].append(dict(group, n=(n_channels, n_samples), rate=rate))
    if len(usable["rhythm"]) != 1 or len(usable["median"]) > 1:
        raise Unhandled(f"{len(usable['rhythm'])} rhythm and {len(usable['median'])} median groups")
    rhythm = usable["rhythm"][0]
    span = rhythm["seqs"].get(CHANNELS)
    return dict(rhythm, channels=[] if span is None else dp.items(span, CHANNEL_SPEC))


def _leads(group: dict) -> tuple[np.ndarray, list[str], int]:
    """The group's (channels, samples) float32 in mV, lead names and integer rate, as ecgdatakit's:
    each sample ``float32(float64(code) x scale + shift)`` (the shift only where it is not 0)."""
    n_channels, n_samples = group["n"]
    channels = group["channels"]
    if len(channels) < n_channels:
        raise Unhandled("fewer channel definitions than channels")
    labels, scales, shifts = [], np.empty((n_channels, 1)), np.empty((n_channels, 1))
    for ch in range(n_channels):
        label, scales[ch, 0], shifts[ch, 0] = dv.channel(channels[ch])
        labels.append(label or f"Ch{ch + 1}")
    data = _get(group, 0x54001010)
    codes = np.frombuffer(data, "<i2", n_channels * n_samples).reshape(n_samples, n_channels).T
    padding = _get(group, 0x5400100A)
    pad = padding is not None and len(padding) >= 2
    out = np.empty((n_channels, n_samples), np.float32)
    if not pad and not shifts.any():  # float64 products rounded to float32 in the ufunc's buffer
        np.multiply(codes, scales, out=out, dtype=np.float64, casting="same_kind")
    else:
        values = codes.astype(np.float64)
        if pad:
            values[codes == np.frombuffer(padding[:2], "<i2")[0]] = np.nan
        values *= scales
        np.add(values, shifts, out=values, where=shifts != 0)
        out[...] = values
    return out, dv.lead_names(labels), int(round(group["rate"]))


def _filters(group: dict) -> dict:
    """ecgdatakit's FilterSettings of a group: its first channel's filters."""
    first = group["channels"][0]
    found = {}
    for key, tag in (("highpass", 0x003A0220), ("lowpass", 0x003A0221), ("notch", 0x003A0222)):
        freq = dp.number(_get(first, tag))
        if freq:
            found[key] = freq
    notch = found.get("notch")
    return {"highpass": found.get("highpass"), "lowpass": found.get("lowpass"), "notch": notch,
            "notch_active": True if notch is not None else None, "artifact_filter": None}


def _seconds(group: dict) -> float | None:
    return timedelta(seconds=group["n"][1] / group["rate"]).total_seconds()

