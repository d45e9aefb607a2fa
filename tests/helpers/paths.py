"""Where the repository and the real records are: the one definition every test uses."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]  # the repository (tests/helpers/paths.py)
# the real records, read in place and never written beside: ../shared/data, or $ECGSPEC_DATA
DATA = Path(os.environ.get("ECGSPEC_DATA", ROOT.parent / "shared" / "data")).resolve()
SEED = ROOT.parent / "shared" / "seed"  # the task's seed material (torch_ecg's SpectrogramInput page)


def benchmark(name: str) -> ModuleType:
    """The script ``benchmarks/NAME.py`` as a module (the fuzzers' suite cases run their code)."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # (its dataclasses look their module up)
    spec.loader.exec_module(module)
    return module
