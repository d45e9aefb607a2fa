"""``extract --store signals``: the records' prepared signals in /signals, the spectrograms computed as
``ecgspec.open`` reads them, equal to those a spectrogram file of the same run stores."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

import ecgspec
from ecgspec.errors import OutputError
from ecgspec.store.merge import MergeError, merge_parts
from tests.helpers.cli import extract, invoke

# the engine's numbers do not depend on the size; the test's time does. 2,000-sample windows every 1,500 samples:
# three overlapping windows a 10 s record
SMALL = ("--n-bins", "32", "--n-samples", "2000")


def rel_error(a: torch.Tensor, b: torch.Tensor) -> float:
    """max |a - b| over the window's largest magnitude (float32 rounding: 1e-5 at most)."""
    return float((a.double() - b.double()).abs().max() / b.double().abs().max())


@pytest.fixture(scope="module")
def pair(cinc_dir: Path, tmp_path_factory) -> dict[str, Path]:
    """One run's records as a spectrogram file and as a signals file (reader processes for the second)."""
    folder = tmp_path_factory.mktemp("pair")
    spec, sig = folder / "spec.h5", folder / "sig.h5"
    assert extract(cinc_dir, spec, *SMALL, "--stride", "1500", quiet=True, workers=0).exit_code == 0
    assert extract(cinc_dir, sig, *SMALL, "--stride", "1500", "--store", "signals", quiet=True, workers=2).exit_code == 0
    return {"spec": spec, "sig": sig, "folder": folder}


def test_every_window_equals_the_spectrogram_files(pair):
    with ecgspec.open(pair["spec"]) as a, ecgspec.open(pair["sig"]) as b:
        assert type(b).__name__ == "SignalFile"
        assert len(b) == len(a) == 150
        for key in ("record", "start", "qc"):
            assert np.array_equal(a.windows[key], b.windows[key])
        assert list(a.records["name"]) == list(b.records["name"]) and a.window_shape == b.window_shape
        x, y = a.__getitems__(range(len(a))), b.__getitems__(range(len(b)))
        for p, q in zip(x, y):
            assert p.name == q.name and p.start == q.start and p.spectrogram.shape == q.spectrogram.shape
            assert rel_error(q.spectrogram, p.spectrogram) <= 1e-5
        assert y[0].spectrogram.dtype == torch.float32
        # a shuffled batch in any order, and device="cpu" (the device path: one engine call there)
        order = [7, 3, 90, 4, 5, 6, 0]
        with ecgspec.open(pair["sig"], device="cpu") as c:
            for i, item in zip(order, c.__getitems__(order)):
                assert item.name == x[i].name and rel_error(item.spectrogram, x[i].spectrogram) <= 1e-5


def test_the_layout(pair):
    with h5py.File(pair["sig"], "r") as f, h5py.File(pair["spec"], "r") as g:
        assert "spectrograms" not in f and f["signals"].shape == (50 * 5000, 12) and f["signals"].dtype == np.float32
        assert f["signals"].chunks == (2000, 12)  # a window: one or two chunk reads
        assert np.array_equal(f["records/signal_offset"][:], np.arange(50) * 5000)
        assert np.array_equal(f["records/signal_length"][:], np.full(50, 5000))
        config = json.loads(f.attrs["config"])
        assert config.pop("store") == "signals" and config == json.loads(g.attrs["config"])
        assert np.array_equal(f["frequencies"][:], g["frequencies"][:]) and list(f.attrs["window_shape"]) == [12, 32, 154]
        for name in ("windows/record", "windows/start", "windows/qc", "records/name", "records/nan_filled"):
            assert np.array_equal(f[name][:], g[name][:])
        assert f.attrs["complete"] and f["committed"][:].tolist() == g["committed"][:].tolist()


def test_the_dataset_api_is_the_same(pair):
    where = lambda r: r["name"] != "E07500"  # noqa: E731
    with ecgspec.open(pair["spec"], where=where, columns=("meta/Sex",)) as a, \
            ecgspec.open(pair["sig"], where=where, columns=("meta/Sex",)) as b:
        assert len(a) == len(b) and a[0].columns == b[0].columns and a[0].name == b[0].name != "E07500"
        parts_a = ecgspec.split(a, fractions=(0.5, 0.5), seed=1)
        parts_b = ecgspec.split(b, fractions=(0.5, 0.5), seed=1)
        assert [list(p.indices) for p in parts_a] == [list(p.indices) for p in parts_b]
        batches = [DataLoader(ds, batch_size=16, sampler=ds.sampler(block=16, seed=3), num_workers=2) for ds in (a, b)]
        for p, q in zip(*batches):
            assert p.name == q.name and torch.equal(p.start, q.start) and q.spectrogram.shape[1:] == (12, 32, 154)
            assert rel_error(q.spectrogram, p.spectrogram) <= 1e-5


