"""The fatal error of an ``extract`` run, in a leaf module (no torch), so that the parts that
run without the engine (``extract --dry-run``, :mod:`ecgspec.failures`) can raise it too."""


class ExtractError(Exception):
    """A fatal problem: nothing to read, or the run could not go on. One-line message."""
