"""Clinical files read in a process where ecgdatakit cannot be imported: what a user without the
``clinical`` extra gets, a line a file, to compare with :func:`summary` of ecgdatakit's reading."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

from tests.helpers.paths import ROOT

_SCRIPT = """\
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "ecgdatakit":
            raise ImportError("No module named " + name, name=name)
sys.meta_path.insert(0, Block())
from pathlib import Path
from ecgspec.readers import RecordError, RecordRef, open_record
from tests.helpers.without_ecgdatakit import summary
for arg in sys.argv[1:]:
    try:
        print(summary(open_record(RecordRef("r", Path(arg), "clinical"))))
    except RecordError as exc:
        print("ERROR", exc)
"""


def summary(record) -> str:
    """``OK``, the header, its units, start time and meta, and a digest of every lead's samples."""
    h = record.header
    data = b"".join(record.read(0, h.length(c), [c]).tobytes() for c in range(h.n_signals))
    return f"OK {h} {h.units} {h.start_time} {h.meta} {hashlib.sha1(data).hexdigest()}"


def read_without_ecgdatakit(paths: list[Path]) -> list[str]:
    """A line a file: its :func:`summary`, or ``ERROR`` and the one-line reason."""
    out = subprocess.run([sys.executable, "-c", _SCRIPT, *map(str, paths)], capture_output=True, text=True,
                         cwd=ROOT, timeout=120)
    assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr
    return out.stdout.splitlines()
