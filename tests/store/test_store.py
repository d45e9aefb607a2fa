"""The HDF5 store: layout, reader, float16, compression, refusals and resume equal to a fresh run."""

from __future__ import annotations

import json
import multiprocessing
import os
import pickle
import signal
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from ecgspec.store import layout, reader, summary
from ecgspec.store.layout import OutputError, RecordRow, clip_to_stored
from tests.helpers.compare import assert_same, assert_same_by_name
from tests.helpers.paths import ROOT
from tests.helpers.store import CONFIG, FREQUENCIES, SMALL, Fake, compute, fake_records, run, writer

ECG = (12, 128, 385)


def fresh(tmp_path: Path, records: list[Fake], **kwargs) -> Path:
    return run(writer(tmp_path / "fresh" / "out.h5", **kwargs), records)


@pytest.fixture
def out(tmp_path: Path) -> Path:
    (tmp_path / "fresh").mkdir()
    return tmp_path / "out.h5"


def test_round_trip_of_every_dataset_and_attribute(out: Path) -> None:
    records = fake_records(["b", "a", "empty", "c"])
    path = run(writer(out), records, errors={"bad": "no .dat file"})
    assert path == out and not layout.partial_path(out).exists()
    ordered = sorted(records, key=lambda r: r.row.name)
    with h5py.File(out, "r") as f:
        assert np.array_equal(f["spectrograms"][()], np.concatenate([r.spectrograms for r in ordered]))
        assert f["spectrograms"].dtype == np.float32
        assert f["spectrograms"].maxshape == (None, *SMALL)
        expected_record = np.concatenate([np.full(r.row.n_windows, i) for i, r in enumerate(ordered)])
        assert np.array_equal(f["windows/record"][()], expected_record)
        assert np.array_equal(f["windows/start"][()], np.concatenate([r.starts for r in ordered]))
        for field in RecordRow.__dataclass_fields__:
            column = f["records"][field]
            values = column.asstr()[()] if h5py.check_string_dtype(column.dtype) else column[()]
            if field in layout.MASK_COLUMNS:  # rows given without lead masks: every lead read, none derived
                width = values.shape[1]
                assert values.tolist() == [list(getattr(r.row, field)) or [field == "lead_mask"] * width
                                           for r in ordered], field
                continue
            assert list(values) == [getattr(r.row, field) for r in ordered], field
        assert f["errors/name"].asstr()[()].tolist() == ["bad"]
        assert f["errors/message"].asstr()[()].tolist() == ["no .dat file"]
        assert np.array_equal(f["frequencies"][()], FREQUENCIES)
        for name in ["windows/record", "records/name", "records/fs", "errors/name", "frequencies"]:
            assert f[name].maxshape == (None,) and f[name].chunks is not None, name
        assert json.loads(f.attrs["config"]) == CONFIG
        assert f.attrs["config"] == json.dumps(CONFIG, sort_keys=True)
        assert list(f.attrs["window_shape"]) == list(SMALL)
        assert (f.attrs["n_fft"], f.attrs["win_length"], f.attrs["hop_length"]) == (8, 25, 13)
        assert f.attrs["ecgspec_version"] == "0.1.0" and bool(f.attrs["complete"]) is True


def test_reader_exposes_everything_and_acts_as_a_dataset(out: Path) -> None:
    records = fake_records(["a", "b", "c"])
    run(writer(out), records, errors={"x": "why"})
    windows = [(r.row.name, s, v) for r in records for s, v in zip(r.starts, r.spectrograms)]
    with reader.open(out) as ds:
        assert len(ds) == len(windows) == ds.spectrograms.shape[0]
        for index in (0, len(ds) - 1, -1, -len(ds)):
            values, name, start = ds[index]
            assert isinstance(values, torch.Tensor) and values.dtype == torch.float32
            assert (name, start) == windows[index][:2] and isinstance(start, int)
            assert np.array_equal(values.numpy(), windows[index][2])
        for index in (len(ds), -len(ds) - 1):
            with pytest.raises(IndexError):
                ds[index]
        assert ds.records["name"].tolist() == ["a", "b", "c"]
        assert ds.records["n_windows"].tolist() == [r.row.n_windows for r in records]
        assert ds.windows["start"].tolist() == [w[1] for w in windows]
        assert ds.errors == [("x", "why")]
        assert ds.config == CONFIG and ds.window_shape == SMALL and ds.complete
        assert (ds.n_fft, ds.win_length, ds.hop_length, ds.ecgspec_version) == (8, 25, 13, "0.1.0")
        assert np.array_equal(ds.frequencies, FREQUENCIES)


