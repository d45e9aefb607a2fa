"""Where the engine writes: caller-given ``out=`` buffers, the recycled outputs of calls without one,
the chunked kernel, and the device-generic path (run here on the "meta" device and the CPU)."""

from __future__ import annotations

import copy
import gc
import pickle

import pytest
import torch

from ecgspec import InputConfig, SpectrogramInput, WaveformError
from ecgspec.engine import frames, outputs
from ecgspec.engine import functional as Fn
from tests.engine.test_frames import GEOMETRIES

SEED = dict(n_channels=12, n_samples=5000, n_bins=128, fs=500, device="cpu")


def engine(**cfg) -> SpectrogramInput:
    return SpectrogramInput(InputConfig(**dict(SEED, **cfg)))


@pytest.mark.parametrize("cfg", [{}, {"feature_fs": 100, "to1d": True}, {"dtype": "float64"}])
def test_a_reused_out_buffer_gives_the_same_numbers(cfg):
    e = engine(**cfg)
    x, y = torch.randn(2, 5, 12, 5000, dtype=e.dtype)
    fresh_x, fresh_y = e(x).clone(), e(y).clone()
    out = torch.full(e.compute_input_shape(x.shape), float("nan"), dtype=e.dtype)
    for _ in range(2):  # the second pass finds the first's values in the buffer
        assert e(x, out=out) is out and torch.equal(out, fresh_x)
        assert e(y, out=out) is out and torch.equal(out, fresh_y)
    part = torch.full_like(out, float("nan"))
    e(x[:3], out=part[:3])  # a batch's leading slice, as extract passes its pooled buffers
    assert torch.equal(part[:3], e(x[:3])) and part[3:].isnan().all()


@pytest.mark.parametrize("make, what", [
    (lambda s: torch.empty(s[0], s[1], s[2], 386), "(3, 12, 128, 386)"),
    (lambda s: torch.empty(s, dtype=torch.float64), "torch.float64"),
    (lambda s: torch.empty(s, dtype=torch.float16), "torch.float16"),
    (lambda s: torch.empty(s, device="meta"), "on meta"),
    (lambda s: torch.empty(s[0], s[1], s[3], s[2]).transpose(2, 3), "(3, 12, 128, 385)"),  # not contiguous
])
def test_a_wrong_out_buffer_is_a_one_line_error(make, what):
    e = engine()
    x = torch.randn(3, 12, 5000)
    with pytest.raises(WaveformError) as err:
        e(x, out=make(e.compute_input_shape(x.shape)))
    message = str(err.value)
    assert message.startswith("out: got") and what in message and "contiguous (3, 12, 128, 385)" in message
    assert "\n" not in message


def test_new_outputs_are_never_shared_while_held():
    e = engine(feature_fs=100)
    x, y, z = torch.randn(3, 4, 12, 5000)
    a = e(x)
    a_values = a.clone()
    b = e(y)
    view = e(z)[1]  # only a view of the third output is held
    c = e(x)  # every pooled buffer is busy: a new one
    pointers = {t.untyped_storage().data_ptr() for t in (a, b, view, c)}
    assert len(pointers) == 4
    assert torch.equal(a, a_values) and torch.equal(c, a_values)
    assert torch.equal(b, e(y)) and torch.equal(view, e(z)[1])


def test_a_released_output_is_recycled():
    e = engine(feature_fs=100)
    x = torch.randn(4, 12, 5000)
    first = e(x)
    pointer, values = first.data_ptr(), first.clone()
    del first
    gc.collect()
    second = e(x)
    assert second.data_ptr() == pointer and torch.equal(second, values)
    smaller = e(x[:2])  # a smaller batch (a loader's last) fits a free buffer too
    assert smaller.shape[0] == 2 and torch.equal(smaller, values[:2])


def test_arrays_and_views_of_an_output_keep_it_busy():
    e = engine(feature_fs=100)
    x, y = torch.randn(2, 4, 12, 5000)
    array = e(x).numpy()  # NumPy's view of the output, the tensor itself dropped
    held = array.copy()
    for _ in range(3):
        e(y)
    assert (array == held).all()


