"""The ``ecgspec`` command: a thin click layer over :mod:`ecgspec.run.api` and :mod:`ecgspec.store.reader`.

Exit status: 0 every record written; 1 some records skipped (the output is still
complete and lists them under /errors); 2 fatal error (bad config or options,
output not writable or already there, no records found, ``--on-error fail`` met a
bad record, or a bug in ecgspec); 130 / 143 interrupted by SIGINT / SIGTERM (resume
with ``--resume``); 141 the pipe its output went into closed early.

torch, h5py and the readers are imported inside the commands that use them, so that
``--help`` and ``shape`` start at once.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import sys
import traceback
from functools import wraps
from pathlib import Path
from typing import Any, Callable, Dict

import click

from . import __version__
from .engine.checks import whole_numbers
from .errors import ConfigError, EcgspecError, one_line
from .run.options import ENGINE_KEYS, MERGES, ON_ERROR, STORES, build_settings, load_yaml
from .store.hazards import file_locking_hint
from .store.schema import COMPRESSIONS, STORE_DTYPES

EXIT_OK, EXIT_SKIPPED, EXIT_FATAL = 0, 1, 2
REPORT_TO = "the ecgspec issue tracker"
# OS errors that are the user's or the machine's, not ecgspec's: one line, no traceback.
USER_ERRNOS = frozenset({
    errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOENT, errno.ENOTDIR,
    errno.EISDIR, errno.EEXIST, errno.EMFILE, errno.ENFILE, errno.ENAMETOOLONG, errno.EIO, errno.EFBIG,
})

EXIT_HELP = (
    "Exit status: 0 all records written; 1 some records skipped (output complete, see /errors); "
    "2 fatal error (bad config, output exists or not writable, no records, the first 20 records all "
    "failed alike, more than --max-errors failed); 130/143 interrupted "
    "(SIGINT/SIGTERM): rerun the same command with --resume; 141 its output pipe closed early."
)


def _epilog(*examples: str) -> str:
    """The exit-status text, then the examples that end each command's --help (kept as written)."""
    return EXIT_HELP + "\n\n\b\nExamples:\n" + "\n".join(f"  {line}" for line in examples)


def _silent(message: str) -> None:
    """--quiet: per-record messages are dropped (they are still listed under /errors)."""


def _die(message: str, code: int = EXIT_FATAL) -> None:
    click.echo(f"ecgspec: error: {message}", err=True)
    sys.exit(code)


