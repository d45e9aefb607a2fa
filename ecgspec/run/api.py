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

__all__ = ["ExtractResult", "RunControl", "extract", "run_extract", "run_settings"]


def run_settings(inputs: Sequence[str | Path], output: str | Path, settings: Settings,
                 control: RunControl | None = None) -> ExtractResult:
    """Run the extraction with its settings resolved: on the Dask cluster ``--cluster`` names (its
    client here), else in this process."""
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
    """Extract spectrograms of every record under ``inputs`` into the HDF5 file ``output``.

    ``config``: a YAML path or a mapping of torch_ecg ``InputConfig`` keys (``n_bins``,
    ``fs``, ``n_samples``, ...; defaults are the seed config), optionally with an
    ``extract:`` mapping of options. ``options`` are the command's options by name
    (``leads``, ``stride``, ``batch_size``, ``device``, ``dtype``, ``compression``,
    ``input_fs``, ``max_nan``, ``on_error``, ``workers``, ``max_errors``, ``shard=(K, N)``,
    ``cluster="local:4"``, ``merge="virtual"``) and override the config. With ``cluster="local:N"`` worker processes are
    spawned: call it under ``if __name__ == "__main__":`` in a script.
    ``overwrite`` ... ``space_check``: see :class:`RunControl`.

    >>> result = extract("../shared/data/cinc2021", "out.h5", {"n_bins": 64})  # doctest: +SKIP
    """
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