@pytest.mark.parametrize("copy_engine", [lambda e: pickle.loads(pickle.dumps(e)), copy.deepcopy])
def test_a_copied_engine_computes_the_same_into_a_pool_of_its_own(copy_engine):
    """DataLoader workers receive the engine pickled; a copy shares no buffer with the original."""
    e = engine(feature_fs=100)
    x = torch.randn(4, 12, 5000)
    held = e(x)
    twin = copy_engine(e)
    got = twin(x)
    assert torch.equal(got, held) and got.data_ptr() != held.data_ptr()
    assert twin._outputs is not e._outputs and twin._outputs._buffers != []


def test_outputs_too_large_to_keep_are_the_callers_alone(monkeypatch):
    monkeypatch.setattr(outputs, "POOL_MAX_BYTES", 1000)
    pool = outputs.OutputPool()
    first = pool.empty((10, 100), torch.float32)
    pointer = first.data_ptr()
    del first
    kept = pool.empty((10, 10), torch.float64)
    assert kept.dtype == torch.float64 and kept.shape == (10, 10)
    assert pool._buffers == [] or all(b.nbytes <= 1000 for b in pool._buffers)
    assert pointer not in {b.ctypes.data for b in pool._buffers}


def test_the_pool_keeps_at_most_its_slots():
    pool = outputs.OutputPool()
    held = [pool.empty((1000,), torch.float32) for _ in range(outputs.POOL_SLOTS + 2)]
    assert len(pool._buffers) == outputs.POOL_SLOTS
    assert len({t.data_ptr() for t in held}) == len(held)


@pytest.mark.parametrize("n_bins, win, hop, n_samples", GEOMETRIES)
@pytest.mark.parametrize("chunk", [1, 3, None])
def test_the_folded_product_is_the_stft_power_in_every_chunking(n_bins, win, hop, n_samples, chunk):
    """Odd, even, 1- and 2-sample windows, chunks that do and do not divide the rows: torch.stft's numbers
    in float64 (with torch_ecg's float32 window, widened)."""
    x = torch.randn(7, n_samples, dtype=torch.float64)
    plan = Fn.plan(n_samples, n_bins, win, hop).to(torch.device("cpu"), torch.float64)
    got = Fn.power_spectrogram(x, plan, chunk=chunk)
    window = torch.hann_window(win, dtype=torch.float32).double()
    expected = torch.stft(x, frames.n_fft(n_bins), hop, win, window, center=True, pad_mode="reflect",
                          return_complex=True).abs() ** 2
    assert got.shape == expected.shape
    assert float((got - expected).abs().max()) <= 1e-12 * float(expected.abs().max())


def test_the_kernel_runs_on_another_device_from_its_plan_alone():
    """The "meta" device holds no data: any step that reads values on the CPU (a NumPy round trip,
    ``.item()``, a CPU tensor mixed in) fails there; the output keeps the input's device."""
    meta = torch.device("meta")
    plan = Fn.plan(5000, 128, 25, 13, torch.arange(0, 385, 5)).to(meta, torch.float32)
    assert {plan.index.device, plan.window.device, plan.basis.device} == {meta}
    x = torch.empty(24, 5000, device=meta)
    assert Fn.power_spectrogram(x, plan, chunk=5).shape == (24, 128, 77)
    out = torch.empty(24, 128, 77, device=meta)
    assert Fn.power_spectrogram(x, plan, out) is out


@pytest.mark.parametrize("method", ["matmul", "fft"])
def test_the_engine_computes_where_its_input_is(monkeypatch, method):
    """The whole call, input to output, on the "meta" device: nothing in the engine assumes the CPU."""
    e = engine(feature_fs=None if method == "matmul" else 100)
    e.method = method
    monkeypatch.setattr(e, "device", torch.device("meta"))
    x = torch.empty(3, 12, 5000, device="meta")
    y = e(x)
    assert y.device.type == "meta" and y.shape == e.compute_input_shape(x.shape)
    assert {key[0].type for key in e._plans} == {"meta"}  # constants made for the device met, and cached
    assert e(x, out=torch.empty(y.shape, device="meta")).device.type == "meta"


def test_constants_are_cached_per_device_and_dtype():
    e = engine()
    x = torch.randn(2, 12, 5000)
    e(x)
    e(x)
    plan = e._plans[(torch.device("cpu"), torch.float32)]
    assert len(e._plans) == 1 and plan.basis.dtype == torch.float32 and plan.index.device.type == "cpu"
    assert e._plan(torch.device("cpu"), torch.float64).basis.dtype == torch.float64
    assert len(e._plans) == 2
