"""Records that fail, counted by reason: what stderr shows, and when a run stops early.

Two records fail for the *same reason* when their messages agree once the parts that name
the record or its particulars are taken out (:func:`reason_of`):

1. text in parentheses or brackets is dropped (``(leads: I, II, ...)``, ``(0..11)``,
   ``[Errno 2]``): it lists what this record has;
2. every word holding a digit, a ``/`` or a file extension becomes ``#``: file names
   (``E07500.mat``), paths, counts, sample ranges, rates (``has 2 signals`` and
   ``has 3 signals`` are one reason, as are ``signal file A.dat is missing`` and
   ``signal file B.dat is missing``);
3. runs of spaces become one.

So ``has no lead foo (leads: I, II)`` and ``has no lead foo (leads: i, ii, v1)`` are one
reason, ``has no lead foo`` and ``has no lead bar`` two. Lead and option names stay, unless
they hold a digit (``V1``), where records needing the same lead still agree.

Records an option leaves out on purpose (``--labels-required``, ``--targets-required``:
:func:`left_out`) are shown and counted by reason too, but they are not failures: they never
stop a run (fail fast, ``--max-errors``, ``--on-error fail``). PTB-XL's 100 Hz copies, which no
``filename_hr`` names, come before any record is read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..errors import FailedFast, StoppedEarly, TooManyErrors

__all__ = ["FAIL_FAST_RECORDS", "SHOWN_PER_REASON", "Failures", "FailedFast", "StoppedEarly", "TooManyErrors",
           "left_out", "reason_of", "stopped_early"]

FAIL_FAST_RECORDS = 20  # a run whose first this many records all fail for one reason stops
SHOWN_PER_REASON = 10  # stderr lines per reason; the rest are counted in one line

_BRACKETED = re.compile(r"\s*(\([^()]*\)|\[[^\[\]]*\])")
_PARTICULAR = re.compile(r"[^\s,;:]*(\d|/|\w\.[A-Za-z])[^\s,;:]*")
_ON_PURPOSE = ("(--labels-required", "(--targets-required")  # how those skips' messages end (run.labels, run.targets)


def left_out(message: str) -> bool:
    """Whether ``message`` is that of a record an option leaves out on purpose, not a failure."""
    return any(flag in message for flag in _ON_PURPOSE)


def _unbracketed(message: str) -> str:
    previous = None
    while previous != message:  # nested brackets: innermost first
        previous, message = message, _BRACKETED.sub("", message)
    return message


def reason_of(message: str) -> str:
    """``message`` with its record-specific parts replaced (see the module's docstring)."""
    return " ".join(_PARTICULAR.sub("#", _unbracketed(message)).split())


@dataclass
class _Reason:
    first: str  # the first message, brackets dropped: what the count line shows
    count: int = 0
    alike: bool = True  # every message read the same as the first once brackets are dropped


@dataclass
class Failures:
    """Failed records, by reason, as a run meets them in record order.

    Shows ``shown`` ``skipped`` lines per reason through ``log`` and counts the rest
    (:meth:`close` logs ``... and 40 more: REASON``). While no record has succeeded and all
    failures share one reason, their lines are held back: when ``fail_fast`` records in a
    row fail that way (0: never) :meth:`failed` raises :class:`FailedFast` and nothing was
    shown but its one line. More than ``max_errors`` failures (None: no limit) raise
    :class:`TooManyErrors`, after the count lines.
    """

    log: Callable[[str], None]
    max_errors: int | None = None
    fail_fast: int = FAIL_FAST_RECORDS
    shown: int = SHOWN_PER_REASON
    prefix: str = "ecgspec: skipped"
    reasons: dict[str, _Reason] = field(default_factory=dict, init=False)
    total: int = field(default=0, init=False)  # failures, not counting the records left out on purpose
    _failing: set[str] = field(default_factory=set, init=False)  # the reasons of those failures
    _held: list[str] | None = field(default_factory=list, init=False)  # None once a record succeeded or reasons differ
    _closed: bool = field(default=False, init=False)

    def succeeded(self) -> None:
        """A record was read in full (or kept from a previous run): no fail-fast from now on."""
        self._release()

    def failed(self, name: str, message: str) -> None:
        """Count and show (or hold, or count silently) a failed record; raise when the run must stop."""
        key = reason_of(message)
        reason = self.reasons.setdefault(key, _Reason(_unbracketed(message).strip()))
        reason.count += 1
        reason.alike = reason.alike and _unbracketed(message).strip() == reason.first
        line = f"{self.prefix} {name}: {message}" if reason.count <= self.shown else None
        if left_out(message):  # shown and counted, never a reason to stop
            if line:
                self.log(line)
            return
        self.total += 1
        self._failing.add(key)
        if self.fail_fast and self._held is not None and len(self._failing) == 1:
            if line:
                self._held.append(line)
            if self.total >= self.fail_fast:
                self._closed = True
                raise FailedFast(f"the first {self.total} records all failed: {message}")
        else:
            self._release()
            if line:
                self.log(line)
        if self.max_errors is not None and self.total > self.max_errors:
            self.close()
            raise TooManyErrors(f"{self.total} records failed, more than --max-errors {self.max_errors}")

    def _release(self) -> None:
        """Show the held lines, and hold no more."""
        held, self._held = self._held or [], None
        for line in held:
            self.log(line)

    def count_lines(self) -> list[str]:
        """``... and N more: REASON`` for each reason with lines not shown."""
        return [f"ecgspec: ... and {r.count - self.shown} more{'' if r.alike else ' like'}: {r.first}"
                for r in self.reasons.values() if r.count > self.shown]

    def by_reason(self) -> list[dict[str, object]]:
        """Each reason with its first message and count, most frequent first (for ``--json``)."""
        ranked = sorted(self.reasons.values(), key=lambda r: -r.count)
        return [{"reason": r.first, "count": r.count} for r in ranked]

    def close(self) -> None:
        """End of the run: show what is held and the count lines. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._release()
        for line in self.count_lines():
            self.log(line)


def stopped_early(exc: StoppedEarly, output: str | Path, kept: int, keep: bool) -> StoppedEarly:
    """What a run stopped by ``exc`` leaves, once its file is closed; the error to raise.

    :class:`FailedFast`: the partial file holds no record and is deleted, unless ``keep``
    (a ``--resume`` run's file holds the earlier runs' work). :class:`TooManyErrors`: the
    ``kept`` records written stay in it for ``--resume``.
    """
    from ..store.layout import partial_path  # h5py: only once a run has stopped

    partial = partial_path(output)
    if isinstance(exc, FailedFast):
        if not keep:
            partial.unlink(missing_ok=True)
        return exc
    return type(exc)(f"{exc}; the {kept} records written so far are kept in {partial}: run the same command"
                     " with --resume (and a larger --max-errors) to go on")
