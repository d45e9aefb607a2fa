"""Property-based tests: random configs and random, mutated or truncated record files.

Every outcome must be a result or a clean error (a ValueError subclass such as
RecordError or ConfigError; for a whole run also ExtractError / OutputError), never
another exception, a hang, or a NaN/inf in what is returned or written.
"""

from __future__ import annotations

import contextlib
import math
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

import h5py
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, assume, event, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import ecgspec
from ecgspec import InputConfig, SpectrogramInput
from ecgspec.engine.config import ConfigError
from ecgspec.readers import RecordError, RecordRef, open_record
from ecgspec.run.pipeline import ExtractError
from ecgspec.signal.windowing import WindowStats, iter_windows
from ecgspec.store.layout import OutputError
from tests.helpers.fuzzing import examples, expect, outcome
from tests.helpers.paths import DATA
from tests.helpers.timing import time_limit as _time_limit

pytestmark = pytest.mark.slow  # Hypothesis: dozens of examples a test
FUZZ = settings(max_examples=examples(60), deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
SLOW_FUZZ = settings(FUZZ, max_examples=examples(25))
TIME_LIMIT = 30  # seconds for one example: beyond it counts as a hang
REAL = {  # record -> its files, small enough to read whole in every example
    "E07500": (DATA / "cinc2021", ("E07500.hea", "E07500.mat")),
    "100_3chan": (DATA / "wfdb", ("100_3chan.hea", "100_3chan.dat")),
    "test01_00s": (DATA / "wfdb", ("test01_00s.hea", "test01_00s.dat")),
}



def time_limit(seconds: int = TIME_LIMIT) -> contextlib.AbstractContextManager[None]:
    return _time_limit(seconds)


@contextlib.contextmanager
def scratch() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="ecgspec-fuzz-") as folder:
        yield Path(folder)


def read_all(path: Path, kind: str, input_fs: float | None, fs: float = 500, window: int = 1000,
             max_nan: float = 0.1) -> int:
    """Open a record and cut all its windows as the pipeline does; return the number of windows.

    Raises only RecordError (a ValueError); every window yielded must be finite float32.
    """
    record = open_record(RecordRef(path.stem, path, kind), input_fs=input_fs)
    header = record.header
    assert header.n_signals >= 1 and header.n_samples >= 1 and math.isfinite(header.fs) and header.fs > 0
    stats = WindowStats()
    n = 0
    channels = list(range(min(header.n_signals, 3)))
    for starts, windows in iter_windows(record, channels, fs, window, window, max_nan, 1 << 12, stats):
        assert windows.dtype == np.float32 and windows.shape == (len(starts), len(channels), window)
        assert np.isfinite(windows).all(), "iter_windows yielded NaN or inf"
        n += len(starts)
    assert stats.nan_filled >= 0 and stats.nan_skipped >= 0
    return n


def clean(call, *args: Any, **kwargs: Any) -> Any:
    """Run ``call``: its result, or None for a RecordError; any other exception fails the test."""
    with time_limit():
        try:
            return call(*args, **kwargs)
        except RecordError as exc:
            message = str(exc)
            assert message.strip() and "\n" not in message, repr(message)
            return None


# ---------------------------------------------------------------- engine configs

junk = st.one_of(st.none(), st.booleans(), st.text(max_size=3), st.just(math.nan), st.just(math.inf),
                 st.just(-1), st.just(0), st.just(1e308), st.just(2.5))


