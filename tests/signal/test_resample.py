"""resample: exact rational ratios, block-wise output equal to scipy's whole-signal resample_poly."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from scipy.signal import resample_poly

from ecgspec.readers import RecordError
from ecgspec.signal.resample import (
    MAX_FACTOR,
    ceil_div,
    check_drift,
    resample_ratio,
    resample_span,
    resampled_length,
    source_span,
)


@pytest.mark.parametrize(
    "fs_in, fs_out, ratio",
    [
        (360, 500, (25, 18)),
        (1000, 500, (1, 2)),
        (200, 500, (5, 2)),
        (250, 500, (2, 1)),
        (257, 500, (500, 257)),
        (128, 500, (125, 32)),
        (500, 500, (1, 1)),
        (360.0, 250, (25, 36)),
        (44.1, 500, (5000, 441)),
        (249.89, 500, (50000, 24989)),  # 62.4725 frames/s x 4: float(249.89) is not 24989/100, its repr is
        (62.4725, 500, (200000, 24989)),
        (float(62.4725 * 4), 500, (50000, 24989)),
        (500, 249.89, (24989, 50000)),
    ],
)
def test_resample_ratio_is_the_exact_decimal_ratio(fs_in, fs_out, ratio):
    assert resample_ratio(fs_in, fs_out) == ratio


def test_ratio_beyond_the_factor_limit_is_the_closest_within_it():
    up, down = resample_ratio(333.3337, 500)  # exactly 5000000/3333337
    assert max(up, down) <= MAX_FACTOR and (up, down) != (5000000, 3333337)
    assert abs(Fraction(up, down) - Fraction(5000000, 3333337)) < Fraction(1, 10**5)
    check_drift(333.3337, 500, 10 * 333)  # 10 s of it ends within half a sample: accepted
    with pytest.raises(RecordError, match=r"^cannot resample 333.3337 Hz to 500 Hz: .* drifts .* samples") as err:
        check_drift(333.3337, 500, 86400 * 333)  # a day of it would not
    assert "\n" not in str(err.value)
    with pytest.raises(RecordError, match=r"^cannot resample 1e-09 Hz to 500"):
        resample_ratio(1e-9, 500)


def test_ceil_div_on_ints_and_arrays():
    assert [ceil_div(a, 4) for a in (-5, -4, 0, 1, 4, 5)] == [-1, -1, 0, 1, 1, 2]
    assert ceil_div(np.array([0, 1, 7, 8]), 8).tolist() == [0, 1, 1, 1]
    assert ceil_div(10**30 + 1, 10**30) == 2  # exact where a float division would round


@pytest.mark.parametrize("n", [1, 17, 999, 1000, 4001])
@pytest.mark.parametrize("fs_in, fs_out", [(360, 500), (1000, 500), (257, 500), (500, 128), (500, 500), (249.89, 500)])
def test_resampled_length_matches_resample_poly(n, fs_in, fs_out):
    up, down = resample_ratio(fs_in, fs_out)
    assert resampled_length(n, up, down) == resample_poly(np.zeros(n), up, down).shape[-1]


RATES = [(360, 500), (1000, 500), (200, 500), (257, 500), (500, 128), (249.89, 500), (62.4725, 500), (500, 249.89),
         (333.3337, 500)]


@pytest.mark.parametrize("fs_in, fs_out", [pytest.param(*r, marks=pytest.mark.slow) if r[0] in (333.3337, 62.4725) else r
                                           for r in RATES])
def test_any_span_equals_whole_signal_resample_poly(fs_in, fs_out):
    """Random output ranges from just the raw samples source_span names: bit for bit resample_poly's."""
    rng = np.random.default_rng(int(fs_in * 1000) % 2**32)
    up, down = resample_ratio(fs_in, fs_out)
    n = int(rng.integers(3000, 30000))
    x = rng.standard_normal((2, n))
    whole = resample_poly(x, up, down, axis=-1)
    for _ in range(25):
        m0 = int(rng.integers(0, whole.shape[1] - 1))
        m1 = int(rng.integers(m0 + 1, min(whole.shape[1], m0 + 4000) + 1))
        a, b = source_span(m0, m1, up, down, n)
        got = resample_span(x[:, a:b], a, m0, m1, up, down, n)
        np.testing.assert_array_equal(got, whole[:, m0:m1])


@pytest.mark.slow
@pytest.mark.parametrize("fs_in, fs_out", RATES)
def test_consecutive_blocks_concatenate_to_the_whole(fs_in, fs_out):
    """Many random block sizes, tiling the output: no seam anywhere."""
    rng = np.random.default_rng(7)
    up, down = resample_ratio(fs_in, fs_out)
    x = rng.standard_normal((1, 20000))
    whole = resample_poly(x, up, down, axis=-1)
    cuts = np.unique(np.concatenate(([0, whole.shape[1]], rng.integers(1, whole.shape[1], 40))))
    pieces = []
    for m0, m1 in zip(cuts[:-1], cuts[1:]):
        a, b = source_span(int(m0), int(m1), up, down, x.shape[1])
        pieces.append(resample_span(x[:, a:b], a, int(m0), int(m1), up, down, x.shape[1]))
    np.testing.assert_allclose(np.concatenate(pieces, axis=1), whole, rtol=0, atol=1e-12)


def test_span_without_the_samples_it_needs_is_refused():
    up, down = resample_ratio(360, 500)
    a, b = source_span(1000, 1100, up, down, 10**6)
    x = np.zeros((1, b - a))
    assert resample_span(x, a, 1000, 1100, up, down, 10**6).shape == (1, 100)
    with pytest.raises(ValueError, match="need raw"):
        resample_span(x, a + 1, 1000, 1100, up, down, 10**6)
    with pytest.raises(ValueError, match="need raw"):
        resample_span(x[:, :-1], a, 1000, 1100, up, down, 10**6)
