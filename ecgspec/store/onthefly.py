"""Spectrograms computed as they are read, from the ``/signals`` of an ``extract --store signals`` file.

:class:`OnTheFly` holds the engine of the file's stored config (made on first use, in the process
that uses it: a DataLoader worker makes its own) and turns a batch of windows, each a record's
signal rows ``[start, start + n_samples)``, into their spectrograms with one read per run of
overlapping windows (:func:`ecgspec.store.signals.read_spans`) and one engine call. The values are
those ``extract`` stores for the same windows (the same engine on the same samples).
"""

from __future__ import annotations

from typing import Any, Mapping

import h5py
import numpy as np

from .signals import read_spans

__all__ = ["OnTheFly", "engine_config"]

ENGINE_KEYS = ("n_channels", "n_samples", "n_bins", "fs", "window_size", "overlap_size", "feature_fs", "to1d")


def engine_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """The engine's keys of a file's stored config (its other keys say how the signals were prepared)."""
    return {k: config[k] for k in ENGINE_KEYS if k in config}


class OnTheFly:
    """The spectrograms of windows of ``/signals``, on ``device`` (None: the CPU)."""

    def __init__(self, config: Mapping[str, Any], device: Any = None) -> None:
        self.config = engine_config(config)
        self.device = device
        self._engine: Any = None

    @property
    def engine(self) -> Any:
        """The file's engine on ``device`` (imports torch; made once per process)."""
        if self._engine is None:
            from ..engine.spectrogram import SpectrogramInput

            self._engine = SpectrogramInput({**self.config, "device": str(self.device or "cpu")})
        return self._engine

    def __getstate__(self) -> dict[str, Any]:
        return {"config": self.config, "device": self.device, "_engine": None}  # each process makes its own

    def signals(self, dataset: h5py.Dataset, rows: np.ndarray) -> np.ndarray:
        """float32 (k, n_leads, n_samples): the windows whose first /signals row is ``rows``."""
        n = int(self.config["n_samples"])
        out = np.empty((len(rows), dataset.shape[1], n), dtype=np.float32)
        read_spans(dataset, np.asarray(rows, dtype=np.int64), n, out)
        return out

    def spectrograms(self, dataset: h5py.Dataset, rows: np.ndarray, out: Any = None) -> Any:
        """The spectrograms (a float32 tensor on the device, ``(k, *window_shape)``) of the windows whose
        first /signals row is ``rows``: one read per run of overlapping windows, one engine call;
        into ``out`` (a contiguous tensor of that shape on the device) where given."""
        import torch

        engine = self.engine
        signals = torch.from_numpy(self.signals(dataset, rows))
        if not len(rows):
            return torch.empty((0, *engine.config.window_shape), dtype=engine.dtype, device=engine.device)
        return engine(signals.to(engine.device, non_blocking=True), out=out)
