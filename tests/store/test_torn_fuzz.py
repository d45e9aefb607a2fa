"""The torn-file fuzzer (benchmarks/fuzz_torn.py) on a few hundred damaged partials: none may hang.

Each case is a partial "killed" at a commit point or inside a flush, then cut, bit-flipped,
page-zeroed or torn; its `--resume` must end in time and equal an uninterrupted run (never end
with different values: damaged committed values fail their checksums and are computed again), and
`ecgspec info` must end in time with at most one line on error.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.paths import benchmark

N_CASES = 200


@pytest.mark.slow
def test_hundreds_of_torn_partials_never_hang_and_resume_to_an_uninterrupted_run(tmp_path: Path) -> None:
    summary = benchmark("fuzz_torn").fuzz(N_CASES, seed=22, n_commits=6, folder=tmp_path)
    print(summary.line())
    assert summary.cases == N_CASES
    assert not summary.hangs, summary.hangs
    assert not summary.failures, summary.failures
    assert summary.started_over > 0  # damage that resume noticed: the file was started over
    assert summary.repaired > 0  # damaged committed values: their records computed again, never kept
