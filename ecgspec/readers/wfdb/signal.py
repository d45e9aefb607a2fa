"""Decoding WFDB signal files with numpy: which files a header names, whether they hold what it
says, and the digital samples of a frame range, for the common uncompressed formats (16, 61, 160,
32, 80, 24, 212), any number of samples per frame, several signals interleaved per frame."""

from __future__ import annotations

import math
import os
import stat
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..base import RecordError
from .header import WfdbHeader

# Bytes per sample of the WFDB signal formats whose file size follows from the sample count;
# 212 and 310/311 pack samples into words (see signal_bytes), FLAC (508/516/524) cannot be sized.
_BYTES_PER_SAMPLE = {"8": 1, "80": 1, "16": 2, "61": 2, "160": 2, "24": 3, "32": 4}
# Formats decoded here: numpy dtype of the stored unit (212 and 24: bytes, unpacked below).
FAST_DTYPES = {"16": "<i2", "61": ">i2", "32": "<i4", "80": "u1", "160": "<u2", "24": "u1", "212": "u1"}
# The digital value that marks a sample missing, per format, as wfdb's _signal.INVALID_SAMPLE_VALUE.
INVALID_SAMPLE = {"16": -(2**15), "61": -(2**15), "160": -(2**15), "32": -(2**31), "80": -(2**7),
                  "24": -(2**23), "212": -(2**11)}
_INT64 = (-(2**63), 2**63 - 1)
# Bits of an amplitude sample per format (signal(5)); the lowest value of each is the invalid-sample
# marker, so the representable range is +-(2**(bits - 1) - 1). Format 8 stores differences: no bound.
AMPLITUDE_BITS = {"16": 16, "61": 16, "160": 16, "516": 16, "24": 24, "524": 24, "32": 32, "80": 8, "508": 8,
                  "212": 12, "310": 10, "311": 10}


def digital_limits(fmt: str, adc_res: int | None, adc_zero: int | None) -> tuple[float, float]:
    """The lowest and highest valid digital value of a signal: its format's range, narrowed to the
    ADC's ``adc_zero - 2**(adc_res - 1) .. adc_zero + 2**(adc_res - 1) - 1`` where the header gives an
    ADC resolution (header(5): ADC zero is the middle of the ADC's input range); +-inf where neither
    bounds it."""
    low, high = -math.inf, math.inf
    bits = AMPLITUDE_BITS.get(str(fmt))
    if bits is not None:
        low, high = -(2 ** (bits - 1) - 1), 2 ** (bits - 1) - 1
    if adc_res:
        zero = adc_zero or 0
        low, high = max(low, zero - 2 ** (adc_res - 1)), min(high, zero + 2 ** (adc_res - 1) - 1)
    return low, high


@dataclass(frozen=True)
class SignalFile:
    """One signal file: its signals are header lines ``first .. first + len(spf) - 1``, signal ``i``
    stored as ``spf[i]`` consecutive samples in each frame, from byte ``offset`` on in format ``fmt``."""

    path: Path
    fmt: str
    offset: int
    first: int
    spf: tuple[int, ...]

    @property
    def width(self) -> int:
        """Samples per frame, all signals of the file together."""
        return sum(self.spf)

    def columns(self, signal: int) -> range:
        """Where header signal ``signal``'s samples sit within a frame of this file."""
        i = signal - self.first
        at = sum(self.spf[:i])
        return range(at, at + self.spf[i])


def fast_layout(folder: Path, h: WfdbHeader) -> list[SignalFile] | None:
    """The signal files of a record decoded here exactly as wfdb decodes them, or None to leave it to
    wfdb: no skew, a format in FAST_DTYPES, each file's signals on consecutive header lines with one
    format, and baselines that fit int64 (as wfdb's arrays need)."""
    if not h.fmt or not set(h.fmt) <= FAST_DTYPES.keys() or min(h.samps_per_frame) < 1:
        return None
    if not set(h.skew) <= {None, 0} or not _INT64[0] <= min(h.baseline) <= max(h.baseline) <= _INT64[1]:
        return None
    runs: list[tuple[str, str, int, int, list[int]]] = []  # (name, fmt, offset, first signal, spf)
    for index, (name, fmt, spf) in enumerate(zip(h.file_name, h.fmt, h.samps_per_frame)):
        if runs and runs[-1][:2] == (name, fmt):
            runs[-1][4].append(spf)
        elif name.startswith("~") or any(run[0] == name for run in runs):
            return None  # a file's signals split by another file's, or a format change within a file
        else:
            runs.append((name, fmt, h.byte_offset[index] or 0, index, [spf]))
    return [SignalFile(folder / name, fmt, offset, first, tuple(spf)) for name, fmt, offset, first, spf in runs]


