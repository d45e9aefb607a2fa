"""ecgspec: ECG records in, torch_ecg-exact spectrograms out, in HDF5.

>>> from ecgspec import InputConfig, SpectrogramInput

The names below are imported on first use (PEP 562), so that ``import ecgspec.reader``
(``ecgspec info``) does not import torch through the pipeline.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

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
}

__all__ = sorted([*_HOMES, "__version__"])


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'ecgspec' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_HOMES[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
