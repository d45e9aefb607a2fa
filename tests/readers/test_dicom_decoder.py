"""ecgspec's own DICOM waveform reader (readers/clinical/dicom.py) against ecgdatakit + pydicom on pydicom's
waveform_ecg.dcm and on variants written with pydicom: the same header, meta and float32 samples;
other variants fall back to ecgdatakit; malformed files are one-line RecordErrors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.uid import ExplicitVRBigEndian, ImplicitVRLittleEndian

from ecgspec.readers import RecordError, RecordRef, clinical
from ecgspec.readers.clinical import dicom, dicom_parts
from ecgspec.readers.registry import Unhandled

DICOM = Path(get_testdata_file("waveform_ecg.dcm"))


def _ref(path: Path) -> RecordRef:
    return RecordRef(path.stem, path, "clinical")


def _same(path: Path) -> None:
    fast, slow = dicom.read_fast(_ref(path)), clinical.open_with_ecgdatakit(_ref(path))
    assert fast.header == slow.header
    n = slow.header.n_samples
    assert fast.read(0, n, range(slow.header.n_signals)).tobytes() == slow.read(0, n, range(slow.header.n_signals)).tobytes()


def _scale(ds, ch: int, sensitivity=None, correction=None, baseline=None, unit=None) -> None:
    item = ds.WaveformSequence[0].ChannelDefinitionSequence[ch]
    for key, value in (("ChannelSensitivity", sensitivity), ("ChannelSensitivityCorrectionFactor", correction),
                       ("ChannelBaseline", baseline)):
        if value == "drop":
            del item[key]
        elif value is not None:
            setattr(item, key, value)
    if unit is not None:
        item.ChannelSensitivityUnitsSequence[0].CodeValue = unit


def _subset(ds, keep: list[int]) -> None:
    group = ds.WaveformSequence[0]
    x = np.frombuffer(group.WaveformData, "<i2").reshape(group.NumberOfWaveformSamples, -1)
    group.WaveformData = np.ascontiguousarray(x[:, keep]).tobytes()
    group.ChannelDefinitionSequence = [group.ChannelDefinitionSequence[i] for i in keep]
    group.NumberOfWaveformChannels = len(keep)


def _defined_lengths(ds) -> None:
    """Every sequence and item written with its length (pydicom's file has them undefined)."""
    for elem in ds.iterall():
        if elem.VR == "SQ":
            elem.is_undefined_length = False
            for item in elem.value:
                item.is_undefined_length_sequence_item = False


VARIANTS = {
    "as_is": lambda ds: None,
    "sensitivity": lambda ds: [_scale(ds, c, sensitivity="2.5") for c in range(12)],
    "baseline_correction": lambda ds: [_scale(ds, c, correction="0.98", baseline=str(c - 5)) for c in range(12)],
    "no_correction_no_baseline": lambda ds: [_scale(ds, c, correction="drop", baseline="drop") for c in range(12)],
    "mv_unit_unit_scale": lambda ds: [_scale(ds, c, sensitivity="1", correction="1", baseline="0", unit="mV")
                                      for c in range(12)],
    "negative_sensitivity": lambda ds: _scale(ds, 3, sensitivity="-1.25"),
    "negative_sensitivity_beside_baselines": lambda ds: [_scale(ds, c, sensitivity="-1.25" if c == 5 else None,
                                                                baseline=str(c - 5)) for c in range(12)],
    "padding_negative_sensitivity": lambda ds: (ds.WaveformSequence[0].add_new(0x5400100A, "OW", b"\x50\x00"),
                                                _scale(ds, 2, sensitivity="-2.5")),
    "defined_lengths": _defined_lengths,
    "lead_subset": lambda ds: _subset(ds, [1, 0, 7]),
    "one_lead": lambda ds: _subset(ds, [4]),
    "median_first": lambda ds: setattr(ds, "WaveformSequence", list(ds.WaveformSequence)[::-1]),
    "no_median": lambda ds: setattr(ds, "WaveformSequence", list(ds.WaveformSequence)[:1]),
    "no_annotations": lambda ds: delattr(ds, "WaveformAnnotationSequence"),
    "patient_fields": lambda ds: (setattr(ds, "PatientName", "Doe^Jane^Q"), setattr(ds, "PatientWeight", "61.5"),
                                  setattr(ds, "PatientSize", "1.68"), setattr(ds, "OperatorsName", "Tech^Tom"),
                                  delattr(ds, "PatientAge")),
    "no_acquisition_datetime": lambda ds: delattr(ds, "AcquisitionDateTime"),
    "padding": lambda ds: ds.WaveformSequence[0].add_new(0x5400100A, "OW", b"\x50\x00"),
    "rate_500": lambda ds: setattr(ds.WaveformSequence[0], "SamplingFrequency", "500"),
}


def _write(tmp_path: Path, variant: str, **save) -> Path:
    ds = pydicom.dcmread(DICOM)
    VARIANTS[variant](ds)
    path = tmp_path / f"{variant}.dcm"
    ds.save_as(path, **save)
    return path


def test_pydicoms_waveform_ecg_reads_as_ecgdatakit_reads_it() -> None:
    _same(DICOM)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_variants_read_as_ecgdatakit_reads_them(variant: str, tmp_path: Path) -> None:
    _same(_write(tmp_path, variant))


def test_implicit_vr_reads_as_ecgdatakit_reads_it(tmp_path: Path) -> None:
    ds = pydicom.dcmread(DICOM)
    path = tmp_path / "implicit.dcm"
    ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    ds.save_as(path, implicit_vr=True, little_endian=True)
    assert pydicom.dcmread(path).file_meta.TransferSyntaxUID == ImplicitVRLittleEndian
    _same(path)


def test_open_clinical_takes_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clinical, "open_with_ecgdatakit", None)
    record = clinical.open_clinical(_ref(DICOM))
    assert record.header.leads[:3] == ("I", "II", "III") and isinstance(record, dicom.DicomRecord)


