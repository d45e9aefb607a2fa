"""CSV records: a header row of lead names, one row a sample, at ``--input-fs``; values as stored;
a malformed file is one RecordError line."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from ecgspec.cli import main
from ecgspec.readers import RecordError, RecordRef, csv_records, digits, find_records, open_record
from tests.helpers import ecg_writers as w
from tests.helpers.fuzzing import examples


def open_csv(path: Path, fs: float | None = 500):
    return open_record(RecordRef(path.stem, path, "csv"), input_fs=fs)


def test_a_csv_equals_its_values_with_its_header_row_as_lead_names(tmp_path: Path) -> None:
    x = np.random.default_rng(1).normal(0, 100, (12, 3000)).round(4)
    w.csv_record(tmp_path / "JS00001.csv", x)
    (ref,), problems = find_records([tmp_path])
    assert problems == [] and ref.kind == "csv" and ref.name == "JS00001"
    record = open_record(ref, input_fs=500)
    h = record.header
    assert h.leads == w.LEADS12 and h.fs == 500 and h.n_samples == 3000 and h.n_signals == 12
    assert np.array_equal(record.read(0, 3000, range(12)), x.astype(np.float32))
    assert np.array_equal(record.read(7, 9, [11, 2]), x.astype(np.float32)[[11, 2], 7:9])


def test_integers_quoted_names_and_crlf_lines_read_as_stored(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_bytes(b'"ECG, I",II\r\n1,-2\r\n3,40000\r\n')
    record = open_csv(path, 250)
    assert record.header.leads == ("ECG, I", "II") and record.header.fs == 250
    assert record.read(0, 2, [0, 1]).tolist() == [[1, 3], [-2, 40000]]


@pytest.mark.parametrize("content, reason", [
    ("I,II\n1,2\n3\n", "data row"),
    ("I,II\n1,2\n3,4,5\n", "data row"),
    ("I,II\n1,x\n", "data row"),
    ("1,2\n3,4\n", "header row of lead names"),
    ("", "header row of lead names"),
    ("I,I\n1,2\n", "names a lead twice"),
    ("I,II\n", "has 0 samples"),
])
def test_a_malformed_csv_is_a_one_line_record_error(content: str, reason: str, tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(RecordError) as info:
        open_csv(path)
    assert reason in str(info.value) and "\n" not in str(info.value), str(info.value)


def test_a_csv_without_a_rate_is_a_record_error(tmp_path: Path) -> None:
    with pytest.raises(RecordError, match="stores no sampling rate"):
        open_csv(w.csv_record(tmp_path / "r.csv", np.zeros((12, 10))), None)


def test_csv_records_extract_at_input_fs_and_a_bad_one_costs_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    x = np.random.default_rng(2).normal(0, 1, (12, 2000))
    w.csv_record(folder / "a.csv", x)
    (folder / "b.csv").write_text("I,II\n1,2\n3\n")
    res = CliRunner().invoke(main, ["extract", str(folder), str(tmp_path / "o.h5"), "--n-samples", "1000",
                                    "--n-bins", "32", "--input-fs", "250", "--workers", "1"], catch_exceptions=False)
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert "ecgspec: skipped b: csv: " in res.stderr
    with h5py.File(tmp_path / "o.h5") as f:
        assert [v.decode() for v in f["records/name"][:]] == ["a"]
        assert f["records/fs"][:].tolist() == [250.0] and f["spectrograms"].shape[0] == 4  # 8 s at 500 Hz


def test_a_folder_passes_over_a_dataset_table_and_reads_a_table_named_on_its_own(tmp_path: Path) -> None:
    w.csv_record(tmp_path / "rec.csv", np.zeros((3, 5)), leads=("MLII", "V5", "ECG 3"))
    (tmp_path / "exams.csv").write_text("exam_id,age,is_male,trace_file\n1,50,1,exams_part0.hdf5\n")
    (tmp_path / "labels.csv").write_text("a,b\n1,2\n")
    (tmp_path / "timed.csv").write_text("time,I,II\n0,1,2\n")
    refs, problems = find_records([tmp_path])
    assert problems == [] and [r.name for r in refs] == ["rec", "timed"]
    (ref,), _ = find_records([tmp_path / "labels.csv"])
    assert open_record(ref, input_fs=100).header.leads == ("a", "b")


# ---------------------------------------------------------------- the fast path for integer bodies

def _loadtxt_reference(body: bytes) -> np.ndarray:
    """What the record held before the fast path: np.loadtxt's float64 of the body, as float32."""
    import io
    return np.loadtxt(io.StringIO(body.decode()), delimiter=",", dtype=np.float64, ndmin=2, quotechar='"',
                      comments=None).astype(np.float32)


