"""ecgspec: ECG records in, torch_ecg-exact spectrograms out, in HDF5.

>>> from ecgspec import InputConfig, SpectrogramInput

The public names are imported on first use (PEP 562), so that ``ecgspec --help``,
``shape`` and ``info`` start without importing torch, scipy or wfdb.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> the module that defines it
_HOMES = {
    "ConfigError": "config",
    "InputConfig": "config",
    "SpectrogramInput": "engine",
    "WaveformError": "engine",
    "ExtractResult": "pipeline",
    "extract": "pipeline",
    "SpectrogramFile": "reader",
    "describe": "reader",
    "open": "reader",  # ecgspec.open, like h5py.File
    "split": "sampling",
    "BlockSampler": "sampling",
}

__all__ = sorted([*_HOMES, "__version__"])

if TYPE_CHECKING:  # for type checkers and editors
    from .config import ConfigError, InputConfig
    from .engine import SpectrogramInput, WaveformError
    from .pipeline import ExtractResult, extract
    from .reader import SpectrogramFile, describe, open
    from .sampling import BlockSampler, split


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'ecgspec' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_HOMES[name]}", __name__), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return __all__
