"""``--shard K/N`` and ``ecgspec merge``: parts of real records merged (copied or virtual) equal a single run.

Every refusal of ``merge`` is exercised on real part files: one line, exit 2, naming the files.
"""

from __future__ import annotations

import errno
import os
import random
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

import ecgspec
from ecgspec.run.shard import PART_ATTRS, ShardError, parse_cluster, parse_shard, record_weights, split
from ecgspec.store.layout import partial_path
from ecgspec.store.merge import InOrderMerge, MergeError, merge_parts
from tests.helpers.cli import invoke
from tests.helpers.compare import assert_same
from tests.helpers.corpus import OPTIONS, make_corpus

N_RECORDS = 40
N_PARTS = 3


@pytest.fixture(scope="module")
def run(tmp_path_factory, cinc_dir):
    """A corpus with bad records and a missing input, its single-process output and its N_PARTS parts."""
    root = tmp_path_factory.mktemp("shard")
    corpus = make_corpus(root / "records", cinc_dir, N_RECORDS)
    inputs = [corpus, root / "absent"]  # a discovery problem: a single run lists it first under /errors
    single = root / "single.h5"
    assert invoke("extract", *inputs, single, *OPTIONS, "--quiet").exit_code == 1
    parts = []
    for k in range(N_PARTS):
        parts.append(root / "parts" / f"p{k}.h5")
        parts[-1].parent.mkdir(exist_ok=True)
        assert invoke("extract", *inputs, parts[-1], *OPTIONS, "--quiet", "--shard", f"{k}/{N_PARTS}").exit_code in (0, 1)
    return {"root": root, "inputs": inputs, "single": single, "parts": parts}


# -- pure pieces -------------------------------------------------------------------------------


def test_parse_shard_and_cluster():
    assert parse_shard("2/5") == (2, 5) and parse_shard([0, 1]) == (0, 1)
    for bad in ("5/5", "-1/3", "1", "a/b", (3, 2)):
        with pytest.raises(ShardError, match="shard: got"):
            parse_shard(bad)
    assert parse_cluster("local:2") == "local:2" and parse_cluster("tcp://10.0.0.1:8786") == "tcp://10.0.0.1:8786"
    assert parse_cluster("sched.json") == "sched.json"
    for bad in ("local:0", "local", "10.0.0.1:8786", ""):
        with pytest.raises(ShardError, match="cluster: got"):
            parse_cluster(bad)


def test_split_is_contiguous_complete_and_balanced():
    rng = random.Random(0)
    for _ in range(200):
        weights = [rng.randint(1, 1000) for _ in range(rng.randint(1, 60))]
        n = rng.randint(1, 12)
        bounds = split(weights, n)
        assert len(bounds) == n and bounds[0][0] == 0 and bounds[-1][1] == len(weights)
        assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))
        target = sum(weights) / n
        for start, stop in bounds:  # each part within one record's weight of an equal share
            assert abs(sum(weights[start:stop]) - target) <= max(weights)
    assert split([10, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1], 2) == [(0, 1), (1, 11)]  # by size, not count


def test_record_weights_count_the_record_files(tmp_path, cinc_dir):
    shutil.copy(cinc_dir / "E07500.hea", tmp_path / "a.hea")
    shutil.copy(cinc_dir / "E07500.mat", tmp_path / "a.mat")
    (tmp_path / "m.hea").write_text("m/2 1 500 10\nm_1 5\nm_2 5\n")
    (tmp_path / "m_1.dat").write_bytes(b"x" * 100)
    (tmp_path / "m_2.dat").write_bytes(b"x" * 300)
    weights = record_weights([tmp_path / "a.hea", tmp_path / "m.hea", tmp_path / "gone.hea"])
    sizes = [(tmp_path / f).stat().st_size for f in ("a.hea", "a.mat", "m.hea")]
    assert weights == [sizes[0] + sizes[1], sizes[2] + 400, 1]


# -- merged parts equal a single run -----------------------------------------------------------


