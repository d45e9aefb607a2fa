"""What the Hypothesis tests share: the profiles (tests/conftest.py loads one), each test's example
count under them, and the mix of outcomes a fuzzer must see.

Profiles: ``full`` (``make test``; each test's own example count) and ``dev`` (``make test-fast``,
or ``HYPOTHESIS_PROFILE=dev``; a tenth of it). A test names its full count through :func:`examples`.

A "read or RecordError" fuzzer that turned every input into a RecordError (or read every input)
would pass while testing nothing: :func:`expect` fails it unless its examples came to each outcome
it names, each example saying which through :func:`outcome`. It asks that under ``full`` alone: a
tenth of the examples (a handful) may well come to one outcome when nothing is wrong.
"""

from __future__ import annotations

import functools
import os
from collections import Counter
from typing import Any, Callable

from hypothesis import event, settings

PROFILES = {"full": 100, "dev": 10}  # name -> examples of a test that names none (Hypothesis's default: 100)
PROFILE = {"name": "full"}  # the profile loaded
_seen: list[Counter] = []  # the outcomes of the fuzzers running (one a test; a list for nested runs)


def load_profile() -> str:
    """Register the profiles and load ``$HYPOTHESIS_PROFILE`` (default ``full``); its name."""
    for name, count in PROFILES.items():
        settings.register_profile(name, max_examples=count)
    name = os.environ.get("HYPOTHESIS_PROFILE", "full")
    settings.load_profile(name)
    PROFILE["name"] = name
    return name


def examples(full: int) -> int:
    """A test's example count under the loaded profile: ``full`` under ``full``, scaled down under ``dev``."""
    return max(1, full * settings.default.max_examples // PROFILES["full"])


def outcome(kind: str, detail: str | None = None) -> None:
    """Record what an example came to (``kind``, for :func:`expect`; ``detail`` or ``kind`` as its Hypothesis event)."""
    event(detail or kind)
    if _seen:
        _seen[-1][kind] += 1


def expect(*kinds: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorate a ``@given`` test: under ``full``, it fails unless its examples came to each of ``kinds``."""

    def wrap(test: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(test)
        def run(*args: Any, **kwargs: Any) -> None:
            _seen.append(Counter())
            try:
                test(*args, **kwargs)
            finally:
                seen = _seen.pop()
            missing = [kind for kind in kinds if not seen[kind]] if PROFILE["name"] == "full" else []
            assert not missing, f"no example came to {missing} (outcomes: {dict(seen)}): the fuzzer tests less than it should"

        return run

    return wrap
