"""Plain decimal integers in text, as float64: the compiled parser of the text readers.

CSV records and HL7 aECG digits store a 10 s 12-lead record as 60,000 decimal numbers. NumPy's
fastest parse of them takes longer than reading a binary record whole, so ecgspec parses the
happy path in C (``_digits.c``, built at install; optional, so an install without a C compiler
still works and the readers parse with NumPy, the same values, slower). Each function gives
None for any text that is not exactly its layout, and when the parser was not built: the reader
then parses the text as before, so every rule and every error message stays in the reader.
"""

from __future__ import annotations

import numpy as np

try:
    from . import _digits
except ImportError:  # built without a C compiler
    _digits = None

BUILT = _digits is not None


def csv_integers(body: bytes, n_cols: int) -> np.ndarray | None:
    """The (rows, n_cols) float64 values of a CSV body of plain integers (``-?[0-9]+`` fields of
    magnitude below 2^53, one comma between, ``n_cols`` a row, LF or CRLF lines, a final newline
    or not; ``-0`` is -0.0), or None for any other body."""
    raw = _digits.csv_integers(body, n_cols) if BUILT else None
    return None if raw is None else np.frombuffer(raw, np.float64).reshape(-1, n_cols)


def spaced_integers(text: bytes | memoryview, scale: float | None = None, offset: float = 0.0) -> np.ndarray | None:
    """The float64 values of ``-?[0-9]+`` tokens (magnitude below 2^53) between runs of XML
    whitespace, at least one; ``-0`` is -0.0; None for any other text. With ``scale``, float32:
    ``values * scale``, plus ``offset`` where it is not 0, in float64, then rounded, as NumPy
    gives it (one pass, no float64 array)."""
    if not BUILT:
        return None
    raw = _digits.spaced_integers(text) if scale is None else _digits.spaced_integers(text, scale, offset)
    return None if raw is None else np.frombuffer(raw, np.float64 if scale is None else np.float32)
