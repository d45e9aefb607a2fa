"""What a run changes in the process while it runs, and restores after: signal handlers, GIL hand-over, torch threads.

:func:`run_scope` holds the first two for an ``extract`` run (:mod:`ecgspec.run.pipeline`), and
:func:`engine_threads` the third once the run has started its readers and built its engine;
:class:`StopFlag` alone serves the client of a cluster run (:mod:`ecgspec.run.cluster`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from typing import TYPE_CHECKING, Any, Dict, Iterator

from .limits import LIMITS

if TYPE_CHECKING:
    import torch

__all__ = ["StopFlag", "engine_threads", "run_scope"]


class StopFlag:
    """SIGINT/SIGTERM set a flag the main loop checks; handlers restored afterwards."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self.event = threading.Event()
        self._old: Dict[int, Any] = {}

    def __enter__(self) -> StopFlag:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        self.signum = signum
        self.event.set()

    def __exit__(self, *exc: Any) -> None:
        for sig, handler in self._old.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def run_scope(switch_interval: float = LIMITS.switch_interval) -> Iterator[StopFlag]:
    """The stop flag (signals caught) and a short GIL switch interval (seconds), for the duration of a run."""
    with StopFlag() as stop, _switch_interval(switch_interval):
        yield stop


@contextlib.contextmanager
def _switch_interval(seconds: float) -> Iterator[None]:
    """Hand the GIL over more often during the run, restoring Python's setting after.

    The engine thread releases the GIL for each torch operation and must get it back
    from reader threads; at Python's default 5 ms interval a busy reader stalls it for
    most of that time (measured: 2-4x slower engine batches beside one busy thread).
    """
    old = sys.getswitchinterval()
    sys.setswitchinterval(seconds)
    try:
        yield
    finally:
        sys.setswitchinterval(old)


@contextlib.contextmanager
def engine_threads(device: torch.device) -> Iterator[None]:
    """With the engine on the CPU (``device``, as the engine resolved it), leave one core to the reader
    and writer threads for the run (imports torch).

    The writer's copy into the page cache needs a core of its own; torch's threads
    spinning beside it cost more than they gave (2 cores: 1 engine thread ran the
    2,000-record bench 15-25% faster than 2, on a third less CPU time).
    """
    import torch

    old = torch.get_num_threads()
    if device.type == "cpu":
        torch.set_num_threads(max(1, min(old, (os.cpu_count() or 2) - 1)))
    try:
        yield
    finally:
        torch.set_num_threads(old)
