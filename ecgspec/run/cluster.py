"""``extract --cluster``: the run's parts as tasks on Dask's distributed scheduler, merged as they finish.

The client (this process) finds the records, splits them into parts (:mod:`ecgspec.run.shard`; a
few per worker, for balance and so that a lost worker costs little), and submits one task per
part. Each task runs :func:`ecgspec.run.pipeline.run_records` on a worker into
``OUTPUT.parts/part-K-of-N.h5`` (a shared filesystem on a real cluster) with ``resume=True``:
a task Dask reruns after its worker died continues the part its first attempt left. The client
copies each part into OUTPUT.partial as soon as it and every part before it are done
(:class:`ecgspec.store.merge.InOrderMerge`), while the later parts still run, so the merge costs
little more than copying the last part; it publishes OUTPUT at the end and removes
``OUTPUT.parts`` only then. With ``merge="virtual"`` (``--merge virtual``) OUTPUT's
``/spectrograms`` is instead an HDF5 virtual dataset over the parts, which stay: nothing is
copied, the run ends when its last part does (what a run of terabytes wants; move OUTPUT and
``OUTPUT.parts`` together). ``--resume`` keeps the finished parts of an interrupted run.

CUDA: the client never touches CUDA (it resolves no device: ``build_settings`` leaves that to
the workers, each of which derives its task's settings with :meth:`Settings.on_worker
<ecgspec.run.settings.Settings.on_worker>`). ``local:N`` forks its worker processes from a forkserver (:func:`start_forkserver`:
a fresh single-threaded process that imports torch once, started first thing, and never
initialises CUDA), never from this process, so no worker inherits a CUDA state; each worker
picks its own GPU (:func:`assign_device`).
Dask is optional: ``pip install ecgspec[cluster]``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import re
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Iterator, Sequence

from tqdm import tqdm

from ..errors import one_line
from ..readers import RecordRef
from ..store.layout import OutputError, open_for_reading, partial_path
from ..store.merge import InOrderMerge, merge_parts
from .labels import match_records
from .pipeline import ExtractError, ExtractResult, Interrupted, RunControl, load_labels, run_records
from .plan import find_some_records
from .runtime import StopFlag
from .settings import Settings
from .shard import Part, local_workers, part_name, plan
from .targets import load_targets
from .workers import main_not_guarded, main_runs_extract

__all__ = ["run_on_cluster", "assign_device", "worker_index", "parts_folder", "part_count"]

PARTS_PER_WORKER = 4  # parts per worker: balance across workers, and little lost with a worker
CONNECT_SECONDS = 60  # waiting for a scheduler, and for its first worker
POLL_SECONDS = 0.1
FORKSERVER_PRELOAD = ["distributed", "ecgspec.run.cluster", "ecgspec.run.pipeline"]  # what each task needs
# Dask's default pre-spawn thread variables (distributed.yaml): one engine thread a worker process
WORKER_THREADS = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
# How local:N starts its workers. Dask's default sets MALLOC_TRIM_THRESHOLD_ in each worker, which
# turns off glibc's adaptive mmap threshold: every buffer over 128 KiB (a window is 2 MiB) is then
# mapped and faulted in anew, and each part ran 1.5x slower than the same records in a plain process
# (make bench); None unsets it (Dask's own convention). Dask's statistical profiler, which walks every
# thread's stack 100 times a second, is off. Workers of other clusters: see the README.
WORKER_CONFIG = {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
                 "distributed.worker.profile.enabled": False}
_PART_FILE = re.compile(r"^part-(\d+)-of-(\d+)\.h5(\.partial)?$")


# -- pure rules ----------------------------------------------------------------------------------


def assign_device(requested: str, index: int, device_count: int, launcher_assigned: bool) -> str:
    """The device a worker's engine runs on.

    ``cpu`` and ``cuda:N`` are kept. ``auto`` and ``cuda`` spread workers over the GPUs the
    worker sees: worker ``index`` takes ``cuda:(index % device_count)``, as dask-cuda does, unless
    its launcher already gave each worker its own GPU (``launcher_assigned``: dask-cuda, SLURM's
    ``--gpus-per-task`` and dask-jobqueue set ``CUDA_VISIBLE_DEVICES`` per worker, its own GPU
    first), when it takes ``cuda:0``. Without a GPU, ``auto`` is the CPU and ``cuda`` an error.
    """
    if requested == "cpu" or requested.startswith("cuda:"):
        return requested
    if device_count < 1:
        if requested == "cuda":
            raise ExtractError("device: got 'cuda', but torch sees no CUDA device on this worker")
        return "cpu"
    return "cuda:0" if launcher_assigned else f"cuda:{index % device_count}"


def worker_index(name: Any) -> int:
    """A worker's number from its Dask name: ``LocalCluster`` names them 0..N-1; others end in one (else 0)."""
    if isinstance(name, int):
        return name
    match = re.search(r"(\d+)$", str(name))
    return int(match.group(1)) if match else 0


