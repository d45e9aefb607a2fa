"""A writer killed inside a flush that tears a global-heap collection: committed rows stay readable.

Variable-length strings live in HDF5 global-heap collections (4 KiB or more, no checksum).
Before the fix, the strings of each commit point went into the collection that held the
previous commits' strings, so every flush rewrote it whole; a process killed inside that
multi-page write left it torn, and reading the committed names looped forever inside HDF5
(``H5HG__cache_heap_deserialize``). Here the tear is built exactly: the file is taken just
before and just after each flush, and the pages of the "after" file are spliced onto the
"before" one at every page boundary of every collection the flush wrote. (Tears of other
metadata are caught by HDF5's checksums: those are for the torn-file fuzzer.)
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from ecgspec.store.layout import RecordRow
from ecgspec.store.writer import SpectrogramWriter
from tests.helpers.store import SMALL as SHAPE
from tests.helpers.store import new_writer

ROOT = Path(__file__).resolve().parents[2]
PAGE = 4096
READ_SECONDS = 60  # far more than reading these small files takes, even on a loaded machine




def add_record(w: SpectrogramWriter, name: str) -> None:
    """One record with 1-3 windows, its values fixed by its name; strings of several lengths."""
    rng = np.random.default_rng(list(name.encode()))
    n = int(rng.integers(1, 4))
    w.write_windows(np.full(n, w.next_record_row), np.arange(n) * 2500, rng.random((n, *SHAPE), dtype=np.float32))
    w.commit_record(RecordRow(name, f"/data/some/folder/{name}.hea", 500.0, 5000, "I,II,V1,V2,V3", n, 0,
                              "500.0,125.0", 0.0, "V1" if n == 2 else "", 0.0))


def names_of(i: int) -> list[str]:
    return [f"rec{i:02d}_{j:02d}" for j in range(15)]


def collections(data: bytes) -> list[tuple[int, int]]:
    """(address, size) of every global-heap collection ("GCOL", version 1, 3 reserved bytes, 8-byte size)."""
    found, at = [], data.find(b"GCOL")
    while at >= 0:
        found.append((at, struct.unpack_from("<Q", data, at + 8)[0]))
        at = data.find(b"GCOL", at + 4)
    return found


def splice(before: bytes, after: bytes, pages: list[int]) -> bytes:
    """``before`` with the given pages of ``after`` written over it (a write that reached only those pages)."""
    out = bytearray(before) + bytearray(max(0, len(after) - len(before)))
    for page in pages:
        out[page * PAGE : (page + 1) * PAGE] = after[page * PAGE : (page + 1) * PAGE]
    return bytes(out[: len(after)])


def torn_collections(before: bytes, after: bytes) -> list[tuple[str, bytes]]:
    """Files a kill inside the flush from ``before`` to ``after`` can leave: each collection the flush wrote,
    cut at each page boundary inside it (its pages from there on not written, the rest of the flush done)."""
    size = max(len(before), len(after))
    changed = [p for p in range(-(-size // PAGE)) if before[p * PAGE : (p + 1) * PAGE] != after[p * PAGE : (p + 1) * PAGE]]
    out = []
    for address, length in collections(after):
        first, last = address // PAGE, (address + length - 1) // PAGE
        if first == last or before[address : address + length] == after[address : address + length]:
            continue
        for cut in range(first + 1, last + 1):  # the collection's pages from `cut` on never written
            rest = [p for p in changed if not cut <= p <= last]
            out.append((f"collection at {address} cut at page {cut}", splice(before, after, rest)))
    return out


def read_names(path: Path) -> list[str]:
    """The committed names as ecgspec.open(allow_partial=True) gives them, in a child process with a deadline."""
    code = "import ecgspec, json, sys; ds = ecgspec.open(sys.argv[1], allow_partial=True);" \
           " print(json.dumps(ds.records['name'].tolist()))"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    try:
        done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True,
                              timeout=READ_SECONDS, env=env)
    except subprocess.TimeoutExpired:
        pytest.fail(f"reading the committed names of {path.name} hung (over {READ_SECONDS} s)")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def write_with_snapshots(out: Path, n_commits: int) -> list[tuple[bytes, bytes, list[str]]]:
    """Write ``n_commits`` commit points of 15 records; for each flush, the partial file just before and just
    after HDF5's flush (before /committed moves on), and the names committed before it."""
    w = new_writer(out)
    shots: list[tuple[bytes, bytes, list[str]]] = []
    flush = w._file.flush
    committed: list[str] = []

    def spy() -> None:
        before = w.partial.read_bytes()
        flush()
        shots.append((before, w.partial.read_bytes(), list(committed)))

    w._file.flush = spy
    for i in range(n_commits):
        for name in names_of(i):
            add_record(w, name)
        w.flush()
        committed += names_of(i)
    w._file.flush = flush
    w.close()
    return shots


@pytest.fixture(scope="module")
def snapshots(tmp_path_factory) -> list[tuple[bytes, bytes, list[str]]]:
    return write_with_snapshots(tmp_path_factory.mktemp("torn") / "out.h5", 6)


def test_a_flush_never_rewrites_a_collection_that_holds_committed_strings(snapshots) -> None:
    for before, after, committed in snapshots[1:]:
        old = dict(collections(before))
        for address, size in collections(after):
            if address in old and committed:
                assert before[address : address + size] == after[address : address + size], address


def test_every_torn_flush_leaves_the_committed_names_readable(snapshots, tmp_path: Path) -> None:
    cases = 0
    for k, (before, after, committed) in enumerate(snapshots):
        for what, data in torn_collections(before, after):
            path = tmp_path / f"t{k}.h5.partial"
            path.write_bytes(data)
            assert read_names(path) == committed, f"flush {k}, {what}"
            cases += 1
    assert cases >= len(snapshots)  # a collection (two pages or more) written at every flush


def test_resume_of_a_torn_flush_equals_an_uninterrupted_run(snapshots, tmp_path: Path) -> None:
    before, after, committed = snapshots[3]
    name, data = next((w, d) for w, d in torn_collections(before, after))
    out = tmp_path / "out.h5"
    (tmp_path / "out.h5.partial").write_bytes(data)
    resumed = new_writer(out, resume=True)
    assert sorted(resumed.done_names) == committed, name
    for i in range(6):
        for record in names_of(i):
            if record not in resumed.done_names:
                add_record(resumed, record)
    resumed.finish()
    (tmp_path / "fresh").mkdir()
    fresh = new_writer(tmp_path / "fresh" / "out.h5")
    for i in range(6):
        for record in names_of(i):
            add_record(fresh, record)
    fresh.finish()
    with h5py.File(out, "r") as a, h5py.File(tmp_path / "fresh" / "out.h5", "r") as b:
        for key in ("spectrograms", "windows/record", "windows/start", *(f"records/{k}" for k in b["records"])):
            assert np.array_equal(a[key][()], b[key][()]), key
