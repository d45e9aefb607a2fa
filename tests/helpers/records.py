"""Records for the tests: one at several rates in memory, and WFDB files in the formats wfdb cannot write.

``MultiRateRecord`` implements the reader contract in memory, so windowing and the pipeline are
tested on any rates (the readers of real multi-frequency formats are tested on files in
tests/readers); ``as_format`` turns a record ``wfdb.wrsamp`` wrote into format 61 or 160.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ecgspec.readers import Header, Record, RecordRef, find_records

Signal = np.ndarray | Callable[[int, int], np.ndarray]  # samples, or (start, stop) -> samples


class MultiRateRecord(Record):
    """Signal ``i`` at ``rates[i]`` Hz: an array, or a function of (start, stop) generating it."""

    def __init__(self, ref: RecordRef, signals: Sequence[Signal], rates: Sequence[float], lengths: Sequence[int],
                 leads: Sequence[str] = (), fs: float | None = None) -> None:
        fs = max(rates) if fs is None else fs
        n = max(round(length * fs / rate) for length, rate in zip(lengths, rates))
        header = Header(fs, n, tuple(leads), len(signals), tuple(float(r) for r in rates), tuple(lengths))
        super().__init__(ref, header)
        self.signals = list(signals)
        self.reads: list[tuple[int, int, int]] = []  # (start, stop, rate) of every read, for memory checks

    def read(self, start: int, stop: int, channels: Sequence[int]) -> np.ndarray:
        channels = [int(c) for c in channels]
        rates = {self.header.rate(c) for c in channels}
        if len(rates) != 1:
            raise ValueError(f"read: channels {channels} have different rates {sorted(rates)}")
        length = min(self.header.length(c) for c in channels)
        if not 0 <= start <= stop <= length:
            raise ValueError(f"read({start}, {stop}): need 0 <= start <= stop <= {length}")
        self.reads.append((start, stop, rates.pop()))
        rows = [s[start:stop] if isinstance(s, np.ndarray) else s(start, stop) for s in map(self.signals.__getitem__, channels)]
        return np.ascontiguousarray(np.stack(rows), dtype=np.float32).reshape(len(channels), stop - start)


def impulses(period: int) -> Callable[[int, int], np.ndarray]:
    """Unit impulses at every multiple of ``period`` samples, generated for any range (a 24 h marker train)."""

    def generate(start: int, stop: int) -> np.ndarray:
        n = np.arange(start, stop)
        return (n % period == 0).astype(np.float32)

    return generate


def as_format(folder: Path, name: str, fmt: str) -> Path:
    """Record ``name``'s header, its fmt-16 signal file first converted to format 61 or 160 (which wfdb
    cannot write) when ``fmt`` says so: the same samples, big-endian or offset binary."""
    header = folder / f"{name}.hea"
    if fmt in ("61", "160"):
        dat = folder / f"{name}.dat"
        samples = np.fromfile(dat, dtype="<i2")
        dat.write_bytes(samples.astype(">i2").tobytes() if fmt == "61" else
                        (samples.astype(np.int32) + 32768).astype("<u2").tobytes())
        header.write_text(re.sub(r"\.dat 16(?=[ x])", f".dat {fmt}", header.read_text()))
    return header


def found_ref(path: Path) -> RecordRef:
    """The one record discovery finds at ``path``, found without problems."""
    refs, problems = find_records([path])
    assert problems == [] and len(refs) == 1
    return refs[0]
