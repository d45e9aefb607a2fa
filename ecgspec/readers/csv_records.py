"""CSV records (Chapman-Shaoxing and the like): a header row of lead names, then one row a sample.

In a folder, a CSV whose first line is not mostly lead names is a table of the dataset (labels,
diagnoses), not a record, and is passed over (:func:`names_leads`); a CSV named on its own is read.

The file stores no rate: it is ``--input-fs`` (by default ``--fs``), as for ``.npy``. Values are
kept as stored. The whole file is parsed once, at open (a 10 s 12-lead record is 60,000 numbers).
A body of plain integers (``-?[0-9]+`` fields, one comma between, the header's number a row, LF or
CRLF lines, a final newline or not: the common export of counts) takes a fast path
(:func:`parse_integers`: ecgspec's compiled parser, :mod:`.digits`; where it was not built,
vectorised checks of the layout, then one ``np.fromstring``); anything
else (decimals, quotes, spaces, blank lines, a malformed row) is parsed by ``np.loadtxt``, which
gives the same values for integers and, for a row with another number of values or a value that
is not a number, the RecordError naming the line.
"""

from __future__ import annotations

import csv
import io

import numpy as np

from . import digits
from .base import Record, RecordError, RecordRef, checked_header, one_line

_LEADS = {name.casefold() for name in (
    "I", "II", "III", "aVR", "aVL", "aVF", "-aVR", "X", "Y", "Z", "MLI", "MLII", "MLIII", "ECG",
    *(f"V{i}" for i in range(1, 10)), *(f"V{i}R" for i in range(1, 10)))}


def is_lead_name(field: str) -> bool:
    """Whether a header field names an ECG lead (``V1``, ``aVR``, ``MLII``, ``ECG 2``, ``Lead I``), any case."""
    key = "".join(ch for ch in field.casefold() if ch not in " _'\"")
    for prefix in ("ecglead", "lead", "ecg"):
        if key.startswith(prefix) and len(key) > len(prefix):
            rest = key[len(prefix):].lstrip("-:.")
            return rest in _LEADS or (rest.isdigit() and len(rest) <= 2)
    return key in _LEADS


def names_leads(path) -> bool:
    """Whether a CSV's first line is a header row of mostly lead names: how a folder search tells a
    record from the tables datasets keep beside their records (``labels.csv``, ``exams.csv``)."""
    try:
        with open(path, encoding="utf-8-sig", errors="replace") as fp:
            line = fp.readline(1 << 16)
    except OSError:
        return True  # open_record says why
    fields = next(csv.reader([line.rstrip("\r\n")]), [])
    return bool(fields) and 2 * sum(map(is_lead_name, fields)) >= len(fields)


class CsvRecord(Record):
    """A CSV record: its samples, parsed at open, one row a lead."""

    def __init__(self, ref: RecordRef, header, signal: np.ndarray) -> None:
        super().__init__(ref, header)
        self._signal = signal

    def _read(self, start: int, stop: int, channels: list[int]) -> np.ndarray:
        return self._signal[channels, start:stop]


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _lead_names(line: str) -> tuple[str, ...]:
    """The header row's lead names, RecordError when it is empty or a row of numbers."""
    names = tuple(name.strip() for name in next(csv.reader([line]), []))
    if not names or not any(names):
        raise RecordError("csv: the first line is empty; need a header row of lead names")
    if all(_is_number(name) for name in names):
        raise RecordError("csv: the first line holds numbers; need a header row of lead names")
    if len(set(names)) != len(names):
        raise RecordError(f"csv: the header row names a lead twice ({','.join(names)})")
    return names


_NOT_INTEGER_TEXT = b"0123456789,-\n"
_NEWLINE, _MINUS, _ZERO = 10, 45, 48
_EXACT = 2 ** 53  # integers beyond it are not all float64s (and fromstring saturates at int64's bounds)


def parse_integers(body: bytes, n_leads: int) -> np.ndarray | None:
    """The (rows, n_leads) float64 values of a body of plain integers (``-?[0-9]+`` fields, one comma
    between, ``n_leads`` a row, LF or CRLF lines, a final newline or not), or None for any other body.

    Equal to what ``np.loadtxt`` gives for such a body; None sends every other body (and every
    malformed one) to ``np.loadtxt``. :mod:`.digits`' compiled parse where it was built, else
    :func:`parse_integers_numpy`."""
    if digits.BUILT:
        return digits.csv_integers(body, n_leads)
    return parse_integers_numpy(body, n_leads)


def parse_integers_numpy(body: bytes, n_leads: int) -> np.ndarray | None:
    """:func:`parse_integers` with NumPy alone, for an install without the compiled parser (None
    for a ``-0``, too, which ``np.loadtxt`` reads as -0.0). The layout is checked with whole-array
    operations (no Python loop a row or a value) before the one C parse, so the parse never meets
    text it would stop at."""
    if b"\r" in body:
        body = body.replace(b"\r\n", b"\n")
    if body.endswith(b"\n"):
        body = body[:-1]
    if not body or body.translate(None, _NOT_INTEGER_TEXT):
        return None
    text = np.frombuffer(body, np.uint8)
    sep, minus = text < _MINUS, text == _MINUS  # sep: a comma or a newline, the only bytes below "-"
    if sep[0] or sep[-1] or (sep[1:] & sep[:-1]).any():
        return None  # an empty field
    if minus[-1] or (minus[1:] & ~sep[:-1]).any() or (minus[:-1] & (text[1:] <= _ZERO)).any():
        return None  # a sign inside a field, before no digit or before 0 (-0 is -0.0 to np.loadtxt)
    row_starts = np.append(0, np.flatnonzero(text == _NEWLINE) + 1)
    seps = np.add.reduceat(sep, row_starts, dtype=np.intp)  # a row's commas and its ending newline
    seps[-1] += 1  # the last row has no newline
    if (seps != n_leads).any():
        return None  # a row of another number of values
    values = np.fromstring(body.replace(b"\n", b","), dtype=np.int64, sep=",")
    if values.size != len(row_starts) * n_leads or values.min() <= -_EXACT or values.max() >= _EXACT:
        return None
    return values.reshape(-1, n_leads).astype(np.float64)


def _parse_loadtxt(body: str) -> np.ndarray:
    """NumPy's parse of any body; RecordError naming the data row of a bad one."""
    try:
        return np.loadtxt(io.StringIO(body), delimiter=",", dtype=np.float64, ndmin=2, quotechar='"',
                          comments=None)
    except ValueError as exc:
        raise RecordError(f"csv: {one_line(exc).replace('row ', 'data row ')}") from None


def open_csv(ref: RecordRef, input_fs: float | None) -> Record:
    """Parse a CSV record whole; RecordError for no rate, a bad header row, rows of other lengths or non-numbers."""
    if input_fs is None:
        raise RecordError("a .csv record stores no sampling rate and no input_fs was given")
    raw = ref.path.read_bytes()
    first, _, body = raw.partition(b"\n")
    leads = _lead_names(first.decode("utf-8-sig", errors="replace").rstrip("\r"))
    values = parse_integers(body, len(leads))
    if values is None:
        text = body.decode("utf-8", errors="replace")
        if not text.strip():
            raise RecordError("csv: has 0 samples (no rows after the header row)")
        values = _parse_loadtxt(text)
    if values.size and values.shape[1] != len(leads):
        raise RecordError(f"csv: the header row names {len(leads)} leads, the rows hold {values.shape[1]} values")
    header = checked_header(input_fs, values.shape[0], leads, len(leads))
    return CsvRecord(ref, header, np.ascontiguousarray(values.T, dtype=np.float32))
