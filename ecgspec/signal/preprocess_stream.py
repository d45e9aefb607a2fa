"""torch_ecg's preprocessing over a long record in blocks, in bounded memory, with the values of
the whole-record computation (:func:`~ecgspec.signal.preprocess.apply_preprocess`).

Each step is a stage reading the one before it by sample range:

- ``baseline_remove``: median filters are local, so a block read with a margin of half of each
  filter's length on either side gives the whole-record values bit for bit;
- ``bandpass`` (``butter``): torch_ecg's transfer-function Butterworth is so ill-conditioned that a
  one-ulp change of one input sample moves its output by about 1e-3 of its peak, so no margin
  reproduces it; instead ``filtfilt`` is run exactly as SciPy runs it, in blocks: a forward pass
  keeps the filter state at each block boundary, a backward pass (blocks in reverse) the
  backward state, and each block is then computed from its two states, bit for bit;
- ``bandpass`` (``fir``): a FIR filter forgets, so a margin of its length on each side is exact;
- ``normalize``: z-score and min-max take the record's statistics from a first pass over the
  stage before (mean and std accumulated in float64, where torch_ecg reduces in float32: the
  difference is float32 rounding; after a band-pass, from the outputs its backward pass computes
  anyway), then scale each block.

Memory: a stage holds at most two blocks of its output and the filter states (a few numbers a
block); a stream reads the record once per pass: three with all three steps (the forward states;
the backward states, with the statistics from the outputs met on the way; the output).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Callable, Iterator

import numpy as np

from .preprocess import F32, BandPass, BaselineRemove, Normalize, Preprocess, Step, apply_preprocess, baseline

__all__ = ["Read", "preprocessed", "DEFAULT_BLOCK"]

Read = Callable[[int, int], np.ndarray]  # (start, stop) -> float32 (C, stop - start)
DEFAULT_BLOCK = 1 << 16  # output samples a lead computed at once (a 12-lead block: 3 MB)


def preprocessed(pre: Preprocess, read: Read, n: int, fs: float, block: int = DEFAULT_BLOCK) -> Read:
    """A reader of the preprocessed record: ``read(start, stop)`` of the result, given ``read`` of
    the record (float32 (C, stop - start) at ``fs``, the same values whatever the range) and its
    length ``n``. A record of at most ``block`` samples is computed whole, at the first read; a
    longer one streams. Reads go best in increasing order (the last two blocks are kept)."""
    if n <= block:
        return _Whole(pre, read, n, fs).read
    stage: _Stage = _Source(read, n)
    for step in pre.steps:
        stage = _stage(step, stage, fs, block)
    return stage.read


def _stage(step: Step, prev: "_Stage", fs: float, block: int) -> "_Stage":
    if isinstance(step, BaselineRemove):
        return _Median(prev, *step.sizes(fs))
    if isinstance(step, BandPass):
        b, a = step.coefficients(fs)
        return _Butter(prev, b, a, block) if step.filter_type == "butter" else _Fir(prev, b, a, block)
    return _Normalize(prev, step, fs, block)


class _Stage:
    n: int

    def read(self, start: int, stop: int) -> np.ndarray:
        raise NotImplementedError

    def every_block(self, block: int) -> Iterator[np.ndarray]:
        """The whole output in pieces, in any order (what statistics need): here in order."""
        for start in range(0, self.n, block):
            yield self.read(start, min(self.n, start + block))


class _Source(_Stage):
    def __init__(self, read: Read, n: int):
        self._read, self.n = read, n

    def read(self, start: int, stop: int) -> np.ndarray:
        return np.asarray(self._read(start, stop), dtype=F32)


class _Whole(_Stage):
    """The whole record through :func:`apply_preprocess`, computed at the first read."""

    def __init__(self, pre: Preprocess, read: Read, n: int, fs: float):
        self.pre, self._read, self.n, self.fs = pre, read, n, fs
        self._out: np.ndarray | None = None

    def read(self, start: int, stop: int) -> np.ndarray:
        if self._out is None:
            self._out = apply_preprocess(self.pre, self._read(0, self.n), self.fs)
        return self._out[:, start:stop]


class _Blocks(_Stage):
    """A stage computed block by block, keeping the last two blocks."""

    def __init__(self, prev: _Stage, block: int):
        self.prev, self.n, self.block = prev, prev.n, block
        self.count = -(-self.n // block)
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()

    def span(self, k: int) -> tuple[int, int]:
        return k * self.block, min(self.n, (k + 1) * self.block)

    def compute(self, k: int) -> np.ndarray:
        raise NotImplementedError

    def read(self, start: int, stop: int) -> np.ndarray:
        first, last = start // self.block, max(start, stop - 1) // self.block
        parts = []
        for k in range(first, last + 1):
            if k not in self._cache:
                self._cache[k] = self.compute(k)
                while len(self._cache) > 2:
                    self._cache.popitem(last=False)
            a, b = self.span(k)
            parts.append(self._cache[k][:, max(start, a) - a : min(stop, b) - a])
        return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)


class _Median(_Stage):
    """``baseline_remove``: exact with a margin of the two filters' half lengths."""

    def __init__(self, prev: _Stage, size1: int, size2: int):
        self.prev, self.n, self.sizes = prev, prev.n, (size1, size2)
        self.margin = size1 // 2 + size2 // 2

    def read(self, start: int, stop: int) -> np.ndarray:
        a, b = max(0, start - self.margin), min(self.n, stop + self.margin)
        x = self.prev.read(a, b)
        return (x - baseline(x, *self.sizes))[:, start - a : stop - a]


