"""/records/comments, /records/start_time and /records/meta/<key> on disk: what extract writes from the
real headers, window start times, partial and resumed files, and files written before these columns."""

from __future__ import annotations

import datetime
import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
import wfdb

import ecgspec
from ecgspec.store.layout import RecordRow
from ecgspec.store.writer import SpectrogramWriter

SMALL = {"n_bins": 16, "feature_fs": 20}


def quiet(message: str) -> None:
    pass


@pytest.fixture(scope="module")
def cinc_out(tmp_path_factory, cinc_dir: Path) -> Path:
    out = tmp_path_factory.mktemp("meta") / "cinc.h5"
    ecgspec.extract(cinc_dir, out, SMALL, log=quiet)
    return out


def test_meta_equals_the_headers(cinc_out: Path, cinc_dir: Path) -> None:
    with h5py.File(cinc_out, "r") as f:
        names = f["records/name"].asstr()[()]
        meta = {k: d.asstr()[()] for k, d in f["records/meta"].items()}
        comments = f["records/comments"].asstr()[()]
        start = f["records/start_time"].asstr()[()]
    assert len(names) == 50 and {"Dx", "Age", "Sex"} <= meta.keys()
    for row, name in enumerate(names):
        theirs = wfdb.rdheader(str(cinc_dir / name)).comments
        assert comments[row] == "\n".join(theirs)
        fields = {line.split(":", 1)[0].strip(): line.split(":", 1)[1].strip() for line in theirs}
        for key, column in meta.items():
            assert column[row] == fields.get(key, "")
    assert (start == "").all()  # CinC headers give no base date
    assert set(ecgspec.describe(cinc_out)["meta"]) == set(meta) and ecgspec.describe(cinc_out)["labels"] == []
    with ecgspec.open(cinc_out) as ds:
        assert ds.records["meta/Dx"].tolist() == meta["Dx"].tolist()


