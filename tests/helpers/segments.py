"""Multi-segment WFDB records (fixed and variable layout) written by ``wfdb.wrsamp`` with master and
layout headers, and the bad ones made from them, each with what its one-line error says."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import wfdb

SEG_FS = 125  # frames a second of the multi-segment records built here


def segment(folder: Path, name: str, names: list[str], spf: list[int], frames: int, seed: int,
            fmt: str = "16") -> None:
    """A segment written by wfdb: random signals (NaN here and there), ``spf[i]`` samples a frame."""
    rng = np.random.default_rng(seed)
    signals = []
    for s in spf:
        x = rng.integers(-2000, 2000, frames * s) / 100.0
        x[rng.random(frames * s) < 0.03] = np.nan
        signals.append(x)
    wfdb.wrsamp(name, SEG_FS, ["mV"] * len(names), names, e_p_signal=signals, samps_per_frame=spf,
                fmt=[fmt] * len(names), adc_gain=[100.0] * len(names), baseline=[0] * len(names),
                write_dir=str(folder))


def master(folder: Path, name: str, n_sig: int, segments: list[tuple[str, int]], length: int | None = None) -> Path:
    """A master header naming ``segments`` (name, frames; ``~`` a gap), ``length`` frames (their sum by default)."""
    total = sum(n for _, n in segments) if length is None else length
    lines = [f"{name}/{len(segments)} {n_sig} {SEG_FS} {total}"] + [f"{s} {n}" for s, n in segments]
    (folder / f"{name}.hea").write_text("\n".join(lines) + "\n")
    return folder / f"{name}.hea"


def layout(folder: Path, name: str, names: list[str], spf: list[int]) -> None:
    """A variable layout's header: the signals ``names`` at ``spf`` samples a frame, no samples."""
    lines = [f"{name} {len(names)} {SEG_FS} 0"] + [f"~ 0x{s} 100/mV 16 0 0 0 0 {n}" for n, s in zip(names, spf)]
    (folder / f"{name}.hea").write_text("\n".join(lines) + "\n")


def fixed(folder: Path, spf: tuple[int, ...] = (1, 2), gap: bool = True) -> Path:
    """Three segments of 40, 7 and 93 frames, two signals, a gap of 11 frames in between (wfdb cannot
    read a fixed layout with gaps, so the comparison with it goes without)."""
    for i, (frames, fmt) in enumerate([(40, "16"), (7, "212"), (93, "16")]):
        segment(folder, f"f_{i}", ["II", "V"], list(spf), frames, seed=i, fmt=fmt)
    return master(folder, "f", 2, [("f_0", 40), ("f_1", 7)] + [("~", 11)] * gap + [("f_2", 93)])


def variable(folder: Path) -> Path:
    """A layout of II (2 samples a frame), V, PLETH; a segment without V, a gap, one in another order."""
    layout(folder, "v_layout", ["II", "V", "PLETH"], [2, 1, 1])
    segment(folder, "v_1", ["II", "V"], [2, 1], 30, seed=1)
    segment(folder, "v_2", ["PLETH", "II"], [1, 2], 45, seed=2, fmt="212")
    segment(folder, "v_3", ["V", "II", "PLETH"], [1, 2, 1], 17, seed=3)
    return master(folder, "v", 3, [("v_layout", 0), ("v_1", 30), ("~", 20), ("v_2", 45), ("v_3", 17)])


def _edit(path: Path, old: str, new: str) -> None:
    """Replace ``old`` by ``new`` in a text file."""
    path.write_text(path.read_text().replace(old, new))


BAD_SEGMENTS = {  # case -> (make it in a folder, what its one-line error says)
    "missing segment": (lambda f: (fixed(f), (f / "f_1.hea").unlink()), "segment f_1: header f_1.hea is missing"),
    "missing segment signal file": (lambda f: (fixed(f), (f / "f_2.dat").unlink()), "segment f_2: signal file f_2.dat is missing"),
    "truncated segment": (lambda f: (fixed(f), (f / "f_0.dat").write_bytes(b"\0" * 10)), "segment f_0: signal file f_0.dat is truncated"),
    "fewer signals than its layout": (lambda f: (fixed(f), segment(f, "f_1", ["II"], [1], 7, seed=5)),
                                      "segment f_1 has 1 signals, its layout 2"),
    "zero-length segment": (lambda f: (fixed(f), _edit(f / "f.hea", "f_1 7", "f_1 0\nf_3 7")), "segment f_1 has length 0"),
    "lengths not summing to the master's": (lambda f: (fixed(f), _edit(f / "f.hea", "2 125 151", "2 125 150")),
                                            "add up to 151 frames, the master header says 150"),
    "segment shorter than the master says": (lambda f: (fixed(f), _edit(f / "f.hea", "f_1 7\n~ 11", "f_1 8\n~ 10")),
                                             "segment f_1 has 7 frames, the master header says 8"),
    "samples per frame differ from the layout": (lambda f: (variable(f), _edit(f / "v_layout.hea", "0x2 ", "0x3 ")),
                                                 "segment v_1 stores signal II at 2 samples a frame, its layout at 3"),
    "signal not in the layout": (lambda f: (variable(f), _edit(f / "v_3.hea", " PLETH", " SpO2")), "signal 'SpO2'"),
    "missing layout": (lambda f: (variable(f), (f / "v_layout.hea").unlink()), "segment v_layout: header v_layout.hea is missing"),
}


FIXED = [("_0001", 600), ("~", 300), ("_0002", 500), ("_0003", 700)]  # 16.8 s at 125 frames/s


def write_fixed(folder: Path, name: str = "f") -> Path:
    """A fixed layout of II (1 sample a frame) and V (2), segments of 600, 500, 700 frames with a
    300-frame gap; the second segment in format 212."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, (seg, frames) in enumerate(p for p in FIXED if p[0] != "~"):
        segment(folder, f"{name}{seg}", ["II", "V"], [1, 2], frames, seed=i, fmt="212" if i == 1 else "16")
    return master(folder, name, 2, [(s if s == "~" else f"{name}{s}", n) for s, n in FIXED])
