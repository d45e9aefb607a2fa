"""An ``extract`` run's progress on stderr: tqdm's bar on a terminal; in a log file (stderr not a
terminal) one plain line every ``--log-every`` seconds, with no carriage returns::

    ecgspec: 1200/5000 records (24%), 13200 windows, 80.1 records/s, 881 windows/s, elapsed 0:00:15, ETA 0:00:47;
    found in 1.2 s, reading 12%, engine 20%, writing 41%

(the shares: of the run so far, the main thread waiting for records to be read, the engine, and
the writer thread; the one near 100% is what limits the run).
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any, Callable

from tqdm import tqdm

__all__ = ["LogProgress", "Silent", "clock_text", "progress_bar", "progress_line"]


def clock_text(seconds: float) -> str:
    """``H:MM:SS``, rounded down to the second."""
    seconds = int(max(seconds, 0))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def progress_line(done: int, total: int, windows: int, elapsed: float) -> str:
    """One progress line: records done/total, windows, rates, elapsed time and the time left
    at the rate so far (``?`` before the first record is done)."""
    rate = done / elapsed if elapsed > 0 else 0.0
    eta = clock_text((total - done) / rate) if rate > 0 else "?"
    share = f" ({100 * done // total}%)" if total else ""
    window_rate = windows / elapsed if elapsed > 0 else 0.0
    return (f"ecgspec: {done}/{total} records{share}, {windows} windows, {rate:.1f} records/s,"
            f" {window_rate:.0f} windows/s, elapsed {clock_text(elapsed)}, ETA {eta}")


class LogProgress:
    """tqdm's interface as the run uses it (``update``, ``set_postfix``, a context manager); a
    thread writes :func:`progress_line` every ``every`` seconds while the block runs, so a long
    record still gets its lines."""

    def __init__(self, total: int, every: float, write: Callable[[str], None] | None = None,
                 clock: Callable[[], float] = time.monotonic, stages: Callable[[], str] | None = None) -> None:
        self.total, self.every, self.clock = total, every, clock
        self.write = write or _stderr_line
        self.done = 0
        self.windows = 0
        self.stages = stages  # the run's discovery time and stage shares, asked for each line
        self.start = clock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="ecgspec-progress", daemon=True)

    def update(self, n: int = 1) -> None:
        self.done += n

    def set_postfix(self, windows: int | None = None, refresh: bool = True, **_: Any) -> None:
        if windows is not None:
            self.windows = windows

    def line(self) -> str:
        line = progress_line(self.done, self.total, self.windows, self.clock() - self.start)
        return f"{line}; {self.stages()}" if self.stages else line

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            self.write(self.line())

    def __enter__(self) -> LogProgress:
        self.start = self.clock()
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()


class Silent:
    """tqdm's interface as the run uses it, showing nothing: the run without a bar or log lines
    (a disabled tqdm still builds each record's postfix, and starts its monitor thread)."""

    def update(self, n: int = 1) -> None:
        pass

    def set_postfix(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __enter__(self) -> Silent:
        return self

    def __exit__(self, *exc: Any) -> None:
        pass


def _stderr_line(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def progress_bar(total: int, terminal: bool, log_every: float, stages: Callable[[], str] | None = None) -> Any:
    """tqdm's bar where stderr is a terminal (``terminal``); else :class:`LogProgress` every
    ``log_every`` seconds (``stages``: the tail of each line); else (0) :class:`Silent`."""
    if not terminal:
        return LogProgress(total, log_every, stages=stages) if log_every > 0 else Silent()
    return tqdm(total=total, unit="rec", file=sys.stderr, dynamic_ncols=True)