def test_the_dry_run_and_space_check_count_signals(cinc_dir, pair):
    res = extract(cinc_dir, pair["folder"] / "dry.h5", *SMALL, "--stride", "1500", "--store", "signals", "--dry-run",
                  "--json")
    planned = json.loads(res.output)["output_bytes"]
    assert abs(planned - pair["sig"].stat().st_size) <= 0.05 * pair["sig"].stat().st_size  # not the spectrograms'


def test_float16_and_compression_apply(cinc_dir, pair):
    out = pair["folder"] / "f16.h5"
    assert extract(cinc_dir, out, *SMALL, "--store", "signals", "--dtype", "float16", "--compression", "gzip",
                   quiet=True, workers=0).exit_code == 0
    with h5py.File(out, "r") as f, h5py.File(pair["sig"], "r") as g:
        assert f["signals"].dtype == np.float16 and f["signals"].compression == "gzip"
        assert np.allclose(f["signals"][:5000], g["signals"][:5000], rtol=1e-3, atol=1e-3 * np.abs(g["signals"][:5000]).max())
    with ecgspec.open(out) as ds:
        assert ds[0].spectrogram.dtype == torch.float32 and len(ds) == 100


def test_crop_and_device_need_a_signals_file(pair):
    with pytest.raises(OutputError, match="stores spectrograms: device, crop and stride need"):
        ecgspec.open(pair["spec"], crop="random")
    with pytest.raises(OutputError, match="crop must be None or 'random'"):
        ecgspec.open(pair["sig"], crop="center")
    with pytest.raises(OutputError, match="stores signals, not spectrograms"):
        ecgspec.open(pair["sig"]).spectrograms  # noqa: B018


@pytest.mark.slow  # 3 s: four runs; a signals file is written and read by the tests above
def test_resume_and_merge(cinc_dir, pair, tmp_path, copy_records):
    names = sorted(p.stem for p in cinc_dir.glob("*.hea"))
    some = copy_records(cinc_dir, names[:20], dest="some")
    out = tmp_path / "resumed.h5"
    assert extract(some, out, *SMALL, "--stride", "1500", "--store", "signals", quiet=True, workers=0).exit_code == 0
    res = extract(cinc_dir, out, *SMALL, "--stride", "1500", "--store", "signals", "--resume", quiet=True, workers=0)
    assert res.exit_code == 0
    parts = [tmp_path / f"p{k}.h5" for k in range(2)]
    for k, part in enumerate(parts):
        assert extract(cinc_dir, part, *SMALL, "--stride", "1500", "--store", "signals", "--shard", f"{k}/2",
                       quiet=True, workers=0).exit_code == 0
    merged, virtual = tmp_path / "merged.h5", tmp_path / "virtual.h5"
    merge_parts(parts, merged)
    merge_parts(parts, virtual, virtual=True)  # /signals is copied: nothing is virtual in a signals file
    with ecgspec.open(pair["sig"]) as whole:
        want = {(i.name, i.start): i.spectrogram for i in whole.__getitems__(range(len(whole)))}
    for path in (out, merged, virtual):
        with ecgspec.open(path) as ds:
            got = {(i.name, i.start): i.spectrogram for i in ds.__getitems__(range(len(ds)))}
            assert got.keys() == want.keys()
            assert all(rel_error(got[k], want[k]) <= 1e-5 for k in want)
    with h5py.File(merged, "r") as f:
        ends = f["records/signal_offset"][:] + f["records/signal_length"][:]
        assert f["signals"].shape[0] == ends[-1] and np.array_equal(f["records/signal_offset"][1:], ends[:-1])
    # the two kinds do not mix: in a merge, or in a resume
    spec_parts = [tmp_path / "s0.h5", parts[1]]
    assert extract(cinc_dir, spec_parts[0], *SMALL, "--stride", "1500", "--shard", "0/2", quiet=True,
                   workers=0).exit_code == 0
    with pytest.raises(MergeError, match="store"):
        merge_parts(spec_parts, tmp_path / "mixed.h5")
    res = extract(cinc_dir, spec_parts[0], *SMALL, "--stride", "1500", "--store", "signals", "--resume", quiet=True)
    assert res.exit_code == 2 and "store" in res.output


