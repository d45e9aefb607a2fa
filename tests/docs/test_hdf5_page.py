"""The HDF5 layout has one home, docs/reference/hdf5.md: every dataset, group and attribute of files written
with most options on is a row of its table, and every row is in a file written here (``always`` rows in each;
the rows of ``a partial file only`` are held by tests/store's partial files)."""

from __future__ import annotations

import re
from pathlib import Path

import h5py
import pytest

import ecgspec
from tests.helpers.paths import ROOT

PAGE = ROOT / "docs" / "reference" / "hdf5.md"
SMALL = {"n_bins": 16, "feature_fs": 25}


def table_rows(text: str) -> list[tuple[list[str], str]]:
    """Each row of the page's first table: the names in its first cell, and its *written* cell."""
    rows = []
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| `/") and len(cells) >= 4:
            rows.append((re.findall(r"`(/[^`]*)`", cells[0]), cells[2]))
    return rows


def pattern(name: str) -> re.Pattern[str]:
    """A row's path as a regular expression: ``<path>`` stands for a dataset's path, any other ``<key>`` for
    one path component."""
    def part(p: str) -> str:
        if p == "<path>":
            return "[^@]+"
        return "[^/@]+" if re.fullmatch(r"<\w+>", p) else re.escape(p)
    return re.compile("".join(part(p) for p in re.split(r"(<\w+>)", name)))


def contents(path: Path) -> tuple[set[str], set[str]]:
    """The file's datasets and attributes (``PATH@NAME``, root ``/@NAME``), and its groups."""
    named, groups = {f"/@{a}" for a in h5py.File(path).attrs}, set()
    with h5py.File(path) as file:
        def visit(name: str, obj: object) -> None:
            target = groups if isinstance(obj, h5py.Group) else named
            target.add(f"/{name}")
            named.update(f"/{name}@{a}" for a in obj.attrs)  # type: ignore[attr-defined]
        file.visititems(visit)
    return named, groups


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> list[Path]:
    """A file with lead set, derived leads, labels, targets and header fields; a --shard part of a two-lead run;
    a signals file (--store signals)."""
    tmp = tmp_path_factory.mktemp("layout")
    records = [data_dir / "cinc2021" / f"E0750{i}.hea" for i in range(4)]
    table = tmp / "labels.csv"
    table.write_text("name,fold,site\nE07500,1,a\nE07501,2,b\n")
    full, part = tmp / "full.h5", tmp / "part.h5"
    ecgspec.extract(records, full, SMALL, lead_set="standard12", derive_leads=True, labels=str(table),
                    label_key="name", targets="cinc2021", log=lambda _: None)
    ecgspec.extract(records, part, SMALL, leads="I,II", shard=(0, 2), log=lambda _: None)
    signals = tmp / "signals.h5"
    ecgspec.extract(records[:2], signals, SMALL, leads="I,II", store="signals", log=lambda _: None)
    return [full, part, signals]


def test_every_object_of_a_written_file_is_a_row_and_every_row_is_written(written: list[Path]) -> None:
    rows = table_rows(PAGE.read_text())
    assert len(rows) > 30, "the page's table was not found"
    patterns = [(pattern(n), n, when) for names, when in rows for n in names]
    seen: dict[str, set[int]] = {n: set() for _, n, _ in patterns}
    for k, path in enumerate(written):
        named, groups = contents(path)
        for obj in named:
            rows_of = [n for p, n, _ in patterns if p.fullmatch(obj)]
            assert rows_of, f"{obj} (in a file written with {path.stem}) is not in {PAGE.name}'s table"
            for n in rows_of:
                seen[n].add(k)
        for group in groups:
            assert any(n.startswith(group + "/") for _, n, _ in patterns), f"group {group} has no row below it"
    for _, n, when in patterns:
        assert seen[n] or when == "a partial file only", f"{n} is a row of {PAGE.name} but no file written here holds it"
        if when == "always":
            assert seen[n] == set(range(len(written))), f"{n} is written 'always' but one file here lacks it"


def test_the_row_parser_and_patterns_can_fail() -> None:
    rows = table_rows("| path | a | written | b |\n|---|---|---|---|\n| `/x`, `/y@z` | s | always | m |\n")
    assert rows == [(["/x", "/y@z"], "always")]
    assert pattern("/records/meta/<key>").fullmatch("/records/meta/Dx")
    assert not pattern("/records/meta/<key>").fullmatch("/records/meta/a/b")
    assert not pattern("/records/name").fullmatch("/records/names")
    assert pattern("/<path>@crc32").fullmatch("/records/meta/Dx@crc32")
    assert not pattern("/<path>@crc32").fullmatch("/records/name@crc32_rows")
