"""Reading a partial output within a deadline: a child process reads it first, so a damaged file is never waited on.

HDF5 itself can loop forever on a damaged file (a zeroed page or a few flipped bits in a
small partial make plain ``h5py.File(path, "r", swmr=True)`` hang), so no check inside our
own reading can cover every one. Before ``--resume``, ``ecgspec info`` or
``ecgspec.open(path, allow_partial=True)`` trusts a partial file, :func:`probe` reads what they
need from it (its committed tables, its ``/errors``, its attributes) in a fresh child process,
and a child that has not finished within the deadline is killed: the file is then damaged
(:class:`Unanswered`). A child that fails is not reported here: the caller's own read then
fails the same way, with its usual message. No torch here (``info`` uses it).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from ..errors import Unanswered

__all__ = ["PROBE_ENV", "Unanswered", "deadline_seconds", "needs_probe", "probe"]

PROBE_ENV = "ECGSPEC_PROBE_SECONDS"  # the deadline's base, in seconds (0: no probe)
BASE_SECONDS = 20.0  # a child's start-up (h5py, NumPy) and the tables of a large part take a few seconds
SECONDS_PER_GB = 1.0  # the committed tables grow with the file, far slower than this
_CHILD = "import sys; from ecgspec.store.probe import read_all; read_all(sys.argv[1])"


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
    from .swmr import status_flags

    return is_partial_name(path) or status_flags(path) != 0


def probe(path: str | os.PathLike[str]) -> None:
    """Read what trusting ``path`` needs in a child process; :class:`Unanswered` if it has not finished within
    :func:`deadline_seconds`. Returns otherwise, also when the child failed (the caller's read says why).

    The child is a fork where this process runs no other thread (a few milliseconds: h5py is
    already loaded), else a fresh interpreter (a few hundred: a fork could copy a lock that
    another thread holds, and wait on it forever).
    """
    path = Path(path)
    seconds = deadline_seconds(path)
    if seconds <= 0:
        return
    pid = _fork_reader(path) if hasattr(os, "fork") and threading.active_count() == 1 else None
    if pid is not None:
        finished = _wait_pid(pid, seconds)
    else:
        finished = _wait_interpreter(path, seconds)
    if not finished:
        raise Unanswered(path, seconds)


def _fork_reader(path: Path) -> int:
    """A forked child that reads ``path`` and leaves by ``os._exit`` (no exit handlers: HDF5's would close and
    flush the files this process has open)."""
    pid = os.fork()
    if pid == 0:  # the child
        code = 1
        try:
            code = 0 if _read(path) else 1
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


def _wait_interpreter(path: Path, seconds: float) -> bool:
    """Read ``path`` in a fresh interpreter, killed past ``seconds``. Whether it ended in time."""
    package_root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH")) if p))
    child = subprocess.Popen([sys.executable, "-c", _CHILD, str(path)], env=env, stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        child.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()
        return False
    return True


def read_all(path: str) -> None:
    """A fresh interpreter's work: :func:`_read`, exit status 1 if it fails."""
    sys.exit(0 if _read(Path(path)) else 1)


def _read(path: Path) -> bool:
    """Every table a resume, ``info`` or ``open`` reads from ``path``; whether that went without an error."""
    from .layout import committed, committed_counts, compression_name, open_for_reading, read_column

    try:
        with open_for_reading(path) as file:
            dict(file.attrs)
            counts = committed_counts(file)
            committed(file, counts)
            group = file["errors"]
            n = min(counts[2], *(group[k].shape[0] for k in group))
            for key in group:
                read_column(group[key], n)
            compression_name(file["spectrograms"])
    except Exception:  # noqa: BLE001 - the parent's own read reports what is wrong
        return False
    return True
