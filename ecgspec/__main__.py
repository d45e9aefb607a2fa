"""``python -m ecgspec``: the same as the ``ecgspec`` command."""

from .cli import run

run()
