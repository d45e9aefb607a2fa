"""EDF, EDF+ and BDF records through the ``edf`` extra (edfio), against files edfio writes."""

from __future__ import annotations

import sys
from pathlib import Path

import edfio
import numpy as np
import pytest

from ecgspec.readers import RecordError, RecordRef, find_records, open_record
from tests.helpers.edf import BAD_EDF, write_edf


def _open(path: Path):
    return open_record(RecordRef(path.stem, path, "edf"))


def quantum(bdf: bool) -> float:
    return 4000 / (2**24 - 1 if bdf else 2**16 - 1)


@pytest.mark.parametrize("bdf", [False, True])
@pytest.mark.parametrize("rates", [[500, 500], [500, 250, 1000], [128]])
def test_edf_written_by_edfio_reads_like_edfio(tmp_path: Path, bdf: bool, rates: list[float]) -> None:
    path, data = write_edf(tmp_path, "rec", rates, bdf=bdf)
    rec = _open(path)
    h = rec.header
    assert h.n_signals == len(rates) and h.leads == tuple(f"ECG {i}" for i in range(len(rates)))
    assert h.fs == max(rates) and h.n_samples == 10 * max(rates)
    assert [h.rate(i) for i in range(len(rates))] == rates and [h.length(i) for i in range(len(rates))] == [10 * r for r in rates]
    assert (h.signal_fs == ()) == (len(set(rates)) == 1)
    theirs = (edfio.read_bdf if bdf else edfio.read_edf)(path).signals
    for i, x in enumerate(data):
        n = h.length(i)
        whole = rec.read(0, n, [i])[0]
        np.testing.assert_array_equal(whole, theirs[i].data.astype(np.float32))
        assert np.abs(whole - x).max() <= quantum(bdf)
        for start, stop in [(1, n - 1), (n // 3, n // 3 + 1), (rates[i] - 3, 2 * rates[i] + 5), (n - 1, n)]:
            np.testing.assert_array_equal(rec.read(start, stop, [i])[0], whole[start:stop])


def test_same_rate_channels_read_together_in_any_order(tmp_path: Path) -> None:
    path, _ = write_edf(tmp_path, "rec", [250, 500, 250])
    rec = _open(path)
    both = rec.read(17, 1301, [2, 0])
    np.testing.assert_array_equal(both, np.stack([rec.read(17, 1301, [2])[0], rec.read(17, 1301, [0])[0]]))
    with pytest.raises(ValueError, match="different rates"):
        rec.read(0, 10, [0, 1])


def test_non_ascii_header_fields_are_accepted(tmp_path: Path) -> None:
    """Devices write Latin-1 bytes ('°' in a physical dimension, accents in labels), which the EDF
    standard forbids and strict readers refuse: read, the label decoded as Latin-1."""
    path, data = write_edf(tmp_path, "temp", [100], dimension="degC", annotations=False)
    raw = path.read_bytes()
    raw = raw.replace(b"degC    ", "°C      ".encode("latin-1"), 1).replace(b"ECG 0   ", "Dériv 0 ".encode("latin-1"), 1)
    path.write_bytes(raw)
    assert b"\xb0C" in raw and b"D\xe9riv" in raw
    rec = _open(path)
    assert rec.header.leads == ("Dériv 0",)
    assert np.abs(rec.read(0, 1000, [0])[0] - data[0]).max() <= quantum(False)


def test_annotation_only_and_plain_edf(tmp_path: Path) -> None:
    path, _ = write_edf(tmp_path, "plain", [200], annotations=False)
    assert _open(path).header.n_signals == 1
    edfio.Edf([], annotations=[edfio.EdfAnnotation(0, None, "x")]).write(tmp_path / "notes.edf")
    with pytest.raises(RecordError, match="has no signals"):
        _open(tmp_path / "notes.edf")


def test_edf_and_bdf_files_are_found_in_folders(tmp_path: Path) -> None:
    write_edf(tmp_path, "a", [250])
    (tmp_path / "sub").mkdir()
    write_edf(tmp_path / "sub", "b", [250], bdf=True)
    refs, problems = find_records([tmp_path])
    assert problems == [] and [(r.name, r.kind) for r in refs] == [("a", "edf"), ("sub/b", "edf")]


@pytest.mark.parametrize("case", list(BAD_EDF))
def test_bad_edf_is_one_line_record_error(tmp_path: Path, case: str) -> None:
    path, _ = write_edf(tmp_path, "rec", [500])
    spoil, expected = BAD_EDF[case]
    spoil(path)
    with pytest.raises(RecordError) as err:
        _open(path)
    assert expected in str(err.value) and "\n" not in str(err.value)


def test_without_edfio_an_edf_input_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path, _ = write_edf(tmp_path, "rec", [500])
    monkeypatch.setitem(sys.modules, "edfio", None)  # import edfio raises ImportError
    with pytest.raises(RecordError, match=r"pip install ecgspec\[edf\]") as err:
        _open(path)
    assert "\n" not in str(err.value)