@st.composite
def engine_fields(draw: st.DrawFn) -> dict[str, Any]:
    """A valid engine config, built so that its constraints hold (window <= n_fft < 2 n_samples)."""
    n_bins = draw(st.integers(2, 80), label="n_bins")
    fs = draw(st.one_of(st.integers(20, 1000), st.floats(20, 1000)), label="fs")
    n_fft = 2 * (n_bins - 1)
    win = draw(st.integers(2, max(2, n_fft)), label="win_length")
    hop = draw(st.integers(1, win - 1), label="hop_length")
    n_samples = draw(st.integers(n_fft // 2 + 1, 2500), label="n_samples")
    feature_fs = draw(st.one_of(st.none(), st.floats(fs / 10, fs)), label="feature_fs")
    return dict(n_channels=draw(st.integers(1, 3)), n_bins=n_bins, n_samples=n_samples, fs=fs,
                window_size=win / fs, overlap_size=(win - hop) / fs if win > hop else hop / fs / 2,
                feature_fs=feature_fs, to1d=draw(st.booleans()))


# leads also gets junk lists and junk strings of its own kind.
JUNK_FOR = {"leads": st.one_of(junk, st.lists(st.one_of(st.integers(), st.none()), max_size=2),
                               st.sampled_from(["", ",,", "I,,II", " ", "I,I"]))}


def with_junk(fields: dict[str, st.SearchStrategy], data: st.DataObject) -> dict[str, Any]:
    """Valid values for every field, and junk in up to two of them in half the examples."""
    values = {k: data.draw(v, label=k) for k, v in fields.items()}
    if data.draw(st.booleans(), label="break"):
        for key in data.draw(st.lists(st.sampled_from(sorted(fields)), min_size=1, max_size=2), label="broken"):
            values[key] = data.draw(JUNK_FOR.get(key, junk), label=f"junk {key}")
    return values


@expect("valid config", "config error")
@FUZZ
@given(data=st.data(), batch=st.integers(1, 3), scale=st.sampled_from([0.0, 1e-30, 1.0, 1e3, 1e12]),
       seed=st.integers(0, 9))
def test_random_engine_config_gives_finite_output_or_config_error(
    data: st.DataObject, batch: int, scale: float, seed: int
) -> None:
    cfg = with_junk({k: st.just(v) for k, v in data.draw(engine_fields()).items()}, data)
    try:
        config = InputConfig(**cfg, device="cpu")
    except ConfigError as exc:
        outcome("config error")
        assert str(exc).strip() and "\n" not in str(exc)
        return
    outcome("valid config")
    assume(config.n_samples * config.n_bins * config.n_channels < 2_000_000)  # keep one example small
    with time_limit():
        engine = SpectrogramInput(config)
        shape = engine.compute_input_shape((batch, config.n_channels, config.n_samples))
        x = torch.from_numpy(np.random.default_rng(seed).standard_normal(
            (batch, config.n_channels, config.n_samples)).astype(np.float32) * np.float32(scale))
        out = engine(x)
    assert tuple(out.shape) == tuple(shape)
    assert torch.isfinite(out).all() and (out >= 0).all()


# ---------------------------------------------------------------- damaged WFDB records

tokens = st.sampled_from(["0", "-1", "1", "2", "nan", "inf", "-inf", "1e309", "", "abc", "999999999",
                          "0.001", "16", "212", "310", "8", "24", "x.dat", "16x2", "200(0)/mV", "/", "+", "#"])


def mutate(text: str, data: st.DataObject) -> str:
    """Replace, delete or insert a few whitespace-separated tokens, or cut the text."""
    lines = [line.split(" ") for line in text.splitlines()]
    for _ in range(data.draw(st.integers(1, 4), label="edits")):
        i = data.draw(st.integers(0, len(lines) - 1), label="line")
        if not lines[i]:
            continue
        j = data.draw(st.integers(0, len(lines[i]) - 1), label="token")
        action = data.draw(st.sampled_from(["replace", "delete", "insert", "drop line"]), label="action")
        if action == "replace":
            lines[i][j] = data.draw(tokens, label="new")
        elif action == "delete":
            del lines[i][j]
        elif action == "insert":
            lines[i].insert(j, data.draw(tokens, label="new"))
        else:
            del lines[i]
            if not lines:
                break
    out = "\n".join(" ".join(line) for line in lines) + "\n"
    if data.draw(st.booleans(), label="cut"):
        out = out[: data.draw(st.integers(0, len(out)), label="cut at")]
    return out


@expect("read", "record error")
@FUZZ
@given(name=st.sampled_from(sorted(REAL)), data=st.data())
def test_mutated_wfdb_header_is_read_or_record_error(name: str, data: st.DataObject) -> None:
    src, files = REAL[name]
    with scratch() as folder:
        for file in files:
            shutil.copy(src / file, folder / file)
        header = folder / files[0]
        header.write_text(mutate((src / files[0]).read_text(), data))
        n = clean(read_all, header, "wfdb", None)
        outcome("record error" if n is None else "read")


@expect("read", "record error")
@FUZZ
@given(name=st.sampled_from(sorted(REAL)), which=st.integers(0, 1), cut=st.floats(0, 1),
       flips=st.lists(st.tuples(st.floats(0, 1), st.integers(0, 255)), max_size=6),
       random_bytes=st.one_of(st.none(), st.binary(max_size=600)))
def test_truncated_or_corrupted_wfdb_files_are_read_or_record_error(
    name: str, which: int, cut: float, flips: list, random_bytes: bytes | None
) -> None:
    src, files = REAL[name]
    with scratch() as folder:
        for file in files:
            shutil.copy(src / file, folder / file)
        target = folder / files[which]
        content = bytearray(target.read_bytes() if random_bytes is None else random_bytes)
        for where, value in flips:
            if content:
                content[min(int(where * len(content)), len(content) - 1)] = value
        target.write_bytes(bytes(content[: int(cut * len(content))] if cut < 1 else content))
        n = clean(read_all, folder / files[0], "wfdb", None)
        outcome("record error" if n is None else "read")


# ---------------------------------------------------------------- new header kinds: multi-frequency, multi-segment, EDF


def read_every_signal(path: Path, kind: str, block: int = 1 << 14) -> int:
    """Open a record and read all of every signal, rate group by rate group, in blocks; return the
    samples read. Raises only RecordError; every block is float32 of the asked shape."""
    record = open_record(RecordRef(path.stem, path, kind))
    header = record.header
    assert header.n_signals >= 1 and header.n_samples >= 1 and header.fs > 0
    total = 0
    for rate in sorted({header.rate(i) for i in range(header.n_signals)}):
        assert math.isfinite(rate) and rate > 0
        group = [i for i in range(header.n_signals) if header.rate(i) == rate]
        n = header.length(group[0])
        assert all(header.length(i) == n for i in group) and n >= 1
        for start in range(0, min(n, 1 << 17), block):
            stop = min(start + block, n)
            data = record.read(start, stop, group)
            assert data.dtype == np.float32 and data.shape == (len(group), stop - start)
            total += data.size
    return total


MULTIRATE = ("t 4 500 3200\n"
             "t.dat 16 100/mV 16 0 10 114 0 ECG 1\n"
             "t.dat 16x2 100/mV 16 0 -8 941 0 ECG 2\n"
             "t.dat 16 100/mV 16 0 -57 -119 0 ECG 3\n"
             "t.dat 16 100/mV 16 0 -66 -401 0 ECG 4\n")
spf_tokens = st.sampled_from(["16x2", "16x3", "16x0", "212x4", "80x2", "24x5", "32x1", "x2", "16x99999",
                              "61x2", "160x3", "16x2:1", "16x2+7", "62.4725", "0.001"])


@expect("read", "record error")
@FUZZ
@given(data=st.data())
def test_mutated_multifrequency_header_is_read_or_record_error(data: st.DataObject) -> None:
    with scratch() as folder:
        shutil.copy(DATA / "wfdb" / "test01_00s.dat", folder / "t.dat")
        text = MULTIRATE
        for _ in range(data.draw(st.integers(0, 2), label="spf edits")):
            lines = text.splitlines()
            i = data.draw(st.integers(1, len(lines) - 1), label="line")
            parts = lines[i].split(" ")
            parts[1] = data.draw(spf_tokens, label="spf")
            lines[i] = " ".join(parts)
            text = "\n".join(lines) + "\n"
        (folder / "t.hea").write_text(text if data.draw(st.booleans(), label="spf edits only") else mutate(text, data))
        n = clean(read_every_signal, folder / "t.hea", "wfdb")
        outcome("record error" if n is None else "read")


def _segments(folder: Path) -> None:
    """A variable-layout record of two multi-frequency segments and a gap, written by wfdb."""
    import wfdb

    rng = np.random.default_rng(0)
    (folder / "v_layout.hea").write_text("v_layout 2 125 0\n~ 0x2 100/mV 16 0 0 0 0 II\n~ 0 100/mV 16 0 0 0 0 V\n")
    for name, names, spf, frames in [("v_1", ["II", "V"], [2, 1], 30), ("v_2", ["V"], [1], 20)]:
        signals = [rng.integers(-900, 900, frames * k) / 100.0 for k in spf]
        wfdb.wrsamp(name, 125, ["mV"] * len(names), names, e_p_signal=signals, samps_per_frame=spf,
                    fmt=["16"] * len(names), adc_gain=[100.0] * len(names), baseline=[0] * len(names),
                    write_dir=str(folder))
    (folder / "v.hea").write_text("v/4 2 125 60\nv_layout 0\nv_1 30\n~ 10\nv_2 20\n")


segment_tokens = st.sampled_from(["v_1", "v_2", "v_layout", "~", "0", "30", "20", "10", "v/4", "v/2", "v/0",
                                  "60", "61", "x_9", "0x2", "16x3", "II", "V"])


@expect("read", "record error")
@FUZZ
@given(which=st.sampled_from(["v.hea", "v_layout.hea", "v_1.hea", "v_2.hea"]), data=st.data())
def test_mutated_multisegment_headers_are_read_or_record_error(which: str, data: st.DataObject) -> None:
    with scratch() as folder:
        _segments(folder)
        target = folder / which
        lines = [line.split(" ") for line in target.read_text().splitlines()]
        for _ in range(data.draw(st.integers(0, 2), label="segment edits")):
            i = data.draw(st.integers(0, len(lines) - 1), label="line")
            j = data.draw(st.integers(0, len(lines[i]) - 1), label="token")
            lines[i][j] = data.draw(segment_tokens, label="token")
        text = "\n".join(" ".join(line) for line in lines) + "\n"
        target.write_text(text if data.draw(st.booleans(), label="token edits only") else mutate(text, data))
        n = clean(read_every_signal, folder / "v.hea", "wfdb")
        outcome("record error" if n is None else "read")


def _edf(folder: Path, bdf: bool) -> Path:
    import edfio

    kind, signal = (edfio.Bdf, edfio.BdfSignal) if bdf else (edfio.Edf, edfio.EdfSignal)
    x = np.sin(np.arange(2000) / 9)
    path = folder / ("r.bdf" if bdf else "r.edf")
    kind([signal(x, 200, label="ECG I", physical_range=(-1, 1)), signal(x[:500], 50, label="RESP")],
         annotations=[edfio.EdfAnnotation(1, None, "a")]).write(path)
    return path


# Where the EDF header's numbers sit: sizes, record count and duration, signal count, per-signal fields.
EDF_FIELDS = [184, 236, 244, 252, 256, 256 + 16, 256 + 3 * 104, 256 + 3 * 120, 256 + 3 * 128, 256 + 3 * 136,
              256 + 3 * 144, 256 + 3 * 152, 256 + 3 * 232]
edf_tokens = st.sampled_from([b"0", b"-1", b"1", b"3", b"99", b"x", b"1e9", b"-32768", b"0.5", b"", b"\xb0",
                              b"EDF Annotations", b"  ", b"2000", b"nan"])


@expect("read", "record error")
@FUZZ
@given(bdf=st.booleans(), edits=st.lists(st.tuples(st.sampled_from(EDF_FIELDS), st.integers(0, 7), edf_tokens),
                                         max_size=4),
       cut=st.one_of(st.none(), st.floats(0, 1)))
def test_mutated_edf_header_is_read_or_record_error(bdf: bool, edits: list, cut: float | None) -> None:
    with scratch() as folder:
        path = _edf(folder, bdf)
        raw = bytearray(path.read_bytes())
        for at, shift, token in edits:
            raw[at + shift:at + shift + len(token)] = token.ljust(8)[: len(token)] if token else b" "
        if cut is not None:
            raw = raw[: int(cut * len(raw))]
        path.write_bytes(bytes(raw))
        n = clean(read_every_signal, path, "edf")
        outcome("record error" if n is None else "read")


# ---------------------------------------------------------------- random .npy / .npz

dtypes = st.sampled_from([np.float32, np.float64, np.float16, np.int16, np.int32, np.uint8, np.int64,
                          np.complex64, np.bool_, "U2", "S2", np.object_])
values = st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=32), st.just(math.nan),
                   st.sampled_from([0.0, 1.0, -1.0, 1e30, -3e38, 3.4e38, math.inf, -math.inf]))


