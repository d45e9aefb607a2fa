"""Polyphase resampling at the exact rational ratio of two rates, in blocks without seams.

The filter is ``scipy.signal.resample_poly``'s own (a Kaiser-windowed sinc of
``10 * max(up, down)`` taps each side at the upsampled rate), designed once per ratio
and cached. :func:`resample_span` returns any output range ``[m0, m1)`` from the raw
samples :func:`source_span` names, through ``scipy.signal.upfirdn`` with the filter's
phase shifted to that range, so block after block equals ``resample_poly`` on the whole
signal (the same products, summed in the same order).

Rates are taken as the decimals they print as (``Fraction(repr(rate))``): 249.89 Hz to
500 Hz is ``up / down = 50000 / 24989`` exactly, so window starts never drift. A ratio
whose terms exceed :data:`MAX_FACTOR` (a rate with many decimals) uses the closest
ratio within it; :func:`check_drift` refuses a record it would shift by half a sample.

scipy is imported only when a filter is needed, so runs that never resample never load it.
"""

from __future__ import annotations

from fractions import Fraction
from functools import lru_cache

import numpy as np

from ..readers import RecordError

__all__ = [
    "MAX_FACTOR", "ceil_div", "resample_ratio", "resampled_length", "source_span", "resample_span", "check_drift",
]

MAX_FACTOR = 1 << 18  # the filter has 20 * MAX_FACTOR + 1 taps at most: 42 MB of float64, designed in ~0.4 s
_HALF_TAPS = 10  # resample_poly's default: 10 * max(up, down) taps on each side of the centre


def ceil_div(a: int, b: int) -> int:
    """``ceil(a / b)`` for integers (b > 0), exactly, without floats."""
    return -(-a // b)


def _exact(rate: float) -> Fraction:
    """The decimal a rate prints as, as a fraction (``249.89`` is ``24989/100``, not the binary double)."""
    return Fraction(repr(float(rate)))


def _closest(ratio: Fraction, limit: int) -> Fraction:
    """The fraction nearest ``ratio`` whose numerator and denominator are both at most ``limit``."""
    if ratio < 1:
        return ratio.limit_denominator(limit)
    inverse = (1 / ratio).limit_denominator(limit)
    return 1 / inverse if inverse else Fraction(0)  # 0: beyond 1:limit


@lru_cache(maxsize=256)
def _ratio(fs_in: float, fs_out: float) -> tuple[int, int, Fraction]:
    """:func:`resample_ratio`'s (up, down) and how far it is from the exact ratio, per input sample.
    Cached: every record of a run asks about the same few rates, and the fractions cost ~20 us a record."""
    exact = _exact(fs_out) / _exact(fs_in)
    ratio = exact if max(exact.numerator, exact.denominator) <= MAX_FACTOR else _closest(exact, MAX_FACTOR)
    if ratio == 0 or max(ratio.numerator, ratio.denominator) > MAX_FACTOR:
        raise RecordError(
            f"cannot resample {fs_in:g} Hz to {fs_out:g} Hz: the ratio is beyond 1:{MAX_FACTOR} either way"
        )
    return ratio.numerator, ratio.denominator, abs(ratio - exact)


def resample_ratio(fs_in: float, fs_out: float) -> tuple[int, int]:
    """(up, down), coprime, with ``up / down`` the exact ratio ``fs_out / fs_in`` of the two
    rates as decimals, or the closest one with terms <= :data:`MAX_FACTOR` (see :func:`check_drift`).
    RecordError when no such ratio exists (a rate absurdly far from ``fs_out``)."""
    up, down, _ = _ratio(float(fs_in), float(fs_out))
    return up, down


def check_drift(fs_in: float, fs_out: float, n_in: int) -> None:
    """RecordError when :func:`resample_ratio`'s ratio, if inexact, would put the end of ``n_in``
    samples half an output sample or more away from where the exact ratio puts it."""
    per_sample = _ratio(float(fs_in), float(fs_out))[2]
    if per_sample and per_sample * n_in >= Fraction(1, 2):
        raise RecordError(
            f"cannot resample {fs_in!r} Hz to {fs_out!r} Hz: the closest ratio with terms <= {MAX_FACTOR}"
            f" drifts {float(per_sample * n_in):.3g} samples over the record"
        )


def resampled_length(n_samples: int, up: int, down: int) -> int:
    """The length ``resample_poly`` gives ``n_samples`` resampled by ``up / down``."""
    return ceil_div(n_samples * up, down)


def _half_width(up: int, down: int) -> int:
    """Filter taps on each side of the centre, at the upsampled rate (0: no resampling)."""
    return 0 if up == down else _HALF_TAPS * max(up, down)


def source_span(m0: int, m1: int, up: int, down: int, n_in: int) -> tuple[int, int]:
    """The raw samples ``[a, b)`` of ``n_in`` that outputs ``[m0, m1)`` depend on (m0 < m1)."""
    half = _half_width(up, down)
    a = max(0, ceil_div(m0 * down - half, up))
    b = min(n_in, ((m1 - 1) * down + half) // up + 1)
    return a, b


@lru_cache(maxsize=8)
def _kernel(up: int, down: int) -> np.ndarray:
    """resample_poly's filter for this ratio, gain ``up`` included, float64, read-only (cached)."""
    from scipy.signal import firwin

    half = _half_width(up, down)
    h = firwin(2 * half + 1, 1.0 / max(up, down), window=("kaiser", 5.0)) * up
    h.setflags(write=False)
    return h


def resample_span(x: np.ndarray, a: int, m0: int, m1: int, up: int, down: int, n_in: int) -> np.ndarray:
    """Outputs ``[m0, m1)`` of resampling a whole signal of ``n_in`` samples by ``up / down``,
    from its raw samples ``x`` (C, T) float64 = ``[a, a + T)``, which must hold
    :func:`source_span` ``(m0, m1)``.

    Bit for bit ``resample_poly(whole, up, down, axis=-1)[:, m0:m1]``: output m is
    ``sum_n x[n] h[m * down + half - n * up]``, so the filter is started at the phase of
    ``m0`` relative to ``a``.
    """
    need_a, need_b = source_span(m0, m1, up, down, n_in)
    if a > need_a or a + x.shape[-1] < need_b:
        raise ValueError(f"resample_span: outputs {m0}..{m1} need raw {need_a}..{need_b}, got {a}..{a + x.shape[-1]}")
    if up == down:
        return x[:, m0 - a : m1 - a]
    from scipy.signal import upfirdn

    # upfirdn's output i is sum_n x[n] g[i * down - n * up]: pad the filter's front so that
    # its output `skip` is output m0 of the whole signal.
    shift = m0 * down + _half_width(up, down) - a * up
    skip = ceil_div(shift, down)
    h = _kernel(up, down)
    g = np.concatenate((np.zeros(skip * down - shift), h)) if skip * down != shift else h
    with np.errstate(over="ignore"):  # the filter may overshoot values near the float32 limit
        y = upfirdn(g, x[:, : need_b - a], up, down, axis=-1)
    return y[:, skip : skip + m1 - m0]
