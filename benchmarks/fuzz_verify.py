"""Bit-flip fuzzer of `ecgspec verify`: every single-bit flip in a finished file's stored values is found.

    python benchmarks/fuzz_verify.py [--cases 500] [--seed 1] [--records 300]

A finished output of small records (1-4 windows each, spectrograms of 8 KiB, so a few dozen
chunks) is written once; each case flips one random bit of its stored values (80% in a chunk
of a numeric dataset: the spectrograms, the window and record columns, the lead masks, the
frequencies; 20% in the text of a string in its global-heap collection: a record's name,
source or leads) and runs the verification, then flips the bit back. Each case must report
the block holding the flip and name at least one record where the block is a record's (a
failure otherwise); the undamaged file must report nothing, before and after. Prints one
summary line; exit status 1 on a failure. tests/store/test_checksums.py runs 50 cases.
"""

from __future__ import annotations

import argparse
import struct
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHAPE = (2, 32, 32)  # 8 KiB a window: 256 windows a chunk
NUMERIC = ("spectrograms", "windows/record", "windows/start", "windows/qc", "records/n_windows", "records/fs",
           "records/lead_mask", "frequencies")
STRINGS = ("records/name", "records/source", "records/leads")


def build(path: Path, n_records: int) -> Path:
    """A finished output of ``n_records`` records, values fixed by name."""
    from ecgspec.store.layout import RecordRow
    from ecgspec.store.writer import SpectrogramWriter

    config = {"n_channels": 2, "n_samples": 5000, "n_bins": 32, "fs": 500, "window_size": 0.05}
    attrs = {"config": config, "n_fft": 62, "win_length": 25, "hop_length": 13, "ecgspec_version": "0.1.0"}
    w = SpectrogramWriter(path, window_shape=SHAPE, frequencies=np.arange(32) * 7.8, attrs=attrs, durable=False)
    for i in range(n_records):
        name = f"rec{i:05d}"
        rng = np.random.default_rng(list(name.encode()))
        n = int(rng.integers(1, 5))
        w.write_windows(np.full(n, w.next_record_row), np.arange(n) * 2500, rng.random((n, *SHAPE), dtype=np.float32))
        w.commit_record(RecordRow(name, f"/data/{name}.hea", 500.0, 5000, "I,II", n, 0, "500.0,500.0"))
    return w.finish()


def chunk_targets(path: Path) -> list[tuple[str, int, int, int]]:
    """(dataset, first row, byte offset, stored size) of every chunk of the numeric datasets."""
    import h5py

    out = []
    with h5py.File(path, "r") as f:
        for name in NUMERIC:
            d = f[name]
            for i in range(d.id.get_num_chunks()):
                info = d.id.get_chunk_info(i)
                out.append((name, info.chunk_offset[0], info.byte_offset, info.size))
    return out


def string_text(path: Path, name: str, row: int) -> tuple[int, int]:
    """(byte offset, length) of the text of row ``row`` of string dataset ``name`` in its global-heap collection
    (file format specification: a cell is length, collection address, object index; a collection is
    ``GCOL``, version, size, then objects of index, references, size and data padded to 8 bytes)."""
    import h5py

    with h5py.File(path, "r") as f:
        d = f[name]
        _, raw = d.id.read_direct_chunk((row - row % d.chunks[0],))
        rows = d.chunks[0]
    cell = len(raw) // rows
    _, address, index = struct.unpack_from("<IQI", raw, (row % rows) * cell)
    with open(path, "rb") as fh:
        fh.seek(address)
        data = fh.read(1 << 20)
    if data[:4] != b"GCOL":
        raise ValueError(f"{name} row {row}: no global-heap collection at {address}")
    at = 16
    while True:
        obj, _, size = struct.unpack_from("<HH4xQ", data, at)
        if obj == index:
            return address + at + 16, size
        if obj == 0:
            raise ValueError(f"{name} row {row}: object {index} not in its collection")
        at += 16 + -(-size // 8) * 8


def flip(path: Path, at: int, bit: int) -> None:
    with open(path, "r+b") as fh:
        fh.seek(at)
        byte = fh.read(1)[0]
        fh.seek(at)
        fh.write(bytes([byte ^ (1 << bit)]))


@dataclass
class Summary:
    cases: int = 0
    found: int = 0
    failures: list[str] = field(default_factory=list)
    false_alarms: int = 0
    seconds: float = 0.0

    def line(self) -> str:
        return (f"{self.cases} single-bit flips: {self.found} found, {len(self.failures)} missed or unnamed,"
                f" {self.false_alarms} reports on the undamaged file, {self.seconds:.0f} s")


def one_case(path: Path, rng: np.random.Generator, targets: list, n_records: int) -> str | None:
    """Flip one bit, verify, flip it back; the failure, or None when the flip was found and named."""
    from ecgspec.store.verify import verify_file

    if rng.random() < 0.8:
        name, first, at, size = targets[int(rng.integers(len(targets)))]
        where = at + int(rng.integers(size))
    else:
        name, first = str(rng.choice(STRINGS)), int(rng.integers(n_records))
        at, size = string_text(path, name, first)
        where = at + int(rng.integers(size))
    bit = int(rng.integers(8))
    flip(path, where, bit)
    try:
        report = verify_file(path)
    finally:
        flip(path, where, bit)
    found = any(d.name == name and d.start <= first < d.stop for d in report.damage)
    named = bool(report.damaged) or name == "frequencies"
    return None if found and named else f"{name} row {first} byte {where} bit {bit}: {report.lines()[-1]}"


def fuzz(n_cases: int, seed: int, n_records: int, folder: Path) -> Summary:
    """Write the file in ``folder``, then run ``n_cases`` flips on it."""
    sys.path.insert(0, str(ROOT))
    from ecgspec.store.verify import verify_file

    started = time.monotonic()
    path = build(folder / "out.h5", n_records)
    targets = chunk_targets(path)
    rng = np.random.default_rng(seed)
    summary = Summary(false_alarms=int(bool(verify_file(path).damage)))
    for _ in range(n_cases):
        failure = one_case(path, rng, targets, n_records)
        summary.cases += 1
        if failure is None:
            summary.found += 1
        else:
            summary.failures.append(failure)
    summary.false_alarms += int(bool(verify_file(path).damage))
    summary.seconds = time.monotonic() - started
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=500)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--records", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ecgspec-fuzz-verify-") as folder:
        summary = fuzz(args.cases, args.seed, args.records, Path(folder))
    print(summary.line())
    for problem in summary.failures:
        print(f"  {problem}")
    sys.exit(1 if summary.failures or summary.false_alarms else 0)


if __name__ == "__main__":
    main()
