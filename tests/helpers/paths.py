"""Where the repository and the real records are: the one definition every test uses."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the repository (tests/helpers/paths.py)
# the real records, read in place and never written beside: ../shared/data, or $ECGSPEC_DATA
DATA = Path(os.environ.get("ECGSPEC_DATA", ROOT.parent / "shared" / "data")).resolve()
SEED = ROOT.parent / "shared" / "seed"  # the task's seed material (torch_ecg's SpectrogramInput page)
