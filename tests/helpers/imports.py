"""What a ``python -m ecgspec`` command imports, read from ``-X importtime``."""

from __future__ import annotations

import subprocess
import sys

from tests.helpers.paths import ROOT

HEAVY = {"torch", "scipy", "wfdb", "pandas"}  # what --help, --version and shape must not import


def imported_by(*args: str) -> tuple[set[str], subprocess.CompletedProcess]:
    """Top-level modules ``python -m ecgspec ARGS`` imports, from ``-X importtime``, and the process."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "ecgspec", *args], capture_output=True,
                          text=True, cwd=ROOT)
    names = {line.rsplit("|", 1)[-1].strip().split(".")[0] for line in proc.stderr.splitlines()
             if line.startswith("import time:")}
    return names, proc
