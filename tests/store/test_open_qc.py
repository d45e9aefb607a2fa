"""ecgspec.open(exclude=...), frame times and edge frames, `info` flag counts, and files from before them."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

import ecgspec
from ecgspec import InputConfig
from ecgspec.engine import frames
from ecgspec.signal import quality
from ecgspec.store.layout import OutputError
from tests.helpers.imports import HEAVY, imported_by


@pytest.fixture(scope="module")
def cinc_out(tmp_path_factory, cinc_dir):
    """The CinC records at feature_fs=100: JS20004 and JS20008 have flat leads."""
    out = tmp_path_factory.mktemp("open") / "cinc.h5"
    ecgspec.extract(cinc_dir, out, {"feature_fs": 100, "n_bins": 32}, log=lambda m: None)
    return out


def test_exclude_leaves_out_flagged_windows(cinc_out):
    with ecgspec.open(cinc_out) as full, ecgspec.open(cinc_out, exclude=("flat", "clipped")) as clean:
        flagged = np.flatnonzero(full.qc & (quality.FLAT | quality.CLIPPED))
        assert len(flagged) == 2 and len(clean) == len(full) - 2
        assert not (clean.qc & 6).any()
        kept = [i for i in range(len(full)) if i not in set(flagged)]
        for j in (0, len(clean) // 2, len(clean) - 1):
            spec, name, start = clean[j]
            ref_spec, ref_name, ref_start = full[kept[j]]
            assert name == ref_name and start == ref_start and torch.equal(spec, ref_spec)
        assert {clean.records["name"][r] for r in clean.windows["record"]} == set(full.records["name"]) - {
            "JS20004", "JS20008"}
    with ecgspec.open(cinc_out, exclude=quality.FLAT) as by_int:
        assert len(by_int) == len(full) - 2
    with ecgspec.open(cinc_out, exclude="filled") as none_filled:
        assert len(none_filled) == len(full)
    with pytest.raises(ValueError, match="unknown flag"):
        ecgspec.open(cinc_out, exclude=["lead-off"])


def test_exclude_works_with_dataloader_workers(cinc_out):
    with ecgspec.open(cinc_out, exclude="flat") as ds:
        names = [n for _, batch, _ in DataLoader(ds, batch_size=7, num_workers=2) for n in batch]
        assert names == [ds.records["name"][r] for r in ds.windows["record"]] and len(names) == len(ds)
        assert "JS20004" not in names


def test_frame_times_and_edges_match_the_config(cinc_out):
    cfg = InputConfig(n_channels=12, n_samples=5000, n_bins=32, fs=500, feature_fs=100)
    with ecgspec.open(cinc_out) as ds:
        np.testing.assert_array_equal(ds.frame_times, cfg.frame_times)
        np.testing.assert_array_equal(ds.edge_frames, cfg.edge_frames)
        assert ds.frame_times.dtype == np.float64 and ds.edge_frames.dtype == bool
        assert len(ds.frame_times) == ds.window_shape[-1] == 77
        assert ds.edge_frames.tolist() == [True] + [False] * 76  # the last kept frame (380 of 385) is inside


def test_shape_json_reports_frames_without_torch():
    names, proc = imported_by("shape", "--json", "--feature-fs", "100", "--n-bins", "32")
    assert proc.returncode == 0 and not names & HEAVY
    got = json.loads(proc.stdout)
    assert got["frame_times"] == frames.frame_times(5000, 13, 500, 100)
    assert got["edge_frames"] == frames.edge_frames(5000, 13, 62, 25, 500, 100)
    assert len(got["frame_times"]) == got["n_frames"]


def test_info_counts_flags_without_torch(cinc_out):
    names, proc = imported_by("info", "--json", str(cinc_out))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert not names & HEAVY, sorted(names & HEAVY)
    assert json.loads(proc.stdout)["qc"] == {"filled": 0, "flat": 2, "clipped": 0, "missing_lead": 0}
    _, text = imported_by("info", str(cinc_out))
    assert "qc: 0 filled, 2 flat, 0 clipped, 0 missing_lead" in text.stdout


def test_a_file_from_before_the_quality_columns_still_opens(cinc_out, tmp_path):
    old = tmp_path / "old.h5"
    old.write_bytes(cinc_out.read_bytes())
    with h5py.File(old, "a") as f:
        for name in ("windows/qc", "frames", "records/filled_share", "records/flat_leads", "records/clipped_share"):
            del f[name]
    with ecgspec.open(old) as ds, ecgspec.open(cinc_out) as new:
        assert len(ds) == len(new) and not ds.qc.any()
        assert np.isnan(ds.records["filled_share"]).all() and (ds.records["flat_leads"] == "").all()
        np.testing.assert_array_equal(ds.frame_times, new.frame_times)
        np.testing.assert_array_equal(ds.edge_frames, new.edge_frames)
    with pytest.raises(OutputError, match="before quality flags"):
        ecgspec.open(old, exclude="flat")
    assert ecgspec.describe(old)["qc"] is None


def test_a_file_from_before_the_quality_columns_resumes(cinc_dir, tmp_path):
    src = tmp_path / "records"
    src.mkdir()
    for name in ("E07500", "JS20004"):
        for f in cinc_dir.glob(name + ".*"):
            (src / f.name).write_bytes(f.read_bytes())
    out = tmp_path / "out.h5"
    ecgspec.extract(src, out, {"n_bins": 16}, log=lambda m: None)
    with h5py.File(out, "a") as f:
        for name in ("windows/qc", "frames", "records/filled_share", "records/flat_leads", "records/clipped_share"):
            del f[name]
    for f in cinc_dir.glob("JS20008.*"):  # a new record, added by --resume
        (src / f.name).write_bytes(f.read_bytes())
    ecgspec.extract(src, out, {"n_bins": 16}, resume=True, log=lambda m: None)
    with ecgspec.open(out) as ds:
        assert list(ds.records["name"]) == ["E07500", "JS20004", "JS20008"]
        by_name = dict(zip(ds.records["name"], ds.records["flat_leads"]))
        assert by_name["JS20008"] == "V2,V4,V6" and by_name["E07500"] == ""
        assert np.isnan(ds.records["filled_share"][:2]).all() and ds.records["filled_share"][2] == 0
        assert ds.qc.tolist() == [0, 0, quality.FLAT]  # the old windows were never checked
        assert len(ds.frame_times) == ds.window_shape[-1]
