"""The compiled integer parser of the text readers (ecgspec/readers/_digits.c) against NumPy and
Python's own parses: what it reads is theirs, bit for bit, and it refuses (None) every text it
does not read, for the reader to parse as before. The NumPy paths the readers take where it was
not built are checked against the same references, built or not (tests/test_test_tiers.py runs
these tests with the extension hidden)."""

from __future__ import annotations

import io
import re
import shutil
import sysconfig
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ecgspec.readers import csv_records, digits
from ecgspec.readers.clinical import hl7
from ecgspec.readers.clinical.xml_common import Unhandled
from tests.helpers.fuzzing import examples

EXACT = 2 ** 53
# the extension is optional (``optional = true``: an install without a C compiler parses with NumPy, the same
# values): the tests of the compiled parser alone run where it was built, those of the NumPy paths everywhere
compiled_only = pytest.mark.skipif(not digits.BUILT, reason="ecgspec/readers/_digits.c not built (no C compiler)")


def test_the_parser_is_built_where_a_c_compiler_is() -> None:
    """A failed build is silent (optional), so where the machine has the C compiler Python was built
    with, the install must have built it."""
    compiler = (sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(compiler) is None:
        pytest.skip(f"no C compiler ({compiler}): the readers parse with NumPy")
    assert digits.BUILT, "ecgspec/readers/_digits.c was not built although a C compiler is here: pip install -e . again"


def test_the_parser_holds_no_simd_intrinsics() -> None:
    """Plain C: no SSE/AVX/NEON intrinsics (the classes of 64 bytes are found in 64-bit words)."""
    source = (Path(digits.__file__).parent / "_digits.c").read_text()
    assert not re.search(r"immintrin|[a-z]mmintrin|arm_neon|__m128|_mm_|__builtin_cpu_supports|target\(", source)


def _bits(x: np.ndarray | None) -> bytes | None:
    return None if x is None else np.asarray(x, np.float64).tobytes()


def _float_tokens(text: bytes) -> np.ndarray:
    """Python's float of each whitespace-separated token: how ecgdatakit reads HL7 digits."""
    return np.array([float(t) for t in text.split()], np.float64)


@compiled_only
@pytest.mark.parametrize("text, values", [
    (b"0", [0.0]), (b"-0", [-0.0]), (b" 12\t-3\r\n4 ", [12, -3, 4]), (b"1234567", [1234567]),
    (b"12345678", [12345678]), (b"-123456789012", [-123456789012]), (b"00000000000000000007", [7]),
    (str(EXACT - 1).encode(), [EXACT - 1]), (("-" + str(EXACT - 1)).encode(), [-(EXACT - 1)]),
    (b"1 2 3 4 5 6 7 8 9", list(range(1, 10))),  # every length of text left past the last 8-byte load
    (b" " * 63 + b"-7", [-7]), (b" " * 62 + b"-7", [-7]),
    (b"7 " * 40 + b"-123456789 " + b"8" * 15, [7] * 40 + [-123456789, int("8" * 15)]),  # blocks and the slow path
    # each token is read back from its end: a text of whole blocks ending in a token, a token across
    # two blocks, tokens within 8 bytes of the start, 7 and 8 digits where a block ends
    (b"1 " * 63 + b"-1", [1] * 63 + [-1]), (b"9 " * 31 + b"-12", [9] * 31 + [-12]), (b"1 -2 3", [1, -2, 3]),
    (b"-1234567" + b" -1234567" * 7, [-1234567] * 8), (b" " * 56 + b"12345678", [12345678]),
    (b"1234567 " * 8 + b"-0", [1234567] * 8 + [-0.0]),
    # past the first block: each sign and length after each other, and tokens of 8 digits among them
    (b" " * 64 + b"1 -22 333 -4444 55555 -666666 7777777 -0 -7777777 666666 -55555 4444 -333 22 -1 0",
     [1, -22, 333, -4444, 55555, -666666, 7777777, -0.0, -7777777, 666666, -55555, 4444, -333, 22, -1, 0]),
    (b"\t" * 64 + b"5 -12345678 6 7 -87654321\r\n8 9", [5, -12345678, 6, 7, -87654321, 8, 9]),
])
def test_spaced_integers_reads_tokens_exactly(text: bytes, values: list) -> None:
    assert _bits(digits.spaced_integers(text)) == np.array(values, np.float64).tobytes()


@compiled_only
@pytest.mark.parametrize("text", [
    b"", b"   ", b"-", b"1 -", b"--1", b"1-2", b"+1", b"1.5", b"1e3", b"1,2", b"1\f2", b"1\v2", b"\xa01",
    str(EXACT).encode(), b"-" + str(EXACT).encode(), b"99999999999999999999999", b"12345678x", b"1234567x",
    b" " * 63 + b"-", b" " * 63 + b"- 1", b" " * 64 + b"-", b"1" * 64, b"1 " * 40 + b"2-3", b"1 " * 40 + b"x",
    # bytes that are a digit, a sign or a space but for their high bit (the classes are found 8 bytes a
    # word), and control bytes beside the whitespace ones
    b"1\xb02", b"\xb9", b"\xad1", b"1\xa02", b"1\x8a2", b"1\x8d2", b"1\x892", b"1\x002", b"1\x1f2", b"1\x082",
    b"1 " * 40 + b"\xb0", b"1 " * 40 + b"\x0c",
])
def test_spaced_integers_refuses_every_other_text(text: bytes) -> None:
    assert digits.spaced_integers(text) is None


@compiled_only
@pytest.mark.parametrize("body, n_cols, values", [
    (b"1,2\n3,4", 2, [[1, 2], [3, 4]]), (b"1,2\r\n3,4\r\n", 2, [[1, 2], [3, 4]]), (b"-0\n5\n", 1, [[-0.0], [5]]),
    (b"123456789,-98765432\n", 2, [[123456789, -98765432]]),
])
def test_csv_integers_reads_rows_exactly(body: bytes, n_cols: int, values: list) -> None:
    assert _bits(digits.csv_integers(body, n_cols)) == np.array(values, np.float64).tobytes()


@compiled_only
@pytest.mark.parametrize("body, n_cols", [
    (b"", 2), (b"\n", 2), (b"1,2", 3), (b"1,2,3", 2), (b"1,2\n\n", 2), (b"1,2\r", 2), (b"1,2\r3,4", 2),
    (b"1, 2", 2), (b"1;2", 2), (b"1,2\n3", 2), (b"1,2", 0), (str(EXACT).encode(), 1),
])
def test_csv_integers_refuses_every_other_body(body: bytes, n_cols: int) -> None:
    assert digits.csv_integers(body, n_cols) is None


# texts of the characters that matter, so that most draws are near the happy path
_SPACED = st.text(alphabet="0123456789- \t\n\r+.\f", max_size=200).map(str.encode)
_CSV = st.text(alphabet="0123456789-,\n\r +.", max_size=60).map(str.encode)
_NUMBERS = st.lists(st.integers(-EXACT + 1, EXACT - 1) | st.integers(-3000, 3000), min_size=1, max_size=40)
_GAP = st.sampled_from([" ", "  ", "\t", "\r\n", "\n   "])
# numbers between whitespace of any length, after a lead-in of any length: tokens end anywhere in a block
_SPACED_NUMBERS = st.tuples(st.integers(0, 70), st.lists(st.tuples(_NUMBERS, _GAP), min_size=1, max_size=3)).map(
    lambda t: (" " * t[0] + "".join(g.join(map(str, v)) + g for v, g in t[1])).encode())


@settings(max_examples=examples(400), deadline=None)
@given(text=_SPACED | _NUMBERS.map(lambda v: " ".join(map(str, v)).encode()) | _SPACED_NUMBERS)
def test_spaced_integers_equals_python_and_the_numpy_path(text: bytes) -> None:
    compiled = digits.spaced_integers(text)
    try:  # (a lead without digits is refused before its digits are parsed)
        numpy_path = hl7._integers_numpy(text) if text.strip() else None
    except Unhandled:
        numpy_path = None
    if numpy_path is not None:
        assert _bits(numpy_path) == _float_tokens(text).tobytes()
    if digits.BUILT:
        assert _bits(compiled) == _bits(numpy_path)  # the compiled parser reads the same texts, the same values


def _loadtxt(body: bytes) -> np.ndarray:
    return np.loadtxt(io.StringIO(body.decode()), delimiter=",", dtype=np.float64, ndmin=2, comments=None)


@settings(max_examples=examples(400), deadline=None)
@given(body=_CSV | st.integers(1, 5).flatmap(
    lambda n: st.lists(st.lists(st.integers(-99999, 99999), min_size=n, max_size=n), min_size=1, max_size=8)
    .map(lambda rows: b"\n".join(",".join(map(str, r)).encode() for r in rows))))
def test_csv_integers_equals_np_loadtxt_and_the_numpy_path(body: bytes) -> None:
    n_cols = body.split(b"\n", 1)[0].count(b",") + 1
    compiled = digits.csv_integers(body, n_cols)
    numpy_path = csv_records.parse_integers_numpy(body, n_cols)
    if compiled is not None:
        assert compiled.shape[1] == n_cols and compiled.tobytes() == _loadtxt(body).tobytes()
    if numpy_path is not None:
        assert numpy_path.shape[1] == n_cols and _bits(numpy_path) == _loadtxt(body).tobytes()
        if digits.BUILT:
            assert _bits(numpy_path) == _bits(compiled)


@compiled_only
@settings(max_examples=examples(200), deadline=None)
@given(values=_NUMBERS, scale=st.floats(allow_nan=False, width=64) | st.sampled_from([0.5, 4.88, -1e-3, 0.0]),
       offset=st.sampled_from([0.0, -0.0, 12.5, -7.25]) | st.floats(allow_nan=False), lead_in=st.integers(0, 80))
def test_scaled_spaced_integers_equal_numpys_product_then_sum_in_float64(values: list, scale: float,
                                                                         offset: float, lead_in: int) -> None:
    text = b" " * lead_in + " ".join(map(str, values)).encode() + b" -0"
    x = digits.spaced_integers(text) * scale
    if offset:
        x += offset
    with np.errstate(over="ignore"):  # (a huge scale: inf, as the cast gives it)
        expected = x.astype(np.float32).tobytes()
    assert digits.spaced_integers(text, scale, offset).tobytes() == expected
    assert digits.spaced_integers(memoryview(b"x" + text)[1:], scale, offset).tobytes() == expected
