"""``/signals``: the records' prepared signals of an ``extract --store signals`` file; no torch here.

Layout additions (a file whose config holds ``"store": "signals"``)::

    /signals               (n_samples_total, n_leads) float32|float16   every record's prepared signal, one
                                                after another in /records order, chunked by ``n_samples``
                                                (a window) along time: any window is one or two chunk reads
    /records/signal_offset (n_records,) int64  the record's first row in /signals
    /records/signal_length (n_records,) int64  its rows there (its samples at the config fs)

The file has no ``/spectrograms``; its ``/windows`` are the windows a spectrogram file of the same
run holds, and its config (the root ``config`` attribute) the spectrograms it stands for, which
:mod:`ecgspec.store.onthefly` computes as they are read. The signal rows of a record are written
before its ``/records`` row, like its windows, so a committed record's signal is complete; what
follows the last committed record is dropped by ``--resume`` (:func:`cut_after`).
"""

from __future__ import annotations

from typing import Any, Mapping

import h5py
import numpy as np

from . import tails
from .checksums import checksum_keywords
from .schema import SIGNAL_COLUMNS

__all__ = ["SIGNALS", "SignalAppends", "SIGNAL_COLUMNS", "create", "cut_after", "is_signals", "read_spans", "signal_end",
           "signal_summary"]

SIGNALS = "signals"


def is_signals(config: Mapping[str, Any]) -> bool:
    """Whether a file of this (stored) config keeps signals rather than spectrograms."""
    return config.get("store") == SIGNALS


def create(file: h5py.File, n_leads: int, window: int, dtype: np.dtype, filters: Mapping[str, Any]) -> None:
    """The empty ``/signals`` (chunks of one window's samples, ``filters`` applied) and its two /records columns."""
    file.create_dataset(SIGNALS, shape=(0, n_leads), maxshape=(None, n_leads), chunks=(max(1, window), n_leads),
                        dtype=dtype, **filters)
    for name, column in SIGNAL_COLUMNS.items():
        file.create_dataset(f"records/{name}", shape=(0,), maxshape=(None,), chunks=(4096,), dtype=column,
                            **checksum_keywords(column))


def signal_end(file: h5py.File, n_records: int) -> int:
    """The /signals rows the first ``n_records`` records hold (their last offset plus length)."""
    if n_records == 0:
        return 0
    records = file["records"]
    last = [tails.read(records[k], n_records - 1, n_records) for k in ("signal_offset", "signal_length")]
    return int(last[0][0] + last[1][0])


def append(file: h5py.File, end: int, values: np.ndarray) -> int:
    """Write ``values`` (t, n_leads) at row ``end`` of /signals (grown to fit); return the new end."""
    dataset = file[SIGNALS]
    new_end = end + len(values)
    dataset.resize(new_end, axis=0)
    dataset[end:new_end] = values
    return new_end


def cut_after(file: h5py.File, end: int) -> None:
    """Drop the /signals rows from ``end`` on (those of a record never committed)."""
    file[SIGNALS].resize(end, axis=0)


def read_spans(dataset: h5py.Dataset, starts: np.ndarray, length: int, out: np.ndarray) -> None:
    """``out[i] = dataset[starts[i] : starts[i] + length].T`` for each i: (k, n_leads, length) float32.

    Spans that overlap or touch are read together (a block of consecutive windows: one read of
    their whole range), so a shuffled block of windows costs one HDF5 read, not one a window."""
    if not len(starts):
        return
    order = np.argsort(starts, kind="stable")
    sorted_starts = starts[order]
    breaks = np.flatnonzero(sorted_starts[1:] > sorted_starts[:-1] + length) + 1
    for group in np.split(np.arange(len(starts)), breaks):
        first, last = int(sorted_starts[group[0]]), int(sorted_starts[group[-1]]) + length
        block = tails.read(dataset, first, last)  # (a partial file's last chunk torn by a kill: .tails)
        views = np.lib.stride_tricks.sliding_window_view(block, length, axis=0)  # (n, n_leads, length)
        out[order[group]] = views[sorted_starts[group] - first]


def signal_summary(dataset: h5py.Dataset, window_shape: tuple[int, ...]) -> dict[str, Any]:
    """What ``ecgspec info`` says of a signals file beyond a spectrogram file's summary: what it holds, what it computes."""
    shape = " x ".join(map(str, window_shape))
    return {"signals": {"shape": list(dataset.shape), "chunks": list(dataset.chunks or ())},
            "computes": f"each window's spectrogram ({shape} float32) by the engine of its config, as ecgspec.open"
                        " reads it"}


class SignalAppends:
    """The part of :class:`~ecgspec.store.writer.SpectrogramWriter` that writes ``/signals`` (``signals`` true):
    a record's rows are appended before its ``/records`` row, which then gets their offset and length."""

    signals: bool
    dtype: np.dtype
    _file: h5py.File
    _n_records: int
    _signal_end: int  # rows written
    _committed_signal: int  # rows of the committed records

    def _reserve(self, nbytes: int) -> None:
        raise NotImplementedError  # the writer's: room on the disk for nbytes more

    def write_signal(self, row: int, values: np.ndarray) -> None:
        """Append the next samples (t, n_leads), in the stored dtype, of record ``row``'s signal (not yet committed)."""
        if not self.signals or row != self._n_records or values.dtype != self.dtype:
            raise ValueError(f"write_signal: record row {row} (next: {self._n_records}), {values.dtype} values for a"
                             f" {self.dtype} {'signals' if self.signals else 'spectrogram'} file")
        self._reserve(values.nbytes)
        self._signal_end = append(self._file, self._signal_end, values)

    def _signal_row(self) -> dict[str, int]:
        """The committed record's /records/signal_offset and signal_length (nothing in a spectrogram file)."""
        if not self.signals:
            return {}
        row = {"signal_offset": self._committed_signal, "signal_length": self._signal_end - self._committed_signal}
        self._committed_signal = self._signal_end
        return row

    def _drop_uncommitted_signal(self) -> None:
        """Cut /signals back to the committed records' rows (a record failed part way)."""
        if self.signals and self._signal_end > self._committed_signal:
            cut_after(self._file, self._committed_signal)
            self._signal_end = self._committed_signal
