"""A time limit for code that must not hang (the fuzzers)."""

from __future__ import annotations

import contextlib
import signal
from typing import Any, Iterator


@contextlib.contextmanager
def time_limit(seconds: int) -> Iterator[None]:
    """Fail (rather than hang) when the block runs longer than ``seconds`` (SIGALRM: main thread only)."""

    def expire(signum: int, frame: Any) -> None:
        raise TimeoutError(f"no result within {seconds} s: a hang")

    old = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
