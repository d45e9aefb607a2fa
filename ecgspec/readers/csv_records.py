"""CSV records (Chapman-Shaoxing and the like): a header row of lead names, then one row a sample.

In a folder, a CSV whose first line is not mostly lead names is a table of the dataset (labels,
diagnoses), not a record, and is passed over (:func:`names_leads`); a CSV named on its own is read.

The file stores no rate: it is ``--input-fs`` (by default ``--fs``), as for ``.npy``. Values are
kept as stored. The whole file is parsed once, at open (a 10 s 12-lead record is 60,000 numbers),
with NumPy's C parser; a row with another number of values, or a value that is not a number, is a
RecordError naming the line.
"""

from __future__ import annotations

import csv
import io

import numpy as np

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


def open_csv(ref: RecordRef, input_fs: float | None) -> Record:
    """Parse a CSV record whole; RecordError for no rate, a bad header row, rows of other lengths or non-numbers."""
    if input_fs is None:
        raise RecordError("a .csv record stores no sampling rate and no input_fs was given")
    text = ref.path.read_text(encoding="utf-8-sig", errors="replace")
    first, _, body = text.partition("\n")
    leads = _lead_names(first.rstrip("\r"))
    if not body.strip():
        raise RecordError("csv: has 0 samples (no rows after the header row)")
    try:
        values = np.loadtxt(io.StringIO(body), delimiter=",", dtype=np.float64, ndmin=2, quotechar='"',
                            comments=None)
    except ValueError as exc:
        raise RecordError(f"csv: {one_line(exc).replace('row ', 'data row ')}") from None
    if values.size and values.shape[1] != len(leads):
        raise RecordError(f"csv: the header row names {len(leads)} leads, the rows hold {values.shape[1]} values")
    header = checked_header(input_fs, values.shape[0], leads, len(leads))
    return CsvRecord(ref, header, np.ascontiguousarray(values.T, dtype=np.float32))