def test_start_time_and_window_start_times(tmp_path: Path, wfdb_dir: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    for f in wfdb_dir.glob("test01_00s.*"):
        shutil.copy(f, src / f.name)
    header = src / "test01_00s.hea"
    lines = header.read_text().splitlines()
    header.write_text("\n".join([lines[0] + " 23:59:59.500 31/12/2180", *lines[1:]]) + "\n")
    out = tmp_path / "o.h5"
    ecgspec.extract(src, out, {"n_channels": 4, "n_samples": 1000, "n_bins": 16}, stride=500, log=quiet)
    base = wfdb.rdheader(str(src / "test01_00s"))
    begin = datetime.datetime.combine(base.base_date, base.base_time)
    with ecgspec.open(out) as ds:
        assert ds.records["start_time"].tolist() == ["2180-12-31T23:59:59.500"]
        assert len(ds) == 7
        for i in range(len(ds)):
            expected = begin + datetime.timedelta(seconds=int(ds.windows["start"][i]) / 500)
            assert datetime.datetime.fromisoformat(ds.window_start_time(i)) == expected
        assert ds.window_start_time(1) == "2181-01-01T00:00:00.500"  # across the year's end
        assert ds.window_start_time(-1) == ds.window_start_time(6)
        with pytest.raises(IndexError):
            ds.window_start_time(7)


def test_window_start_time_is_empty_without_a_date(cinc_out: Path) -> None:
    with ecgspec.open(cinc_out) as ds:
        assert ds.window_start_time(0) == ""


def test_a_file_from_before_these_columns_opens_with_empty_meta_and_no_labels(cinc_out: Path, tmp_path: Path) -> None:
    old = tmp_path / "old.h5"
    shutil.copy(cinc_out, old)
    with h5py.File(old, "a") as f:
        for name in ("records/comments", "records/start_time", "records/fields", "records/meta"):
            del f[name]
    with ecgspec.open(old, columns=("name",)) as ds, ecgspec.open(cinc_out) as new:
        assert len(ds) == len(new) == 50
        assert not [k for k in ds.records if k.startswith(("meta/", "labels/"))]
        assert (ds.records["comments"] == "").all() and (ds.records["start_time"] == "").all()
        assert ds[0][3] == {"name": new.records["name"][0]} and ds.window_start_time(0) == ""
        assert np.array_equal(ds[3][0].numpy(), new[3][0].numpy())
    assert ecgspec.describe(old)["meta"] == [] and ecgspec.describe(old)["labels"] == []


def _writer(path: Path) -> SpectrogramWriter:
    return SpectrogramWriter(path, window_shape=(2, 3), frequencies=np.arange(2.0),
                             attrs={"config": {"n_channels": 1, "fs": 500}}, durable=False)


def test_a_partial_file_derives_meta_from_its_comments(tmp_path: Path) -> None:
    out = tmp_path / "p.h5"
    w = _writer(out)
    for i, comments in enumerate(["Age: 7\nSex: F", "Dx: 1,2", "note only"]):
        w.write_windows([i], [0], np.full((1, 2, 3), i, dtype=np.float32))
        w.commit_record(RecordRow(f"r{i}", "s", 500.0, 10, "I", 1, 0, "500.0", comments=comments,
                                  start_time="2000-01-01T00:00:00"))
    w.flush()
    try:
        with ecgspec.open(tmp_path / "p.h5.partial", allow_partial=True) as ds:
            assert ds.records["meta/Age"].tolist() == ["7", "", ""]
            assert ds.records["meta/Dx"].tolist() == ["", "1,2", ""]
            assert ds.records["start_time"].tolist() == ["2000-01-01T00:00:00"] * 3
    finally:
        w.close()


def test_repeated_keys_keep_every_value_and_slashes_are_renamed(tmp_path: Path) -> None:
    out = tmp_path / "r.h5"
    with _writer(out) as w:
        w.write_windows([0], [0], np.zeros((1, 2, 3), dtype=np.float32))
        w.commit_record(RecordRow("r", "s", 500.0, 10, "I", 1, 0, "500.0", comments="Dx: a\nDx: b\nHx/Rx: c"))
        w.finish()
    with h5py.File(out, "r") as f:
        assert f["records/meta/Dx"].asstr()[0] == "a\nb" and f["records/meta/Hx_Rx"].asstr()[0] == "c"


def test_resume_adding_records_extends_meta_and_labels(tmp_path: Path, cinc_dir: Path, copy_records) -> None:
    src = copy_records(cinc_dir, ["E07500", "E07501"])
    table = tmp_path / "t.csv"
    table.write_text("id,fold\nE07500,1\nE07501,2\nE07502,3\n")
    out = tmp_path / "o.h5"
    ecgspec.extract(src, out, SMALL, labels=str(table), label_key="id", log=quiet)
    copy_records(cinc_dir, ["E07502"])
    ecgspec.extract(src, out, SMALL, labels=str(table), label_key="id", resume=True, log=quiet)
    with ecgspec.open(out) as ds:
        assert ds.records["name"].tolist() == ["E07500", "E07501", "E07502"]
        assert ds.records["labels/fold"].tolist() == [1, 2, 3]
        assert ds.records["meta/Age"].tolist() == [
            dict(line.split(": ", 1) for line in wfdb.rdheader(str(src / n)).comments)["Age"] for n in ds.records["name"]]
    copy_records(cinc_dir, ["E07503"])
    warnings: list[str] = []
    ecgspec.extract(src, out, SMALL, resume=True, log=warnings.append)  # without --labels this time
    assert any("labels joined by an earlier run were dropped" in w for w in warnings)
    with ecgspec.open(out) as ds:
        assert len(ds.records["meta/Age"]) == 4 and not [k for k in ds.records if k.startswith("labels/")]


def test_merged_shards_rebuild_meta_and_promote_labels(tmp_path: Path, cinc_dir: Path, copy_records) -> None:
    names = ["E07500", "E07501", "E07502", "E07503"]
    src = copy_records(cinc_dir, names)
    last = src / "E07503.hea"
    last.write_text(last.read_text() + "# Extra: only here\n")  # a key one part lacks
    table = tmp_path / "t.csv"
    table.write_text("id,fold,dx\nE07500,1,AF\nE07501,2,SR\nE07502,3,x\n")  # E07503 (part 1) has no row
    parts = []
    for k in range(2):
        part = tmp_path / f"p{k}.h5"
        ecgspec.extract(src, part, SMALL, shard=(k, 2), labels=str(table), label_key="id", log=quiet)
        parts.append(part)
    with h5py.File(parts[0]) as a, h5py.File(parts[1]) as b:
        assert "Extra" not in a["records/meta"] and "Extra" in b["records/meta"]
        assert (a["records/labels/fold"].dtype, b["records/labels/fold"].dtype) == (np.int64, np.float64)
    from ecgspec.store.merge import merge_parts

    merge_parts(parts, tmp_path / "m.h5")
    whole = tmp_path / "w.h5"
    ecgspec.extract(src, whole, SMALL, labels=str(table), label_key="id", log=quiet)
    with ecgspec.open(tmp_path / "m.h5") as merged, ecgspec.open(whole) as single:
        assert merged.records["name"].tolist() == names
        for key in [k for k in single.records if k.startswith(("meta/", "labels/"))]:
            np.testing.assert_array_equal(merged.records[key], single.records[key])
        assert merged.records["meta/Extra"].tolist() == ["", "", "", "only here"]
        assert merged.records["labels/fold"].dtype == np.float64


def test_a_clinical_files_header_fields_reach_meta(tmp_path: Path, data_dir: Path) -> None:
    """A hospital file has no comment lines: its reader's header fields (``Header.meta``) are what
    ``/records/fields`` holds and ``/records/meta`` is built from."""
    from ecgspec.readers import open_record
    from ecgspec.readers.discovery import find_records

    source = data_dir / "real" / "clinical" / "muse"
    out = tmp_path / "muse.h5"
    ecgspec.extract(source, out, SMALL, lead_set="standard12", log=quiet)
    refs, _ = find_records([source])
    with h5py.File(out, "r") as f:
        names = f["records/name"].asstr()[()].tolist()
        fields = f["records/fields"].asstr()[()]
        meta = {k: d.asstr()[()] for k, d in f["records/meta"].items()}
    assert names == [r.name for r in refs] and len(names) == 3
    for row, ref in enumerate(refs):
        header = open_record(ref).header
        assert header.meta and [tuple(p) for p in json.loads(fields[row])] == list(header.meta)
        for key, value in dict(header.meta).items():  # no key repeats in these files
            assert meta[key][row] == value


def test_a_partial_file_derives_meta_from_its_fields_before_its_comments(tmp_path: Path) -> None:
    w = _writer(tmp_path / "f.h5")
    rows = [("Age: 7", json.dumps([["Age", "8"], ["scp_warnings", "x"]])), ("Age: 9", "")]  # "": written before fields
    for i, (comments, fields) in enumerate(rows):
        w.write_windows([i], [0], np.zeros((1, 2, 3), dtype=np.float32))
        w.commit_record(RecordRow(f"r{i}", "s", 500.0, 10, "I", 1, 0, "500.0", comments=comments, fields=fields))
    w.flush()
    try:
        with ecgspec.open(tmp_path / "f.h5.partial", allow_partial=True) as ds:
            assert ds.records["meta/Age"].tolist() == ["8", "9"]
            assert ds.records["meta/scp_warnings"].tolist() == ["x", ""]
        w.finish()
        with h5py.File(tmp_path / "f.h5", "r") as f:
            assert f["records/meta/Age"].asstr()[()].tolist() == ["8", "9"]
    finally:
        w.close()
