"""bench.py's inputs, built in the temporary folder: the corpus of renamed cinc2021 copies (and its
hard-linked subsets), the long 12-lead record, the multi-segment record and the multi-rate pair."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Dict, List, Optional

from bench_common import log


def cinc_sources(data: Path) -> List[tuple]:
    """(header text, signal bytes, signal file name) of each cinc2021 record, sorted by name."""
    folder = data / "cinc2021"
    headers = sorted(folder.glob("*.hea"))
    if not headers:
        raise SystemExit(f"bench: no cinc2021 records in {folder}")
    out = []
    for hea in headers:
        text = hea.read_text()
        signal_files = sorted({line.split()[0] for line in text.splitlines()[1:] if line.strip() and not line.startswith("#")})
        if len(signal_files) != 1:
            raise SystemExit(f"bench: {hea} names {len(signal_files)} signal files, expected 1")
        out.append((hea.stem, text, (folder / signal_files[0]).read_bytes(), signal_files[0]))
    return out


def renamed_header(text: str, old: str, new: str, old_file: str, new_file: str) -> str:
    """The header with the record name (first line) and the signal file name (signal lines) replaced."""
    lines = text.splitlines()
    first = lines[0].split()
    if first[0] != old:
        raise SystemExit(f"bench: header of {old} starts with {first[0]!r}")
    lines[0] = " ".join([new, *first[1:]])
    for i in range(1, len(lines)):
        parts = lines[i].split(" ")
        if parts and parts[0] == old_file:
            lines[i] = " ".join([new_file, *parts[1:]])
    return "\n".join(lines) + "\n"


class Corpus:
    """N distinctly named copies of the 50 cinc2021 records (``R000000`` ...), and hard-linked subsets."""

    def __init__(self, data: Path, root: Path, size: int) -> None:
        self.size = size  # the largest corpus any section needs; built whole on first use
        self.data = data
        self.root = root
        self.folder = root / "corpus"
        self.n = 0
        self._sources: Optional[List[tuple]] = None
        self._subsets: Dict[int, Path] = {}

    def ensure(self, n: int) -> Path:
        """The full corpus folder with at least ``n`` records (grown on demand)."""
        if n > self.n:
            t0 = time.perf_counter()
            if self._sources is None:
                self._sources = cinc_sources(self.data)
            self.folder.mkdir(parents=True, exist_ok=True)
            for i in range(self.n, n):
                stem, text, payload, signal_file = self._sources[i % len(self._sources)]
                name = f"R{i:06d}"
                ext = Path(signal_file).suffix
                (self.folder / f"{name}.hea").write_text(renamed_header(text, stem, name, signal_file, name + ext))
                (self.folder / f"{name}{ext}").write_bytes(payload)
            log(f"  corpus: {n - self.n} records written in {time.perf_counter() - t0:.1f} s")
            self.n = n
        return self.folder

    def subset(self, n: int) -> Path:
        """A folder holding exactly the first ``n`` records: the corpus itself when it has ``n``
        (it is built to the largest size first), else hard links into it."""
        self.ensure(max(n, self.size))
        if n == self.n:
            return self.folder
        if n not in self._subsets:
            folder = self.root / f"subset_{n}"
            folder.mkdir()
            for i in range(n):
                for f in self.folder.glob(f"R{i:06d}.*"):
                    try:
                        os.link(f, folder / f.name)
                    except OSError:
                        shutil.copyfile(f, folder / f.name)
            self._subsets[n] = folder
        return self._subsets[n]


def write_long_record(data: Path, folder: Path, hours: float, name: str = "LONG") -> Path:
    """A 12-lead 500 Hz fmt-16 WFDB record of ``hours`` hours: the cinc2021 signals (digital,
    gain 1000/mV) tiled, written in chunks as raw little-endian int16, with a hand-written header."""
    import wfdb

    folder.mkdir(parents=True, exist_ok=True)
    pieces, leads = [], None
    for hea in sorted((data / "cinc2021").glob("*.hea")):
        rec = wfdb.rdrecord(str(hea.with_suffix("")), physical=False)
        if rec.n_sig != 12 or rec.fs != 500:
            continue
        # back to a common gain of 1000 adu/mV (all cinc2021 records already are), baseline 0
        phys = (rec.d_signal.astype("float64") - rec.baseline) / rec.adc_gain
        pieces.append((phys * 1000).round().clip(-32767, 32767).astype("<i2"))
        leads = leads or rec.sig_name
    import numpy as np

    tile = np.ascontiguousarray(np.concatenate(pieces))  # (samples, 12), frame-interleaved
    n_samples = int(round(hours * 3600 * 500))
    dat = folder / f"{name}.dat"
    with open(dat, "wb") as fh:
        done = 0
        while done < n_samples:
            take = min(len(tile), n_samples - done)
            fh.write(tile[:take].tobytes())
            done += take
    lines = [f"{name} 12 500 {n_samples}"]
    lines += [f"{name}.dat 16 1000.0(0)/mV 16 0 0 0 0 {lead}" for lead in leads]
    (folder / f"{name}.hea").write_text("\n".join(lines) + "\n")
    return folder / f"{name}.hea"


def write_multisegment_record(folder: Path, days: float, n_segments: int, fs: int = 125, name: str = "MS") -> Path:
    """A 3-lead fixed-layout multi-segment WFDB record as MIMIC writes them: ``n_segments`` fmt-16
    segments of ``days`` days in all at ``fs`` frames/s, written with numpy (sines plus noise, one
    tile shifted per segment) and hand-written headers, wfdb's writer being far too slow for this."""
    import numpy as np

    folder.mkdir(parents=True, exist_ok=True)
    total = int(round(days * 86400 * fs))
    per = -(-total // n_segments)
    t = np.arange(2 * per) / fs
    noise = np.random.default_rng(0).normal(0, 30, (2 * per, 3))
    tile = (np.stack([800 * np.sin(2 * np.pi * f * t) for f in (1.1, 0.3, 7.0)], axis=1) + noise).astype("<i2")
    master = [f"{name}/{n_segments} 3 {fs} {total}"]
    for i in range(n_segments):
        seg, frames = f"{name}_{i:04d}", min(per, total - i * per)
        shift = (i * 7919) % per
        tile[shift:shift + frames].tofile(folder / f"{seg}.dat")
        lines = [f"{seg} 3 {fs} {frames}"] + [f"{seg}.dat 16 200/mV 16 0 0 0 0 {lead}" for lead in ("II", "V", "ABP")]
        (folder / f"{seg}.hea").write_text("\n".join(lines) + "\n")
        master.append(f"{seg} {frames}")
    (folder / f"{name}.hea").write_text("\n".join(master) + "\n")
    return folder / f"{name}.hea"



def write_multirate_pair(folder: Path, minutes: float = 30.0) -> tuple:
    """One 12-lead fmt-16 signal file read two ways: header ``one`` at 500 frames/s, one sample a
    frame, and header ``two`` at 250 frames/s, two samples a frame (``16x2``): the same samples."""
    import numpy as np

    n = int(minutes * 60 * 500)
    np.random.default_rng(0).integers(-3000, 3000, n * 12, dtype=np.int16).tofile(folder / "mr.dat")
    for name, fs, frames, fmt in (("one", 500, n, "16"), ("two", 250, n // 2, "16x2")):
        lines = [f"{name} 12 {fs} {frames}"] + [f"mr.dat {fmt} 200/mV 16 0 0 0 0 L{i}" for i in range(12)]
        (folder / f"{name}.hea").write_text("\n".join(lines) + "\n")
    return folder / "one.hea", folder / "two.hea"



def write_mimic_tree(data: Path, root: Path, n: int, n_sources: int = 10) -> Path:
    """``n`` records in MIMIC-IV-ECG's layout under ``root/files``: ``pNNNN/pNNNNNNNN/sNNNNNNNN/NNNNNNNN.hea``
    with its ``.dat`` (12 x 5000 fmt 16 at 500 Hz, MIMIC's own shape), the headers written, the signal files
    hard links to ``n_sources`` signals made from the cinc2021 records (digital values as stored)."""
    import numpy as np
    import wfdb

    files = root / "files"
    sources = root / "sources"
    sources.mkdir(parents=True, exist_ok=True)
    signals = []
    for hea in sorted((data / "cinc2021").glob("*.hea")):
        rec = wfdb.rdrecord(str(hea.with_suffix("")), physical=False)
        if rec.n_sig == 12 and rec.fs == 500 and rec.sig_len == 5000:
            path = sources / f"{len(signals)}.dat"
            path.write_bytes(np.ascontiguousarray(rec.d_signal.astype("<i2")).tobytes())
            signals.append((path, rec.sig_name, rec.adc_gain, rec.baseline))
        if len(signals) == n_sources:
            break
    for i in range(n):
        subject, study, record = 10000000 + i // 4, 50000000 + i, 40000000 + i
        folder = files / f"p{str(subject)[:4]}" / f"p{subject}" / f"s{study}"
        folder.mkdir(parents=True, exist_ok=True)
        src, leads, gains, baselines = signals[i % len(signals)]
        lines = [f"{record} 12 500 5000 13:46:00 26/09/2180"]
        lines += [f"{record}.dat 16 {g}({b})/mV 16 0 0 0 0 {lead}" for lead, g, b in zip(leads, gains, baselines)]
        (folder / f"{record}.hea").write_text("\n".join(lines) + "\n")
        os.link(src, folder / f"{record}.dat")
    return files
