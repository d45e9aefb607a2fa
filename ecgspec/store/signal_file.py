"""An opened ``extract --store signals`` file: the same Dataset as a spectrogram file, computed as it is read.

:class:`SignalFile` is a :class:`~ecgspec.store.reader.SpectrogramFile` (length, items, ``columns``,
``where``, ``exclude``, ``sampler``, ``split``, tables) whose batches are computed from ``/signals``
by the engine of the stored config (:mod:`ecgspec.store.onthefly`), one engine call a batch, on the
CPU of the process that reads (a DataLoader worker) or on ``device``. Beyond the fixed windows it
gives crops (:mod:`ecgspec.store.crops`): ``crop="random"`` one a record, drawn anew each epoch
(:meth:`SignalFile.set_epoch`), or ``stride=`` every crop at that stride.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

import numpy as np

from ..errors import OutputError
from .crops import covered, crop_flags, random_crops, strided_crops
from .onthefly import OnTheFly
from .signals import SIGNALS

__all__ = ["SignalView", "CROPS"]

CROPS = (None, "random")


class SignalView:
    """What makes a :class:`~ecgspec.store.reader.SpectrogramFile` a signals file's Dataset (the reader's
    ``SignalFile`` is this and a SpectrogramFile): see :func:`ecgspec.open` (``device``, ``crop``, ``stride``, ``seed``).

    Items are ``(spectrogram, name, start, ...)`` as for a spectrogram file; with crops, ``start`` is the
    crop's first sample and :attr:`windows` lists the crops (``record``, ``start``, ``qc``) of the epoch.
    Spectrograms are float32 (the engine's dtype), on ``device`` where given, else on the CPU.
    """

    device: Any = None
    crop: str | None = None
    stride: int | None = None
    seed: int = 0
    epoch: int = 0

    @classmethod
    def adopt(cls, file: Any, *, device: Any = None, crop: str | None = None, stride: int | None = None,
              seed: int = 0) -> Any:
        """``file`` (just opened, a signals file) as a SignalFile with these choices; OutputError on a bad one."""
        if crop not in CROPS or (stride is not None and (int(stride) != stride or stride < 1)):
            file.close()
            raise OutputError(f"{file.path}: crop must be None or 'random' (got {crop!r}) and stride an integer >= 1"
                              f" (got {stride!r})")
        if crop is not None and stride is not None:
            file.close()
            raise OutputError(f"{file.path}: crop and stride: got both; a random crop per record, or every crop at a stride")
        new = cls.__new__(cls)
        new.__dict__.update(file.__dict__)
        new.device, new.crop, new.stride, new.seed = device, crop, None if stride is None else int(stride), int(seed)
        return new

    def __getstate__(self) -> dict[str, Any]:
        return {**super().__getstate__(), "device": self.device, "crop": self.crop, "stride": self.stride,
                "seed": self.seed, "epoch": self.epoch}

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        self.device, self.crop, self.stride = state["device"], state["crop"], state["stride"]
        self.seed, self.epoch = state["seed"], state["epoch"]

    def set_epoch(self, epoch: int) -> None:
        """Draw the random crops of ``epoch`` (deterministic for the seed and epoch; a new DataLoader
        iteration hands it to its workers, so call it before each epoch's loop, as with
        ``DistributedSampler``; ``persistent_workers=True`` would keep the workers' first epoch)."""
        self.epoch = int(epoch)
        for name in ("_crops", "_items"):
            self.__dict__.pop(name, None)

    @cached_property
    def _onthefly(self) -> OnTheFly:
        return OnTheFly(self.config, self.device)

    @property
    def signals(self) -> Any:
        """The ``/signals`` dataset (samples x leads), to slice without loading it all."""
        return self._h5()[SIGNALS]

    @property
    def spectrograms(self) -> Any:
        raise OutputError(f"{self.path} stores signals, not spectrograms: index the Dataset (ds[i]) to compute them")

    def _read_batch(self, positions: np.ndarray) -> Any:
        """The spectrograms of the kept windows (or crops) at ``positions``: one engine call."""
        from .batching import batch_array

        windows = self.windows
        rows = self.records["signal_offset"][windows["record"][positions]] + windows["start"][positions]
        engine = self._onthefly.engine
        if engine.device.type != "cpu":
            return self._onthefly.spectrograms(self.signals, rows)
        _, tensor = batch_array((len(positions), *self.window_shape), np.dtype(np.float32))
        return self._onthefly.spectrograms(self.signals, rows, out=tensor)

    # -- crops ---------------------------------------------------------------------------------

    @property
    def windows(self) -> dict[str, np.ndarray]:
        """``record``, ``start`` and ``qc`` of each item: the kept fixed windows, or the epoch's crops."""
        return self._tables[1] if self.crop is None and self.stride is None else self._crops

    @property
    def _kept(self) -> np.ndarray:
        return self._tables[3] if self.crop is None and self.stride is None else np.arange(len(self._crops["start"]))

    @cached_property
    def _crops(self) -> dict[str, np.ndarray]:
        fixed = self._tables[1]
        window = int(self.config["n_samples"])
        segments = covered(fixed["record"], fixed["start"], window)
        if self.crop == "random":
            crops = random_crops(segments, window, self.seed, self.epoch, len(self.records["name"]))
        else:
            crops = strided_crops(segments, window, int(self.stride))  # type: ignore[arg-type]
        qc = crop_flags(fixed["record"], fixed["start"], fixed["qc"], crops, window)
        return {"record": crops[0], "start": crops[1], "qc": qc}

    def refresh(self) -> None:
        super().refresh()
        self.__dict__.pop("_crops", None)
