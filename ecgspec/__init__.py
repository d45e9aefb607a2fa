"""ecgspec: ECG records in, torch_ecg-exact spectrograms out, in HDF5.

>>> from ecgspec import InputConfig, SpectrogramInput
"""

__version__ = "0.1.0"

from .config import ConfigError, InputConfig  # noqa: E402
from .engine import SpectrogramInput, WaveformError  # noqa: E402
from .pipeline import ExtractResult, extract  # noqa: E402
from .store import SpectrogramFile, describe, open  # noqa: E402  (ecgspec.open, like h5py.File)

__all__ = [
    "ConfigError",
    "ExtractResult",
    "InputConfig",
    "SpectrogramFile",
    "SpectrogramInput",
    "WaveformError",
    "__version__",
    "describe",
    "extract",
    "open",
]
