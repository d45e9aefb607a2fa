"""Comparing ecgspec's clinical decoders with ecgdatakit: two records the same bit for bit, a
decoder that must not fall back, and files read in a process where ecgdatakit cannot be imported
(what a user without the ``clinical`` extra gets, a line a file, beside :func:`summary` of
ecgdatakit's reading)."""

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
from tests.helpers.clinical import summary
for arg in sys.argv[1:]:
    try:
        print(summary(open_record(RecordRef("r", Path(arg), "clinical"))))
    except RecordError as exc:
        print("ERROR", exc)
"""


def no_fallback(ref) -> None:
    """In place of the ecgdatakit path, where a test wants the decoder's own reading."""
    raise AssertionError(f"{ref.path.name} went to ecgdatakit")


def same(got, expected) -> None:
    """Equal headers (with units, start time, meta) and float32 samples bit for bit."""
    g, e = got.header, expected.header
    assert g == e and g.units == e.units and g.start_time == e.start_time, (g, e)
    assert g.meta == e.meta, (g.meta, e.meta)
    for c in range(g.n_signals):
        assert got.read(0, g.length(c), [c]).tobytes() == expected.read(0, e.length(c), [c]).tobytes(), c


def decoded_as_ecgdatakit(path: Path, monkeypatch):
    """ecgspec's own reading of ``path`` (ecgdatakit's path blocked), asserted the same as
    ecgdatakit's (which gives no warning on the file)."""
    from ecgspec.readers import RecordRef, clinical

    ref = RecordRef(path.stem, path, "clinical")
    expected = clinical.open_with_ecgdatakit(ref)
    assert "warning" not in dict(expected.header.meta), expected.header.meta
    monkeypatch.setattr(clinical, "open_with_ecgdatakit", no_fallback)
    got = clinical.open_clinical(ref)
    same(got, expected)
    return got


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