def test_dataloader_with_two_workers_batches_tuples(out: Path) -> None:
    records = fake_records(["a", "b", "c", "d", "e"], shape=ECG)
    run(writer(out, shape=ECG), records)
    ds = reader.open(out)
    assert len(ds) > 4  # the parent has its handle open: workers must open their own
    clone = pickle.loads(pickle.dumps(ds))
    assert len(pickle.dumps(ds)) < 1000 and np.array_equal(clone[1][0], ds[1][0])
    loader = DataLoader(ds, batch_size=3, num_workers=2, multiprocessing_context="fork")
    batches = list(loader)
    values = torch.cat([b[0] for b in batches])
    names = [n for b in batches for n in b[1]]
    starts = torch.cat([b[2] for b in batches])
    assert values.shape == (len(ds), *ECG)
    assert np.array_equal(values.numpy(), np.concatenate([r.spectrograms for r in records]))
    assert names == [r.row.name for r in records for _ in range(r.row.n_windows)]
    assert starts.tolist() == [int(s) for r in records for s in r.starts]
    ds.close()


def test_chunks_hold_whole_windows_of_a_few_megabytes(out: Path) -> None:
    with writer(out, shape=ECG) as w:
        assert w._file["spectrograms"].chunks == (1, *ECG)  # one 2.4 MB window
    with writer(out, overwrite=True) as w:
        chunk_bytes = np.prod(w._file["spectrograms"].chunks) * 4
        assert 1 << 20 <= chunk_bytes <= 4 << 20


def test_float16_clips_to_its_finite_range(out: Path) -> None:
    values = np.array([1e6, -1e6, 1.5, np.nan, 65504.0, 7e4], dtype=np.float32).reshape(1, 6)
    w = writer(out, shape=(6,), dtype="float16")
    with pytest.raises(ValueError, match="got float32 spectrograms for a float16 file; .*clip_to_stored"):
        w.write_windows([0], [0], values)  # the writer never casts
    w.write_windows([0], [0], clip_to_stored(values, "float16"))
    w.commit_record(RecordRow("a", "a", 500.0, 6, "I", 1, 0, "500.0"))
    w.finish()
    with reader.open(out) as ds:
        stored, _, _ = ds[0]
        assert stored.dtype == torch.float16 and ds.spectrograms.dtype == np.float16
        assert stored[:3].tolist() == [65504.0, -65504.0, 1.5] and torch.isnan(stored[3])
        assert torch.isfinite(stored[[0, 1, 2, 4, 5]]).all()


def test_clip_to_stored_gives_tensors_and_arrays_the_same_values() -> None:
    values = np.array([1e6, -1e6, 1.5, np.nan, 65504.0, 7e4, np.inf, -np.inf], dtype=np.float32)
    array = clip_to_stored(values, np.float16)
    tensor = torch.from_numpy(values.copy())
    assert clip_to_stored(tensor, torch.float16) is tensor and tensor.dtype == torch.float32  # clamped in place
    assert array.dtype == np.float16 and np.isfinite(array[[0, 1, 2, 4, 5, 6, 7]]).all()
    assert np.array_equal(tensor.to(torch.float16).numpy(), array, equal_nan=True)
    assert clip_to_stored(values, "float32") is values  # already the stored dtype: no copy
    assert np.array_equal(clip_to_stored(tensor.clone(), "float32"), tensor, equal_nan=True)


@pytest.mark.parametrize("compression", ["lzf", "gzip", "none", None])
def test_compression_round_trip(out: Path, compression: str | None) -> None:
    records = fake_records(["a", "b"])
    run(writer(out, compression=compression), records)
    expected = compression if compression != "none" else None
    with h5py.File(out, "r") as f:
        assert f["spectrograms"].compression == expected
        if compression == "gzip":
            assert f["spectrograms"].compression_opts == 4
        assert np.array_equal(f["spectrograms"][()], np.concatenate([r.spectrograms for r in records]))
    assert summary.describe(out)["compression"] == expected


def test_unknown_or_missing_codec_is_refused(out: Path) -> None:
    with pytest.raises(OutputError, match="compression: got 'brotli'"):
        writer(out, compression="brotli")
    try:
        import hdf5plugin  # noqa: F401
    except ImportError:
        with pytest.raises(OutputError, match="pip install hdf5plugin"):
            writer(out, compression="zstd")
    else:
        run(writer(out, compression="zstd"), fake_records(["a"]))
        assert summary.describe(out)["compression"] == "zstd"
    assert not layout.partial_path(out).exists()


def test_existing_output_is_refused_and_untouched_until_finish(out: Path) -> None:
    out.write_bytes(b"old results")
    with pytest.raises(OutputError, match="exists; pass --overwrite to replace it or --resume"):
        writer(out)
    w = writer(out, overwrite=True)
    compute(w, fake_records(["a"])[0])
    w.flush()
    assert out.read_bytes() == b"old results"
    w.finish()
    assert reader.open(out).records["name"].tolist() == ["a"]