@st.composite
def arrays(draw: st.DrawFn) -> np.ndarray:
    """Mostly usable (channels, samples) signals with gaps and extremes; sometimes any rank or dtype."""
    if draw(st.integers(0, 3)) == 0:
        dtype = np.dtype(draw(dtypes))
        shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=5))
        if dtype.kind in "USO":
            return np.full(shape, "a", dtype=dtype)
        if dtype.kind == "f":
            return draw(hnp.arrays(dtype, shape, elements=values.map(lambda v: np.asarray(v).astype(dtype))))
        return draw(hnp.arrays(dtype, shape))
    dtype = np.dtype(draw(st.sampled_from([np.float32, np.float64, np.float16, np.int16, np.int32, np.uint8])))
    shape = (draw(st.integers(1, 3)), draw(st.integers(1, 3000)))
    base = draw(st.sampled_from(["noise", "flat", "values"]))
    if base == "values":
        return draw(hnp.arrays(dtype, shape, elements=values.map(lambda v: np.asarray(v).astype(dtype))
                               if dtype.kind == "f" else None))
    rng = np.random.default_rng(draw(st.integers(0, 99)))
    array = rng.standard_normal(shape) * 100 if base == "noise" else np.full(shape, 3.0)
    array = array.astype(dtype)
    if dtype.kind == "f":
        for _ in range(draw(st.integers(0, 3))):  # gaps and extremes
            flat = array.reshape(-1)
            lo = draw(st.integers(0, flat.size - 1))
            flat[lo : lo + draw(st.integers(1, 500))] = draw(values)
    return array


