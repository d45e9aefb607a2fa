"""The public entry points of an ``extract`` run: :func:`extract` (friendly), :func:`run_settings`
(settings resolved already) and :func:`run_extract` (a checked config and options), each running in
this process (:mod:`.pipeline`) or on a Dask cluster (:mod:`.cluster`). The CLI and ``ecgspec.extract``
both come here, each resolving the run's settings once (:func:`~ecgspec.run.settings.resolve`), so
``pipeline`` never needs ``cluster``."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Dict, Mapping, Sequence, TextIO

from ..engine.config import InputConfig
from .options import ENGINE_KEYS, ExtractOptions, build_settings, load_yaml
from .pipeline import ExtractResult, RunControl, run_local, stderr_log
from .settings import Settings, resolve
from .workers import exit_if_importing_main

__all__ = ["ExtractResult", "RunControl", "extract", "run_extract", "run_settings"]


def run_settings(inputs: Sequence[str | Path], output: str | Path, settings: Settings,
                 control: RunControl | None = None) -> ExtractResult:
    """Run the extraction with its settings resolved: on the Dask cluster ``--cluster`` names (its
    client here), else in this process."""
    exit_if_importing_main()  # a reader process importing a script that runs extract at its top level
    if settings.options.cluster is not None:
        from .cluster import run_on_cluster  # Dask: only for a cluster run

        return run_on_cluster(inputs, output, settings, control or RunControl())
    return run_local(inputs, output, settings, control)


def run_extract(
    inputs: Sequence[str | Path], output: str | Path, config: InputConfig, options: ExtractOptions,
    control: RunControl | None = None,
) -> ExtractResult:
    """Run the extraction with a config and options checked already (see :func:`extract` for the friendly form)."""
    return run_settings(inputs, output, resolve(config, options), control)


def extract(
    inputs: str | Path | Sequence[str | Path],
    output: str | Path,
    config: None | str | Path | Mapping[str, Any] = None,
    *,
    overwrite: bool = False,
    resume: bool = False,
    progress: bool = False,
    log_every: float = 0.0,
    stdin: TextIO | None = None,
    log: Callable[[str], None] = stderr_log,
    space_check: bool = True,
    **options: Any,
) -> ExtractResult:
    """Extract the spectrograms of every record under ``inputs`` into the HDF5 file ``output``.

    The Python form of ``ecgspec extract``: the same run, the same file, the same checks.

    Parameters
    ----------
    inputs : str, Path or sequence of them
        Records (a path with or without extension), folders (searched recursively), or ``"-"``
        to read record paths from ``stdin``.
    output : str or Path
        The HDF5 file to write; it is written as ``OUTPUT.partial`` and renamed when complete.
    config : str, Path or mapping, optional
        A YAML file, or a mapping of torch_ecg ``InputConfig`` keys (``n_bins``, ``fs``,
        ``n_samples``, ``feature_fs``, ``to1d``, ...), optionally with an ``extract:`` mapping of
        options. Default: the seed config (12 leads, 5000 samples at 500 Hz, 128 bins).
    overwrite : bool, default False
        Replace ``output`` (and any partial file) if it exists.
    resume : bool, default False
        Continue an interrupted run in place, or add the records new since to a finished file.
    progress : bool, default False
        A progress bar on stderr.
    log_every : float, default 0.0
        Without the bar, a progress line through ``log`` every this many seconds (0: none).
    stdin : text file, optional
        Where the input ``"-"`` reads record paths (default: ``sys.stdin``).
    log : callable, default: print to stderr
        Called with each message line (skipped records, warnings, progress).
    space_check : bool, default True
        Refuse to start when the expected output exceeds the free space of its folder.
    **options
        ``ecgspec extract``'s options by their Python names (``--lead-set`` is ``lead_set``,
        ``--shard K/N`` is ``shard=(K, N)``; every one, its default and choices: the command line
        reference), and the engine's keys, which override ``config``: ``leads="I,II"`` or a list,
        ``channels=[5, 0]``, ``stride=2500``, ``dtype="float16"``, ``workers=0``,
        ``labels="table.csv"``, ``label_key="name"``, ``targets="cinc2021"``, ``cluster="local:4"``.

    Returns
    -------
    ExtractResult
        What the run did: records read, windows written, the records skipped and why.

    Raises
    ------
    ConfigError
        An invalid config or option (also a ``ValueError``), before any record is read.
    OutputError
        ``output`` exists (without ``overwrite``/``resume``), cannot be written, or the disk
        filled up (``DiskFull``: what was written is kept for ``resume``).
    ExtractError
        The run could not go on: ``on_error="fail"`` met a bad record, the first 20 records all
        failed alike, more than ``max_errors`` failed, an unusable ``labels`` table, or SIGINT;
        ``MainNotGuarded``: the calling script runs ``extract`` at its top level (see Notes).

    Notes
    -----
    A record that cannot be read is skipped, not raised: it is in ``result.errors`` and the
    file's ``/errors``. The reader processes (``workers``, by default one per CPU) start from a
    forkserver, and each imports the calling script: call ``extract`` under
    ``if __name__ == "__main__":`` in a script (or pass ``workers=0``), else the run raises
    :class:`~ecgspec.errors.MainNotGuarded`, which ends the script with its one line.

    Examples
    --------
    >>> import ecgspec
    >>> result = ecgspec.extract("records/", "out.h5", {"n_bins": 64, "feature_fs": 50}, leads="I,II",
    ...                          log=lambda line: None)
    >>> result.records, result.windows, result.window_shape
    (10, 10, (2, 64, 38))
    """
    exit_if_importing_main()  # before any work (run_settings checks too, for its other callers)
    if isinstance(inputs, (str, Path)):
        inputs = [inputs]
    file_data: Dict[str, Any] = {}
    if isinstance(config, (str, Path)):
        file_data = load_yaml(config)
    elif config is not None:
        file_data = dict(config)
    engine_keys = {k: options.pop(k) for k in list(options) if k in ENGINE_KEYS}
    settings = resolve(*build_settings(file_data, engine_keys, options))
    control = RunControl(overwrite=overwrite, resume=resume, progress=progress, log_every=log_every, stdin=stdin,
                         log=log, space_check=space_check)
    return run_settings(list(inputs), output, settings, control)