def test_missing_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="does not exist"):
        writer(tmp_path / "nowhere" / "out.h5")


def test_close_without_finish_keeps_the_partial_and_open_refuses_it(out: Path) -> None:
    with pytest.raises(RuntimeError):
        with writer(out) as w:
            compute(w, fake_records(["a"])[0])
            raise RuntimeError("interrupted")
    partial = layout.partial_path(out)
    assert partial.exists() and not out.exists()
    with pytest.raises(OutputError, match="interrupted run; pass --resume .* --overwrite"):
        writer(out)
    with pytest.raises(OutputError, match="unfinished"):
        reader.open(partial)
    with reader.open(partial, allow_partial=True) as ds:
        assert ds.records["name"].tolist() == ["a"] and not ds.complete
    renamed = out.with_name("renamed.h5")
    partial.rename(renamed)
    with pytest.raises(OutputError, match="unfinished"):
        reader.open(renamed)
    info = summary.describe(renamed)
    assert info["complete"] is False and info["records"] == 1


def test_resume_from_partial_with_uncommitted_tail_equals_fresh_run(out: Path, tmp_path: Path) -> None:
    records = fake_records(["a", "b", "c", "d"])
    w = writer(out)
    for record in records[:2]:
        compute(w, record)
    w.flush()
    c = records[2]
    w.write_windows(np.full(c.row.n_windows, w.next_record_row), c.starts, c.spectrograms)  # killed before commit
    w.close()
    resumed = writer(out, resume=True)
    assert resumed.done_names == {"a", "b"} and resumed.warnings == []
    assert resumed.next_record_row == 2
    run(resumed, records)
    assert_same(out, fresh(tmp_path, records))
    assert sorted(p.name for p in out.parent.iterdir()) == ["fresh", "out.h5"]


def test_resume_of_a_killed_resume_equals_fresh_run(out: Path, tmp_path: Path) -> None:
    records = fake_records(["a", "b", "c", "d"])
    with pytest.raises(KeyboardInterrupt), writer(out) as w:
        compute(w, records[0])
        raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt), writer(out, resume=True) as w:
        assert w.done_names == {"a"}
        compute(w, records[1])
        raise KeyboardInterrupt
    w = writer(out, resume=True)
    assert w.done_names == {"a", "b"}
    run(w, records)
    assert_same(out, fresh(tmp_path, records))
    assert sorted(p.name for p in out.parent.iterdir()) == ["fresh", "out.h5"]


def _killed_writer(out: Path, records: list[Fake], shape: tuple[int, ...]) -> None:
    w = writer(out, shape=shape)
    for record in records[:-1]:
        compute(w, record)
        w.flush()
    last = records[-1]
    w.write_windows(np.full(last.row.n_windows, w.next_record_row), last.starts, last.spectrograms)
    os.kill(os.getpid(), signal.SIGKILL)


def test_resume_after_sigkill_equals_fresh_run(out: Path, tmp_path: Path) -> None:
    shape = (12, 16, 40)
    records = fake_records(["a", "b", "c", "d"], shape=shape)
    child = multiprocessing.get_context("fork").Process(target=_killed_writer, args=(out, records, shape))
    child.start()
    child.join(30)
    assert child.exitcode == -signal.SIGKILL and not out.exists()
    w = writer(out, shape=shape, resume=True)
    assert w.done_names == {"a", "b", "c"} and w.warnings == []
    run(w, records)
    assert_same(out, fresh(tmp_path, records, shape=shape))


def test_resume_from_finished_output_appends_only_the_new_records(out: Path, tmp_path: Path) -> None:
    records = fake_records(["a", "b", "c", "empty"])
    run(writer(out), [records[0], records[2]], errors={"z": "old error"})
    with h5py.File(out, "r") as f:
        before = {k: f[k][()] for k in ("spectrograms", "windows/start")}
    w = writer(out, resume=True)
    assert w.done_names == {"a", "c"} and not out.exists()  # OUTPUT is the partial file until finish
    run(w, records, errors={"y": "new error"})
    with reader.open(out) as ds:
        assert ds.records["name"].tolist() == ["a", "c", "b", "empty"]  # added later, in their own order
        assert ds.errors == [("y", "new error")]  # the errors of the last run's inputs
        n = len(before["windows/start"])
        assert np.array_equal(ds.spectrograms[:n], before["spectrograms"])  # kept rows never rewritten
        for i, (_, name, _start) in enumerate(ds):
            assert ds.records["name"][ds.windows["record"][i]] == name
    expected = run(writer(tmp_path / "fresh" / "out.h5"), records, errors={"y": "new error"})
    assert_same_by_name(out, expected)