@pytest.mark.parametrize("change", ["big_endian", "no_units", "two_rhythm_groups", "unsigned"])
def test_other_variants_fall_back_to_ecgdatakit(change: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ds = pydicom.dcmread(DICOM)
    save = {}
    if change == "big_endian":
        ds.file_meta.TransferSyntaxUID = ExplicitVRBigEndian
        save = {"implicit_vr": False, "little_endian": False, "force_encoding": True}
        group = ds.WaveformSequence[0]
        group.WaveformData = np.frombuffer(group.WaveformData, "<i2").astype(">i2").tobytes()
    elif change == "no_units":
        for item in ds.WaveformSequence[1].ChannelDefinitionSequence:  # the median's: still read by ecgdatakit
            del item.ChannelSensitivityUnitsSequence
        del ds.WaveformSequence[0].ChannelDefinitionSequence[2].ChannelSensitivityUnitsSequence
    elif change == "two_rhythm_groups":
        ds.WaveformSequence[1].MultiplexGroupLabel = "RHYTHM"
    else:
        ds.WaveformSequence[0].WaveformSampleInterpretation = "US"
    path = tmp_path / f"{change}.dcm"
    pydicom.dcmwrite(path, ds, **save)
    with pytest.raises(Unhandled):
        dicom.read_fast(_ref(path))
    calls = []
    slow = clinical.open_with_ecgdatakit
    monkeypatch.setattr(clinical, "open_with_ecgdatakit", lambda ref: calls.append(ref) or slow(ref))
    try:
        clinical.open_clinical(_ref(path))
    except RecordError as exc:
        assert "\n" not in str(exc)
    assert len(calls) == 1


@pytest.mark.parametrize("cut", [100, 140, 600, 3000, 20000, 100000, -1])
def test_a_truncated_file_falls_back_and_is_a_one_line_record_error(cut: int, tmp_path: Path) -> None:
    """Cut anywhere, the fast path gives up; ecgdatakit then says why (or, cut in the last private
    element after the waveforms, reads it as before)."""
    path = tmp_path / "cut.dcm"
    path.write_bytes(DICOM.read_bytes()[:cut])
    with pytest.raises(Unhandled):
        dicom.read_fast(_ref(path))
    if cut == -1:
        assert clinical.open_clinical(_ref(path)).header == clinical.open_with_ecgdatakit(_ref(path)).header
        return
    with pytest.raises(RecordError) as info:
        clinical.open_clinical(_ref(path))
    assert "\n" not in str(info.value)


def test_without_pydicom_a_fallback_is_the_one_line_error_naming_the_extra(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "cut.dcm"
    path.write_bytes(DICOM.read_bytes()[:20000])
    monkeypatch.setattr(clinical.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(RecordError, match=r"^DICOM: .*needs pydicom: pip install ecgspec\[clinical\]$"):
        clinical.open_clinical(_ref(path))


@pytest.mark.parametrize("nested", [0, 1, 3])
def test_an_undefined_length_sequence_is_skipped_to_its_own_delimiter(nested: int) -> None:
    """A private sequence of undefined length, its items nesting more of them, each holding the bytes
    of a sequence delimiter inside an OB value: the walk lands on the element after it."""
    def element(group, elem, vr, value):
        return np.array([group, elem], "<u2").tobytes() + vr + np.array([len(value)], "<u2").tobytes() + value

    def ob(value):
        return np.array([0x0009, 0x1002], "<u2").tobytes() + b"OB\0\0" + np.array([len(value)], "<u4").tobytes() + value

    delim = b"\xfe\xff\xdd\xe0\0\0\0\0"
    body = ob(delim)
    for _ in range(nested):
        body = (ob(delim) + np.array([0x0009, 0x1001], "<u2").tobytes() + b"SQ\0\0\xff\xff\xff\xff"
                + b"\xfe\xff\x00\xe0\xff\xff\xff\xff" + body + b"\xfe\xff\x0d\xe0\0\0\0\0" + delim)
    seq = (np.array([0x0009, 0x1001], "<u2").tobytes() + b"SQ\0\0\xff\xff\xff\xff"
           + b"\xfe\xff\x00\xe0\xff\xff\xff\xff" + body + b"\xfe\xff\x0d\xe0\0\0\0\0" + delim)
    buf = seq + element(0x0010, 0x0020, b"LO", b"ID42")
    values, _, _ = dicom_parts.walk(buf, 0, len(buf), True, {0x00100020: "LO"}, {})
    assert values[0x00100020] == ("LO", b"ID42")
    with pytest.raises(Unhandled):
        dicom_parts.walk(buf[:-20], 0, len(buf) - 20, True, {}, {})