# the fast path: the compiled parser (as installed), and NumPy's (an install without a C compiler)
FAST_PATHS = [csv_records.parse_integers, csv_records.parse_integers_numpy]


@pytest.mark.parametrize("parse", FAST_PATHS, ids=["compiled", "numpy"])
@settings(max_examples=examples(60), deadline=None)
@given(x=hnp.arrays(np.int64, hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=9),
                    elements=st.one_of(st.integers(-40000, 40000), st.integers(-2 ** 52, 2 ** 52))),
       crlf=st.booleans(), final_newline=st.booleans())
def test_integer_bodies_take_the_fast_path_and_equal_np_loadtxt(parse, x: np.ndarray, crlf: bool,
                                                                final_newline: bool) -> None:
    end = b"\r\n" if crlf else b"\n"
    body = end.join(",".join(map(str, row)).encode() for row in x.tolist()) + (end if final_newline else b"")
    fast = parse(body, x.shape[1])
    assert fast is not None
    ref = _loadtxt_reference(body)
    assert fast.astype(np.float32).tobytes() == ref.tobytes() and fast.shape == ref.shape


@pytest.mark.parametrize("built", [pytest.param(True, marks=pytest.mark.skipif(not digits.BUILT, reason="not built")), False],
                         ids=["compiled", "numpy"])
def test_open_csv_reads_integers_by_the_fast_path(built: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(csv_records.digits, "BUILT", built)
    x = w.counts(12, 500).astype(np.int64)
    x[3, 7], x[4, 8] = 0, -40000
    path = w.csv_record(tmp_path / "r.csv", x)
    monkeypatch.setattr(csv_records, "_parse_loadtxt", None)  # any use of it is a TypeError
    record = open_csv(path)
    assert record.read(0, 500, range(12)).tobytes() == x.astype(np.float32).tobytes()


@pytest.mark.parametrize("body", [
    b"1,2\n\n3,4\n", b"-0,1\n", b"1,+2\n", b" 1,2\n", b"1.5,2\n", b'"1",2\n', b"1,2\n3,4\n\n",
    b"99999999999999999999,1\n", b"9007199254740993,1\n", b"1e3,2\n",
])
def test_other_bodies_fall_back_to_np_loadtxt_and_read_the_same(body: bytes, tmp_path: Path) -> None:
    assert csv_records.parse_integers_numpy(body, 2) is None
    compiled = csv_records.parse_integers(body, 2)  # takes -0 (as -0.0), the one body here that it reads
    assert compiled is None or (body == b"-0,1\n" and compiled.astype(np.float32).tobytes() == _loadtxt_reference(body).tobytes())
    path = tmp_path / "r.csv"
    path.write_bytes(b"I,II\n" + body)
    record = open_csv(path)
    values = record.read(0, record.header.n_samples, [0, 1])
    assert np.ascontiguousarray(values.T).tobytes() == _loadtxt_reference(body).tobytes()


@pytest.mark.parametrize("body", [
    b"1,2\n3\n", b"1,2\n3,4,5\n", b"1,,2\n", b"1,2,\n", b",1,2\n", b"1,-\n", b"1-2,3\n", b"-,1\n", b"1,2\n3,4-\n",
    b"1,--2\n", b"1,2\r\n3\r\n", b"1,2\r3,4\n", b"1,2\n3,4\n5", b"1,2\n3,4\n5,", b"1,x\n", b"1,2\n,\n", b"\xff,1\n",
])
def test_a_malformed_integer_body_is_np_loadtxts_one_line_error(body: bytes, tmp_path: Path) -> None:
    assert csv_records.parse_integers(body, 2) is None and csv_records.parse_integers_numpy(body, 2) is None
    path = tmp_path / "r.csv"
    path.write_bytes(b"I,II\n" + body)
    with pytest.raises(RecordError) as info:
        open_csv(path)
    with pytest.raises(RecordError) as reference:
        csv_records._parse_loadtxt(body.decode(errors="replace"))
    message = str(info.value)
    assert "\n" not in message and message.startswith("csv: ")
    assert message == str(reference.value) or "the rows hold" in message, message
