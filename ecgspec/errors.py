"""Every error ecgspec raises, in one leaf module (no torch, no h5py), under :class:`EcgspecError`.

Each message is one line meant for the user; ``except ecgspec.EcgspecError`` catches them all::

    EcgspecError
    ├── ConfigError          an invalid engine or extract setting (also a ValueError)
    │   └── ShardError       a bad --shard or --cluster value
    ├── WaveformError        a waveform that does not fit the engine's config (also a ValueError)
    ├── RecordError          a record that cannot be used (also a ValueError); the run skips it
    ├── OutputError          a fatal problem with an output file
    │   └── DiskFull         too little free space to go on; the file is valid up to its last commit
    ├── LockHeld             another live process is writing the same output
    ├── MergeError           parts that cannot be merged
    ├── ExtractError         a run that could not go on
    │   ├── RecordFailed     --on-error fail met a bad record
    │   ├── Interrupted      SIGINT/SIGTERM; what was written is kept for --resume
    │   ├── StoppedEarly     stopped for its failed records
    │   │   ├── FailedFast   the first records all failed for one reason; no output left
    │   │   │   └── MainNotGuarded  the script calls extract at its top level: its reader processes cannot start
    │   │   └── TooManyErrors  more failures than --max-errors; what was written is kept
    │   └── LabelError       an unusable --labels table (also a ValueError); raised before any work
    └── PlotError            what ``ecgspec plot`` cannot draw
"""

from __future__ import annotations

__all__ = [
    "ConfigError", "DiskFull", "EcgspecError", "ExtractError", "FailedFast", "Interrupted", "LabelError", "LockHeld",
    "MainNotGuarded", "MergeError", "OutputError", "PlotError", "RecordError", "RecordFailed", "ShardError", "StoppedEarly",
    "TooManyErrors", "WaveformError", "one_line",
]


class EcgspecError(Exception):
    """The base of every error ecgspec raises on purpose; ``str(exc)`` is one line for the user."""


class ConfigError(EcgspecError, ValueError):
    """An invalid engine or extraction setting; the message names field, value and rule."""


class ShardError(ConfigError):
    """A bad ``--shard`` or ``--cluster`` value."""


class WaveformError(EcgspecError, ValueError):
    """A waveform that does not fit the config: wrong rank, shape or dtype."""


class RecordError(EcgspecError, ValueError):
    """A record that cannot be used; ``str(exc)`` is one line giving the reason, without the record name."""


class OutputError(EcgspecError):
    """A fatal problem with the output file."""


class DiskFull(OutputError):
    """The output's folder has too little free space to go on; the file is valid up to its last commit."""


class Unanswered(OutputError):
    """Reading a partial file did not finish within the deadline (ecgspec.store.probe): it is damaged, as HDF5
    loops on some damage."""

    def __init__(self, path: object, seconds: float) -> None:
        self.reason = f"reading it did not finish within {seconds:.0f} s: damaged (HDF5 loops on some damage)"
        super().__init__(f"{path}: {self.reason}")


class LockHeld(EcgspecError):
    """Another live process holds the writer lock; the message names it."""


class MergeError(EcgspecError):
    """Parts that cannot be merged; one line naming the files."""


class ExtractError(EcgspecError):
    """A fatal problem of an ``extract`` run: nothing to read, or the run could not go on."""


class RecordFailed(ExtractError):
    """``on_error="fail"`` met a bad record."""


class Interrupted(ExtractError):
    """Stopped by SIGINT/SIGTERM; what was written is in the partial file."""

    def __init__(self, message: str, signum: int) -> None:
        super().__init__(message)
        self.signum = signum


class StoppedEarly(ExtractError):
    """A run stopped for its failed records (see :func:`ecgspec.run.failures.stopped_early`)."""


class FailedFast(StoppedEarly):
    """The first records of a run all failed for one reason: the run stopped and left no output."""


class MainNotGuarded(FailedFast, SystemExit):
    """``extract`` runs at the top level of the script that started it (no ``if __name__ == "__main__":``):
    each reader process imports that script as it starts, and so cannot start.

    Also a ``SystemExit`` whose ``code`` is the line ``ecgspec: error: MESSAGE``: left uncaught, it ends the
    script with that line and status 1, not with a traceback, since the fix is in the script, not in a record
    or a setting; ``except ecgspec.EcgspecError`` still catches it.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.code = f"ecgspec: error: {message}"


class TooManyErrors(StoppedEarly):
    """More records failed than ``--max-errors`` allows; what was written stays for ``--resume``."""


class LabelError(ExtractError, ValueError):
    """An unusable ``--labels`` table, or a key naming two rows: one line naming the file and the reason."""


class PlotError(EcgspecError):
    """What ``plot`` cannot draw."""


def one_line(exc: BaseException) -> str:
    """An exception's message on one line (white space folded), or its type name when it has none."""
    return " ".join(str(exc).split()) or type(exc).__name__