def part_count(n_records: int, n_workers: int) -> int:
    """How many parts a cluster run splits ``n_records`` into: a few per worker, at most one per record."""
    return max(1, min(n_records, PARTS_PER_WORKER * max(1, n_workers)))


def parts_folder(output: Path) -> Path:
    """``OUTPUT.parts``: where a cluster run's parts are written."""
    return output.with_name(output.name + ".parts")


# -- on a worker ---------------------------------------------------------------------------------


def _quiet(message: str) -> None:
    """A part's skipped records reach the user through the client, from the part's result."""


def _device_count(requested: str) -> int:
    if requested == "cpu" or requested.startswith("cuda:"):
        return 0  # nothing to spread: never ask torch about CUDA
    import torch

    return torch.cuda.device_count()


def run_part(refs: Sequence[RecordRef], problems: Sequence[tuple[str, str]], path: str, settings: Settings,
             attrs: dict[str, Any], own_cluster: bool) -> ExtractResult:
    """A Dask task: extract one part into ``path``, resuming what an earlier attempt left."""
    from distributed import get_worker

    requested = settings.options.device
    launcher = not own_cluster and "CUDA_VISIBLE_DEVICES" in os.environ
    device = assign_device(requested, worker_index(get_worker().name), _device_count(requested), launcher)
    # the cluster is the parallelism: each task reads in its own process (no reader processes of its own)
    settings = settings.on_worker(device)
    t0 = time.perf_counter()
    result = run_records(refs, problems, path, settings, RunControl(resume=True, log=_quiet), attrs)
    result.seconds = time.perf_counter() - t0
    return result


# -- the client ----------------------------------------------------------------------------------


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise ExtractError("--cluster needs Dask's distributed scheduler: pip install ecgspec[cluster]") from None
    return distributed


@contextlib.contextmanager
def _connect(spec: str, quiet: bool) -> Iterator[tuple[Any, bool]]:
    """A Client for ``spec``, and whether this process started the cluster (local:N)."""
    import dask
    from distributed import Client, LocalCluster

    local = local_workers(spec)
    try:
        if local is not None:
            # forked from the forkserver (start_forkserver), never from this process: no worker inherits
            # this process's state (CUDA above all)
            with dask.config.set({"distributed.worker.multiprocessing-method": "forkserver", **WORKER_CONFIG}):
                cluster = LocalCluster(n_workers=local, processes=True, threads_per_worker=1,
                                       dashboard_address=None,
                                       silence_logs=logging.CRITICAL if quiet else logging.WARNING)
            client = Client(cluster)
        elif spec.endswith(".json"):
            cluster, client = None, Client(scheduler_file=spec, timeout=CONNECT_SECONDS)
        else:
            cluster, client = None, Client(spec, timeout=CONNECT_SECONDS)
    except (OSError, TimeoutError, ValueError) as exc:
        raise ExtractError(f"cannot reach the Dask cluster {spec}: {one_line(exc)}") from exc
    except RuntimeError:  # "Nanny failed to start": told apart only where its cause is a script run bare
        if local is not None and main_runs_extract():
            raise main_not_guarded(cluster=True) from None
        raise
    try:
        yield client, cluster is not None
    finally:
        if cluster is not None:  # our own workers: their work is over, so let them end at once
            with contextlib.suppress(Exception):
                client.register_plugin(_end_at_once())
        client.close()
        if cluster is not None:
            cluster.close()


def _end_at_once() -> Any:
    """A Dask worker plugin, registered on local:N's own workers only when the run is over: a closing
    worker process ends at once instead of finalising its interpreter (torch's teardown took 0.8 s
    of each run, measured). Its parts are finished and closed by then; nothing is left to flush."""
    from distributed import WorkerPlugin

    class EndAtOnce(WorkerPlugin):  # defined here, where distributed is imported: Dask pickles it by value
        name = "ecgspec-end-at-once"

        def teardown(self, worker: Any) -> None:
            os._exit(0)

    return EndAtOnce()


