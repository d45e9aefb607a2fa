"""ecgspec: ECG records in, torch_ecg-exact spectrograms out, in HDF5.

>>> from ecgspec import InputConfig, SpectrogramInput
"""

from .config import ConfigError, InputConfig
from .engine import SpectrogramInput, WaveformError

__version__ = "0.1.0"

__all__ = ["ConfigError", "InputConfig", "SpectrogramInput", "WaveformError", "__version__"]