def cut_file(path: Path, cut: float | None) -> None:
    if cut is not None:
        with open(path, "r+b") as f:
            f.truncate(int(path.stat().st_size * cut))


input_rates = st.one_of(st.sampled_from([500, 250, 360, 1000, 100]),
                        st.sampled_from([None, 333.3337, 0, -1, math.nan, math.inf, 1e-9]))
cuts = st.one_of(st.none(), st.none(), st.floats(0, 1))


STEP = np.where(np.arange(3000) < 1500, np.float32(3.4e38), np.float32(-3.4e38))[None]  # overshoots when resampled


@expect("read", "record error")
@FUZZ
@given(array=arrays(), input_fs=input_rates, cut=cuts, max_nan=st.floats(0, 1))
@example(array=STEP, input_fs=360, cut=None, max_nan=0.1)
@example(array=np.full((2, 3000), np.nan, dtype=np.float32), input_fs=250, cut=None, max_nan=1.0)
def test_random_npy_is_read_or_record_error(array: np.ndarray, input_fs, cut, max_nan: float) -> None:
    with scratch() as folder:
        path = folder / "x.npy"
        np.save(path, array, allow_pickle=True)
        cut_file(path, cut)
        n = clean(read_all, path, "npy", input_fs, max_nan=max_nan)
        outcome("record error" if n is None else "read")
        if n is not None:
            assert array.ndim == 2 and array.dtype.kind in "iuf" and cut in (None, 1.0)


