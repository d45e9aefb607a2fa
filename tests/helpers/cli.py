"""The one CLI runner: ``ecgspec ARGS`` in process through click's CliRunner."""

from __future__ import annotations

from click.testing import CliRunner, Result

from ecgspec.cli import main


def invoke(*args: object, input: str | None = None) -> Result:  # noqa: A002 - click's name for stdin text
    """``ecgspec ARGS`` (each ``str()``-ed), stdin ``input``; exceptions raised, not caught, so a bug shows."""
    return CliRunner().invoke(main, [str(a) for a in args], input=input, catch_exceptions=False)


def extract(*args: object, quiet: bool = False, workers: int | None = None) -> Result:
    """``ecgspec extract ARGS``, then ``--quiet`` and ``--workers N`` when asked for."""
    tail = ["--quiet"] * quiet + (["--workers", workers] if workers is not None else [])
    return invoke("extract", *args, *tail)