def test_parts_name_the_part_and_the_run(run):
    digests = set()
    for k, part in enumerate(run["parts"]):
        with h5py.File(part) as f:
            assert (f.attrs["part_index"], f.attrs["part_count"], f.attrs["run_records"]) == (k, N_PARTS, N_RECORDS + 3)
            digests.add(f.attrs["run_digest"])
            n = f["records/name"].shape[0]
        assert abs(n - (N_RECORDS + 3) / N_PARTS) <= 3  # copies of similar records: sizes balance counts too
    assert len(digests) == 1


def test_merge_copy_equals_a_single_run(run):
    out = run["root"] / "merged.h5"
    shuffled = [run["parts"][i] for i in (2, 0, 1)]  # any order
    result = invoke("merge", *shuffled, out)
    assert result.exit_code == 0, result.output
    assert_same(out, run["single"], ignore=PART_ATTRS)
    assert not Path(f"{out}.partial").exists()
    with ecgspec.open(out) as ds:
        assert ds.errors[0][0] == "absent"  # discovery problems first, as a single run has them


def test_in_order_merge_part_by_part_equals_a_single_run(run, tmp_path):
    """What --cluster does as its parts finish: each appended in turn; a part out of turn is refused."""
    out = tmp_path / "streamed.h5"
    merge = InOrderMerge(out)
    merge.add(run["parts"][0])
    with pytest.raises(MergeError, match="is part 2 of 3, expected part 1"):
        merge.add(run["parts"][2])
    assert partial_path(out).is_file() and not out.exists()  # not published until finished
    merge.add(run["parts"][1])
    merge.add(run["parts"][2])
    summary = merge.finish()
    with h5py.File(run["single"]) as single:
        expected = (N_PARTS, single["records/name"].shape[0], single["errors/name"].shape[0])
    assert (summary.parts, summary.records, summary.errors) == expected
    assert_same(out, run["single"], ignore=PART_ATTRS)
    assert not partial_path(out).exists()
    aborted = InOrderMerge(tmp_path / "aborted.h5")
    aborted.add(run["parts"][0])
    aborted.abort()
    assert not partial_path(tmp_path / "aborted.h5").exists()


def test_merge_virtual_equals_a_single_run_and_moves_with_its_folder(run, tmp_path):
    folder = tmp_path / "results"
    shutil.copytree(run["parts"][0].parent, folder / "parts")
    out = folder / "all.h5"
    merge_parts(sorted((folder / "parts").glob("p*.h5")), out, virtual=True)
    with h5py.File(out) as f:
        assert f["spectrograms"].is_virtual
        assert {s.file_name for s in f["spectrograms"].virtual_sources()} == {f"parts/p{k}.h5" for k in range(N_PARTS)}
    moved = tmp_path / "elsewhere" / "results"
    moved.parent.mkdir()
    shutil.move(folder, moved)
    assert_same(moved / "all.h5", run["single"], ignore=PART_ATTRS)
    os.remove(moved / "parts" / "p1.h5")
    with pytest.raises(ecgspec.store.reader.OutputError, match="p1.h5"):
        _ = ecgspec.open(moved / "all.h5").spectrograms  # the file opens lazily: the first access checks its parts


def test_virtual_file_with_dataloader_workers(run, tmp_path):
    out = run["parts"][0].parent / "virtual.h5"
    merge_parts(run["parts"], out, virtual=True, overwrite=True)
    with ecgspec.open(out) as ds, ecgspec.open(run["single"]) as ref:
        loader = torch.utils.data.DataLoader(ds, batch_size=4, num_workers=2)
        specs, names, starts = zip(*loader)
        assert torch.equal(torch.cat(specs), torch.from_numpy(ref.spectrograms[:]))
        assert [n for batch in names for n in batch] == [ref.records["name"][r] for r in ref.windows["record"]]


@pytest.mark.slow  # 1.5 s: the module's run shards through the CLI for every test here
def test_shard_from_yaml_and_the_api(run, tmp_path):
    config = tmp_path / "cfg.yaml"
    config.write_text("n_bins: 32\nfeature_fs: 50\nextract:\n  batch_size: 8\n  shard: 1/3\n")
    yaml_part = tmp_path / "yaml.h5"
    invoke("extract", *run["inputs"], yaml_part, "--config", config, "--quiet")
    api_part = tmp_path / "api.h5"
    ecgspec.extract(run["inputs"], api_part, {"n_bins": 32, "feature_fs": 50.0}, batch_size=8, shard=(2, 3),
                    log=lambda m: None)
    out = tmp_path / "m.h5"
    merge_parts([run["parts"][0], yaml_part, api_part], out)
    assert_same(out, run["single"], ignore=PART_ATTRS)


