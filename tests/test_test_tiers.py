"""The test tiers (issue 30): ``make test-fast`` runs the Hypothesis tests under the ``dev`` profile
(a tenth of each test's examples) and ``make test`` under ``full``, listing the slowest tests; under
``full`` a fuzzer whose examples all come to one outcome fails (tests/helpers/fuzzing.py)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.helpers import fuzzing
from tests.helpers.paths import ROOT


def _fuzzer(kinds: tuple[str, ...]):
    @fuzzing.expect("read", "record error")
    @settings(max_examples=20, database=None, derandomize=True)
    @given(n=st.integers(0, 100))
    def fuzz(n: int) -> None:
        fuzzing.outcome(kinds[n % len(kinds)])

    return fuzz


def test_a_fuzzer_whose_every_input_is_refused_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(fuzzing.PROFILE, "name", "full")
    with pytest.raises(AssertionError, match=r"no example came to \['read'\] \(outcomes: \{'record error': 20\}\)"):
        _fuzzer(("record error",))()
    with pytest.raises(AssertionError, match=r"no example came to \['record error'\]"):
        _fuzzer(("read",))()


def test_a_fuzzer_that_sees_the_mix_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(fuzzing.PROFILE, "name", "full")
    _fuzzer(("read", "record error"))()


def test_under_dev_a_fuzzer_of_one_outcome_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    """A handful of examples may come to one outcome: the mix is asked under ``full`` (``make test``)."""
    monkeypatch.setitem(fuzzing.PROFILE, "name", "dev")
    _fuzzer(("record error",))()


def test_examples_scale_with_the_profile(monkeypatch: pytest.MonkeyPatch) -> None:
    for profile, counts in (("full", (300, 60, 1)), ("dev", (30, 6, 1))):
        monkeypatch.setattr(fuzzing, "settings", SimpleNamespace(default=SimpleNamespace(max_examples=fuzzing.PROFILES[profile])))
        assert (fuzzing.examples(300), fuzzing.examples(60), fuzzing.examples(1)) == counts


def test_the_makefile_picks_the_profiles_and_lists_the_slowest_tests() -> None:
    def recipe(target: str) -> str:
        out = subprocess.run(["make", "-n", target, "VENV=/nonexistent"], cwd=ROOT, capture_output=True, text=True, check=True)
        return next(line for line in out.stdout.splitlines() if "-m pytest" in line)

    assert recipe("test-fast").startswith("HYPOTHESIS_PROFILE=dev ") and '-m "not slow"' in recipe("test-fast")
    assert recipe("test").startswith("HYPOTHESIS_PROFILE=full ") and "--durations=25" in recipe("test")


_WITHOUT_THE_EXTENSION = """
import sys, pytest
class Hide:  # an install without a C compiler: ecgspec/readers/_digits.c was not built
    def find_spec(self, name, path=None, target=None):
        if name == "ecgspec.readers._digits":
            raise ImportError(name)
sys.meta_path.insert(0, Hide())
sys.exit(pytest.main(["-q", "-p", "no:cacheprovider", "-rA", *sys.argv[1:]]))
"""


@pytest.mark.slow
def test_the_text_parsers_tests_pass_without_the_c_extension() -> None:
    """The extension is optional: without it its tests are skipped, the NumPy paths' run, and none fails."""
    out = subprocess.run([sys.executable, "-c", _WITHOUT_THE_EXTENSION, "tests/readers/test_digits.py",
                          "tests/readers/test_csv_records.py",  # (the C compiler is here: not this test)
                          "--deselect", "tests/readers/test_digits.py::test_the_parser_is_built_where_a_c_compiler_is"],
                         cwd=ROOT, capture_output=True, text=True, env={**os.environ, "HYPOTHESIS_PROFILE": "dev"})
    assert out.returncode == 0, out.stdout[-3000:]
    digits_tests = "tests/readers/test_digits.py::test_"
    for numpy_path in ("spaced_integers_equals_python_and_the_numpy_path",
                       "csv_integers_equals_np_loadtxt_and_the_numpy_path"):
        assert f"PASSED {digits_tests}{numpy_path}" in out.stdout
    assert re.search(r"SKIPPED \[\d+\] tests/readers/test_digits.py:\d+: ecgspec/readers/_digits.c not built", out.stdout)
    assert "PASSED tests/readers/test_csv_records.py::test_open_csv_reads_integers_by_the_fast_path[numpy]" in out.stdout
