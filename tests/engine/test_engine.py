"""The engine's API, shapes and errors, without the reference package."""

from __future__ import annotations

import doctest
import subprocess
import sys

import numpy as np
import pytest
import torch

import ecgspec
from ecgspec import ConfigError, InputConfig, SpectrogramInput, WaveformError
from ecgspec.engine import frames, functional
from ecgspec.engine import spectrogram as engine
from tests.helpers.paths import SEED

SEED_PAGE = SEED / "SpectrogramInput.txt"
SEED = dict(n_channels=12, n_samples=5000, n_bins=128, fs=500)


def seed_example() -> str:
    """The example on the seed page, verbatim, with the `True` its last line prints."""
    lines = [ln for ln in SEED_PAGE.read_text().splitlines() if ln.startswith((">>>", "..."))]
    assert lines[-1].startswith(">>> spectrogram.shape == inputer.compute_input_shape")
    return "\n".join(lines) + "\nTrue\n"


def test_seed_page_example_runs_verbatim_and_prints_true():
    import torch_ecg.cfg  # noqa: F401  its first line imports torch_ecg's DEFAULTS: the test extra has it
    test = doctest.DocTestParser().get_doctest(
        seed_example(), {"InputConfig": InputConfig, "SpectrogramInput": SpectrogramInput, "torch": torch},
        "seed", str(SEED_PAGE), 0,
    )
    runner = doctest.DocTestRunner()
    runner.run(test)
    assert runner.failures == 0 and runner.tries == 9


def test_module_doctests():
    for module in (ecgspec, engine, frames, functional):
        failures, tries = doctest.testmod(module)
        assert failures == 0


def test_public_attributes():
    e = SpectrogramInput(InputConfig(name="spectrogram", **SEED, device="cpu"))
    assert (e.win_length, e.hop_length, e.n_fft, e.n_bins, e.fs, e.feature_fs, e.to1d) == (25, 13, 254, 128, 500, None, False)
    assert e.config["name"] == "spectrogram"  # unknown keys are kept
    freqs = e.frequencies
    assert freqs.shape == (128,) and freqs[0] == 0 and freqs[-1] == pytest.approx(250.0)


