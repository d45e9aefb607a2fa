"""ecgspec: ECG records in, torch_ecg-exact spectrograms out, in HDF5.

>>> from ecgspec import InputConfig, SpectrogramInput

The package follows the data's path: :mod:`ecgspec.readers` (records on disk),
:mod:`ecgspec.signal` (leads, resampling, windows, quality flags), :mod:`ecgspec.engine`
(the spectrogram), :mod:`ecgspec.targets` (class vocabularies and splits, pure),
:mod:`ecgspec.store` (the HDF5 file), :mod:`ecgspec.run` (an ``extract`` run);
:mod:`ecgspec.cli` is a thin layer on top. Imports only look down the layers ``errors`` <
``engine`` < ``readers`` < ``signal`` < ``targets`` < ``store`` < ``run`` < ``cli``/``plot``. Every error is an :class:`EcgspecError`
(:mod:`ecgspec.errors`).

The public names are imported on first use (PEP 562), so that ``ecgspec --help``,
``shape`` and ``info`` start without importing torch, scipy or wfdb. ``ecgspec.open`` is
not in ``__all__``: ``from ecgspec import *`` leaves the built-in ``open`` alone.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .errors import ConfigError, EcgspecError, ExtractError, OutputError, RecordError, WaveformError

__version__ = "0.1.0"

# public name -> the module that defines it
_HOMES = {
    "InputConfig": "engine.config",
    "SpectrogramInput": "engine.spectrogram",
    "ExtractResult": "run.api",
    "extract": "run.api",
    "SpectrogramFile": "store.reader",
    "describe": "store.summary",
    "open": "store.reader",  # ecgspec.open, like h5py.File
    "split": "store.sampling",
    "BlockSampler": "store.sampling",
}

__all__ = [
    "ConfigError", "EcgspecError", "ExtractError", "ExtractResult", "InputConfig", "OutputError", "RecordError",
    "SpectrogramFile", "SpectrogramInput", "WaveformError", "__version__", "describe", "extract", "split",
]

if TYPE_CHECKING:  # for type checkers and editors
    from .engine.config import InputConfig
    from .engine.spectrogram import SpectrogramInput
    from .run.api import ExtractResult, extract
    from .store.reader import SpectrogramFile, open  # noqa: A004, F401 - ecgspec.open, as h5py.File
    from .store.sampling import BlockSampler, split  # noqa: F401
    from .store.summary import describe  # noqa: F401


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'ecgspec' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_HOMES[name]}", __name__), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*__all__, *_HOMES})
