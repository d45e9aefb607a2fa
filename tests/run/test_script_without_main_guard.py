"""A script that calls ``ecgspec.extract`` at its top level (no ``if __name__ == "__main__":``): each
reader process imports it as it starts, so the run cannot read; the script ends with one line naming
the cause and the fix, and no process prints a traceback (ecgspec.run.workers)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ecgspec.errors import EcgspecError, MainNotGuarded
from ecgspec.run import workers
from tests.helpers.paths import ROOT

FIX = 'call it under `if __name__ == "__main__":`, or pass workers=0 (reader threads)'


def line(script: Path) -> str:
    """The one line such a script ends with."""
    return f"ecgspec: error: the reader processes cannot start: each imports {script}, which calls extract at its top level; {FIX}"


def call(records: Path, output: Path, how: str = "workers=2") -> str:
    """A script's line that extracts ``records`` into ``output`` in 2 reader processes (or as ``how`` says)."""
    return (f'ecgspec.extract({str(records)!r}, {str(output)!r}, {{"n_bins": 32, "feature_fs": 50}}, leads="I",'
            f" {how}, log=lambda line: None)")


def start_script(path: Path, body: str) -> subprocess.Popen[str]:
    """``python SCRIPT`` (as a user runs one), ecgspec importable from this checkout."""
    path.write_text(body)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    return subprocess.Popen([sys.executable, str(path)], cwd=path.parent, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    """A started script's exit status, stdout and stderr."""
    out, err = proc.communicate(timeout=120)
    return proc.returncode, out, err


def _die(part: list) -> list:
    """A pool task whose process dies (a crash in a library, say)."""
    os._exit(3)


def test_extract_at_a_scripts_top_level_ends_it_with_one_line_and_under_the_guard_runs(
        tmp_path: Path, cinc_dir: Path, copy_records) -> None:
    records = copy_records(cinc_dir, ["E07500", "E07501"])
    bare_call, guarded_call = call(records, tmp_path / "bare.h5"), call(records, tmp_path / "guarded.h5")
    # both at once: each mostly waits on its imports
    bare = start_script(tmp_path / "bare.py", f"import ecgspec\n{bare_call}\nprint('not reached')\n")
    guarded = start_script(tmp_path / "guarded.py",
                           f"import ecgspec\n\nif __name__ == '__main__':\n    result = {guarded_call}\n    print(result.records)\n")
    code, out, err = finish(bare)
    assert code == 1, err
    assert "Traceback" not in err  # neither the script nor a reader process prints one
    assert err.splitlines() == [line(tmp_path / "bare.py")]
    assert out == "" and not list(tmp_path.glob("bare.h5*"))  # no output, no partial file left
    assert finish(guarded) == (0, "2\n", "")


def test_the_error_is_an_ecgspec_error_that_ends_an_uncaught_script_with_its_line() -> None:
    exc = workers.main_not_guarded()
    assert isinstance(exc, MainNotGuarded) and isinstance(exc, EcgspecError)  # `except EcgspecError` catches it
    assert isinstance(exc, SystemExit) and exc.code == f"ecgspec: error: {exc}" and str(exc).endswith(FIX)


def test_a_process_pool_of_such_a_script_ends_it_with_the_same_line(tmp_path: Path) -> None:
    """The folder walk's and the dry run's pool (map_in_processes) does not say how its processes
    ended: one more process, started alike, tells."""
    body = ("from ecgspec.run import workers\nworkers.exit_if_importing_main()  # as extract begins\n"
            "print(workers.map_in_processes(len, [[1], [2, 3]], 2))\n")
    code, out, err = finish(start_script(tmp_path / "pool.py", body))
    assert (code, out) == (1, "") and "Traceback" not in err
    assert err.splitlines() == [line(tmp_path / "pool.py")]


def test_a_pool_broken_for_another_reason_says_so_as_before(monkeypatch: pytest.MonkeyPatch) -> None:
    from concurrent.futures.process import BrokenProcessPool

    assert workers._probe_exit() == 0  # this process is no script run bare: a probe starts and ends well
    monkeypatch.setattr(workers, "_probe_exit", lambda: 0)
    with pytest.raises(BrokenProcessPool):
        workers.map_in_processes(_die, [[1]], 1)


@pytest.mark.slow  # a Dask LocalCluster that cannot start (2 s; the cluster tests are slow)
def test_a_local_cluster_of_such_a_script_ends_it_with_one_line_too(tmp_path: Path, cinc_dir: Path, copy_records) -> None:
    pytest.importorskip("distributed")
    records = copy_records(cinc_dir, ["E07500"])
    script = tmp_path / "cluster.py"
    statement = call(records, tmp_path / "out.h5", how='cluster="local:1"')
    code, out, err = finish(start_script(script, f"import ecgspec\n{statement}\n"))
    assert (code, out) == (1, "") and "Traceback" not in err
    assert err.splitlines() == [f"ecgspec: error: local:N's Dask worker processes cannot start: each imports {script}, which"
                                ' calls extract at its top level; call it under `if __name__ == "__main__":`']
