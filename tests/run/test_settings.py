"""A run's settings: resolved once, at the entry (the CLI and the Python API), into one frozen value that
the stages receive; nothing below re-derives them."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest

import ecgspec
from ecgspec.run.limits import LIMITS
from ecgspec.run.options import build_settings
from ecgspec.run.settings import Settings, resolve

PACKAGE = Path(ecgspec.__file__).parent
ENGINE = {"n_channels": 2, "fs": 200, "n_samples": 2000, "n_bins": 32}


def settings(**options) -> Settings:
    return resolve(*build_settings({}, ENGINE, {"device": "cpu", **options}))


def test_settings_and_what_they_hold_are_frozen() -> None:
    s = settings(stride=700, leads="I,II")
    for value, field in ((s, "stored"), (s.options, "stride"), (s.read, "leads"), (s.read.cut, "stride"),
                         (s.limits, "read_threads")):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(value, field, None)


def test_what_the_settings_derive_is_what_the_options_say() -> None:
    s = settings(stride=700, leads="I,II", max_nan=0.25, input_fs=250.0, units="mV")
    assert s.stored["stride"] == 700 and s.stored["leads"] == ["I", "II"] and s.stored["units"] == "mV"
    assert s.stored == dict(s.stored) and s.stored["fs"] == 200 and s.window_shape == s.config.window_shape
    cut = s.read.cut
    assert (cut.fs, cut.window, cut.stride, cut.max_nan, cut.block_samples) == (200, 2000, 700, 0.25,
                                                                               LIMITS.block_samples)
    assert (s.read.n_channels, s.read.leads, s.read.input_fs, s.read.to_mv) == (2, ("I", "II"), 250.0, True)
    assert settings().read.cut.stride == 2000 and settings().read.record_fs == 200  # stride: one window


def test_a_cluster_task_changes_its_device_and_where_it_reads_only() -> None:
    s = resolve(*build_settings({}, ENGINE, {"cluster": "local:2", "workers": 3}))
    task = s.on_worker("cpu")
    assert task.config["device"] == "cpu" and task.options.device == "cpu"
    assert (task.options.workers, task.options.cluster, task.options.shard) == (0, None, None)
    assert task.stored == s.stored and task.read == s.read and task.window_shape == s.window_shape


def calls(name: str) -> set[str]:
    """The ecgspec modules (paths under the package) that call ``name(...)``."""
    found = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                func = node.func
                called = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
                if called == name:
                    found.add(path.relative_to(PACKAGE).as_posix())
    return found


def importers(module: str, name: str) -> set[str]:
    """The ecgspec modules that import ``name`` from a module whose dotted path ends with ``module``."""
    found = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").endswith(module):
                if any(alias.name == name for alias in node.names):
                    found.add(path.relative_to(PACKAGE).as_posix())
    return found


def test_the_settings_are_resolved_at_the_entry_only() -> None:
    # the CLI and the API build and resolve them; the config a file stores is derived in one place
    assert calls("build_settings") == {"cli.py", "run/api.py"}
    assert importers("settings", "resolve") == {"cli.py", "run/api.py"}
    assert calls("effective_config") == {"run/settings.py"}