def test_sample_rate_alias_and_python_round():
    e = SpectrogramInput(InputConfig(n_channels=1, n_samples=1000, n_bins=64, sample_rate=250, device="cpu"))
    # 0.05 * 250 = 12.5 -> 12 (banker's rounding), 0.025 * 250 = 6.25 -> 6
    assert (e.fs, e.win_length, e.hop_length) == (250, 12, 6)
    assert e.compute_input_shape((1, 1000)) == (1, 1, 64, 1000 // 6 + 1)


@pytest.mark.parametrize("n_samples", [4999, 5000, 5001, 129])
def test_frame_count_is_centred(n_samples):
    cfg = InputConfig(**dict(SEED, n_samples=n_samples), device="cpu")
    out = SpectrogramInput(cfg)(torch.randn(2, 12, n_samples))
    assert out.shape[-1] == n_samples // 13 + 1


def test_feature_fs_scales_frames_and_matches_full_computation():
    full = SpectrogramInput(InputConfig(**SEED, device="cpu"))
    down = SpectrogramInput(InputConfig(**SEED, feature_fs=100, device="cpu"))
    x = torch.randn(2, 12, 5000)
    a, b = full(x), down(x)
    assert b.shape[-1] == int(385 * 100 / 500) == 77
    idx = torch.nn.functional.interpolate(torch.arange(385.0).view(1, 1, -1), scale_factor=0.2,
                                          recompute_scale_factor=True).long().view(-1)
    torch.testing.assert_close(b, a[..., idx])


def test_to1d_merges_channel_and_bins():
    a = SpectrogramInput(InputConfig(**SEED, device="cpu"))
    b = SpectrogramInput(InputConfig(**SEED, to1d=True, device="cpu"))
    x = torch.randn(3, 12, 5000)
    assert b.compute_input_shape(x.shape) == (3, 12 * 128, 385)
    torch.testing.assert_close(b(x), a(x).reshape(3, 12 * 128, 385))


def test_compute_input_shape_never_computes():
    e = SpectrogramInput(InputConfig(**SEED, device="cpu"))
    assert e.compute_input_shape(torch.Size([7, 12, 5000])) == (7, 12, 128, 385)
    assert e.compute_input_shape((12, 5000)) == (1, 12, 128, 385)


def test_integer_and_float16_input_accepted():
    e = SpectrogramInput(InputConfig(**SEED, device="cpu"))
    x = np.random.default_rng(1).integers(-1000, 1000, size=(12, 5000)).astype(np.int16)
    torch.testing.assert_close(e(x), e(x.astype(np.float32)))
    assert e(torch.from_numpy(x).half()).dtype == torch.float32


MISSING = [
    (dict(n_channels=12, n_samples=5000, fs=500), "n_bins: missing"),
    (dict(n_channels=12, n_samples=5000, n_bins=128), "fs: missing"),
    (dict(n_samples=5000, n_bins=128, fs=500), "n_channels: missing"),
    (dict(n_channels=12, n_bins=128, fs=500), "n_samples: missing"),
]

BAD = [
    (dict(n_bins=0), "n_bins: got 0"),
    (dict(n_bins=1), "n_bins: got 1"),
    (dict(n_bins=12.5), "n_bins: got 12.5"),
    (dict(n_channels=0), "n_channels: got 0"),
    (dict(n_samples=-1), "n_samples: got -1"),
    (dict(fs=0), "fs: got 0"),
    (dict(fs=-500), "fs: got -500"),
    (dict(fs=float("nan")), "fs: got nan"),
    (dict(window_size=0), "window_size: got 0"),
    (dict(window_size=0.2), "(0, 0.2)"),
    (dict(window_size=-0.01), "window_size: got -0.01"),
    (dict(overlap_size=0), "overlap_size: got 0"),
    (dict(overlap_size=0.05), "(0, window_size=0.05)"),
    (dict(overlap_size=0.06), "overlap_size: got 0.06"),
    (dict(fs=10), "window_size: got 0.05, rounds to 0 samples at fs=10"),
    (dict(fs=20, window_size=0.1, overlap_size=0.09), "leaves a hop of 0 samples"),
    (dict(n_bins=8), "longer than n_fft = 2 * (n_bins - 1) = 14"),
    (dict(n_samples=127), "must be > n_fft // 2 = 127"),
    (dict(feature_fs=0), "feature_fs: got 0"),
    (dict(feature_fs=0.1), "keeps no frame"),
    (dict(to1d="yes"), "to1d: got 'yes'"),
    (dict(dtype="int8"), "dtype: got 'int8'"),
    (dict(device="tpu"), "device: got 'tpu'"),
    (dict(input_type="fft"), "input_type: got 'fft'"),
]


@pytest.mark.parametrize("cfg, message", MISSING)
def test_missing_required_fields(cfg, message):
    with pytest.raises(ConfigError, match=message):
        InputConfig(**cfg)


@pytest.mark.parametrize("override, message", BAD)
def test_invalid_config_names_field_value_and_rule(override, message):
    with pytest.raises(ValueError) as err:
        InputConfig(**dict(SEED, **override))
    assert message in str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    "waveform, message",
    [
        (torch.randn(2, 11, 5000), "got shape (2, 11, 5000)"),
        (torch.randn(2, 12, 4999), "got shape (2, 12, 4999)"),
        (torch.randn(5000), "got shape (5000,)"),
        (torch.randn(1, 2, 12, 5000), "got shape (1, 2, 12, 5000)"),
        (np.zeros((12, 5000), dtype=complex), "dtype complex128"),
        (np.zeros((12, 5000), dtype=object), "dtype object"),
        ([[0.0] * 5000] * 12, "got list"),
    ],
)
def test_bad_waveform_is_a_value_error(waveform, message):
    e = SpectrogramInput(InputConfig(**SEED, device="cpu"))
    with pytest.raises(WaveformError) as err:
        e(waveform)
    assert message in str(err.value)