class _Fir(_Blocks):
    """FIR ``filtfilt``: each output depends on the input within the filter's length, so a block
    read with a margin of SciPy's padding on each side gives the whole-record values (to the last
    bits of a sum)."""

    def __init__(self, prev: _Stage, b: np.ndarray, a: np.ndarray, block: int):
        super().__init__(prev, block)
        self.b, self.a = b, a
        self.margin = 3 * len(b)

    def compute(self, k: int) -> np.ndarray:
        from scipy.signal import filtfilt

        start, stop = self.span(k)
        a, b = max(0, start - self.margin), min(self.n, stop + self.margin)
        return filtfilt(self.b, self.a, self.prev.read(a, b)).astype(F32)[:, start - a : stop - a]


class _Butter(_Blocks):
    """SciPy's ``filtfilt`` (odd padding, ``lfilter_zi`` initial states) in blocks, bit for bit:
    the forward and backward filter states at every block boundary come from two first passes."""

    def __init__(self, prev: _Stage, b: np.ndarray, a: np.ndarray, block: int):
        super().__init__(prev, block)
        self.b, self.a = b, a
        self.edge = 3 * max(len(a), len(b))
        if self.n <= self.edge:
            raise ValueError(f"filtfilt needs more than {self.edge} samples, the record has {self.n}")
        self._forward: list[np.ndarray] | None = None  # state before block k, forward
        self._backward: list[np.ndarray] | None = None  # state after block k, before it is run backward

    def _lfilter(self, x: np.ndarray, zi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        from scipy.signal import lfilter

        return lfilter(self.b, self.a, x, axis=-1, zi=zi)

    def _states(self) -> tuple[list[np.ndarray], list[np.ndarray]]:
        if self._forward is None or self._backward is None:
            for _ in self._backward_pass():
                pass
        assert self._forward is not None and self._backward is not None
        return self._forward, self._backward

    def _forward_pass(self) -> tuple[list[np.ndarray], np.ndarray]:
        """The forward filter's state before each block (and after the last), and its output over the
        right padding, from SciPy's odd extension (``scipy.signal._arraytools.odd_ext``, in the input's dtype)."""
        from scipy.signal import lfilter_zi

        zi = lfilter_zi(self.b, self.a)[None, :]
        head = self.prev.read(0, self.edge + 1)
        left = 2 * head[:, :1] - head[:, self.edge : 0 : -1]
        _, state = self._lfilter(left, zi * left[:, :1])
        forward = [state]
        for k in range(self.count):
            _, state = self._lfilter(self.prev.read(*self.span(k)), state)
            forward.append(state)
        tail = self.prev.read(self.n - self.edge - 1, self.n)
        right = 2 * tail[:, -1:] - tail[:, -2::-1]
        y_right, _ = self._lfilter(right, state)
        return forward, y_right

    def _backward_pass(self) -> Iterator[np.ndarray]:
        """Run the backward filter from the record's end, block by block in reverse, keeping its state
        at each block boundary; yield each block's output on the way (last block first)."""
        from scipy.signal import lfilter_zi

        forward, y_right = self._forward_pass()
        zi = lfilter_zi(self.b, self.a)[None, :]
        _, state = self._lfilter(y_right[:, ::-1], zi * y_right[:, -1:])
        backward = [state] * (self.count + 1)
        for k in reversed(range(self.count)):
            y, state = self._lfilter(self._forward_block(k, forward)[:, ::-1], state)
            backward[k] = state
            yield y[:, ::-1].astype(F32)
        self._forward, self._backward = forward, backward

    def every_block(self, block: int) -> Iterator[np.ndarray]:
        """With the states not yet known, the output comes out of the backward pass that finds them."""
        if self._backward is None:
            yield from self._backward_pass()
        else:
            yield from super().every_block(block)

    def _forward_block(self, k: int, forward: list[np.ndarray]) -> np.ndarray:
        y, _ = self._lfilter(self.prev.read(*self.span(k)), forward[k])
        return y

    def compute(self, k: int) -> np.ndarray:
        forward, backward = self._states()
        y, _ = self._lfilter(self._forward_block(k, forward)[:, ::-1], backward[k + 1])
        return y[:, ::-1].astype(F32)


class _Normalize(_Blocks):
    """``normalize``: the record's statistics from a pass over the stage before, then block by block."""

    def __init__(self, prev: _Stage, step: Normalize, fs: float, block: int):
        super().__init__(prev, block)
        self.step, self.fs = step, fs
        self._stats: tuple | None = None

    def compute(self, k: int) -> np.ndarray:
        if self.step.needs_stats and self._stats is None:
            self._stats = self._measure()
        return self.step.apply(self.prev.read(*self.span(k)), self.fs, self._stats)

    def _measure(self) -> tuple:
        """(mean, std) or (min, max), float32, per lead ((C, 1)) or of the whole record (scalars)."""
        per_channel = self.step.per_channel
        if self.step.method == "min-max":
            low = high = None
            for x in self.prev.every_block(self.block):
                low = x.min(axis=1) if low is None else np.minimum(low, x.min(axis=1))
                high = x.max(axis=1) if high is None else np.maximum(high, x.max(axis=1))
            assert low is not None and high is not None
            if per_channel:
                return low[:, None], high[:, None]
            return low.min(), high.max()
        count, mean, m2 = 0, None, None
        for piece in self.prev.every_block(self.block):
            x = piece.astype(np.float64)
            block_mean = x.mean(axis=1)
            block_m2 = ((x - block_mean[:, None]) ** 2).sum(axis=1)
            if mean is None:
                count, mean, m2 = x.shape[1], block_mean, block_m2
            else:  # Chan et al.'s pairwise update
                total = count + x.shape[1]
                delta = block_mean - mean
                mean = mean + delta * (x.shape[1] / total)
                m2 = m2 + block_m2 + delta**2 * (count * x.shape[1] / total)
                count = total
        assert mean is not None and m2 is not None
        if per_channel:
            return mean.astype(F32)[:, None], np.sqrt(m2 / count).astype(F32)[:, None]
        grand = mean.mean()
        spread = (m2.sum() + (count * (mean - grand) ** 2).sum()) / (count * len(mean))
        return F32(grand), F32(np.sqrt(spread))
