"""Reading a partial output within a deadline: a child process reads it first, so a damaged file is never waited on.

HDF5 itself can loop forever on a damaged file (a zeroed page or a few flipped bits in a
small partial make plain ``h5py.File(path, "r", swmr=True)`` hang), so no check inside our
own reading can cover every one. Before ``--resume``, ``ecgspec info`` or
``ecgspec.open(path, allow_partial=True)`` trusts a partial file, :func:`probe` reads what they
need from it (the caller's own reading: what ``info`` or ``open`` reads, what a resume reads) in a child,
and a child that has not finished within the deadline is killed: the file is then damaged
(:class:`Unanswered`). A child that fails is not reported here: the caller's own read then
fails the same way, with its usual message. No torch here (``info`` uses it).
"""

from __future__ import annotations

import importlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable

from ..errors import Unanswered

__all__ = ["PROBE_ENV", "Unanswered", "deadline_seconds", "needs_probe", "probe"]

PROBE_ENV = "ECGSPEC_PROBE_SECONDS"  # the deadline's base, in seconds (0: no probe)
BASE_SECONDS = 20.0  # a child's start-up (h5py, NumPy) and the tables of a large part take a few seconds
SECONDS_PER_GB = 1.0  # the committed tables grow with the file, far slower than this
_CHILD = "import sys; from ecgspec.store.probe import read_all; read_all(sys.argv[1], sys.argv[2])"


def deadline_seconds(path: Path) -> float:
    """How long the child may read ``path``: ``ECGSPEC_PROBE_SECONDS`` (default 20) plus a second per GB."""
    base = float(os.environ.get(PROBE_ENV, BASE_SECONDS))
    try:
        size = path.stat().st_size
    except OSError:
        size = 0
    return base + SECONDS_PER_GB * size / 1e9 if base > 0 else 0.0


def needs_probe(path: Path) -> bool:
    """Whether ``path`` may be a partial file: named as one, or a writer has (or had, if killed) it open
    (its superblock's status flags set). A finished, cleanly closed output is read without a probe."""
    from .layout import is_partial_name
    from .lowlevel import status_flags

    return is_partial_name(path) or status_flags(path) != 0


def probe(path: str | os.PathLike[str], read: Callable[[Path], object]) -> None:
    """Run ``read(path)``, the caller's own reading of ``path`` (a module-level function), in a child process;
    :class:`Unanswered` if it has not finished within :func:`deadline_seconds`. Returns otherwise, also when
    the child failed (the caller's read then says why). In the child, probes are off (no nesting).

    The child is a fork where this process runs no other thread (a few milliseconds: h5py is
    already loaded), else a fresh interpreter (a few hundred: a fork could copy a lock that
    another thread holds, and wait on it forever).
    """
    path = Path(path)
    seconds = deadline_seconds(path)
    if seconds <= 0:
        return
    pid = _fork_reader(path, read) if hasattr(os, "fork") and threading.active_count() == 1 else None
    if pid is not None:
        finished = _wait_pid(pid, seconds)
    else:
        finished = _wait_interpreter(path, f"{read.__module__}:{read.__qualname__}", seconds)
    if not finished:
        raise Unanswered(path, seconds)


def _fork_reader(path: Path, read: Callable[[Path], object]) -> int:
    """A forked child that reads ``path`` and leaves by ``os._exit`` (no exit handlers: HDF5's would close and
    flush the files this process has open)."""
    pid = os.fork()
    if pid == 0:  # the child
        code = 1
        try:
            code = 0 if _read(path, read) else 1
        finally:
            os._exit(code)
    return pid


def _wait_pid(pid: int, seconds: float) -> bool:
    """Wait for the forked child up to ``seconds``; kill it past them. Whether it ended in time."""
    deadline = time.monotonic() + seconds
    pause = 0.001
    while os.waitpid(pid, os.WNOHANG) == (0, 0):
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return False
        time.sleep(pause)
        pause = min(pause * 2, 0.05)
    return True


def _wait_interpreter(path: Path, target: str, seconds: float) -> bool:
    """Read ``path`` in a fresh interpreter, killed past ``seconds``. Whether it ended in time."""
    package_root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH")) if p))
    child = subprocess.Popen([sys.executable, "-c", _CHILD, str(path), target], env=env, stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        child.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()
        return False
    return True


def read_all(path: str, target: str) -> None:
    """A fresh interpreter's work: ``target`` (``module:function``) on ``path``; exit status 1 if it fails."""
    module, name = target.split(":")
    sys.exit(0 if _read(Path(path), getattr(importlib.import_module(module), name)) else 1)


def _read(path: Path, read: Callable[[Path], object]) -> bool:
    """``read(path)`` with probes off; whether it went without an error."""
    os.environ[PROBE_ENV] = "0"  # this is the child: its own reads are the probe
    try:
        read(path)
    except Exception:  # noqa: BLE001 - the parent's own read reports what is wrong
        return False
    return True