def config_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """The engine config options shared by ``extract`` and ``shape``."""
    options = [
        click.option("--config", "config_path", type=click.Path(dir_okay=False), help="YAML config file."),
        click.option("--n-channels", type=int, help="Channels per window [from --leads/--channels/--lead-set, else 12]."),
        click.option("--n-bins", type=int, help="Frequency bins, n_fft = 2 * (n_bins - 1) [128]."),
        click.option("--fs", type=float, help="Sampling rate of the windows, Hz [500]."),
        click.option("--n-samples", type=int, help="Samples per window at --fs [5000]."),
        click.option("--window-size", type=float, help="STFT window, seconds [0.05]."),
        click.option("--overlap-size", type=float, help="STFT window overlap, seconds [0.025]."),
        click.option("--feature-fs", type=float, help="Rescale the frame axis to this rate (nearest) [off]."),
        click.option("--to1d/--no-to1d", default=None, help="Merge channel and bin axes [no]."),
        click.option("--leads", help='Select and order leads by name, e.g. I,II,V1 (case-insensitive; quote a name'
                     ' holding a comma: \'"ECG, I",II\').'),
        click.option("--channels", help="Select and order signals by 0-based index in the header, e.g. 5,0."),
        click.option("--lead-set", help="The output's leads in this order, e.g. standard12 or I,II,V1,V5; a record"
                     " lacking one gets zeros (MLII, D2, ECG II, ... name II)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _settings(config_path: str | None, engine: Dict[str, Any], opts: Dict[str, Any]):
    file_data = load_yaml(config_path) if config_path else {}
    # click reads --fs 500 as 500.0: store it as the file would, 500, so the config attribute reads the same.
    engine = {k: whole_numbers(v) if k in ("fs", "feature_fs") else v for k, v in engine.items()}
    return build_settings(file_data, engine, opts)


def _user_message(exc: BaseException) -> str | None:
    """The one line for ecgspec's own errors and the OS errors it means; None for anything else (a bug).

    Every :class:`~ecgspec.errors.EcgspecError` is an error meant for the user, with a one-line
    message (:mod:`ecgspec.errors`, a leaf module, imports nothing heavy).
    """
    hint = file_locking_hint(exc)  # NFS and other filesystems without locks: say what to do
    if hint is not None:
        return hint
    if isinstance(exc, EcgspecError):
        return str(exc)
    torch = sys.modules.get("torch")  # CUDA out of memory is torch's, and torch is loaded if it was raised
    out_of_memory = isinstance(exc, MemoryError) or (torch is not None and isinstance(exc, torch.cuda.OutOfMemoryError))
    if out_of_memory or (isinstance(exc, OSError) and exc.errno in USER_ERRNOS):
        return f"{type(exc).__name__}: {one_line(exc)}"
    return None


def _debug() -> bool:
    """``--debug`` on the command group, or ``ECGSPEC_DEBUG=1``: print tracebacks."""
    ctx = click.get_current_context(silent=True)
    flag = bool(ctx and ctx.find_root().params.get("debug"))
    return flag or os.environ.get("ECGSPEC_DEBUG", "") not in ("", "0")


def _guard(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn the user's errors into one line on stderr and exit status 2; say so when it is a bug.

    Any other exception is a bug in ecgspec: one line naming it and where to report it.
    ``--debug`` (or ``ECGSPEC_DEBUG=1``) prints the traceback before the line, either way.
    """

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise  # click's own: run() reports them
        except BrokenPipeError:  # `ecgspec info out.h5 | head`: the reader has what it wanted; end as cat does
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing more to flush at exit
            sys.exit(128 + signal.SIGPIPE)
        except Exception as exc:  # noqa: BLE001 - every error ends in one line (SystemExit is no Exception)
            if _debug():
                traceback.print_exc(file=sys.stderr)
            message = _user_message(exc)
            if message is None:
                message = (f"internal error, a bug in ecgspec: {type(exc).__name__}: {one_line(exc)};"
                           f" please report it to {REPORT_TO} with the command and the traceback"
                           " (rerun with --debug or ECGSPEC_DEBUG=1 to see it)")
            _die(message)

    return wrapper


@click.group(epilog=_epilog("ecgspec extract records/ out.h5 --leads I,II,V1", "ecgspec shape --n-bins 64 --json",
                             "ecgspec info out.h5"))
@click.version_option(__version__, prog_name="ecgspec")
@click.option("--debug", is_flag=True, help="Print the traceback of an error (also ECGSPEC_DEBUG=1).")
def main(debug: bool) -> None:
    """ECG records (WFDB, EDF/BDF, NumPy) in, SpectrogramInput spectrograms out, in HDF5."""


@main.command(epilog=_epilog(
    "ecgspec extract records/ out.h5 --dry-run      # what it would write",
    "find data -name '*.hea' | ecgspec extract - out.h5 2> run.log",
    "ecgspec extract records/ out.h5 --resume --max-errors 100"))
@click.argument("inputs", nargs=-1, required=True)
@click.argument("output", type=click.Path(dir_okay=False))
@config_options
@click.option("--stride", type=int, help="Samples between window starts at --fs [n_samples].")
@click.option("--batch-size", type=int, help="Windows per engine batch [32].")
@click.option("--device", help="auto, cpu, cuda or cuda:N [auto: a GPU when torch sees one].")
@click.option("--dtype", type=click.Choice(STORE_DTYPES), help=f"Stored dtype [{STORE_DTYPES[0]}].")
@click.option("--compression", type=click.Choice(COMPRESSIONS, case_sensitive=False),
              help="HDF5 compression; zstd and blosc2 need hdf5plugin [none].")
@click.option("--store", type=click.Choice(STORES), help="What the file keeps: each window's spectrogram, or each"
              " record's prepared signal, the spectrograms computed as ecgspec.open reads them [spectrograms].")
@click.option("--input-fs", type=float, help="Sampling rate of .npy and .csv records [--fs], and of CODE-15% parts [400].")
@click.option("--max-nan", type=float, help="Skip windows with a larger share of missing samples [0.1].")
@click.option("--on-error", type=click.Choice(ON_ERROR), help="Bad record: skip it, or stop [skip].")
@click.option("--workers", type=click.IntRange(min=0), help="Reader processes; 0 reads in threads of this process [the CPUs it may use].")
@click.option("--max-errors", type=int, help="Stop (exit 2, resumable) once more than N records failed [no limit].")
@click.option("--derive-leads/--no-derive-leads", default=None, help="With --lead-set: compute the limb leads a"
              " record lacks from two of I, II, III [no].")
@click.option("--units", type=click.Choice(["mV"]), help="Convert signals to millivolts (a record of unknown unit"
              " is skipped) [as recorded].")
@click.option("--preprocess", metavar="JSON", help="torch_ecg's PreprocManager config, applied in order after"
              ' resampling, e.g. \'{"bandpass": {"lowcut": 0.5, "highcut": 45}, "normalize": {}}\'.')
@click.option("--dry-run", is_flag=True, help="Read the headers only and report records, windows and output bytes;"
              " write nothing.")
@click.option("--log-every", type=float, default=30.0, show_default=True, metavar="SECONDS",
              help="Without a terminal, a progress line on stderr every SECONDS (0: none).")
@click.option("--shard", help="Only part K of N (K/N, 0 <= K < N) of the sorted records, balanced by size; merge"
              " the parts with 'ecgspec merge'.")
@click.option("--cluster", help="Run on Dask: local:N worker processes, tcp://HOST:PORT or a scheduler file;"
              " needs pip install ecgspec[cluster].")
@click.option("--merge", type=click.Choice(MERGES), help="With --cluster: copy each part into"
              " OUTPUT as it finishes, or make OUTPUT a virtual dataset over OUTPUT.parts/ (instant; keep that"
              " folder beside OUTPUT) [copy].")
@click.option("--labels", type=click.Path(dir_okay=False), help="A CSV, TSV or Parquet table joined to the records:"
              " each column but the key goes to /records/labels/<column>.")
@click.option("--label-key", help="The --labels column holding record names (or file names).")
@click.option("--labels-required", is_flag=True, default=None, help="Skip records without a row in --labels.")
@click.option("--targets", metavar="VOCAB", help="Write /records/targets, a class vector per record: cinc2021, cinc2020"
              " (header Dx), ptbxl:TASK (all, diagnostic, subdiagnostic, superdiagnostic, form, rhythm; --labels"
              " scp_codes), code15 (--labels exams.csv), codes:labels/COLUMN or codes:meta/KEY.")
@click.option("--targets-required", is_flag=True, default=None, help="Skip records without a class of --targets.")
@click.option("--min-count", type=int, help="With --targets codes:COLUMN: only codes at least N records hold [1].")
@click.option("--ptbxl-statements", type=click.Path(dir_okay=False), help="PTB-XL's scp_statements.csv for"
              " --targets ptbxl:TASK [beside --labels].")
@click.option("--overwrite", is_flag=True, help="Replace OUTPUT (and any partial file) if it exists.")
@click.option("--resume", is_flag=True, help="Continue an interrupted run, or add new records to OUTPUT.")
@click.option("--no-space-check", is_flag=True, help="Start even when the expected output exceeds the free space.")
@click.option("--quiet", is_flag=True, help="No progress bar, per-record messages or summary on stderr.")
@click.option("--json", "as_json", is_flag=True, help="Print a summary object (with --dry-run: the plan) on stdout.")
@_guard
def extract(inputs, output, config_path, overwrite, resume, no_space_check, quiet, as_json, dry_run, log_every,
            **kwargs) -> None:
    """Spectrograms of every record in INPUT... (records, folders, or - for paths on stdin) into OUTPUT.h5."""
    from .run.settings import resolve

    engine = {k: kwargs.pop(k) for k in ENGINE_KEYS if k in kwargs}
    settings = resolve(*_settings(config_path, engine, kwargs))  # the run's settings, resolved once, here
    if log_every < 0:
        raise ConfigError(f"log_every: got {log_every}, must be a number of seconds >= 0")
    if dry_run:
        _dry_run(list(inputs), output, settings, quiet, as_json)
    from .errors import Interrupted
    from .run.api import RunControl, run_settings, stderr_log

    terminal = sys.stderr.isatty()
    control = RunControl(overwrite=overwrite, resume=resume, progress=not quiet and terminal,
                         log_every=0 if quiet else log_every, stdin=sys.stdin, log=_silent if quiet else stderr_log,
                         space_check=not no_space_check)
    try:
        result = run_settings(list(inputs), output, settings, control)
    except Interrupted as exc:
        _die(str(exc), 128 + exc.signum)
    if not quiet:
        click.echo(result.summary_line(), err=True)
    if as_json:
        click.echo(json.dumps(result.to_dict()))
    sys.exit(EXIT_SKIPPED if result.errors else EXIT_OK)


def _dry_run(inputs: list, output: str, settings: Any, quiet: bool, as_json: bool) -> None:
    """``extract --dry-run``: plan the run, print the plan (stdout), exit 1 if records would be skipped."""
    from .run.plan import dry_run

    plan = dry_run(inputs, output, settings, stdin=sys.stdin, log=_silent if quiet or as_json else click.echo)
    if as_json:
        click.echo(json.dumps(plan.to_dict()))
    elif not quiet:
        for line in plan.summary_lines():
            click.echo(line)
    sys.exit(EXIT_SKIPPED if plan.skipped else EXIT_OK)


@main.command(epilog=_epilog("ecgspec shape --feature-fs 100 --to1d", "ecgspec shape --config cfg.yaml --batch-size 32 --json"))
@config_options
@click.option("--batch-size", type=int, default=1, show_default=True, help="Windows in the batch.")
@click.option("--json", "as_json", is_flag=True, help="Print an object with the shape and frame parameters.")
@_guard
def shape(config_path, batch_size, as_json, **engine) -> None:
    """The output shape for a batch of windows, before any data is read."""
    picked = {"leads": engine.pop("leads"), "channels": engine.pop("channels"), "lead_set": engine.pop("lead_set")}
    config, _ = _settings(config_path, engine, {**picked, "device": "cpu"})
    if batch_size < 1:
        raise ConfigError(f"batch_size: got {batch_size}, must be an integer >= 1")
    out = (batch_size, *config.window_shape)  # as SpectrogramInput.compute_input_shape, without torch
    if not as_json:
        click.echo(str(out))
        return
    click.echo(json.dumps({
        "shape": list(out), "window_shape": list(out[1:]), "n_fft": config.n_fft, "win_length": config.win_length,
        "hop_length": config.hop_length, "n_frames": config.n_frames, "n_bins": config.n_bins,
        "fs": config.sampling_rate, "feature_fs": config.feature_fs, "to1d": config.to1d,
        "n_channels": config.n_channels, "n_samples": config.n_samples,
        "frame_times": config.frame_times, "edge_frames": config.edge_frames,
    }))


@main.command(epilog=_epilog("ecgspec info out.h5", "ecgspec info out.h5 --json | python -m json.tool"))
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the description as a JSON object.")
@_guard
def info(file: str, as_json: bool) -> None:
    """What an ecgspec HDF5 FILE holds: records, windows, shapes, config, size."""
    from .store.layout import OutputError
    from .store.summary import describe

    if not Path(file).exists():
        raise OutputError(f"{file}: no such file")
    desc = describe(file)
    if as_json:
        click.echo(json.dumps(desc, default=str))
        return
    for key, value in desc.items():
        if key == "config":
            value = json.dumps(value, sort_keys=True)
        elif key in ("meta", "labels"):  # the /records/meta and /records/labels columns
            value = ", ".join(value) or "none"
        elif key == "targets":  # each class's count of records
            value = "none" if value is None else f"{value['vocabulary']}, {len(value['classes'])} classes: " + (
                ", ".join(f"{name} {n}" for name, n in value["classes"].items()))
        elif key == "signals":  # a signals file's /signals (extract --store signals)
            value = f"{value['shape'][0]} samples x {value['shape'][1]} leads, chunks of {value['chunks'][0]} samples"
        elif key == "qc":  # windows carrying each quality flag
            value = "not checked (written before quality flags)" if value is None else (
                ", ".join(f"{n} {name}" for name, n in value.items()))
        click.echo(f"{key:>16}: {value}")


@main.command(epilog=_epilog("ecgspec verify out.h5", "ecgspec verify out.h5 > damaged.txt"))
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the report as a JSON object.")
@_guard
def verify(file: str, as_json: bool) -> None:
    """Check every stored value of FILE against its checksum: the damaged records' names on stdout, one a line,
    what was found on stderr; exit status 1 if any is damaged."""
    from .store.verify import verify_file

    report = verify_file(file)
    if not report.checksummed:
        click.echo(f"ecgspec: warning: {file} was written without checksums (by an earlier ecgspec): a damaged value"
                   " cannot be told, only that every block reads", err=True)
    if as_json:
        click.echo(json.dumps(report.to_dict()))
    else:
        for name in report.damaged:
            click.echo(name)
    for line in report.lines():
        click.echo(line, err=True)
    sys.exit(EXIT_SKIPPED if report.damage else EXIT_OK)


@main.command(epilog=_epilog("ecgspec plot out.h5 --record E07500 -o E07500.png",
                             "ecgspec plot out.h5 --record sub/100 --window 3 --leads MLII -o w3.png"))
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--record", "record", required=True, help="Name of the record (as in /records/name).")
@click.option("--window", "index", type=int, default=0, show_default=True, help="Which of its windows, from 0.")
@click.option("--leads", help="Leads to draw, e.g. I,II [all].")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="PNG file to write.")
@_guard
def plot(file: str, record: str, index: int, leads: str | None, output: str) -> None:
    """Draw one window of FILE: its spectrogram per lead, its waveform, its quality flags (needs ecgspec[plot])."""
    from .plot import plot_window

    wanted = [name.strip() for name in leads.split(",") if name.strip()] if leads else None
    click.echo(str(plot_window(file, output, record, index, wanted)), err=True)


@main.command(epilog=_epilog("ecgspec merge out.h5.parts/part-*.h5 out.h5", "ecgspec merge parts/*.h5 out.h5 --virtual"))
@click.argument("parts", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.argument("output", type=click.Path(dir_okay=False))
@click.option("--virtual", is_flag=True, help="/spectrograms as an HDF5 virtual dataset over the parts (paths"
              " relative to OUTPUT); nothing copied.")
@click.option("--overwrite", is_flag=True, help="Replace OUTPUT if it exists.")
@click.option("--quiet", is_flag=True, help="No summary on stderr.")
@_guard
def merge(parts, output, virtual, overwrite, quiet) -> None:
    """One file from the parts of a --shard run (PART... in any order), equal to a single run; into OUTPUT."""
    from .store.merge import merge_parts

    summary = merge_parts(parts, output, virtual=virtual, overwrite=overwrite)
    if not quiet:
        click.echo(summary.line(), err=True)


def run() -> None:
    """Console entry point: click's own usage errors also become one line and exit status 2."""
    try:
        status = main.main(prog_name="ecgspec", standalone_mode=False)  # also names the completion variable
    except click.exceptions.Abort:
        _die("aborted", 130)
    except click.ClickException as exc:
        hint = f" (see '{exc.ctx.command_path} --help')" if getattr(exc, "ctx", None) else ""
        _die(f"{exc.format_message()}{hint}", exc.exit_code if exc.exit_code > 1 else EXIT_FATAL)
    sys.exit(status or 0)


if __name__ == "__main__":
    run()