@pytest.mark.slow  # 3 s: a copy merge streamed chunk by chunk; both merges are the tests above
def test_streamed_copy_with_stored_chunks(run, tmp_path, monkeypatch):
    """Large-dataset path: slices ending on chunk boundaries, and gzip chunks copied as stored bytes."""
    import ecgspec.store.merge as merge
    import ecgspec.store.new_file as new_file

    monkeypatch.setattr(new_file, "HDF5_CHUNK_BYTES", 4 * 12 * 32 * 38 * 4)  # 4 windows a chunk
    monkeypatch.setattr(merge, "COPY_BYTES", 10 * 12 * 32 * 38 * 4)  # stream in steps of 8 windows
    settings = dict(config={"n_bins": 32, "feature_fs": 50}, batch_size=8, compression="gzip", log=lambda m: None)
    single = tmp_path / "single.h5"
    ecgspec.extract(run["inputs"], single, **settings)
    parts = [tmp_path / f"p{k}.h5" for k in range(N_PARTS)]
    for k, part in enumerate(parts):
        ecgspec.extract(run["inputs"], part, shard=(k, N_PARTS), **settings)
    whole_chunks = []
    original = merge._copy_chunks
    monkeypatch.setattr(merge, "_copy_chunks", lambda *a: whole_chunks.append(original(*a)) or whole_chunks[-1])
    merge_parts(parts, tmp_path / "merged.h5")
    assert whole_chunks[0] >= 8  # part 0's whole chunks went as stored bytes
    assert_same(tmp_path / "merged.h5", single, ignore=PART_ATTRS)
    with h5py.File(tmp_path / "merged.h5") as f:
        assert f["spectrograms"].compression == "gzip" and f["spectrograms"].chunks[0] == 4


def test_merge_walks_datasets_added_to_the_layout(run, tmp_path):
    """Columns other helpers add (per-window flags, per-frame constants, the writer's counters) merge too."""
    parts = [shutil.copy(p, tmp_path / p.name) for p in run["parts"]]
    single = shutil.copy(run["single"], tmp_path / "single.h5")
    flags = []
    for k, part in enumerate(parts):
        with h5py.File(part, "a") as f:
            n = (f["records/name"].shape[0], f["spectrograms"].shape[0], f["errors/name"].shape[0])
            flags.append(np.arange(n[1], dtype=np.uint8) + 10 * k)
            f["windows/test_flags"] = np.stack([flags[-1], flags[-1]], axis=1)
            f["records/test_quality"] = np.full(n[0], k, dtype=np.float32)
            f["test_frames/time"] = np.linspace(0, 1, 7)
            assert f["committed"][:].tolist() == list(n)  # the writer's counters, summed by merge
            f["scale"] = 2.5
    with h5py.File(single, "a") as f:
        f["windows/test_flags"] = np.stack([np.concatenate(flags)] * 2, axis=1)
        f["records/test_quality"] = np.concatenate([np.full(h5py.File(p)["records/name"].shape[0], k, dtype=np.float32)
                                               for k, p in enumerate(parts)])
        f["test_frames/time"] = np.linspace(0, 1, 7)
        f["scale"] = 2.5
    for virtual in (False, True):
        out = tmp_path / f"merged-{virtual}.h5"
        merge_parts(parts, out, virtual=virtual)
        assert_same(out, single, ignore=PART_ATTRS)


# -- refusals ----------------------------------------------------------------------------------


def refused(*args: str | Path) -> str:
    result = invoke("merge", *args)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ecgspec: error: "), result.output
    return lines[0]


def other_part(run, tmp_path, name: str, *extra: str, shard: str = "1/3", inputs=None) -> Path:
    path = tmp_path / name
    invoke("extract", *(inputs or run["inputs"]), path, *OPTIONS, "--quiet", "--shard", shard, *extra)
    return path