@expect("read", "record error")
@FUZZ
@given(signal_=st.one_of(arrays(), arrays(), st.none()),
       fs=st.one_of(st.sampled_from([500, 250.0, 360, np.float32(1000), np.int16(100)]),
                    st.sampled_from([None, 0, -5, math.nan, math.inf, 1e-9, 1e12]),
                    st.just(np.array([500, 250])), st.just(np.array("500")), st.just(np.array(True))),
       leads=st.one_of(st.none(), st.just(np.array(["I", "II", "III"])), st.just(np.array(["I"])),
                       st.just(np.array([1, 2, 3])), st.just(np.array([b"I", b"II"]))),
       extra=st.booleans(), cut=cuts, compressed=st.booleans())
def test_random_npz_is_read_or_record_error(signal_, fs, leads, extra: bool, cut, compressed: bool) -> None:
    arrays_ = {k: v for k, v in (("signal", signal_), ("fs", fs), ("leads", leads)) if v is not None}
    if extra:
        arrays_["labels"] = np.arange(3)
    with scratch() as folder:
        path = folder / "x.npz"
        save = np.savez_compressed if compressed else np.savez
        try:
            save(path, **arrays_)
        except ValueError:  # object arrays need pickling; numpy refuses nothing else here
            np.savez(path, **{k: v for k, v in arrays_.items() if v.dtype != object}, junk=np.zeros(1))
        cut_file(path, cut)
        n = clean(read_all, path, "npz", None)
        outcome("record error" if n is None else "read")