@pytest.mark.slow  # 1.8 s: info and plot of a spectrogram file run in the fast tier, a signals file's in make test
def test_info_and_plot(pair, tmp_path):
    res = invoke("info", pair["sig"], "--json")
    info = json.loads(res.output)
    assert info["store"] == "signals" and info["windows"] == len(ecgspec.open(pair["sig"]))
    assert info["signals"]["shape"] == [250000, 12] and info["window_shape"] == [12, 32, 154]
    text = invoke("info", pair["sig"]).output
    assert "250000 samples x 12 leads" in text and "as ecgspec.open reads it" in text
    png = tmp_path / "w.png"
    res = invoke("plot", pair["sig"], "--record", "E07500", "--window", "1", "-o", png)
    assert res.exit_code == 0 and png.stat().st_size > 10_000


def test_a_record_that_fails_part_way_leaves_no_signal_rows(tmp_path):
    from ecgspec.store.layout import RecordRow
    from tests.helpers.store import CONFIG, writer

    rows = {name: np.full((n, 2), i, dtype=np.float32) for i, (name, n) in enumerate([("a", 7000), ("b", 9000), ("c", 6000)])}
    w = writer(tmp_path / "s.h5", config={**CONFIG, "store": "signals"}, durable=False)
    for name in ("a", "b", "c"):
        row = w.next_record_row
        w.write_windows(np.array([row]), np.array([0]), None, np.array([0], dtype=np.uint8))
        w.write_signal(row, rows[name][:5000])
        w.write_signal(row, rows[name][5000:])
        if name == "b":  # failed after its windows and part of its signal were written
            assert w.discard_record(row) == 1
            w.add_error(name, "failed part way")
            continue
        w.commit_record(RecordRow(name, f"/{name}", 500.0, len(rows[name]), "I,II", 1, 0, "500.0,500.0"))
    w.flush()
    with ecgspec.open(tmp_path / "s.h5.partial", allow_partial=True) as ds:  # a running signals file reads
        assert list(ds.records["name"]) == ["a", "c"] and ds.records["signal_offset"].tolist() == [0, 7000]
    with pytest.raises(ValueError, match="write_signal"):
        w.write_signal(5, rows["a"])
    w.finish()
    with h5py.File(tmp_path / "s.h5", "r") as f:
        assert f["records/signal_offset"][:].tolist() == [0, 7000] and f["records/signal_length"][:].tolist() == [7000, 6000]
        assert f["signals"].shape == (13000, 2) and set(f["signals"][7000:, 0]) == {2.0}


@pytest.mark.parametrize("options", [(), ("--preprocess", '{"bandpass": {"lowcut": 0.5, "highcut": 45}, "normalize": {}}'),
                                     ("--lead-set", "I,II,III", "--derive-leads", "--units", "mV")],
                         ids=["resampled", "preprocessed", "lead-set"])
def test_long_resampled_records_equal_the_spectrogram_files(cpsc_dir, copy_records, tmp_path, options):
    # CPSC 2021's long 200 Hz records at 500 Hz: /signals is read in blocks, the windows in chunks of their own
    folder = copy_records(cpsc_dir, ["data_21_8", "data_8_4", "data_92_19"])
    common = ("--fs", 500, "--n-channels", 2 if not options or options[0] != "--lead-set" else 3, "--n-bins", 32,
              "--stride", 3000, *options)
    spec, sig = tmp_path / "spec.h5", tmp_path / "sig.h5"
    assert extract(folder, spec, *common, quiet=True, workers=0).exit_code == 0
    assert extract(folder, sig, *common, "--store", "signals", quiet=True, workers=0).exit_code == 0
    with ecgspec.open(spec) as a, ecgspec.open(sig) as b:
        assert len(a) == len(b) > 100 and np.array_equal(a.windows["qc"], b.windows["qc"])
        lengths = b.records["signal_length"]
        assert all(length >= n * 500 // 200 - 1 for length, n in zip(lengths, b.records["n_samples"]))
        for first in range(0, len(a), 64):
            batch = range(first, min(first + 64, len(a)))
            for p, q in zip(a.__getitems__(batch), b.__getitems__(batch)):
                assert (p.name, p.start) == (q.name, q.start) and rel_error(q.spectrogram, p.spectrogram) <= 1e-5
