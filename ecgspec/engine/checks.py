"""The project's value checks: each raises :class:`~ecgspec.errors.ConfigError` (a ``ValueError``) with
one line naming the field, the value and what is allowed.

The engine's config (:mod:`.config`) is the lowest layer that checks values; the ``extract``
command's options (:mod:`ecgspec.run.options`) and the run digest use the same checks from here.
Pure Python: no torch, no NumPy.
"""

from __future__ import annotations

import math
import numbers
import re
from typing import Any

from ..errors import ConfigError

__all__ = ["DEVICES", "check_device_spelling", "check_positive_int", "check_positive_real", "fail", "is_int", "is_real",
           "whole_numbers"]

DEVICES = "'auto', 'cpu', 'cuda' or 'cuda:N'"
_DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


def fail(field: str, value: Any, allowed: str) -> ConfigError:
    """The error for ``field``: ``field: got VALUE, ALLOWED``."""
    return ConfigError(f"{field}: got {value!r}, {allowed}")


def is_int(value: Any) -> bool:
    """An integer, not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_real(value: Any) -> bool:
    """A finite real number, not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def check_positive_int(field: str, value: Any, minimum: int = 1) -> int:
    """Return ``value`` as an int, or raise if it is not an integer >= ``minimum``."""
    if not is_int(value) or value < minimum:
        raise fail(field, value, f"must be an integer >= {minimum}")
    return int(value)


def check_positive_real(field: str, value: Any) -> float:
    """Return ``value`` as a float, or raise if it is not a finite number > 0."""
    if not is_real(value) or value <= 0:
        raise fail(field, value, "must be a finite number > 0")
    return float(value)


def check_device_spelling(value: Any) -> str:
    """The device's spelling, checked without torch (a cluster's client never touches CUDA)."""
    if not _DEVICE.match(str(value)):
        raise fail("device", value, f"must be {DEVICES}")
    return str(value)


def whole_numbers(value: Any) -> Any:
    """Integral floats as ints, inside dicts and lists too: ``fs: 500`` and ``500.0`` (YAML, API, CLI) say the same."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: whole_numbers(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [whole_numbers(v) for v in value]
    return value
