"""A WFDB record line as whole PhysioNet datasets wrote it, where it departs from the format:
what it unambiguously says read, each departure noted (the record's ``header_warnings``).

- A record name that is the header's own signal file's name (CinC 2020/2021 Georgia:
  ``E00009.mat 12 500 5000 ...``, whose signal lines name ``E00009.mat``): read without the
  extension (wfdb: ``invalid syntax in record line``).
- A start date before the time, or written ``DD-Mon-YYYY`` or ``YYYY-MM-DD`` rather than WFDB's
  ``DD/MM/YYYY`` (CinC 2017: ``... 9000 2014-05-01 11:05:48``, which wfdb refuses; CinC 2020/2021:
  ``... 5000 23-Mar-2021 20:59:55``, which wfdb misreads as the time 00:00:23 and no date): the
  date and time read here, in either order.

A line without these departures is left as it is, for the parser that reads it as wfdb does. A
start that is still not one date and one time (``05-06-2020``, whose day and month could be
either; two dates; a word after the time) is a RecordError naming the field.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass

from ...errors import RecordError

# Record line: RECORD_NAME/NUM_SEG NUM_SIG SAMP_FREQ/COUNT_FREQ(BASE_COUNT_VAL) SAMPS_PER_SIG BASE_TIME BASE_DATE
# (wfdb.io.header.rx_record, copied as the patterns of .header are)
RX_RECORD = re.compile(
    r"""
    [ \t]* (?P<record_name>[-\w]+)
           /?(?P<n_seg>\d*)
    [ \t]+ (?P<n_sig>\d+)
    [ \t]* (?P<fs>\d*\.?\d*)
           /*(?P<counter_freq>-?\d*\.?\d*)
           \(?(?P<base_counter>-?\d*\.?\d*)\)?
    [ \t]* (?P<sig_len>\d*)
    [ \t]* (?P<base_time>\d{,2}:?\d{,2}:?\d{,2}\.?\d{,6})
    [ \t]* (?P<base_date>\d{,2}/?\d{,2}/?\d{,4})
    """,
    re.VERBOSE,
)
_NAME = re.compile(r"[-\w]+")  # a record name as the record line's pattern takes it
_HMS = re.compile(r"(\d\d?):(\d\d?):(\d\d?)(?:\.(\d{1,6}))?")
_TIME = re.compile(r"\d\d?(?::\d\d?){1,2}(?:\.\d{1,6})?")  # MM:SS or HH:MM:SS (a fraction or not): a time beside a date
_DMY = re.compile(r"(\d\d?)/(\d\d?)/(\d{4})")  # WFDB's own form
_MON = re.compile(r"(\d\d?)-([A-Za-z]{3})-(\d{4})")
_ISO = re.compile(r"(\d{4})-(\d\d?)-(\d\d?)")
_DATE_LIKE = re.compile(r"[0-9]+[-/.][0-9A-Za-z]+[-/.][0-9]+")  # written as a date, in whatever form
_MONTHS = {name: number for number, name in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1)}
FORMS = "DD/MM/YYYY, DD-Mon-YYYY or YYYY-MM-DD"


@dataclass(frozen=True)
class RecordLine:
    """A record line read for its departures: ``text``, the line for the WFDB parser (the name
    without the extension; the date and time taken out where read here); ``start``, the (time,
    date) read here, or None where the line's own fields give them; ``warnings``, one note a departure."""

    text: str
    start: tuple[datetime.time | None, datetime.date | None] | None = None
    warnings: tuple[str, ...] = ()


def record_line(lines: list[str]) -> RecordLine:
    """The record line (``lines[0]``, stripped) of a header's non-comment ``lines``, its departures read.
    What follows the length is the start as :data:`RX_RECORD` places it, so a line the pattern reads
    otherwise (its fields out of place) is left to it."""
    line, warnings = lines[0], []
    name = line.split(None, 1)[0] if line else ""
    if "." in name and name in {other.split(None, 1)[0] for other in lines[1:]}:
        stem = name.rsplit(".", 1)[0]
        if _NAME.fullmatch(stem):
            warnings.append(f"record name {name!r} (its signal file's name) read as {stem!r}")
            line = stem + line[len(name):]
    match = RX_RECORD.match(line)
    end = match.end("sig_len") if match is not None else len(line)
    tail = line[end:].split()
    if not tail or not _departs(tail):
        return RecordLine(line, None, tuple(warnings))
    time, date, notes = _start(tail)
    return RecordLine(line[:end], (time, date), (*warnings, *notes))


def _departs(tail: list[str]) -> bool:
    """Whether the tokens after the length hold a start the WFDB parser would refuse or misread:
    a date first, or a time then a date in another form than ``DD/MM/YYYY``."""
    if _DATE_LIKE.fullmatch(tail[0]):
        return True
    return (len(tail) > 1 and bool(_TIME.fullmatch(tail[0])) and bool(_DATE_LIKE.fullmatch(tail[1]))
            and not _DMY.fullmatch(tail[1]))


def _start(tail: list[str]) -> tuple[datetime.time | None, datetime.date | None, list[str]]:
    """(time, date, notes) of a start written as one date and at most one time, in either order."""
    dates = [token for token in tail if _DATE_LIKE.fullmatch(token)]
    times = [token for token in tail if _TIME.fullmatch(token)]
    if len(dates) != 1 or len(times) > 1 or len(dates) + len(times) != len(tail):
        raise RecordError(f"header: record line: start {' '.join(tail)!r} is not one date ({FORMS}) and one time")
    date, form = _date(dates[0])
    notes = [] if form == "DD/MM/YYYY" else [f"start date {dates[0]!r} ({form}) read as {date.isoformat()}"]
    if tail[0] == dates[0]:
        notes.append("start date before the time" if times else "start date without a time")
    return _time(times[0]) if times else None, date, notes


def _date(token: str) -> tuple[datetime.date, str]:
    """The date ``token`` says and the form it is written in; RecordError naming the field otherwise."""
    try:
        if (match := _DMY.fullmatch(token)) is not None:
            day, month, year = map(int, match.groups())
            return datetime.date(year, month, day), "DD/MM/YYYY"
        if (match := _MON.fullmatch(token)) is not None and match.group(2).lower() in _MONTHS:
            return datetime.date(int(match.group(3)), _MONTHS[match.group(2).lower()], int(match.group(1))), "DD-Mon-YYYY"
        if (match := _ISO.fullmatch(token)) is not None:
            year, month, day = map(int, match.groups())
            return datetime.date(year, month, day), "YYYY-MM-DD"
    except ValueError:  # a day or month out of range
        pass
    raise RecordError(f"header: record line: start date {token!r} is not a date written {FORMS}")


def _time(token: str) -> datetime.time:
    """The time ``token`` says, as WFDB reads it (:func:`strptime`); RecordError naming the field when out of range."""
    try:
        return strptime(token)
    except ValueError:
        raise RecordError(f"header: record line: start time {token!r} is not a time of day") from None


def strptime(text: str) -> datetime.time:
    """A WFDB base time (SS, MM:SS or HH:MM:SS, each with optional fraction), as wfdb.io.header.wfdb_strptime.

    ``HH:MM:SS[.f]`` (every MIMIC header's) is read without ``strptime`` (a tenth of its cost): the
    same fields, the same ranges (out of range is a ValueError either way)."""
    match = _HMS.fullmatch(text)
    if match is not None:
        h, m, s, fraction = match.groups()
        return datetime.time(int(h), int(m), int(s), int((fraction or "0").ljust(6, "0")))
    fmt = ("%S", "%M:%S", "%H:%M:%S")[min(text.count(":"), 2)] + (".%f" if "." in text else "")
    return datetime.datetime.strptime(text, fmt).time()


def strpdate(text: str) -> datetime.date:
    """A WFDB base date ``DD/MM/YYYY``, as ``strptime(text, "%d/%m/%Y")`` reads it, without its cost."""
    match = _DMY.fullmatch(text)
    if match is not None:
        d, m, y = match.groups()
        return datetime.date(int(y), int(m), int(d))
    return datetime.datetime.strptime(text, "%d/%m/%Y").date()
