"""Records as the pipeline would compute them, written through the real SpectrogramWriter as the
pipeline's loop writes them: the store tested without the engine or the readers."""

from __future__ import annotations

import contextlib
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import h5py
import numpy as np

from ecgspec.store.layout import RecordRow
from ecgspec.store.writer import SpectrogramWriter

SMALL = (2, 5, 7)  # one window's shape: small, so many records stay light
FREQUENCIES = np.arange(5) * 62.5
CONFIG = {"n_channels": 2, "n_samples": 5000, "n_bins": 5, "fs": 500, "window_size": 0.05}


@dataclass
class Fake:
    """A record as the pipeline would compute it: its row and its windows."""

    row: RecordRow
    starts: np.ndarray
    spectrograms: np.ndarray


def fake_records(names: list[str], shape: tuple[int, ...] = SMALL, seed: int = 0) -> list[Fake]:
    """Records with 1-4 random windows each ("empty": none), the same for a name whatever else is in the list."""
    out = []
    for name in names:
        rng = np.random.default_rng([seed, *name.encode()])
        n = int(rng.integers(1, 5)) if name != "empty" else 0
        row = RecordRow(name, f"/data/{name}.hea", 500.0, 5000 + n, "I,II", n, int(rng.integers(0, 3)), "500.0,125.0")
        values = rng.random((n, *shape), dtype=np.float32) * 100
        out.append(Fake(row, np.arange(n, dtype=np.int64) * 2500, values))
    return out


def writer(path: Path, shape: tuple[int, ...] = SMALL, config: dict | None = None, **kwargs) -> SpectrogramWriter:
    attrs = {"config": config or CONFIG, "n_fft": 8, "win_length": 25, "hop_length": 13, "ecgspec_version": "0.1.0"}
    return SpectrogramWriter(path, window_shape=shape, frequencies=FREQUENCIES, attrs=attrs, **kwargs)


def compute(w: SpectrogramWriter, record: Fake) -> int:
    """Write a record's windows then commit it, as the pipeline does for a record it computes."""
    n = record.row.n_windows
    w.write_windows(np.full(n, w.next_record_row), record.starts, record.spectrograms)
    return w.commit_record(record.row)


def run(w: SpectrogramWriter, records: list[Fake], errors: dict[str, str] | None = None) -> Path:
    """The pipeline's loop: sorted names, those the file keeps skipped, the rest computed; then finish."""
    done = w.done_names
    for record in sorted(records, key=lambda r: r.row.name):
        if record.row.name not in done:
            compute(w, record)
    for name, message in (errors or {}).items():
        w.add_error(name, message)
    return w.finish()


def chunks(path: Path, name: str) -> list[tuple[int, int, int]]:
    """(first row, byte offset, stored size) of each chunk of dataset ``name`` (a partial file's too)."""
    with h5py.File(path, "r", swmr=path.name.endswith(".partial")) as f:
        d = f[name]
        infos = [d.id.get_chunk_info(i) for i in range(d.id.get_num_chunks())]
        return [(info.chunk_offset[0], info.byte_offset, info.size) for info in infos]


def flip(path: Path, at: int, bit: int = 0) -> None:
    """Flip bit ``bit`` of byte ``at`` of ``path``: damage as a disk or a copy leaves it."""
    with open(path, "r+b") as fh:
        fh.seek(at)
        byte = fh.read(1)[0]
        fh.seek(at)
        fh.write(bytes([byte ^ (1 << bit)]))


def new_writer(path: Path, **kwargs) -> SpectrogramWriter:
    """A writer of ``SMALL`` windows with the seed config's STFT sizes, no fsync (tests of the file itself)."""
    attrs = {"config": CONFIG, "n_fft": 8, "win_length": 25, "hop_length": 13, "ecgspec_version": "0.1.0"}
    return SpectrogramWriter(path, window_shape=SMALL, frequencies=FREQUENCIES, attrs=attrs, durable=False, **kwargs)


@contextlib.contextmanager
def tmpfs(folder: Path, size: str, refused: Callable[[str], None]) -> Iterator[Path]:
    """``folder`` as a tmpfs of ``size`` (``"600m"``; mounting needs root), unmounted at the end;
    ``refused(reason)`` (pytest.skip or pytest.fail) where it cannot be mounted."""
    folder.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True)
    if done.returncode != 0:
        refused(f"mounting a tmpfs needs root, refused here: {done.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)

