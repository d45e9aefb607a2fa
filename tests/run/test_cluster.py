"""``extract --cluster`` on a real Dask LocalCluster (2 worker processes): equal to a single process.

Also: a worker killed mid-run (the run completes, equal output), ``--resume`` keeping finished
parts, the device each worker takes, and the one-line error without Dask.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

import dask
import h5py
import pytest
from distributed import Client, LocalCluster

import ecgspec
from ecgspec.run.cluster import _connect, assign_device, part_count, parts_folder, start_forkserver, worker_index
from ecgspec.run.pipeline import ExtractError
from ecgspec.run.shard import PART_ATTRS
from tests.helpers.cli import invoke
from tests.helpers.compare import assert_same
from tests.helpers.corpus import OPTIONS, make_corpus

N_RECORDS = 60


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, cinc_dir):
    """Records (some bad), and the single-process output of them."""
    root = tmp_path_factory.mktemp("cluster")
    records = make_corpus(root / "records", cinc_dir, N_RECORDS)
    single = root / "single.h5"
    assert invoke("extract", records, single, *OPTIONS, "--quiet").exit_code == 1
    return {"records": records, "single": single}


@pytest.fixture(scope="module")
def dask_cluster():
    """A LocalCluster of 2 spawned worker processes the tests join by address or scheduler file."""
    with dask.config.set({"distributed.worker.multiprocessing-method": "spawn"}):
        cluster = LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None)
    client = Client(cluster)
    yield cluster, client
    client.close()
    cluster.close()


def test_assign_device():
    assert assign_device("cpu", 3, 4, False) == "cpu"
    assert assign_device("cuda:1", 3, 4, False) == "cuda:1"  # as given
    assert [assign_device("cuda", i, 2, False) for i in range(4)] == ["cuda:0", "cuda:1", "cuda:0", "cuda:1"]
    assert [assign_device("auto", i, 3, False) for i in range(4)] == ["cuda:0", "cuda:1", "cuda:2", "cuda:0"]
    assert assign_device("cuda", 5, 4, True) == "cuda:0"  # the launcher set CUDA_VISIBLE_DEVICES for this worker
    assert assign_device("auto", 1, 0, False) == "cpu"
    with pytest.raises(ExtractError, match="no CUDA device"):
        assign_device("cuda", 0, 0, False)
    assert [worker_index(n) for n in (0, 7, "SLURMCluster-3-12", "tcp://a:1", "gpu")] == [0, 7, 12, 1, 0]
    assert part_count(1000, 2) == 8 and part_count(3, 2) == 3 and part_count(5, 0) == 4


@pytest.mark.slow
def test_cluster_run_equals_a_single_process(corpus, tmp_path):
    out = tmp_path / "out.h5"
    result = invoke("extract", corpus["records"], out, *OPTIONS, "--cluster", "local:2", "--json", "--quiet")
    assert result.exit_code == 1, result.output  # some records skipped, as in the single run
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert summary["records"] == N_RECORDS and len(summary["errors"]) == 4
    assert_same(out, corpus["single"], ignore=PART_ATTRS)
    assert not parts_folder(out).exists()


@pytest.mark.slow
def test_virtual_merge_equals_a_single_process_and_keeps_the_parts(corpus, tmp_path, dask_cluster):
    _, client = dask_cluster
    out = tmp_path / "out.h5"
    result = invoke("extract", corpus["records"], out, *OPTIONS, "--cluster", client.scheduler.address,
                    "--merge", "virtual", "--quiet")
    assert result.exit_code == 1, result.output
    assert_same(out, corpus["single"], ignore=PART_ATTRS)
    with h5py.File(out) as f:
        assert f["spectrograms"].is_virtual
        sources = {s.file_name for s in f["spectrograms"].virtual_sources()}
    assert sources == {f"out.h5.parts/{p.name}" for p in parts_folder(out).glob("part-*.h5")} and len(sources) > 1
    with ecgspec.open(out) as ds:  # the reader's check of the sources passes
        assert len(ds) == h5py.File(corpus["single"])["spectrograms"].shape[0]
    again = invoke("extract", corpus["records"], out, *OPTIONS, "--cluster", client.scheduler.address, "--overwrite",
                   "--quiet")  # a copy this time: the parts go
    assert again.exit_code == 1, again.output
    assert_same(out, corpus["single"], ignore=PART_ATTRS)
    assert not parts_folder(out).exists() and not h5py.File(out)["spectrograms"].is_virtual


def _worker_settings() -> tuple:
    import dask

    return (os.environ.get("MALLOC_TRIM_THRESHOLD_"), dask.config.get("distributed.worker.profile.enabled"),
            os.environ.get("OMP_NUM_THREADS"), os.getppid())


def _cuda_initialised() -> bool:
    import torch

    return torch.cuda.is_initialized()


@pytest.mark.slow  # a Dask LocalCluster (3 s)
def test_local_workers_fork_from_a_clean_preloaded_server_with_glibcs_malloc(monkeypatch):
    """Dask's MALLOC_TRIM_THRESHOLD_ made each part 1.5x slower; local:N workers start without it and
    without the profiler, one engine thread each, forked from the forkserver (not from this process),
    with no CUDA state."""
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)  # a default LocalCluster in this process set it
    start_forkserver()
    with _connect("local:1", quiet=True) as (client, own):
        malloc, profile, threads, parent = client.submit(_worker_settings, pure=False).result()
        assert own and (malloc, profile, threads) == (None, False, "1")
        assert parent != os.getpid()  # the forkserver's child, not ours
        assert list(client.run(_cuda_initialised).values()) == [False]
    assert dask.config.get("distributed.nanny.pre-spawn-environ")["MALLOC_TRIM_THRESHOLD_"] == 65536  # restored


def _die_after_commits(marker: str, commits: int) -> None:
    """Run in one worker process (client.run): its first part SIGKILLs the process after ``commits`` records,
    flushed. The restarted process (a fresh spawn) lacks the patch; the marker says it happened."""
    import ecgspec.store.writer as writer

    original = writer.SpectrogramWriter.commit_record

    def commit_record(self, row):
        index = original(self, row)
        if index + 1 == commits and not os.path.exists(marker):
            self.flush()
            Path(marker).write_text(str(self.output))
            os.kill(os.getpid(), signal.SIGKILL)
        return index

    writer.SpectrogramWriter.commit_record = commit_record


@pytest.mark.slow
def test_a_killed_worker_costs_nothing(corpus, tmp_path, dask_cluster):
    _, client = dask_cluster
    marker = tmp_path / "killed"
    victim = sorted(client.scheduler_info()["workers"])[0]
    client.run(_die_after_commits, str(marker), 3, workers=[victim])
    out = tmp_path / "out.h5"
    result = invoke("extract", corpus["records"], out, *OPTIONS, "--cluster", client.scheduler.address, "--quiet",
                    "--json")
    assert result.exit_code == 1, result.output
    assert marker.exists()  # a worker died with a part half written
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert summary["resumed"] >= 3  # Dask reran the task, which resumed the part its first attempt left
    assert summary["records"] + summary["resumed"] == N_RECORDS
    assert_same(out, corpus["single"], ignore=PART_ATTRS)
    client.wait_for_workers(2, timeout=60)  # the nanny restarted the killed worker


@pytest.mark.slow
def test_resume_keeps_finished_parts(corpus, tmp_path, dask_cluster):
    _, client = dask_cluster
    scheduler_file = tmp_path / "scheduler.json"
    # as `dask scheduler --scheduler-file` writes it (client.write_scheduler_file fails once a worker restarted)
    scheduler_file.write_text(json.dumps({"type": "Scheduler", "address": client.scheduler.address}))
    out = tmp_path / "out.h5"
    parts = parts_folder(out)
    parts.mkdir()
    finished = parts / "part-1-of-3.h5"  # a part an interrupted run finished (--shard writes the same file)
    invoke("extract", corpus["records"], finished, *OPTIONS, "--quiet", "--shard", "1/3")
    refused = invoke("extract", corpus["records"], out, *OPTIONS, "--cluster", str(scheduler_file), "--quiet")
    assert refused.exit_code == 2 and "out.h5.parts exists; pass --overwrite" in refused.output
    result = invoke("extract", corpus["records"], out, *OPTIONS, "--cluster", str(scheduler_file), "--resume",
                    "--quiet", "--json")
    assert result.exit_code == 1, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert summary["resumed"] > 0 and summary["records"] + summary["resumed"] == N_RECORDS
    assert_same(out, corpus["single"], ignore=PART_ATTRS)
    assert not parts.exists()


def test_without_dask_cluster_is_one_line(corpus, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    result = invoke("extract", corpus["records"], tmp_path / "x.h5", "--cluster", "local:2")
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "ecgspec: error: --cluster needs Dask's distributed scheduler: pip install ecgspec[cluster]"]


def test_cluster_refusals_are_one_line(corpus, tmp_path):
    out = tmp_path / "out.h5"
    out.write_bytes(b"finished")
    cases = [
        ([], "out.h5 exists; pass --overwrite"),
        (["--resume"], "out.h5 is not a cluster run's; --resume with --cluster continues"),
        (["--shard", "0/2"], "shard, cluster: got both"),
    ]
    for extra, message in cases:
        result = invoke("extract", corpus["records"], out, "--cluster", "local:2", *extra)
        lines = result.output.strip().splitlines()
        assert result.exit_code == 2 and len(lines) == 1 and message in lines[0], result.output
    result = invoke("extract", corpus["records"], tmp_path / "y.h5", "--merge", "virtual")
    assert result.exit_code == 2 and "merge: got 'virtual' without cluster" in result.output
    result = invoke("extract", corpus["records"], out, "--cluster", "somewhere:1")
    assert result.exit_code == 2 and "cluster: got 'somewhere:1', must be local:N" in result.output
    assert out.read_bytes() == b"finished" and not parts_folder(out).exists()