def test_checks_survive_python_O():
    """Validation is not made of asserts, which `python -O` strips."""
    code = "from ecgspec import InputConfig\ntry:\n InputConfig(n_channels=1, n_samples=10, n_bins=0, fs=1)\nexcept ValueError as e:\n print('refused', e)"
    out = subprocess.run([sys.executable, "-O", "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.startswith("refused n_bins: got 0")


@pytest.mark.parametrize("method", ["matmul", "fft"])
def test_out_buffer_receives_the_result(method):
    e = SpectrogramInput(InputConfig(**SEED, feature_fs=100, device="cpu"), method=method)
    x = torch.randn(3, 12, 5000)
    out = torch.full((3, 12, 128, 77), float("nan"))
    got = e(x, out=out)
    assert got.data_ptr() == out.data_ptr()
    torch.testing.assert_close(out, e(x))
    with pytest.raises(WaveformError, match="out: got"):
        e(x, out=torch.empty(3, 12, 128, 78))


def test_config_refuses_a_bad_assignment_and_keeps_its_values():
    cfg = InputConfig(n_channels=12, n_samples=5000, n_bins=128, fs=500)
    for change in (lambda: setattr(cfg, "n_bins", 2), lambda: cfg.__setitem__("window_size", 0),
                   lambda: cfg.update(fs=-1), lambda: cfg.__delitem__("n_samples"), lambda: cfg.pop("fs")):
        with pytest.raises(ConfigError):
            change()
        assert cfg.window_shape == (12, 128, 385) and cfg.fs == 500
    cfg.n_bins = 64  # a good change takes effect, shapes follow
    assert cfg.window_shape == (12, 64, 385)
    assert SpectrogramInput(cfg).compute_input_shape((2, 12, 5000)) == (2, 12, 64, 385)


def test_config_survives_pickle_and_copy():
    import copy
    import pickle

    cfg = InputConfig(n_channels=2, n_samples=2000, n_bins=64, fs=200, feature_fs=50, name="x")
    for clone in (pickle.loads(pickle.dumps(cfg)), copy.deepcopy(cfg), cfg.copy()):
        assert isinstance(clone, InputConfig) and clone == cfg and clone.window_shape == cfg.window_shape


@pytest.mark.parametrize("n_samples,n_bins,win_length,hop_length", [
    (5000, 128, 250, 25), (5000, 128, 256, 128), (64, 32, 63, 1), (40, 64, 39, 7), (10, 4, 7, 3), (2, 2, 2, 1)])
def test_gathered_frames_equal_the_padded_view_of_the_same_frames(n_samples, n_bins, win_length, hop_length) -> None:
    """What feature_fs computes: the kept frames read through reflected indices, not the padded signal."""
    x = torch.randn(3, n_samples, dtype=torch.float64)
    n_frames = frames.n_frames(n_samples, hop_length)
    kept = torch.unique(torch.randint(0, n_frames, (max(1, n_frames // 3),)))
    kept = torch.cat([torch.tensor([0, n_frames - 1]), kept]).unique()
    index = functional.frame_index(n_samples, n_bins, win_length, hop_length, kept)
    assert index is not None
    view = functional.frames_view(x, n_bins, win_length, hop_length).index_select(1, kept)
    assert torch.equal(x.index_select(-1, index.flatten()).view(3, *index.shape), view)


def test_frames_reaching_past_the_far_end_keep_torchs_own_pad_error() -> None:
    """A window wider than the signal allows no reflection: no index, and the padded path raises as torch_ecg does."""
    kept = torch.tensor([0])
    assert functional.frame_index(8, 64, 30, 4, kept) is None
    with pytest.raises(RuntimeError):
        functional.frames_view(torch.randn(1, 8), 64, 30, 4)
