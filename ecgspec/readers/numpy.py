"""``.npy`` and ``.npz`` records: ``(n_signals, n_samples)`` arrays; ``.npz`` also holds ``fs`` and may
hold ``leads``. ``.npy`` reads are memory-mapped slices; an ``.npz`` member cannot be memory-mapped,
so its signal is loaded once, on the first read."""

from __future__ import annotations

from typing import IO

import numpy as np

from .base import Record, RecordError, RecordRef, checked_header, record_errors


class NpyRecord(Record):
    def _read(self, start: int, stop: int, channels: list[int]) -> np.ndarray:
        return np.load(self.ref.path, mmap_mode="r", allow_pickle=False)[channels, start:stop]


class NpzRecord(Record):
    _signal: np.ndarray | None = None

    def _read(self, start: int, stop: int, channels: list[int]) -> np.ndarray:
        if self._signal is None:
            with open(self.ref.path, "rb") as fp, np.load(fp, allow_pickle=False) as npz:
                self._signal = npz["signal"]
        return self._signal[channels, start:stop]


def _npy_header(fp: IO[bytes], what: str) -> tuple[int, ...]:
    """(n_signals, n_samples) from a .npy header, or RecordError for a shape/dtype we cannot use."""
    version = np.lib.format.read_magic(fp)
    read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, _, dtype = read(fp)
    if dtype.kind not in "iuf":
        raise RecordError(f"{what} has dtype {dtype}; need real numbers (int, uint or float)")
    if len(shape) != 2:
        raise RecordError(f"{what} has shape {shape}; need (n_channels, n_samples)")
    return shape


def open_npy(ref: RecordRef, input_fs: float | None) -> Record:
    if input_fs is None:
        raise RecordError("a .npy record stores no sampling rate and no input_fs was given")
    with record_errors("npy: cannot read"):
        with open(ref.path, "rb") as fp:
            n_signals, n_samples = _npy_header(fp, "npy")
        np.load(ref.path, mmap_mode="r", allow_pickle=False)  # fails here if truncated
    return NpyRecord(ref, checked_header(input_fs, n_samples, (), n_signals))


def _npz_leads(npz: np.lib.npyio.NpzFile, n_signals: int) -> tuple[str, ...]:
    """The optional ``leads`` array of an .npz: strings, one per signal."""
    if "leads" not in npz.files:
        return ()
    leads = npz["leads"]
    if leads.dtype.kind not in "US" or leads.shape != (n_signals,):
        raise RecordError(f"npz 'leads' has dtype {leads.dtype} shape {leads.shape}; need {n_signals} strings")
    return tuple(s.decode() if isinstance(s, bytes) else str(s) for s in leads.tolist())


def open_npz(ref: RecordRef) -> Record:
    with record_errors("npz: cannot read"):
        with open(ref.path, "rb") as fp, np.load(fp, allow_pickle=False) as npz:  # closed even if not a zip
            for key in ("signal", "fs"):
                if key not in npz.files:
                    raise RecordError(f"npz has no '{key}' array")
            with npz.zip.open("signal.npy") as member:
                n_signals, n_samples = _npy_header(member, "npz 'signal'")
            fs = npz["fs"]
            if fs.size != 1 or fs.dtype.kind not in "iuf":
                raise RecordError(f"npz 'fs' has dtype {fs.dtype} shape {fs.shape}; need one number")
            leads = _npz_leads(npz, n_signals)
    return NpzRecord(ref, checked_header(fs.item(), n_samples, leads, n_signals))
