"""The fast WFDB path of ecgspec.readers: our header parser and numpy decoders must give exactly what wfdb gives.

Every real record, records written by ``wfdb.wrsamp`` in each format, hand-made headers over
random bytes, and randomly mutated real headers are read both ways and compared bit for bit
(NaN equal to NaN); records the fast path leaves to wfdb must still read as before.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
import wfdb
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from ecgspec.readers import Record, RecordError, RecordRef, find_records, open_record
from ecgspec.readers.wfdb.header import MasterHeader, header_lines, parse_header
from ecgspec.readers.wfdb.record import FastWfdbRecord, WfdbRecord, float32_exact
from ecgspec.readers.wfdb.record_line import record_line
from ecgspec.readers.wfdb.signal import signal_bytes
from tests.helpers.fuzzing import examples, expect, outcome
from tests.helpers.paths import DATA, ROOT
from tests.helpers.records import as_format

REAL = sorted(p.relative_to(DATA).with_suffix("").as_posix() for p in DATA.glob("*/*.hea"))
FAST_FORMATS = ["16", "212", "80", "24", "32", "61", "160"]
SIGNAL_FIELDS = ["file_name", "fmt", "samps_per_frame", "skew", "byte_offset", "adc_gain", "baseline", "units",
                 "adc_res", "adc_zero", "init_value", "checksum", "block_size", "sig_name"]


def _open(header: Path) -> Record:
    return open_record(RecordRef(header.stem, header, "wfdb"))


def _wfdb(header: Path, start: int, stop: int, channels: list[int]) -> np.ndarray:
    """What the wfdb-based reader returns for read(start, stop, channels): rdrecord on the sorted
    unique channels, rows put in the order asked, float32."""
    unique = sorted(set(channels))
    signal = wfdb.rdrecord(str(header.with_suffix("")), sampfrom=start, sampto=stop, channels=unique).p_signal
    return signal.T.astype(np.float32)[[unique.index(c) for c in channels]]


def _wfdb_expanded(header: Path, start: int, stop: int, channels: list[int]) -> np.ndarray:
    """What read(start, stop, channels) must give for channels of ``k`` samples per frame: the frames
    holding samples start .. stop - 1 read by ``wfdb.rdrecord(..., smooth_frames=False)``, each signal
    of its ``e_p_signal`` sliced to them, float32."""
    k = wfdb.rdheader(str(header.with_suffix(""))).samps_per_frame[channels[0]]
    f0, f1 = start // k, -(-stop // k)
    unique = sorted(set(channels))
    signals = wfdb.rdrecord(str(header.with_suffix("")), sampfrom=f0, sampto=f1, channels=unique,
                            physical=True, smooth_frames=False).e_p_signal
    lead = start - f0 * k
    return np.stack([signals[unique.index(c)][lead:lead + stop - start] for c in channels]).astype(np.float32)


def assert_reads_like_wfdb(rec: Record, start: int, stop: int, channels: list[int]) -> None:
    got = rec.read(start, stop, channels)
    assert got.dtype == np.float32 and got.flags.c_contiguous and got.shape == (len(channels), stop - start)
    assert np.array_equal(got, _wfdb(rec.ref.path, start, stop, channels), equal_nan=True), (start, stop, channels)


def assert_header_like_wfdb(header: Path, rec: Record) -> None:
    h = wfdb.rdheader(str(header.with_suffix("")))
    assert rec.header.fs == h.fs and rec.header.n_samples == h.sig_len and rec.header.n_signals == h.n_sig
    assert rec.header.leads == tuple("" if s is None else s for s in h.sig_name)


def slices(n: int) -> list[tuple[int, int]]:
    """Whole, odd and even starts and stops, single samples at both ends."""
    wanted = [(0, n), (1, n), (0, n - 1), (n // 3, n // 3 + 5), (n // 2 | 1, n), (n - 1, n), (0, 1), (3, 1004), (5, 6)]
    return sorted({(start, min(stop, n)) for start, stop in wanted if start < min(stop, n)})


def channel_sets(n_signals: int) -> list[list[int]]:
    """All channels in order, reversed, one, repeated, and a subset skipping channels."""
    every = list(range(n_signals))
    return [every, every[::-1], [n_signals - 1], [0, 0], every[::2], every[1::3] or [0]]


def write(folder: Path, name: str, header: str, data: dict[str, bytes]) -> Path:
    for file, content in data.items():
        (folder / file).write_bytes(content)
    (folder / f"{name}.hea").write_text(header)
    return folder / f"{name}.hea"


# ---------------------------------------------------------------- the real records


@pytest.mark.parametrize("name", REAL)
def test_real_record_takes_the_fast_path_and_reads_like_wfdb(name: str) -> None:
    header = DATA / f"{name}.hea"
    rec = _open(header)
    assert isinstance(rec, FastWfdbRecord)
    assert_header_like_wfdb(header, rec)
    n, c = rec.header.n_samples, rec.header.n_signals
    for start, stop in slices(n):
        assert_reads_like_wfdb(rec, start, stop, list(range(c)))
    for channels in channel_sets(c):
        assert_reads_like_wfdb(rec, n // 2 + 1, n // 2 + 700 if n > 1400 else n, channels)


def test_real_record_count_and_formats() -> None:
    """The parametrized test above covers all 73 records, in formats 16 (.dat, .mat +24, two files) and 212."""
    assert len(REAL) == 73
    formats = {f for name in REAL for f in wfdb.rdheader(str(DATA / name)).fmt}
    assert formats == {"16", "212"}


def test_100_odd_starts_of_212_pairs() -> None:
    rec = _open(DATA / "wfdb" / "100.hea")
    full = _wfdb(rec.ref.path, 0, 2000, [0, 1])
    for start in range(0, 9):
        for stop in (start + 1, start + 2, start + 3, 2000):
            np.testing.assert_array_equal(rec.read(start, stop, [1, 0]), full[[1, 0], start:stop])


# ---------------------------------------------------------------- records written by wfdb.wrsamp


def _wrsamp(folder: Path, name: str, fmt: str, n_signals: int, n: int, seed: int) -> Path:
    """A record of ``n`` samples (NaN here and there) written by wfdb in format ``fmt`` (61 and 160 are
    written as 16 and converted, since wfdb cannot write them)."""
    rng = np.random.default_rng(seed)
    bits = {"80": 8, "212": 12, "16": 16, "61": 16, "160": 16, "24": 24, "32": 32}[fmt]
    low, high = -(2 ** (bits - 1)) + 1, 2 ** (bits - 1) - 1
    gain = rng.uniform(1, 2000, n_signals).round(3)
    baseline = rng.integers(low // 4, high // 4, n_signals)
    digital = rng.integers(low // 2, high // 2, (n, n_signals))
    physical = (digital - baseline) / gain
    physical[rng.random((n, n_signals)) < 0.05] = np.nan
    physical[0, 0] = np.nan
    physical[-1, -1] = np.nan
    written = "16" if fmt in ("61", "160") else fmt
    wfdb.wrsamp(name, 500, ["mV"] * n_signals, [f"lead {i}" for i in range(n_signals)], p_signal=physical,
                fmt=[written] * n_signals, adc_gain=list(gain), baseline=[int(b) for b in baseline],
                write_dir=str(folder))
    return as_format(folder, name, fmt)


@pytest.mark.parametrize("fmt", FAST_FORMATS)
@pytest.mark.parametrize("n_signals, n", [(1, 1), (1, 2), (2, 7), (3, 1001), (4, 64)])
def test_wrsamp_record_in_each_format(tmp_path: Path, fmt: str, n_signals: int, n: int) -> None:
    header = _wrsamp(tmp_path, "rec", fmt, n_signals, n, seed=n * 10 + n_signals)
    rec = _open(header)
    assert isinstance(rec, FastWfdbRecord)
    assert_header_like_wfdb(header, rec)
    whole = rec.read(0, n, list(range(n_signals)))
    assert np.isnan(whole[0, 0]) and np.isnan(whole[-1, -1])
    for start, stop in slices(n) if n > 1 else [(0, 1)]:
        for channels in channel_sets(n_signals):
            assert_reads_like_wfdb(rec, start, stop, channels)


def _with_offset(signal_line: str, offset: int) -> str:
    """The signal line with ``+offset`` after its format."""
    file, fmt, rest = signal_line.split(" ", 2)
    return f"{file} {fmt}+{offset} {rest}"


@pytest.mark.parametrize("fmt", FAST_FORMATS)
def test_byte_offset_and_two_files_in_two_formats(tmp_path: Path, fmt: str) -> None:
    """Signal files with a header before the samples (``+offset``, as in .mat files), and a record whose
    signals are in two files of different formats."""
    a = _wrsamp(tmp_path, "a", fmt, 3, 999, seed=1)
    b = _wrsamp(tmp_path, "b", "212" if fmt != "212" else "24", 2, 999, seed=2)
    for dat, pad in (("a.dat", 24), ("b.dat", 7)):
        (tmp_path / dat).write_bytes(b"\x80" * pad + (tmp_path / dat).read_bytes())
    signal_lines = [_with_offset(line, 24) for line in a.read_text().splitlines()[1:4]]
    signal_lines += [_with_offset(line, 7) for line in b.read_text().splitlines()[1:3]]
    text = "ab 5 500 999\n" + "\n".join(signal_lines) + "\n"
    assert "a.dat " + fmt + "+24 " in text
    header = write(tmp_path, "ab", text, {})
    rec = _open(header)
    assert isinstance(rec, FastWfdbRecord) and len(rec._files) == 2
    for start, stop in [(0, 999), (1, 998), (500, 503)]:
        for channels in ([0, 1, 2, 3, 4], [4, 0], [3], [2, 3], [1]):
            assert_reads_like_wfdb(rec, start, stop, channels)


# ---------------------------------------------------------------- hand-made headers over random bytes


@pytest.mark.parametrize("fmt", FAST_FORMATS + ["8", "310", "311"])
def test_random_bytes_in_each_format(tmp_path: Path, fmt: str) -> None:
    """Every bit pattern decodes as wfdb decodes it, invalid-sample markers included (the bytes are
    random, and runs of 0x00 and 0x80 plant the markers of each format)."""
    n, n_signals = 1001, 3
    size = signal_bytes(fmt, n * n_signals)
    raw = bytearray(np.random.default_rng(int(fmt)).integers(0, 256, size, dtype=np.uint8).tobytes())
    raw[30:60] = b"\x00" * 30
    raw[90:120] = b"\x80" * 30
    raw[120:150] = b"\x00\x08\x00" * 10  # 212: -2048 in both samples of a pair
    lines = [f"r.dat {fmt} 123.5({b})/mV 12 0 0 0 0 s{b}" for b in (0, -7, 300)]
    header = write(tmp_path, "r", "r 3 250 1001\n" + "\n".join(lines) + "\n", {"r.dat": bytes(raw)})
    rec = _open(header)
    assert isinstance(rec, FastWfdbRecord) == (fmt in FAST_FORMATS)
    for start, stop in slices(n):
        assert_reads_like_wfdb(rec, start, stop, [0, 1, 2])
    for channels in channel_sets(n_signals):
        assert_reads_like_wfdb(rec, 37, 540, channels)


@pytest.mark.parametrize("gain, baseline, float32", [
    (123.5, -7, True), (200.0, 0, True), (0.125, 1000, True),  # gains that are float32 values
    (182.3, 5, False), (1 / 3, 0, False), (0.001, 1000, False),  # gains that are not: float64 arithmetic
    (1000.0, 2**24, False), (1e13, 0, False),  # a baseline too far for float32 integers; a huge gain
])
def test_float32_arithmetic_only_where_it_gives_wfdbs_bits(tmp_path: Path, gain: float, baseline: int,
                                                           float32: bool) -> None:
    """Every 16-bit digital value, through either arithmetic, reads as wfdb reads it."""
    samples = np.arange(-(2**15), 2**15, dtype="<i2")  # every value, the invalid-sample marker included
    line = f"r.dat 16 {gain!r}({baseline})/mV 16 0 0 0 0 s"
    header = write(tmp_path, "r", f"r 1 250 {samples.size}\n{line}\n", {"r.dat": samples.tobytes()})
    rec = _open(header)
    assert isinstance(rec, FastWfdbRecord) and float32_exact(rec._wfdb) == float32
    assert_reads_like_wfdb(rec, 0, samples.size, [0])
    expected = ((samples.astype(np.float64) - baseline) / gain).astype(np.float32)
    expected[0] = np.nan
    assert np.array_equal(rec.read(0, samples.size, [0])[0], expected, equal_nan=True)


def test_float32_exact_follows_each_signals_format() -> None:
    """A 32-bit or 24-bit signal with a wide baseline, or any signal that fails the test, sends the
    whole record to float64."""
    fields = dict(fmt=["16", "212"], baseline=[0, 0], adc_gain=[200.0, 200.0])
    assert float32_exact(_header(**fields))
    assert not float32_exact(_header(**dict(fields, fmt=["16", "32"])))
    assert float32_exact(_header(**dict(fields, fmt=["24", "16"])))
    assert not float32_exact(_header(**dict(fields, fmt=["24", "16"], baseline=[2**23 + 1, 0])))
    assert not float32_exact(_header(**dict(fields, adc_gain=[200.0, 0.1])))


def _header(**fields: list) -> object:
    text = "r 2 250 10\n" + "".join(f"r.dat {fmt} {gain!r}({base})/mV\n" for fmt, gain, base in
                                     zip(fields["fmt"], fields["adc_gain"], fields["baseline"]))
    return parse_header(text.encode())


FALLBACK = {
    "two samples per frame in format 8": "r 2 250 500\nr.dat 8x2 100 16 0 0 0 0 a\nr.dat 8 100 16 0 0 0 0 b\n",
    "skew": "r 2 250 500\nr.dat 16:1 100 16 0 0 0 0 a\nr.dat 16 100 16 0 0 0 0 b\n",
    "two formats in one file": "r 2 250 500\nr.dat 16 100 16 0 0 0 0 a\nr.dat 212 100 16 0 0 0 0 b\n",
    "a file's signals split": "r 3 250 500\nr.dat 16 100\ns.dat 16 100\nr.dat 16 100\n",
    "baseline beyond int64": "r 1 250 500\nr.dat 16 100(99999999999999999999)/mV 16 0 0 0 0 a\n",
}


@pytest.mark.parametrize("case", list(FALLBACK))
def test_what_the_fast_path_does_not_cover_goes_through_wfdb(tmp_path: Path, case: str) -> None:
    raw = np.random.default_rng(5).integers(0, 256, 6000, dtype=np.uint8).tobytes()
    header = write(tmp_path, "r", FALLBACK[case], {"r.dat": raw, "s.dat": raw})
    rec = _open(header)
    assert type(rec) is WfdbRecord
    try:
        expected = _wfdb_expanded(header, 3, 400, [0])
    except Exception:  # noqa: BLE001 - wfdb cannot read it either (whatever it raises): a RecordError, as before
        with pytest.raises(RecordError):
            rec.read(3, 400, [0])
        return
    np.testing.assert_array_equal(rec.read(3, 400, [0]), expected)


def test_flac_goes_through_wfdb(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    physical = rng.standard_normal((300, 2))
    physical[5, 1] = np.nan
    wfdb.wrsamp("f", 250, ["mV"] * 2, ["a", "b"], p_signal=physical, fmt=["516"] * 2, adc_gain=[100.0, 50.0],
                baseline=[0, 3], write_dir=str(tmp_path))
    rec = _open(tmp_path / "f.hea")
    assert type(rec) is WfdbRecord
    assert_reads_like_wfdb(rec, 1, 300, [1, 0])


def test_header_oddities_read_like_wfdb(tmp_path: Path) -> None:
    """Comments before the record line, blank lines between signal lines, CRLF, non-ASCII bytes (dropped),
    tabs, lead names with spaces and '#', no rate (250), zero and missing gain (200), baseline from
    ADC zero, fs given as 360.000000001 (an int for wfdb)."""
    raw = np.random.default_rng(9).integers(0, 256, 2 * 4 * 700, dtype=np.uint8).tobytes()
    text = ("# first a comment\r\n\r\n r 4\t 360.000000001 700 10:11:12 01/02/2003\r\n"
            "r.dat 16 0(5)/mV 16 0 0 0 0 lead one # two\r\n\r\n"
            "r.dat\t16 \xe9100 12 -3\r\n"
            "r.dat 16 50/uV 12 7 1 2 0 \r\n"
            "r.dat 16\r\n# trailing\r\n")
    header = tmp_path / "r.hea"
    header.write_bytes(text.encode("latin-1"))
    (tmp_path / "r.dat").write_bytes(raw)
    rec = _open(header)
    assert isinstance(rec, FastWfdbRecord)
    assert_header_like_wfdb(header, rec)
    assert rec.header.fs == 360 and rec.header.leads == ("lead one # two", "", "", "")
    parsed = parse_header(header.read_bytes())
    assert parsed.adc_gain == [200.0, 100.0, 50.0, 200.0] and parsed.baseline == [5, -3, 7, 0]
    for start, stop in slices(700):
        assert_reads_like_wfdb(rec, start, stop, [3, 0, 1, 2])
    assert parse_header(b"q 1\nr.dat 16\n").fs == 250 == wfdb.rdheader(str(write(tmp_path, "q", "q 1\n", {})
                                                                                  .with_suffix(""))).fs


def test_start_time_overflow_fails_like_wfdb(tmp_path: Path) -> None:
    """wfdb moves the start time of a slice and overflows past 31/12/9999; the fast path fails there too."""
    raw = np.zeros(2 * 100, dtype=np.uint8).tobytes()
    header = write(tmp_path, "r", "r 1 1 100 23:59:59 31/12/9999\nr.dat 16 100 16 0 0 0 0 a\n", {"r.dat": raw})
    rec = _open(header)
    assert isinstance(rec, FastWfdbRecord)
    assert_reads_like_wfdb(rec, 0, 100, [0])
    with pytest.raises(OverflowError):
        _wfdb(header, 5, 100, [0])
    with pytest.raises(RecordError):
        rec.read(5, 100, [0])


def test_file_cut_after_open_is_one_line_record_error(tmp_path: Path) -> None:
    header = _wrsamp(tmp_path, "rec", "212", 3, 1001, seed=4)
    rec = _open(header)
    os.truncate(tmp_path / "rec.dat", 100)
    with pytest.raises(RecordError, match="signal file rec.dat is short") as err:
        rec.read(10, 1001, [2])
    assert "\n" not in str(err.value)


def test_find_and_open_whole_data_folder_fast() -> None:
    found, problems = find_records([DATA])
    refs = [r for r in found if not r.name.startswith("real/")]  # real/: every format, as others wrote them
    assert [p for p in problems if not p[0].startswith("real/")] == [] and len(refs) == 73
    assert all(isinstance(open_record(ref), FastWfdbRecord) for ref in refs)


# ---------------------------------------------------------------- mutated real headers

MUTATION_SOURCES = ["wfdb/100", "wfdb/100_3chan", "wfdb/test01_00s", "wfdb/a103l", "wfdb/s0010_re",
                    "cinc2021/E07500", "cpsc2021/data_8_2", "real/physionet/cinc2020-georgia/E00009",
                    "real/physionet/cinc2017/A00004"]
TOKENS = ["", "0", "-", ".", "-0", "1", "2", "3", "12", "16", "212", "80", "24", "32", "61", "160", "8", "310",
          "516", "16x2", "16x1", "16:1", "16:0", "212+3", "16+24", "1e309", "1e5", "-1.5", "0.0", "200(-5)/uV",
          "200(", "(0)", "/mV", "1000.0(0)/mV", "12:30:00", "99:99:99", "31/12/9999", "1/1/2000", "250/2",
          "360/10(5)", "100/2", "~", "#", "x.dat", "a b", "\t", "\xe9", "\x00", "999999999999", "4.5",
          "2014-05-01", "23-Mar-2021", "05-06-2020", "E00009.mat", "100.dat"]


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, bytes]:
    """A real header with a few token edits, inserted or deleted characters, moved lines, or a cut."""
    source = draw(st.sampled_from(MUTATION_SOURCES), label="source")
    lines = [line.split(" ") for line in (DATA / f"{source}.hea").read_text().splitlines()[:20]]
    for _ in range(draw(st.integers(1, 3), label="edits")):
        i = draw(st.integers(0, len(lines) - 1), label="line")
        j = draw(st.integers(0, max(len(lines[i]) - 1, 0)), label="token")
        action = draw(st.sampled_from(["replace", "insert", "delete", "chars", "drop line", "copy line"]))
        if action == "replace" and lines[i]:
            lines[i][j] = draw(st.sampled_from(TOKENS), label="token")
        elif action == "insert":
            lines[i].insert(j, draw(st.sampled_from(TOKENS), label="token"))
        elif action == "delete" and lines[i]:
            del lines[i][j]
        elif action == "chars" and lines[i]:
            k = draw(st.integers(0, len(lines[i][j])), label="at")
            lines[i][j] = lines[i][j][:k] + draw(st.text("0123456789.-+x:/()e# \t~aZ", max_size=3)) + lines[i][j][k:]
        elif action == "drop line" and len(lines) > 1:
            del lines[i]
        elif action == "copy line":
            lines.insert(draw(st.integers(0, len(lines)), label="to"), list(lines[i]))
    text = "\n".join(" ".join(line) for line in lines) + "\n"
    if draw(st.booleans(), label="cut"):
        text = text[: draw(st.integers(0, len(text)), label="cut at")]
    return source, text.encode("latin-1")


def _fields(h: object) -> dict[str, str]:
    """The header fields both parsers give, as reprs (so 200 and 200.0 differ); absent signal fields as []."""
    out = {name: repr(getattr(h, name)) for name in ("fs", "n_sig", "sig_len", "base_time", "base_date")}
    out.update({name: repr(getattr(h, name) or []) for name in SIGNAL_FIELDS})
    return out


@expect("read", "record error", "departure read")
@pytest.mark.slow
@settings(max_examples=examples(300), deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(case=mutated())
def test_mutated_header_parses_like_wfdb_or_is_record_error(case: tuple[str, bytes]) -> None:
    source, text = case
    with tempfile.TemporaryDirectory(prefix="ecgspec-hea-") as tmp:
        folder = Path(tmp)
        for file in (DATA / source).parent.glob(Path(source).name + ".*"):
            if file.suffix != ".hea":
                os.symlink(file, folder / file.name)  # read-only use of the real signal files
        header = folder / f"{Path(source).name}.hea"
        header.write_bytes(text)
        try:
            theirs = wfdb.rdheader(str(header.with_suffix("")))
        except Exception:  # noqa: BLE001 - wfdb rejects a header by whatever its parse raises (ValueError, KeyError, ...)
            theirs = None
        try:
            ours = parse_header(text)
        except RecordError as exc:  # a start that is not one date and one time: named, where wfdb may misread it
            assert "record line: start" in str(exc)
            event("an ambiguous start refused")
            ours = "rejected" if theirs is None else "ambiguous"
        except (ValueError, IndexError):  # how parse_header rejects, as its docstring says
            ours = "rejected"
        departs = bool(getattr(ours, "warnings", ()))
        if departs:  # a record line read for its departures: wfdb on the line corrected (no start, name as read)
            lines = header_lines(text)
            header.write_text("\n".join([record_line(lines).text, *lines[1:]]) + "\n")
            fixed = header.read_bytes()
            theirs = wfdb.rdheader(str(header.with_suffix("")))
            outcome("departure read")
        event("wfdb rejects the header" if theirs is None else "wfdb parses the header")
        if theirs is None:
            assert ours == "rejected", "we parse a header wfdb rejects"
        elif ours == "ambiguous":
            pass
        elif isinstance(theirs, wfdb.MultiRecord):
            assert isinstance(ours, MasterHeader) and (ours.seg_name, ours.seg_len) == (theirs.seg_name, theirs.seg_len)
        elif departs:
            assert {**_fields(ours), "base_time": "", "base_date": ""} == {**_fields(theirs), "base_time": "", "base_date": ""}
        else:
            assert ours != "rejected" and _fields(ours) == _fields(theirs)
        header.write_bytes(text)
        try:
            rec = _open(header)
        except RecordError as exc:
            assert str(exc).strip() and "\n" not in str(exc)
            outcome("record error", "record error at open")
            return
        outcome("read", "fast" if isinstance(rec, FastWfdbRecord) else "wfdb")
        if departs:  # wfdb reads the samples of the corrected copy
            header.write_bytes(fixed)
        h = rec.header
        c = h.n_signals
        same_rate = [i for i in range(c) if h.rate(i) == h.rate(0)]
        for start, stop, channels in [(0, min(h.length(0), 1500), same_rate),
                                      (h.length(c - 1) // 2 | 1, min(h.length(c - 1), h.length(c - 1) // 2 + 300), [c - 1])]:
            if start >= stop:
                continue
            try:
                expected = _wfdb_expanded(header, start, stop, channels)
            except Exception:  # noqa: BLE001 - wfdb cannot read these samples, whatever it raises: ours must be a RecordError
                with pytest.raises(RecordError):
                    rec.read(start, stop, channels)
                continue
            assert np.array_equal(rec.read(start, stop, channels), expected, equal_nan=True)



def test_fast_path_imports_neither_wfdb_nor_pandas() -> None:
    """Opening and reading every real record (all on the fast path) imports neither wfdb nor pandas (issue 10)."""
    import subprocess
    import sys

    code = ("import sys; from ecgspec.readers import find_records, open_record\n"
            f"refs, _ = find_records([{str(DATA)!r}])\n"
            "refs = [r for r in refs if not r.name.startswith('real/')]  # the WFDB folders\n"
            "[open_record(r).read(0, 10, [0]) for r in refs]\n"
            "print(sorted(m for m in ('wfdb', 'pandas', 'edfio') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.stdout.strip() == "[]"
