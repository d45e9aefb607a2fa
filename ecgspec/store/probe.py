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
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable

from ..errors import Unanswered

__all__ = ["PROBE_ENV", "Unanswered", "deadline_seconds", "needs_probe", "probe"]

PROBE_ENV = "ECGSPEC_PROBE_SECONDS"  # a fixed deadline base, in seconds, instead of the measured one (0: no probe)
FLOOR_SECONDS = 2.0  # a healthy read of a partial's tables, under load, whatever the reference says
REFERENCE_TIMES = 4.0  # times a measured healthy read of a small file: the machine's load and the child's start
SECONDS_PER_GB = 0.15  # the committed tables grow with the file, far slower than this
REFERENCE_TTL = 60.0  # seconds a measured reference holds (a long-lived process sees the load change)
REFERENCE_CAP = 30.0  # a reference that has not answered by then counts as this
_CHILD = "import sys; from ecgspec.store.probe import read_all; read_all(sys.argv[1], sys.argv[2])"
_measured: dict[bool, tuple[float, float]] = {}  # by child kind (fork or not): (seconds, when measured)


def deadline_seconds(path: Path, fork: bool | None = None) -> float:
    """How long the child may read ``path``: what a healthy read needs, from a measured one
    (:data:`FLOOR_SECONDS` plus :data:`REFERENCE_TIMES` a healthy read of a small file by the same kind
    of child, :func:`reference_seconds`), plus :data:`SECONDS_PER_GB` for each GB of ``path``.
    ``ECGSPEC_PROBE_SECONDS=N`` puts N in place of the measured part (0: no probe)."""
    fixed = os.environ.get(PROBE_ENV)
    if fixed is not None and float(fixed) <= 0:
        return 0.0
    fork = _can_fork() if fork is None else fork
    base = float(fixed) if fixed is not None else FLOOR_SECONDS + REFERENCE_TIMES * reference_seconds(fork)
    try:
        size = path.stat().st_size
    except OSError:
        size = 0
    return base + SECONDS_PER_GB * size / 1e9


def _can_fork() -> bool:
    """Whether the child may be a fork: where this process runs no other thread (a fork could copy a lock
    that another thread holds, and wait on it forever)."""
    return hasattr(os, "fork") and threading.active_count() == 1


def reference_seconds(fork: bool) -> float:
    """Seconds a child of this kind takes to open and read a small healthy file now: started, HDF5 and NumPy
    at hand, a file read; measured once a minute at most, in a temporary folder."""
    seconds, when = _measured.get(fork, (0.0, -REFERENCE_TTL))
    if time.monotonic() - when < REFERENCE_TTL:
        return seconds
    with tempfile.TemporaryDirectory(prefix="ecgspec-probe-") as folder:
        path = Path(folder) / "reference.h5"
        write_reference(path)
        began = time.monotonic()
        finished = _run_child(path, read_reference, REFERENCE_CAP, fork)
    seconds = time.monotonic() - began if finished else REFERENCE_CAP
    _measured[fork] = (seconds, time.monotonic())
    return seconds


def write_reference(path: Path) -> None:
    """A small healthy file laid out as an output is (the 1.10 format, chunked checksummed numbers, strings)."""
    import h5py
    import numpy as np

    with h5py.File(path, "w", libver=("v110", "v110")) as file:
        for name in ("records/n_windows", "windows/record", "windows/start"):
            file.create_dataset(name, data=np.arange(4096), maxshape=(None,), chunks=(4096,), fletcher32=True)
        file.create_dataset("records/name", data=[f"record{i}" for i in range(4096)], dtype=h5py.string_dtype())
        file.attrs["config"] = "{}"


def read_reference(path: Path) -> None:
    """A healthy read of :func:`write_reference`'s file: every dataset and attribute."""
    import h5py

    with h5py.File(path, "r") as file:
        file.visititems(lambda name, obj: obj[()] if isinstance(obj, h5py.Dataset) else None)
        dict(file.attrs)


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
    fork = _can_fork()
    seconds = deadline_seconds(path, fork)
    if seconds > 0 and not _run_child(path, read, seconds, fork):
        raise Unanswered(path, seconds)


def _run_child(path: Path, read: Callable[[Path], object], seconds: float, fork: bool) -> bool:
    """``read(path)`` in a child (a fork, or a fresh interpreter), killed past ``seconds``; whether it ended."""
    if fork:
        return _wait_pid(_fork_reader(path, read), seconds)
    return _wait_interpreter(path, f"{read.__module__}:{read.__qualname__}", seconds)


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
