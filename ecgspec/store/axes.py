"""A window's axes, for :class:`~ecgspec.store.reader.SpectrogramFile`: the bins' frequencies, each frame's
time from the window's first sample, the frames that weigh a reflect-padded sample, a window's start as a
date and time.
From ``/frames`` where the file has it, else from its config by the engine's arithmetic
(:mod:`ecgspec.engine.frames`). No torch here.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

import numpy as np

from ..engine import frames as fr
from .record_groups import time_after

__all__ = ["Axes"]


class Axes:
    """What :class:`~ecgspec.store.reader.SpectrogramFile` says of frequency and time (it supplies ``config``, ``records``,
    ``windows``, ``win_length``, ``hop_length``, ``n_fft``, ``_h5`` and ``len``)."""

    config: dict[str, Any]
    records: dict[str, np.ndarray]
    windows: dict[str, np.ndarray]
    win_length: int
    hop_length: int
    n_fft: int

    def window_start_time(self, i: int) -> str:
        """Window ``i``'s start as ISO 8601: its record's ``start_time`` plus the window's start, at the
        config fs; ``""`` where the record has no start date and time."""
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"window {i} out of range for {n} windows")
        i %= n
        start = str(self.records["start_time"][self.windows["record"][i]])
        return time_after(start, int(self.windows["start"][i]) / float(self.config["fs"]))

    @cached_property
    def frame_times(self) -> np.ndarray:
        """Seconds from a window's first sample to the centre of each frame (``/frames/time``)."""
        file = self._h5()
        if "frames/time" in file:
            return file["frames/time"][:]
        return np.array(self._geometry.times())  # a file from before /frames: the same arithmetic, from its config

    @cached_property
    def edge_frames(self) -> np.ndarray:
        """Whether each frame weighs a reflect-padded sample (``/frames/edge``)."""
        file = self._h5()
        if "frames/edge" in file:
            return file["frames/edge"][:]
        return np.array(self._geometry.edges(), dtype=bool)

    @cached_property
    def _geometry(self) -> fr.Geometry:
        c = self.config
        return fr.Geometry(c["n_samples"], c["fs"], self.win_length, self.hop_length, self.n_fft, c.get("feature_fs"))

    @cached_property
    def frequencies(self) -> np.ndarray:
        """Bin centre frequencies in Hz."""
        return self._h5()["frequencies"][:]
