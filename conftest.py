"""The documentation's code runs in the test suite (Sybil): every ```python block of README.md and docs/,
and every ```bash block, in order, in a sandbox folder per page; a block preceded by
``<!-- skip: next -->`` is shown, not run (a GPU, a cluster, a dataset the machine does not hold).

The sandbox holds what the pages name: ``records/`` (10 CinC 2021 records, hard-linked from the shared
data), ``cpsc2021/`` (3 long 2-lead records), ``ptbxl/`` (PTB-XL's scp_statements.csv) and ``hospital/`` (a GE MUSE,
an HL7 aECG, a DICOM and an SCP-ECG file, as their writers made them); ``ecgspec``
and ``python`` on PATH are this checkout's. A page's blocks share one namespace and one folder, so a
page reads as a session a user types.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
from sybil import Example, Sybil
from sybil.parsers.markdown import CodeBlockParser, PythonCodeBlockParser, SkipParser

ROOT = Path(__file__).resolve().parent
DATA = Path(os.environ.get("ECGSPEC_DATA", ROOT.parent / "shared" / "data")).resolve()
SANDBOX_FILES = {
    "records": [DATA / "cinc2021" / f"E0750{i}.{ext}" for i in range(10) for ext in ("hea", "mat")],
    "cpsc2021": [DATA / "cpsc2021" / f"data_{n}.{ext}" for n in ("101_6", "21_7", "8_2") for ext in ("hea", "dat")],
    "ptbxl": [DATA / "ptbxl" / "scp_statements.csv"],
    "hospital": [DATA / "real" / "clinical" / name for name in (
        "muse/braveheart_example1.xml", "hl7aecg/hl7_Example_aECG.xml", "dicom/anonymous_ecg_mortara.dcm",
        "scp/ecgtoolkit_Example.scp")],
}


def _link(source: Path, folder: Path) -> None:
    folder.mkdir(exist_ok=True)
    try:
        os.link(source, folder / source.name)
    except OSError:  # another filesystem: a copy
        shutil.copy(source, folder / source.name)


def sandbox(namespace: dict[str, Any]) -> None:
    """A fresh folder with the sandbox's records, made the working directory for the page."""
    folder = Path(tempfile.mkdtemp(prefix="ecgspec-docs-"))
    for name, files in SANDBOX_FILES.items():
        for source in files:
            _link(source, folder / name)
    namespace["_sandbox"], namespace["_cwd"] = folder, os.getcwd()
    os.chdir(folder)


def leave(namespace: dict[str, Any]) -> None:
    os.chdir(namespace["_cwd"])
    shutil.rmtree(namespace["_sandbox"], ignore_errors=True)


def run_bash(example: Example) -> None:
    """A shell block, as a user's shell would run it: ``set -e``, this checkout's ecgspec on PATH."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
           "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(["bash", "-euo", "pipefail", "-c", example.parsed], capture_output=True, text=True,
                          env=env, timeout=300)
    if proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")


pytest_collect_file = Sybil(
    parsers=[PythonCodeBlockParser(), CodeBlockParser("bash", run_bash), SkipParser()],
    patterns=["README.md", "docs/**/*.md"],
    setup=sandbox,
    teardown=leave,
).pytest()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The pages' blocks are end-to-end runs (extractions, torch's import; 60 blocks ~3 minutes here): slow, so
    ``make test-fast`` leaves them to ``make test``."""
    for item in items:
        if item.path.suffix == ".md":
            item.add_marker(pytest.mark.slow)
