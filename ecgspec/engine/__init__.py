"""The engine: torch_ecg's ``SpectrogramInput``, same numbers, less work.

:mod:`.config` checks the config (no torch), :mod:`.frames` names the STFT's frame
arithmetic (pure Python), :mod:`.functional` holds the pure torch functions (as
torchaudio's ``functional``), and :mod:`.spectrogram` the :class:`SpectrogramInput`
module. Importing this package imports no torch: ``SpectrogramInput`` and
``WaveformError`` load :mod:`.spectrogram` on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .config import InputConfig

__all__ = ["InputConfig", "SpectrogramInput"]

if TYPE_CHECKING:
    from .spectrogram import SpectrogramInput


def __getattr__(name: str) -> Any:
    if name == "SpectrogramInput":
        return importlib.import_module(".spectrogram", __name__).SpectrogramInput
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
