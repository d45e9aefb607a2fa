"""The command's start-up imports and how it reports errors: the user's in one line, its own bugs as bugs."""

from __future__ import annotations

import errno
import json

import pytest

from ecgspec import cli
from ecgspec.engine.config import ConfigError
from tests.helpers.cli import invoke
from tests.helpers.imports import HEAVY, imported_by


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["shape", "--json"], ["shape", "--help"],
                                  ["extract", "--help"], ["info", "--help"]])
def test_help_version_and_shape_import_no_heavy_module(args):
    names, proc = imported_by(*args)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "click" in names and "ecgspec" in names  # the parse saw the imports
    assert not names & HEAVY, sorted(names & HEAVY)


def test_shape_without_torch_agrees_with_torch_ecg():
    """``shape --json`` computes the shape without torch: it must be the shape torch_ecg's
    SpectrogramInput actually outputs for such a batch, with torch_ecg's frame parameters."""
    import torch

    from tests.helpers.reference import reference

    for extra, cfg in [([], {}), (["--feature-fs", "100", "--to1d"], {"feature_fs": 100, "to1d": True}),
                       (["--fs", "257.5", "--n-samples", "777", "--feature-fs", "33.3", "--n-bins", "33"],
                        {"fs": 257.5, "n_samples": 777, "feature_fs": 33.3, "n_bins": 33})]:
        _, proc = imported_by("shape", "--json", "--batch-size", "3", *extra)
        got = json.loads(proc.stdout)
        cfg = {"n_channels": 12, "n_samples": 5000, "n_bins": 128, "fs": 500, **cfg}
        ref = reference(**cfg)
        out = ref(torch.randn(3, 12, cfg["n_samples"]))
        assert got["shape"] == list(out.shape) and got["window_shape"] == list(out.shape[1:])
        assert (got["n_fft"], got["win_length"], got["hop_length"], got["n_frames"]) == (
            ref._transform.spectrogram.n_fft, ref.win_length, ref.hop_length, out.shape[-1])


def shape_raising(monkeypatch: pytest.MonkeyPatch, exc: BaseException, *args: str):
    """Run ``shape`` with the settings step raising ``exc``, as a bug or a user error would."""

    def raise_it(*_a, **_k):
        raise exc

    monkeypatch.setattr(cli, "build_settings", raise_it)
    return invoke(*args, "shape")


def test_a_bug_is_one_line_saying_so(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("ECGSPEC_DEBUG", raising=False)
    for exc in (TypeError("unhashable type: 'list'"), RuntimeError("expected\n a tensor"), KeyError("n_bins"),
                ValueError("not ours")):
        res = shape_raising(monkeypatch, exc)
        assert res.exit_code == 2
        assert res.stderr.count("\n") == 1 and "Traceback" not in res.stderr
        assert res.stderr.startswith(f"ecgspec: error: internal error, a bug in ecgspec: {type(exc).__name__}: ")
        assert " ".join(str(exc).split()) in res.stderr and cli.REPORT_TO in res.stderr and "--debug" in res.stderr


@pytest.mark.parametrize("how", ["--debug", "ECGSPEC_DEBUG=1"])
def test_debug_prints_the_traceback(monkeypatch: pytest.MonkeyPatch, how: str):
    monkeypatch.delenv("ECGSPEC_DEBUG", raising=False)
    args = []
    if how == "--debug":
        args = ["--debug"]
    else:
        monkeypatch.setenv("ECGSPEC_DEBUG", "1")
    res = shape_raising(monkeypatch, TypeError("boom"), *args)
    assert res.exit_code == 2
    assert res.stderr.startswith("Traceback (most recent call last):") and 'raise_it' in res.stderr
    assert res.stderr.splitlines()[-1].startswith("ecgspec: error: internal error, a bug in ecgspec: TypeError: boom")
    res = shape_raising(monkeypatch, ConfigError("n_bins: got 0"), *args)  # a user error shows its traceback too
    assert "Traceback" in res.stderr and res.stderr.splitlines()[-1] == "ecgspec: error: n_bins: got 0"


@pytest.mark.parametrize("exc, line", [
    (ConfigError("n_bins: got 0, must be an integer >= 2"), "n_bins: got 0, must be an integer >= 2"),
    (OSError(errno.ENOSPC, "No space left on device"), "OSError: [Errno 28] No space left on device"),
    (PermissionError(errno.EACCES, "Permission denied"), "PermissionError: [Errno 13] Permission denied"),
    (FileNotFoundError(errno.ENOENT, "No such file or directory"), "FileNotFoundError: [Errno 2] No such file"),
    (MemoryError(), "MemoryError: "),
])
def test_user_and_os_errors_are_one_line_without_bug_report(monkeypatch: pytest.MonkeyPatch, exc, line):
    monkeypatch.delenv("ECGSPEC_DEBUG", raising=False)
    res = shape_raising(monkeypatch, exc)
    assert res.exit_code == 2 and res.stderr.count("\n") == 1
    assert res.stderr.startswith(f"ecgspec: error: {line}") and "bug" not in res.stderr


def test_an_os_error_that_is_not_the_users_is_a_bug(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("ECGSPEC_DEBUG", raising=False)
    res = shape_raising(monkeypatch, OSError(errno.EBADF, "Bad file descriptor"))
    assert res.exit_code == 2 and "a bug in ecgspec: OSError: [Errno 9] Bad file descriptor" in res.stderr