def test_refuses_overlapping_records(run, tmp_path):
    copy = tmp_path / "copy.h5"
    shutil.copy(run["parts"][1], copy)
    line = refused(*run["parts"], copy, tmp_path / "m.h5")
    assert "overlapping records" in line and str(copy) in line and str(run["parts"][1]) in line


def test_refuses_different_configs_dtypes_and_versions(run, tmp_path):
    p0 = run["parts"][0]
    other = other_part(run, tmp_path, "nan.h5", "--max-nan", "0.5")
    line = refused(p0, other, run["parts"][2], tmp_path / "m.h5")
    assert "different configs: field max_nan was 0.1, now 0.5" in line and str(other) in line
    half = other_part(run, tmp_path, "half.h5", "--dtype", "float16")
    assert "different dtypes (float32 and float16)" in refused(p0, half, run["parts"][2], tmp_path / "m.h5")
    old = tmp_path / "old.h5"
    shutil.copy(run["parts"][1], old)
    with h5py.File(old, "a") as f:
        f.attrs["ecgspec_version"] = "0.0.9"
    line = refused(p0, old, run["parts"][2], tmp_path / "m.h5")
    assert "different ecgspec versions (0.1.0 and 0.0.9)" in line and str(old) in line


def test_refuses_incomplete_and_non_parts(run, tmp_path):
    unfinished = tmp_path / "unfinished.h5"
    shutil.copy(run["parts"][1], unfinished)
    with h5py.File(unfinished, "a") as f:
        f.attrs["complete"] = False
    line = refused(run["parts"][0], unfinished, run["parts"][2], tmp_path / "m.h5")
    assert f"{unfinished} is an incomplete part" in line
    line = refused(run["parts"][0], run["single"], tmp_path / "m.h5")
    assert f"{run['single']} is not a part of a --shard run" in line
    assert "no such file" in refused(run["parts"][0], tmp_path / "nope.h5", tmp_path / "m.h5")


def test_refuses_missing_parts_and_other_runs(run, tmp_path):
    line = refused(run["parts"][2], run["parts"][0], tmp_path / "m.h5")
    assert "missing parts of the 3-part run" in line and ": 1 (have 0, 2)" in line
    other_run = other_part(run, tmp_path, "other.h5", inputs=run["inputs"][:1])  # no missing input: another run
    line = refused(run["parts"][0], other_run, run["parts"][2], tmp_path / "m.h5")
    assert "parts of different runs" in line and str(other_run) in line
    halves = other_part(run, tmp_path, "half-split.h5", shard="1/2")
    line = refused(run["parts"][0], halves, tmp_path / "m.h5")
    assert "is part 0 of 3" in line and "part 1 of 2" in line
    assert not (tmp_path / "m.h5").exists() and not (tmp_path / "m.h5.partial").exists()


def test_refuses_an_existing_output(run, tmp_path):
    out = tmp_path / "m.h5"
    out.write_bytes(b"keep")
    assert "exists; pass --overwrite" in refused(*run["parts"], out)
    assert out.read_bytes() == b"keep"


def test_bad_shard_is_one_line(run, tmp_path):
    result = invoke("extract", *run["inputs"], tmp_path / "x.h5", "--shard", "3/3")
    assert result.exit_code == 2 and result.output.strip().splitlines() == [
        "ecgspec: error: shard: got '3/3', must be K/N with 0 <= K < N (e.g. 0/4)"]


# -- file locking on shared filesystems --------------------------------------------------------


def _no_locks(*args, **kwargs):
    """What h5py raises where the filesystem refuses flock (NFS without a lock daemon)."""
    code = errno.ENOLCK
    raise OSError(code, f"Unable to synchronously create file (unable to lock file, errno = {code},"
                        f" error message = '{os.strerror(code)}')")


@pytest.mark.slow
def test_file_locking_failure_says_what_to_do(run, tmp_path, monkeypatch):
    monkeypatch.setattr(h5py, "File", _no_locks)
    for args in (["extract", *run["inputs"], tmp_path / "x.h5", *OPTIONS],
                 ["merge", *run["parts"], tmp_path / "m.h5"]):
        result = invoke(*args)
        assert result.exit_code == 2
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and "HDF5_USE_FILE_LOCKING=FALSE" in lines[0] and "bug" not in lines[0], lines