# ---------------------------------------------------------------- whole runs


RUN_FIELDS = {
    "n_bins": st.sampled_from([8, 16, 33, 128]),
    "n_samples": st.sampled_from([256, 1000, 2500, 5000]),
    "fs": st.sampled_from([250, 500, 360, 100]),
    "stride": st.one_of(st.none(), st.integers(200, 3000)),  # stride 1 is valid, but thousands of windows
    "compression": st.sampled_from([None, "none", "lzf", "gzip"]),
    "batch_size": st.one_of(st.none(), st.integers(1, 9)),
    "max_nan": st.one_of(st.none(), st.floats(0, 1)),
    "leads": st.sampled_from([None, "I,II", "ii,v1,AVR", "I,Z", "i"]),
    "dtype": st.sampled_from(["float32", "float16"]),
    "on_error": st.sampled_from(["skip", "fail"]),
    "workers": st.one_of(st.none(), st.integers(1, 3)),
    "input_fs": st.sampled_from([None, 500, 250]),
}


@SLOW_FUZZ
@given(data=st.data(), extra=arrays(), cut=cuts)
def test_random_runs_give_a_result_or_a_clean_error(data: st.DataObject, extra: np.ndarray, cut) -> None:
    options = {k: v for k, v in with_junk(RUN_FIELDS, data).items() if v is not None}
    if "leads" not in options:  # all 12 leads of E07500; the extra record decides for itself
        options["n_channels"] = 12
    with scratch() as folder:
        records = folder / "in"
        records.mkdir()
        for file in REAL["E07500"][1]:
            shutil.copy(REAL["E07500"][0] / file, records / file)
        if extra.ndim == 2 and data.draw(st.booleans(), label="12 leads"):
            extra = np.resize(extra, (12, extra.shape[1]))  # usable beside E07500 without --leads
        np.save(records / "extra.npy", extra, allow_pickle=True)
        cut_file(records / "extra.npy", cut)
        out = folder / "out.h5"
        try:
            with time_limit():
                result = ecgspec.extract(records, out, log=lambda m: None, device="cpu", **options)
        except (ValueError, ExtractError, OutputError) as exc:  # ConfigError, RecordFailed, ...
            event(f"error {type(exc).__name__}: {str(exc)[:50]}")
            assert str(exc).strip() and "\n" not in str(exc), repr(exc)
            assert not out.exists()
            return
        event(f"{result.windows > 0 and 'windows' or 'no windows'}, {len(result.errors)} errors")
        assert out.exists() and not (folder / "out.h5.partial").exists()
        with h5py.File(out, "r") as f:
            assert np.isfinite(f["spectrograms"][()]).all()
            n_records, n_errors = f["records/name"].shape[0], f["errors/name"].shape[0]
            assert n_records + n_errors == 2 and n_errors == len(result.errors)
            assert f["spectrograms"].shape[0] == result.windows == int(f["records/n_windows"][()].sum())
            assert (f["records/nan_filled"][()] >= 0).all()