def start_forkserver() -> None:
    """Start the process local:N's workers fork from, now, so that it imports ecgspec's worker side (torch
    among it) once, while this process finds the records, instead of each worker after it started.

    The server is a fresh single-threaded Python (multiprocessing's forkserver) that only imports:
    CUDA is never initialised there, so no worker forked from it inherits a CUDA state. It gets
    the thread variables Dask gives its workers by default (:data:`WORKER_THREADS`).
    """
    import multiprocessing
    import multiprocessing.forkserver

    multiprocessing.get_context("forkserver").set_forkserver_preload(FORKSERVER_PRELOAD)
    saved = {k: os.environ.get(k) for k in WORKER_THREADS}
    os.environ.update({k: os.environ.get(k, v) for k, v in WORKER_THREADS.items()})  # the user's own win
    try:
        multiprocessing.forkserver.ensure_running()  # returns once started; the server imports on its own
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _workers(client: Any, spec: str) -> int:
    try:
        client.wait_for_workers(1, timeout=CONNECT_SECONDS)
    except TimeoutError:
        raise ExtractError(f"the Dask cluster {spec} has no workers (waited {CONNECT_SECONDS} s)") from None
    return len(client.scheduler_info(n_workers=-1)["workers"])


def _prepare(output: Path, control: RunControl) -> Path:
    """The parts folder, per --overwrite/--resume; refuse what a plain run must not replace."""
    folder = parts_folder(output)
    if control.overwrite and control.resume:
        raise OutputError("pass either --overwrite or --resume, not both")
    if control.overwrite:
        shutil.rmtree(folder, ignore_errors=True)
    elif control.resume:
        for path in (output, partial_path(output)):
            if path.exists() and not folder.exists():
                raise OutputError(f"{path} is not a cluster run's; --resume with --cluster continues an interrupted"
                                  f" cluster run (its {folder.name} folder): resume it without --cluster, or pass"
                                  " --overwrite to run again")
    else:
        for path in (output, partial_path(output), folder):
            if path.exists():
                raise OutputError(f"{path} exists; pass --overwrite to replace it, or --resume to continue the run"
                                  " that left it")
    if not output.parent.is_dir():
        raise OutputError(f"{output}: folder {output.parent} does not exist")
    folder.mkdir(exist_ok=True)
    return folder


def _existing_count(folder: Path, digest: str) -> int | None:
    """The part count of a run resumed from ``folder`` (None if it holds no part); refuse another run's parts."""
    counts = set()
    for path in folder.iterdir():
        match = _PART_FILE.match(path.name)
        if not match:
            continue
        counts.add(int(match.group(2)))
        with contextlib.suppress(OSError, KeyError), open_for_reading(path) as file:
            other = str(file.attrs["run_digest"])
            if other != digest:
                raise OutputError(f"{path} is a part of another run (its records or config differ);"
                                  " pass --overwrite to start again")
    if len(counts) > 1:
        raise OutputError(f"{folder} holds parts of splits into {sorted(counts)} parts; pass --overwrite to start again")
    return counts.pop() if counts else None


def _finished(path: Path, digest: str) -> ExtractResult | None:
    """The summary of a part finished by an earlier attempt (its records count as resumed), or None."""
    if not path.is_file():
        return None
    with contextlib.suppress(OSError, KeyError), open_for_reading(path) as file:
        if bool(file.attrs.get("complete", False)) and str(file.attrs["run_digest"]) == digest:
            errors = list(zip(file["errors/name"].asstr()[()], file["errors/message"].asstr()[()]))
            return ExtractResult(output=str(path), resumed=int(file["records/name"].shape[0]), errors=errors)
    return None


