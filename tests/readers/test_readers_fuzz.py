"""Fuzzing the new readers as tests/test_fuzz.py fuzzes the others: a clinical file (MUSE, HL7 aECG,
Sierra, SCP-ECG, ISHNE, pydicom's DICOM), a CODE-15% part or a CSV, cut short or with bytes overwritten,
either reads (every sample float32, of the asked shape) or is one RecordError line (or, for a part,
one discovery problem); never another exception, never a hang. ecgspec's own XML and SCP-ECG
decoders are also fuzzed differentially: what they read of a spoiled file is what ecgdatakit reads."""

from __future__ import annotations

import contextlib
import math
import re
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom.data import get_testdata_file

from ecgspec.readers import RecordError, RecordRef, find_records, open_record
from tests.helpers import ecg_writers as w
from tests.helpers.fuzzing import examples, expect, outcome
from tests.helpers.timing import time_limit as _time_limit

FUZZ = settings(max_examples=examples(100), deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
TIME_LIMIT = 30  # seconds for one example: beyond it counts as a hang



def time_limit(seconds: int = TIME_LIMIT) -> contextlib.AbstractContextManager[None]:
    return _time_limit(seconds)


def read_every_signal(ref: RecordRef) -> int:
    """Open a record and read all of every signal, rate group by rate group; return the samples read."""
    record = open_record(ref, input_fs=500)
    h = record.header
    assert h.n_signals >= 1 and h.n_samples >= 1 and math.isfinite(h.fs) and h.fs > 0
    total = 0
    for rate in sorted({h.rate(i) for i in range(h.n_signals)}):
        group = [i for i in range(h.n_signals) if h.rate(i) == rate]
        n = h.length(group[0])
        data = record.read(0, n, group)
        assert data.dtype == np.float32 and data.shape == (len(group), n)
        total += data.size
    return total


def clean(ref: RecordRef) -> int | None:
    """The samples read, or None for a one-line RecordError; any other exception fails the test."""
    with time_limit():
        try:
            return read_every_signal(ref)
        except RecordError as exc:
            assert str(exc).strip() and "\n" not in str(exc), repr(str(exc))
            return None


def spoil(raw: bytes, data: st.DataObject) -> bytes:
    """``raw`` cut short and/or with a few spans overwritten by junk bytes or digits."""
    out = bytearray(raw)
    for _ in range(data.draw(st.integers(0, 4), label="edits")):
        at = data.draw(st.integers(0, max(0, len(out) - 1)), label="at")
        junk = data.draw(st.one_of(st.binary(min_size=1, max_size=8), st.sampled_from(
            [b"0", b"-1", b"99999", b"<", b">", b"\"", b"=", b"\0\0\0\0", b"\xff\xff\xff\xff", b"AAAA"])), label="junk")
        out[at:at + len(junk)] = junk
    if data.draw(st.booleans(), label="cut"):
        out = out[: data.draw(st.integers(0, len(out)), label="length")]
    return bytes(out)


def _writer(kind: str, folder: Path) -> Path:
    x = w.counts(12, 400, seed=3)
    if kind == "muse":
        return w.muse_xml(folder / "r.xml", x[:8])
    if kind == "dcm":
        path = folder / "r.dcm"
        path.write_bytes(Path(get_testdata_file("waveform_ecg.dcm")).read_bytes())
        return path
    if kind == "ishne":
        return w.ishne(folder / "r.ecg", x)
    return {"hl7": w.hl7_aecg, "sierra": w.sierra_xml, "scp": w.scp_ecg}[kind](folder / f"r.{kind}", x)


@expect("read", "record error")
@FUZZ
@given(kind=st.sampled_from(["muse", "hl7", "sierra", "scp", "ishne", "dcm"]), data=st.data())
def test_spoiled_clinical_file_is_read_or_a_record_error(kind: str, data: st.DataObject) -> None:
    with tempfile.TemporaryDirectory(prefix="ecgspec-fuzz-") as tmp:
        path = _writer(kind, Path(tmp))
        if kind in ("hl7", "sierra"):
            path = path.rename(path.with_suffix(".xml"))
        path.write_bytes(spoil(path.read_bytes(), data))
        n = clean(RecordRef("r", path, "clinical"))
        outcome("record error" if n is None else "read")


def _structure_spoil(raw: bytes, data: st.DataObject) -> bytes:
    """Bytes overwritten (or removed, or inserted) where the DICOM structure is: the annotation and
    waveform sequences' headers, delimiters and short values (the first 20 kB), maybe cut there."""
    out = bytearray(raw)
    for _ in range(data.draw(st.integers(1, 4), label="edits")):
        at = data.draw(st.integers(300, 20000), label="at")
        junk = data.draw(st.one_of(st.binary(min_size=1, max_size=8), st.sampled_from(
            [b"\xfe\xff\x00\xe0", b"\xfe\xff\x0d\xe0", b"\xfe\xff\xdd\xe0", b"\xff\xff\xff\xff", b"SQ", b"OB", b"\0\0"])),
            label="junk")
        how = data.draw(st.sampled_from(["overwrite", "insert", "remove"]), label="how")
        if how == "overwrite":
            out[at:at + len(junk)] = junk
        elif how == "insert":
            out[at:at] = junk
        else:
            del out[at:at + len(junk)]
    if data.draw(st.booleans(), label="cut"):
        out = out[: data.draw(st.integers(300, 20000), label="length")]
    return bytes(out)


@expect("read", "fallback")
@settings(FUZZ, max_examples=examples(300))
@given(data=st.data())
def test_spoiled_dicom_structure_is_a_fallback_or_a_record_to_ecgspecs_own_reader(data: st.DataObject) -> None:
    """ecgspec's own DICOM reader alone (no ecgdatakit): Unhandled, or a record of float32 leads."""
    from ecgspec.readers.clinical import dicom
    from ecgspec.readers.registry import Unhandled

    with tempfile.TemporaryDirectory(prefix="ecgspec-fuzz-") as tmp:
        path = Path(tmp) / "r.dcm"
        path.write_bytes(_structure_spoil(Path(get_testdata_file("waveform_ecg.dcm")).read_bytes(), data))
        with time_limit():
            try:
                record = dicom.read_fast(RecordRef("r", path, "clinical"))
            except Unhandled as why:
                assert str(why) and "\n" not in str(why)
                outcome("fallback")
                return
        outcome("read")
        h = record.header
        assert record.read(0, h.n_samples, range(h.n_signals)).dtype == np.float32


@expect("read", "record error")
@FUZZ
@given(data=st.data())
def test_spoiled_csv_is_read_or_a_record_error(data: st.DataObject) -> None:
    with tempfile.TemporaryDirectory(prefix="ecgspec-fuzz-") as tmp:
        path = w.csv_record(Path(tmp) / "r.csv", np.round(np.random.default_rng(0).normal(0, 9, (3, 50)), 2),
                            leads=("I", "II", "V1"))
        path.write_bytes(spoil(path.read_bytes(), data))
        n = clean(RecordRef("r", path, "csv"))
        outcome("record error" if n is None else "read")


@expect("read", "refused")
@settings(FUZZ, max_examples=examples(60))
@given(data=st.data())
def test_spoiled_code15_part_is_read_or_a_problem_or_record_error(data: st.DataObject) -> None:
    with tempfile.TemporaryDirectory(prefix="ecgspec-fuzz-") as tmp:
        x = np.ones((30, 12), np.float32)
        path = w.code15_part(Path(tmp) / "p.hdf5", [(5, x, 3), (6, x * 2, 0)], length=40)
        path.write_bytes(spoil(path.read_bytes(), data))
        with time_limit():
            refs, problems = find_records([path])
        assert all("\n" not in message for _, message in problems)
        results = [clean(ref) for ref in refs]
        outcome("read" if refs and not problems and None not in results else "refused",
                "problem" if problems else "record error" if None in results else "read")


def _outcome(make):
    """A record's header, meta and float32 samples, or its one-line error."""
    try:
        record = make()
    except RecordError as exc:
        assert "\n" not in str(exc)
        return "error"
    h = record.header
    return (h, h.units, h.meta, h.start_time,
            [record.read(0, h.length(c), [c]).tobytes() for c in range(h.n_signals)])


def respell(raw: bytes, data: st.DataObject) -> bytes:
    """``raw`` with a few spans overwritten by characters that keep most XML well-formed (digits,
    signs, Base64 letters, spaces): spoiled values, counts, rates and waveforms rather than markup."""
    out = bytearray(raw)
    starts = [m.end() for m in re.finditer(rb'>(?!<)|="', raw)]  # where a text or an attribute value starts
    for _ in range(data.draw(st.integers(1, 4), label="edits")):
        at = data.draw(st.sampled_from(starts), label="at") + data.draw(st.integers(0, 3), label="into")
        junk = data.draw(st.one_of(st.text("0123456789+-.eE AZaz/=nif\t\n", min_size=1, max_size=6).map(str.encode),
                                   st.sampled_from([b"-", b"- ", b"-0", b"nan", b"inf", b"1e9", b"0", b"==", b"  "])),
                         label="junk")
        out[at:at + len(junk)] = junk
    return bytes(out)


@expect("fast read", "left to ecgdatakit")
@settings(FUZZ, max_examples=examples(300))
@given(kind=st.sampled_from(["muse", "hl7", "sierra"]), gentle=st.booleans(), data=st.data())
def test_spoiled_xml_the_fast_decoder_reads_is_what_ecgdatakit_reads(kind: str, gentle: bool,
                                                                     data: st.DataObject) -> None:
    """Differential: whatever ecgspec's own XML decoder makes of a spoiled file (not leaving it to
    ecgdatakit) is exactly what ecgdatakit makes of it."""
    from ecgspec.readers import clinical
    from ecgspec.readers.clinical.ecgdatakit_facts import SNIFF
    from ecgspec.readers.clinical.ecgdatakit_facts import detect as sniff

    with tempfile.TemporaryDirectory(prefix="ecgspec-fuzz-") as tmp:
        path = _writer(kind, Path(tmp))
        path = path.rename(path.with_suffix(".xml"))
        path.write_bytes((respell if gentle else spoil)(path.read_bytes(), data))
        ref = RecordRef("r", path, "clinical")
        raw = path.read_bytes()
        found = sniff(raw[:SNIFF])
        if found is None:
            outcome("not sniffed")
            return
        decoder = __import__(f"ecgspec.readers.clinical.{found}", fromlist=["decode"])
        with time_limit():
            try:
                got = decoder.decode(raw, clinical.meta_pairs)
            except Exception:  # noqa: BLE001 - Unhandled, or what open_clinical hands to ecgdatakit
                outcome("left to ecgdatakit")
                return
            fast = _outcome(lambda: clinical._record(ref, got.names, got.signals, got.rates, got.units,
                                                     got.start_time, got.meta))
            assert fast == _outcome(lambda: clinical.open_with_ecgdatakit(ref))
        outcome("fast " + ("error" if fast == "error" else "read"))


SCP_VARIANTS = {"int16": {}, "second differences": {"diff": 2},
                "default Huffman": {"huffman": "default", "diff": 2, "sections": {7: bytes(6), 10: bytes(4)}},
                "default Huffman, small values": {"huffman": "default", "diff": 2},
                "own Huffman table": {"huffman": [[(1, 1, 1, 0, "0"), (2, 2, 1, 1, "10"), (3, 11, 1, 0, "110"),
                                                   (3, 19, 1, 0, "111")]], "diff": 1},
                "tags, Sections 7, 8, 10": {"more_tags": [(0, b"Doe\0"), (4, b"\x36\x00\x01"), (5, b"\xaf\x07\x05\x06"),
                                                          (14, bytes(36) + b"prog\0SN\0v1\0\0Acme\0"),
                                                          (27, b"\x05\x00"), (29, b"\x05"), (34, b"\x3c\x00\x00\x00")],
                                            "sections": {7: bytes(6), 8: bytes(8) + b"\x01\x01\x02\x00ab",
                                                         10: b"\x01\x00\x00\x00\x01\x00\x02\x00\x05\x00"}}}


def _scp_spoil(raw: bytes, data: st.DataObject) -> bytes:
    """``raw`` with a few bytes overwritten, mostly where its structure is (the first 400 bytes: the
    pointers, tags, tables, lead definitions and lead byte counts), maybe cut short."""
    out = bytearray(raw)
    for _ in range(data.draw(st.integers(1, 3), label="edits")):
        at = data.draw(st.one_of(st.integers(0, 400), st.integers(0, len(out) - 1)), label="at")
        junk = data.draw(st.one_of(st.binary(min_size=1, max_size=4), st.sampled_from(
            [b"\0", b"\xff", b"\x01", b"\x02", b"\x0c", b"\xff\xff", b"\0\0\0\0", b"\x1f\x4e"])), label="junk")
        out[at:at + len(junk)] = junk
    if data.draw(st.integers(0, 3), label="cut") == 0:
        out = out[: data.draw(st.integers(0, len(out)), label="length")]
    return bytes(out)


@expect("fast read", "broken", "left to ecgdatakit")
@settings(FUZZ, max_examples=examples(400))
@given(variant=st.sampled_from(sorted(SCP_VARIANTS)), fix=st.booleans(), data=st.data())
def test_spoiled_scp_the_fast_decoder_reads_is_what_ecgdatakit_reads(variant: str, fix: bool,
                                                                     data: st.DataObject) -> None:
    """Differential: whatever ecgspec's own SCP-ECG decoder makes of a spoiled record (its CRCs made
    right again, or not) is exactly what ecgdatakit makes of it; a record it finds broken (not
    merely left to ecgdatakit) ecgdatakit refuses too, and so does it a record the decoder reads
    although it departs from the standard (noted in ``scp_warnings``: tests/readers/test_scp_decoder.py
    checks those against the compliant record of the same samples)."""
    from ecgspec.readers import clinical
    from ecgspec.readers.clinical import scp
    from ecgspec.readers.registry import Unhandled
    from tests.helpers import scp_writer

    with tempfile.TemporaryDirectory(prefix="ecgspec-fuzz-") as tmp:
        x = w.counts(12, 300, seed=3) // (256 if "small" in variant else 1)  # small: a few bits a Huffman code
        path = scp_writer.scp_ecg(Path(tmp) / "r.scp", x, **SCP_VARIANTS[variant])
        spoiled = _scp_spoil(path.read_bytes(), data)
        path.write_bytes(scp_writer.fix_crcs(spoiled) if fix else spoiled)
        ref = RecordRef("r", path, "clinical")
        with time_limit():
            try:
                got = scp.decode(path.read_bytes(), clinical.meta_pairs)
            except Unhandled as exc:
                if exc.malformed:
                    assert _outcome(lambda: clinical.open_with_ecgdatakit(ref)) == "error", exc
                outcome("broken" if exc.malformed else "left to ecgdatakit")
                return
            except RecordError as exc:  # a record whose Section 0 points to itself at 6, broken otherwise
                assert str(exc).startswith("SCP-ECG (Section 0's pointer to itself 6") and "\n" not in str(exc)
                outcome("broken", "broken, pointer variant")
                return
            if any(key == "scp_warnings" for key, _ in got.meta):
                assert _outcome(lambda: clinical.open_with_ecgdatakit(ref)) == "error"
                outcome("fast read", "read although not compliant")
                return
            fast = _outcome(lambda: clinical._record(ref, got.names, got.signals, got.rates, got.units,
                                                     got.start_time, got.meta))
            assert fast == _outcome(lambda: clinical.open_with_ecgdatakit(ref))
        outcome("fast " + ("error" if fast == "error" else "read"))
