"""`ecgspec plot`: PNGs that render, with and without the source, to1d or not; its one-line errors."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from matplotlib import image

import ecgspec
from ecgspec.plot import load_window
from ecgspec.readers import RecordRef
from ecgspec.signal.windowing import iter_windows, read_window
from tests.helpers.cli import invoke
from tests.helpers.records import MultiRateRecord


def _plot(*args: str):
    return invoke("plot", *args)


def _check_png(path: Path) -> np.ndarray:
    pixels = image.imread(path)
    assert pixels.shape[0] > 400 and pixels.shape[1] > 600, pixels.shape
    assert pixels[..., :3].std() > 0.1  # not blank
    return pixels


@pytest.fixture(scope="module")
def outputs(tmp_path_factory, cinc_dir):
    """A to1d and a plain output of three CinC records, copied so their source can be taken away."""
    root = tmp_path_factory.mktemp("plot")
    src = root / "records"
    src.mkdir()
    for name in ("E07500", "JS20004", "JS20008"):
        for f in cinc_dir.glob(name + ".*"):
            (src / f.name).write_bytes(f.read_bytes())
    files = {}
    for to1d in (True, False):
        files[to1d] = root / f"out_{to1d}.h5"
        ecgspec.extract(src, files[to1d], {"n_bins": 64, "to1d": to1d, "n_samples": 2500}, stride=2000,
                        log=lambda m: None)
    return src, files


@pytest.mark.slow
@pytest.mark.parametrize("to1d", [True, False])
def test_plot_renders_with_and_without_the_source(outputs, tmp_path, to1d):
    src, files = outputs
    res = _plot(str(files[to1d]), "--record", "JS20004", "--window", "1", "--leads", "i,V2,v3", "-o",
                str(tmp_path / "a.png"))
    assert res.exit_code == 0, res.output
    with_source = _check_png(tmp_path / "a.png")
    window = load_window(files[to1d], "JS20004", 1, ["i", "V2", "v3"])
    assert window.leads == ["I", "V2", "V3"] and window.qc == 2 and window.waveform is not None
    assert window.spectrogram.shape == (3, 64, 193)
    hidden = src.parent / "hidden"
    src.rename(hidden)
    try:
        res = _plot(str(files[to1d]), "--record", "JS20004", "--window", "1", "--leads", "I,V2,V3", "-o",
                    str(tmp_path / "b.png"))
        assert res.exit_code == 0, res.output
        without = _check_png(tmp_path / "b.png")
        assert "is not there" in load_window(files[to1d], "JS20004", 1).why_no_waveform
    finally:
        hidden.rename(src)
    assert with_source.shape == without.shape and not np.array_equal(with_source, without)


def test_the_waveform_is_the_window_the_run_computed(outputs):
    """The plot re-reads the window through windowing: its spectrogram is the stored one."""
    _, files = outputs
    with ecgspec.open(files[False]) as ds:
        engine = ecgspec.SpectrogramInput(ecgspec.InputConfig(ds.config, n_channels=12, device="cpu"))
        i = next(k for k, r in enumerate(ds.windows["record"]) if ds.records["name"][r] == "E07500") + 1
        w = load_window(files[False], "E07500", 1)
        assert w.start == 2000
        recomputed = engine(torch.from_numpy(w.waveform[None].astype(np.float32)))[0]
        torch.testing.assert_close(recomputed, ds[i][0], rtol=1e-5, atol=1e-6 * float(ds[i][0].abs().max()))


@pytest.mark.parametrize("start", [0, 1, 777, 4321, 9000])
def test_read_window_equals_iter_windows(start):
    rng = np.random.default_rng(start)
    rec = MultiRateRecord(RecordRef("m", Path("m"), "npy"), [rng.normal(size=4000), rng.normal(size=10000)],
                          [200.0, 500.0], [4000, 10000], fs=500.0)
    windows = {int(s): w for starts, ws in iter_windows(rec, [1, 0], 500.0, 1000, 1, block_samples=3000)
               for s, w in zip(starts, ws)}
    np.testing.assert_array_equal(read_window(rec, [1, 0], 500.0, 1000, start), windows[start])


def test_plot_errors_are_one_line(outputs, tmp_path, monkeypatch):
    _, files = outputs
    out = str(tmp_path / "x.png")
    for args, message in [(["--record", "nope"], "has no record 'nope'"),
                          (["--record", "E07500", "--window", "9"], "--window must be in 0..1"),
                          (["--record", "E07500", "--leads", "I,Z"], "--leads: 'Z' is not among")]:
        res = _plot(str(files[True]), *args, "-o", out)
        assert res.exit_code == 2 and res.stderr.count("\n") == 1 and message in res.stderr, res.stderr
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib raises ImportError
    res = _plot(str(files[True]), "--record", "E07500", "-o", out)
    assert res.exit_code == 2 and res.stderr == "ecgspec: error: plot needs matplotlib: pip install ecgspec[plot]\n"
    assert not Path(out).exists()


@pytest.mark.slow
def test_the_time_axis_spans_the_frames_without_a_margin(outputs, tmp_path, monkeypatch):
    """The spectrogram fills its panel: the time axis runs from the first frame's cell edge to the
    last one's. With the seed config the waveform runs 1 ms past the last cell, and autoscaling
    used to add a 5% margin, a blank band at the right of every spectrogram."""
    import matplotlib.pyplot as plt

    src, _ = outputs
    out = tmp_path / "seed.h5"
    ecgspec.extract(src / "E07500.hea", out, {}, log=lambda m: None)
    figures = []
    monkeypatch.setattr(plt, "close", figures.append)
    assert _plot(str(out), "--record", "E07500", "-o", str(tmp_path / "c.png")).exit_code == 0
    with ecgspec.open(out) as ds:
        times = np.asarray(ds.frame_times)
    step = times[1] - times[0]
    assert figures[0].axes[0].lines[0].get_xdata()[-1] > times[-1] + step / 2  # the case that had the margin
    for ax in figures[0].axes[:-1]:  # the waveform and every lead (the last axes is the colour bar)
        assert ax.get_xlim() == pytest.approx((times[0] - step / 2, times[-1] + step / 2))