def test_resume_with_another_config_is_refused_naming_the_field(out: Path) -> None:
    run(writer(out), fake_records(["a"]))
    before = out.read_bytes()
    with pytest.raises(OutputError, match=r"different config: field fs was 500, now 250$"):
        writer(out, config={**CONFIG, "fs": 250}, resume=True)
    with pytest.raises(OutputError, match="field window_size was 0.05, now absent"):
        writer(out, config={k: v for k, v in CONFIG.items() if k != "window_size"}, resume=True)
    with pytest.raises(OutputError, match="stored dtype was float32, now float16"):
        writer(out, dtype="float16", resume=True)
    assert out.read_bytes() == before and not layout.partial_path(out).exists()


def test_unreadable_partial_is_restarted_with_a_warning(out: Path, tmp_path: Path) -> None:
    layout.partial_path(out).write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(range(256)) * 10)
    records = fake_records(["a", "b"])
    w = writer(out, resume=True)
    assert w.done_names == set()
    assert len(w.warnings) == 1 and "out.h5.partial" in w.warnings[0] and "unreadable" in w.warnings[0]
    run(w, records)
    assert_same(out, fresh(tmp_path, records))
    assert sorted(p.name for p in out.parent.iterdir()) == ["fresh", "out.h5"]


def test_windows_of_a_failed_record_are_discarded(out: Path, tmp_path: Path) -> None:
    a, bad, b = fake_records(["a", "bad", "b"])
    w = writer(out)
    compute(w, a)
    w.write_windows(np.full(bad.row.n_windows, w.next_record_row), bad.starts, bad.spectrograms)
    with pytest.raises(ValueError, match=f"only {bad.row.n_windows} windows are uncommitted"):
        w.discard_windows(bad.row.n_windows + 1)
    w.discard_windows(bad.row.n_windows)
    w.add_error("bad", "read error")
    compute(w, b)
    w.finish()
    expected = run(writer(tmp_path / "fresh" / "out.h5"), [a, b], errors={"bad": "read error"})
    assert_same(out, expected)


def test_misuse_is_refused(out: Path) -> None:
    w = writer(out)
    with pytest.raises(ValueError, match="need"):
        w.write_windows([0], [0], np.zeros((1, 3)))
    with pytest.raises(ValueError, match="got float64 spectrograms for a float32 file"):
        w.write_windows([0], [0], np.zeros((1, *SMALL)))
    zeros = np.zeros((1, *SMALL), dtype=np.float32)
    w.write_windows(np.zeros(1), [0], zeros)
    with pytest.raises(ValueError, match="claims 2 windows, only 1"):
        w.commit_record(RecordRow("a", "a", 1.0, 1, "I", 2, 0, "1.0"))
    with pytest.raises(ValueError, match="never committed"):
        w.finish()
    assert w.commit_record(RecordRow("a", "a", 1.0, 1, "I", 1, 0, "1.0")) == 0
    with pytest.raises(ValueError, match="already committed"):
        w.write_windows([0], [0], zeros)
    w.write_windows([2], [0], zeros)
    with pytest.raises(ValueError, match="do not all carry record row 1"):
        w.commit_record(RecordRow("b", "b", 1.0, 1, "I", 1, 0, "1.0"))
    w.close()


def test_describe(out: Path) -> None:
    records = fake_records(["a", "b", "c"])
    run(writer(out, compression="gzip"), records, errors={"x": "bad header"})
    info = summary.describe(out)
    assert info == {
        "path": str(out),
        "complete": True,
        "records": 3,
        "windows": sum(r.row.n_windows for r in records),
        "errors": 1,
        "qc": {"filled": 0, "flat": 0, "clipped": 0, "missing_lead": 0},  # these windows were written without flags
        "window_shape": list(SMALL),
        "dtype": "float32",
        "compression": "gzip",
        "checksummed": True,
        "config": CONFIG,
        "meta": [],  # fake records carry no header comments
        "labels": [],
        "targets": None,  # no --targets
        "size_bytes": out.stat().st_size,
        "ecgspec_version": "0.1.0",
    }


def test_reading_a_summary_imports_no_torch(out: Path) -> None:
    """``ecgspec info`` must stay fast: the reader and the layout import torch only when a window is indexed."""
    run(writer(out), fake_records(["a"]))
    script = (
        "import sys, ecgspec.store.reader, ecgspec.store.summary, ecgspec.store.layout, ecgspec.store.writer\n"
        f"info = ecgspec.store.summary.describe({str(out)!r})\n"
        "print(info['records'], 'torch' in sys.modules)\n"
        f"ecgspec.store.reader.open({str(out)!r})[0]\n"
        "print('torch' in sys.modules)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True)
    assert done.stdout.split() == ["1", "False", "True"]