def run_on_cluster(inputs: Sequence[str | os.PathLike[str]], output: str | os.PathLike[str], settings: Settings,
                   control: RunControl) -> ExtractResult:
    """Extract on the Dask cluster ``--cluster`` names into ``output``; see the module doc."""
    t0 = time.perf_counter()
    options = settings.options
    if local_workers(options.cluster or "") is not None and importlib.util.find_spec("distributed"):
        start_forkserver()  # first: its imports run while this process does the rest
    _import_distributed()
    output = Path(output)
    table = load_labels(settings)  # a bad table stops the run before any work (each part reads it again)
    load_targets(options, table)  # and so does a bad vocabulary
    refs, problems = find_some_records(inputs, control.stdin)
    folder = _prepare(output, control)
    stored = settings.stored
    records = [(ref.name, ref.path) for ref in refs]
    digest = plan(records, problems, 1, stored)[0].attrs["run_digest"]
    merge = InOrderMerge(output) if options.merge == "copy" else None
    try:
        with _connect(options.cluster, quiet=not control.progress) as (client, own):
            workers = _workers(client, options.cluster)
            t_up = time.perf_counter()
            count = _existing_count(folder, digest) or part_count(len(refs), workers)
            parts = plan(records, problems, count, stored)
            results = _run_parts(client, own, parts, refs, folder, settings, control, merge)
            t_parts = time.perf_counter()
        if merge is not None:
            merge.finish()
        else:  # OUTPUT's /spectrograms reads the parts' own: the folder stays
            merge_parts([folder / part_name(p.index, p.count) for p in parts], output, virtual=True, overwrite=True)
    except BaseException:
        if merge is not None:
            merge.abort()
        raise
    if merge is not None:
        shutil.rmtree(folder, ignore_errors=True)
    how = "each copied as it finished" if merge is not None else f"OUTPUT a virtual dataset over {folder.name}"
    control.log(f"ecgspec: cluster: {workers} workers up in {t_up - t0:.1f} s, {count} parts in"
                f" {t_parts - t_up:.1f} s ({how}), closed and published in {time.perf_counter() - t_parts:.1f} s")
    result = _combine(results, output, settings.window_shape)
    if table is not None:  # as one process counts them: over every record found
        match = match_records(table, [ref.name for ref in refs])
        result.labels_matched, result.labels_unmatched = match.matched, len(match.unmatched)
        result.labels_first_unmatched = match.unmatched[0] if match.unmatched else None
    result.seconds = time.perf_counter() - t0
    return result


def _run_parts(client: Any, own: bool, parts: list[Part], refs: Sequence[RecordRef], folder: Path,
               settings: Settings, control: RunControl, merge: InOrderMerge | None) -> list[ExtractResult]:
    """Submit the unfinished parts, wait for them (progress, skipped lines), and ``merge`` (a copy) each
    as soon as it and every part before it are done; return every part's result in order."""
    results: dict[int, ExtractResult] = {}
    pending = {}
    for part in parts:
        path = folder / part_name(part.index, part.count)
        done = _finished(path, part.attrs["run_digest"])
        if done is not None:
            results[part.index] = done
            continue
        future = client.submit(run_part, list(refs[part.start:part.stop]), part.problems, str(path), settings,
                               part.attrs, own, pure=False)
        pending[future] = part
    total = len(refs) + len(parts[0].problems)
    with StopFlag() as stop, tqdm(total=total, unit="rec", disable=not control.progress, file=sys.stderr,
                                   dynamic_ncols=True) as bar:
        bar.update(sum(r.resumed + len(r.errors) for r in results.values()))
        try:
            while pending or (merge is not None and merge.merged < len(parts)):
                if stop.signum is not None:
                    raise Interrupted(f"interrupted: finished parts are kept in {folder}; run the same command"
                                      " with --resume to continue", stop.signum)
                for future in [f for f in pending if f.done()]:
                    part = pending.pop(future)
                    results[part.index] = _collect(future, part, folder)
                    for name, message in results[part.index].errors:
                        control.log(f"ecgspec: skipped {name}: {message}")
                    bar.update(part.stop - part.start + len(part.problems))
                while merge is not None and merge.merged < len(parts) and merge.merged in results:
                    merge.add(folder / part_name(merge.merged, len(parts)))
                if pending:
                    time.sleep(POLL_SECONDS)
        finally:
            client.cancel(list(pending))
    return [results[k] for k in range(len(parts))]


def _collect(future: Any, part: Part, folder: Path) -> ExtractResult:
    """A finished task's result; a worker lost too often becomes one line naming the part."""
    from distributed.scheduler import KilledWorker

    try:
        return future.result()
    except KilledWorker as exc:
        raise ExtractError(f"part {part.index} of {part.count}: its workers died while running it ({exc});"
                           f" what it wrote is kept in {folder}: run the same command with --resume") from exc


def _combine(results: list[ExtractResult], output: Path, window_shape: tuple[int, ...]) -> ExtractResult:
    """One summary from the parts' (in part order, as a single run lists errors)."""
    out = ExtractResult(output=str(output), window_shape=window_shape)
    for r in results:
        out.records += r.records
        out.windows += r.windows
        out.empty += r.empty
        out.errors += r.errors
        out.resumed += r.resumed
        out.repaired += r.repaired
        out.nan_skipped += r.nan_skipped
    return out
