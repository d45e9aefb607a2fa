"""The public API's docstring examples run, in order, in a folder holding ``records/`` (10 CinC 2021 records),
as the docs site shows them: ``extract``'s example writes the ``out.h5`` the others read."""

from __future__ import annotations

import doctest
import os
from pathlib import Path

import pytest

import ecgspec
from ecgspec.run.result import ExtractResult
from ecgspec.store.sampling import BlockSampler

PUBLIC = [ecgspec.extract, ecgspec.open, ecgspec.SpectrogramFile, ecgspec.split, ecgspec.InputConfig,
          ecgspec.SpectrogramInput, ecgspec.SpectrogramInput.from_waveform, BlockSampler, ExtractResult,
          ecgspec.describe]


@pytest.mark.slow  # an extraction and torch's import in the examples: ~8 s here
def test_the_public_docstrings_examples_run(tmp_path: Path, cinc_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "records").mkdir()
    for source in sorted(cinc_dir.glob("E0750?.*")):
        os.link(source, tmp_path / "records" / source.name)
    monkeypatch.chdir(tmp_path)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    finder = doctest.DocTestFinder(recurse=False)
    for obj in PUBLIC:
        tests = finder.find(obj, obj.__qualname__, globs={})
        assert tests and tests[0].examples, f"{obj.__qualname__} has no example"
        for test in tests:
            runner.run(test)
    assert runner.summarize(verbose=False).failed == 0


def test_the_public_docstrings_are_numpy_style_with_parameters_and_errors() -> None:
    for obj in PUBLIC:
        doc = obj.__doc__ or ""
        assert "Examples\n" in doc, obj.__qualname__
        if obj is not ExtractResult:
            assert "Parameters\n" in doc and "Raises\n" in doc, obj.__qualname__
