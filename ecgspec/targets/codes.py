"""A record's codes from one table or header cell: a code list, a dict literal's keys, or a flag.

The cells come as ``/records/labels`` and ``/records/meta`` hold them (str, int64 or float64, NaN
for a record without a row). Codes keep their first order and appear once.
"""

from __future__ import annotations

import ast
import math
import re
from typing import Any

__all__ = ["code_list", "dict_keys", "flag"]

_SEPARATORS = re.compile(r"[,;\s]+")
_LITERAL_OPENERS = ("{", "[", "(")
_TRUE = frozenset({"true", "1", "1.0", "yes"})
_FALSE = frozenset({"false", "0", "0.0", "no", ""})


def _number_text(value: float | int) -> str:
    """A numeric cell as a code: ``426783006.0`` (a float column's integer) is ``426783006``."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _unique(codes: Any) -> tuple[str, ...]:
    out = (str(c).strip() for c in codes)
    return tuple(dict.fromkeys(c for c in out if c))


def _literal(text: str) -> Any:
    """``text`` as a Python literal (a JSON list or dict reads the same); ValueError when it is not one."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        raise ValueError(f"{_shown(text)} is not a valid literal") from None


def _shown(text: str) -> str:
    return repr(text if len(text) <= 60 else text[:57] + "...")


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or (isinstance(value, str)
                                                                                  and not value.strip())


def code_list(value: Any) -> tuple[str, ...]:
    """The codes of a cell: a list, tuple or set literal's items, a dict literal's keys (``"['I10', 'E785']"``,
    ``"{'NORM': 100.0}"``), else the text split at commas, semicolons and white space (``"426783006,164865005"``);
    a number is one code; empty or NaN: none. ValueError for a cell that opens as a literal but is not one."""
    if _empty(value):
        return ()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (_number_text(value),)
    text = str(value).strip()
    if text.startswith(_LITERAL_OPENERS):
        parsed = _literal(text)
        if not isinstance(parsed, (dict, list, tuple, set, frozenset)):
            raise ValueError(f"{_shown(text)} is not a list or dict literal")
        return _unique(_number_text(c) if isinstance(c, (int, float)) else c for c in parsed)
    return _unique(_SEPARATORS.split(text))


def dict_keys(value: Any) -> tuple[str, ...]:
    """The keys of a dict literal (PTB-XL's ``scp_codes``: ``"{'NORM': 100.0, 'SR': 0.0}"``), whatever their
    values; empty or NaN: none. ValueError for anything else."""
    if _empty(value):
        return ()
    parsed = _literal(str(value).strip())
    if not isinstance(parsed, dict):
        raise ValueError(f"{_shown(str(value))} is not a dict literal")
    return _unique(parsed)


def flag(value: Any) -> bool:
    """A boolean cell (CODE-15%'s ``True``/``False``; 1/0); empty or NaN: False. ValueError for anything else."""
    if isinstance(value, bool):
        return value
    if _empty(value):
        return False
    if isinstance(value, (int, float)):
        if value in (0, 1):
            return bool(value)
        raise ValueError(f"{value!r} is not a boolean")
    text = str(value).strip().lower()
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    raise ValueError(f"{_shown(str(value))} is not a boolean (True/False, 1/0)")
