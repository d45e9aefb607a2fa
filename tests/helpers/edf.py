"""EDF+ and BDF+ files written by edfio, and the bad ones made from them, each with what its one-line error says."""

from __future__ import annotations

from pathlib import Path

import edfio
import numpy as np


def write_edf(folder: Path, name: str, rates: list[float], seconds: int = 10, bdf: bool = False,
          annotations: bool = True, dimension: str = "uV") -> tuple[Path, list[np.ndarray]]:
    """An EDF+ (or BDF+) file of sines plus noise, one signal per rate, with an annotation signal."""
    rng = np.random.default_rng(len(rates) + seconds)
    kind, signal = (edfio.Bdf, edfio.BdfSignal) if bdf else (edfio.Edf, edfio.EdfSignal)
    data = [np.sin(np.arange(int(r * seconds)) / 7) * 900 + rng.normal(0, 50, int(r * seconds)) for r in rates]
    signals = [signal(x, r, label=f"ECG {i}", physical_dimension=dimension, physical_range=(-2000, 2000))
               for i, (x, r) in enumerate(zip(data, rates))]
    notes = [edfio.EdfAnnotation(1.5, None, "beat")] if annotations else None
    path = folder / f"{name}.{'bdf' if bdf else 'edf'}"
    kind(signals, annotations=notes).write(path)
    return path, data


def _cut(path: Path, keep: int) -> None:
    """Keep the first ``keep`` bytes."""
    path.write_bytes(path.read_bytes()[:keep])


def _poke(path: Path, at: int, text: bytes) -> None:
    """Overwrite bytes from ``at`` with ``text``."""
    raw = bytearray(path.read_bytes())
    raw[at:at + len(text)] = text
    path.write_bytes(bytes(raw))


BAD_EDF = {  # case -> (spoil a written file, what its one-line error says)
    "truncated mid-record": (lambda p: _cut(p, p.stat().st_size - 7), "truncated: the file ends inside data record"),
    "whole records missing": (lambda p: _poke(p, 236, b"12      "), "truncated: the header says 12 data records, the file holds 10"),
    "header cut": (lambda p: _cut(p, 100), "header: 100 bytes"),
    "signal count not a number": (lambda p: _poke(p, 252, b"x   "), "header: invalid literal for int() with base 10: 'x'"),
    "header size wrong": (lambda p: _poke(p, 184, b"999     "), "header: says 2 signals in 999 bytes"),
    "empty file": (lambda p: _cut(p, 0), "header: 0 bytes"),
    "zero duration": (lambda p: _poke(p, 244, b"0       "), "data record duration 0"),
}