def read_samples(file: SignalFile, signals: np.ndarray, start: int, stop: int, spf: int,
                 out: np.ndarray | None = None) -> np.ndarray:
    """Digital samples ``start .. stop - 1`` (counted at the signals' own rate, ``spf`` a frame) of
    header signals ``signals`` of ``file``: ``(len(signals), stop - start)`` integers, possibly a strided
    view of the frames; or, given ``out`` (float32, that shape), the same values cast into it (exact
    below 2**24) in one pass, and ``out`` returned."""
    digital = _samples(file, signals, start, stop, spf)
    if out is None:
        return digital
    np.copyto(out, digital, casting="unsafe")
    return out


def _samples(file: SignalFile, signals: np.ndarray, start: int, stop: int, spf: int) -> np.ndarray:
    """:func:`read_samples`' integers, as a view of the frames read wherever the layout allows."""
    f0, f1 = start // spf, -(-stop // spf)
    frames = read_frames(file, f0, f1)  # (f1 - f0, width)
    if spf == 1:
        one_each = file.width == len(file.spf)  # every signal of the file one sample a frame
        cols = (signals - file.first).tolist() if one_each else [file.columns(s).start for s in signals]
        return (frames if cols == list(range(file.width)) else frames[:, cols]).T
    cols = [c for s in signals for c in file.columns(s)]
    every = cols == list(range(file.width))  # all the file's signals, in order: no gather needed
    lead, n = start - f0 * spf, stop - start
    unit = spf * frames.itemsize  # bytes of one signal's samples in a frame
    if every and unit in (2, 4, 8) and len(set(file.spf)) == 1 and frames.flags.c_contiguous:
        # each signal's run of samples in a frame as one integer: a plain 2-D transpose, then the
        # runs end to end are the signal (2-3x faster than moving samples in runs of spf)
        runs = np.ascontiguousarray(frames.view(f"u{unit}").T)  # (signals, frames)
        return runs.view(frames.dtype)[:, lead:lead + n]
    picked = (frames if every else frames[:, cols]).reshape(f1 - f0, len(signals), spf).transpose(1, 0, 2)
    return picked.reshape(len(signals), (f1 - f0) * spf)[:, lead:lead + n]


def read_frames(file: SignalFile, start: int, stop: int) -> np.ndarray:
    """Digital samples of frames ``start .. stop - 1`` of a signal file, ``(stop - start, width)``
    integers, read from just that byte range."""
    first, last = start * file.width, stop * file.width  # flat sample numbers
    if file.fmt == "212":  # pairs of 12-bit samples in 3 bytes: start at the pair holding `first`
        lead = first % 2
        n = last - first + lead
        raw = _read_units(file, (first - lead) * 3 // 2, (3 * n + 1) // 2)
        flat = _unpack_212(raw, n)[lead:]
    elif file.fmt == "24":
        flat = _unpack_24(_read_units(file, 3 * first, 3 * (last - first)))
    else:
        flat = _read_units(file, np.dtype(FAST_DTYPES[file.fmt]).itemsize * first, last - first)
        if file.fmt == "80":  # offset binary
            flat = flat.astype(np.int16) - 128
        elif file.fmt == "160":
            flat = flat.astype(np.int32) - 32768
    return flat.reshape(stop - start, file.width)


def _read_units(file: SignalFile, byte: int, count: int) -> np.ndarray:
    """``count`` stored units (samples, or bytes for 212/24) from ``byte`` past the file's offset;
    RecordError when the file ends before them (cut after the record was opened)."""
    data = np.fromfile(file.path, dtype=FAST_DTYPES[file.fmt], count=count, offset=file.offset + byte)
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


def signal_bytes(fmt: str, n: int) -> int | None:
    """Bytes a WFDB signal file of format ``fmt`` needs for ``n`` samples; None if not computable."""
    if fmt == "212":  # two 12-bit samples in 3 bytes
        return math.ceil(n * 1.5)
    if fmt in ("310", "311"):  # three 10-bit samples in 4 bytes; 310 needs the whole word for two
        return 4 * (n // 3) + (0, 2, 4 if fmt == "310" else 3)[n % 3]
    if fmt in _BYTES_PER_SAMPLE:
        return n * _BYTES_PER_SAMPLE[fmt]
    return None


def _signal_files(h: WfdbHeader) -> dict[str, tuple[str, int, int]]:
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


def check_signal_files(folder: Path, h: WfdbHeader) -> None:
    """Check the signal files a header names exist and hold its length (where the format can be sized)."""
    top = os.fspath(folder)
    for name, (fmt, offset, per_frame) in _signal_files(h).items():
        try:
            info = os.stat(os.path.join(top, name))  # one stat a file: opening a record is the hot path
        except (OSError, ValueError):
            info = None
        if info is None or not stat.S_ISREG(info.st_mode):
            raise RecordError(f"signal file {name} is missing")
        size = info.st_size
        if size == 0:
            raise RecordError(f"signal file {name} is empty")
        needed = signal_bytes(fmt, h.sig_len * per_frame)
        if needed is not None and size < offset + needed:
            raise RecordError(
                f"signal file {name} is truncated: {size} bytes, format {fmt} needs {offset + needed}"
                f" for {h.sig_len} frames x {per_frame} samples"
            )
