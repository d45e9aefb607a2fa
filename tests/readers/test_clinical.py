"""Clinical files (the ``clinical`` extra: ecgdatakit, pydicom): pydicom's own 12-lead DICOM end to end
against torch_ecg, GE MUSE / HL7 aECG / Philips Sierra / SCP-ECG files written from their
specifications with known signals, equal to ecgdatakit's reading, and malformed files as one-line
record errors."""

from __future__ import annotations

import shutil
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import ecgdatakit
import h5py
import numpy as np
import pydicom
import pytest
import torch
from pydicom.data import get_testdata_file
from scipy.signal import resample_poly
from torch_ecg.components import inputs as ref_inputs

import ecgspec
from ecgspec.readers import RecordError, RecordRef, find_records, open_record
from tests.helpers import ecg_writers as w

ROOT = Path(__file__).resolve().parents[2]
DICOM = Path(get_testdata_file("waveform_ecg.dcm"))
N, BINS = 2500, 64  # 5-s windows at 500 Hz


def torch_ecg(windows: np.ndarray, **cfg) -> np.ndarray:
    engine = ref_inputs.SpectrogramInput(ref_inputs.InputConfig(input_type="spectrogram", device="cpu", **cfg))
    return engine(torch.from_numpy(np.ascontiguousarray(windows, dtype=np.float32))).numpy()


def resampled_windows(signal: np.ndarray, rate: float, fs: int, n: int) -> np.ndarray:
    """Each lead (float32, as read) resampled whole by resample_poly at the exact ratio, cut into windows."""
    ratio = Fraction(fs) / Fraction(repr(float(rate)))
    y = np.stack([resample_poly(x.astype(np.float32).astype(np.float64), ratio.numerator, ratio.denominator)
                  for x in signal]).astype(np.float32)
    return np.stack([y[:, s:s + n] for s in range(0, y.shape[1] - n + 1, n)])


def column(f: h5py.File, key: str) -> list:
    return [v.decode() if isinstance(v, bytes) else v for v in f[f"records/{key}"][:].tolist()]


def open_path(path: Path):
    return open_record(RecordRef(path.stem, path, "clinical"))


# ---------------------------------------------------------------- pydicom's waveform_ecg.dcm


def test_pydicom_waveform_ecg_extracts_to_torch_ecg_windows_of_its_mv_signal(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(DICOM, folder / DICOM.name)
    ds = pydicom.dcmread(DICOM)
    rhythm = ds.WaveformSequence[0]
    assert rhythm.MultiplexGroupLabel == "RHYTHM" and float(rhythm.SamplingFrequency) == 1000
    mv = ds.waveform_array(0).T / 1000  # pydicom: sensitivity x correction + baseline, in uV
    edk = ecgdatakit.FileParser.parse(DICOM)
    assert np.allclose(np.stack([lead.samples for lead in edk.leads]), mv, rtol=0, atol=1e-12)

    result = ecgspec.extract(folder, tmp_path / "o.h5", {"n_samples": N, "n_bins": BINS}, workers=1)
    assert result.errors == []
    with h5py.File(tmp_path / "o.h5") as f:
        assert column(f, "name") == ["waveform_ecg"]
        assert column(f, "leads") == [",".join(w.LEADS12)]
        assert column(f, "fs") == [1000.0] and column(f, "n_samples") == [10000]
        got = f["spectrograms"][:]
    ref = torch_ecg(resampled_windows(mv, 1000, 500, N), n_channels=12, n_samples=N, n_bins=BINS, fs=500)
    assert got.shape == ref.shape == (2, 12, BINS, ref.shape[-1])
    assert np.abs(got - ref).max() <= 1e-4 * np.abs(ref).max()


def test_dicom_header_gives_leads_rate_units_start_time_and_meta() -> None:
    record = open_path(DICOM)
    h = record.header
    assert h.leads == w.LEADS12 and h.fs == 1000 and h.n_samples == 10000 and h.units == ("mV",) * 12
    assert h.start_time == "2013-01-25T10:59:19"
    meta = dict(h.meta)
    assert meta["format"] == "DICOM Waveform" and meta["patient_id"] == "642341" and meta["sex"] == "F"
    assert meta["birth_date"] == "1971-01-23" and meta["age"] == "42"
    assert meta["device_manufacturer"].startswith("Mortara")
    expected = pydicom.dcmread(DICOM).waveform_array(0).T / 1000
    assert np.array_equal(record.read(0, 10000, range(12)), expected.astype(np.float32))


# ---------------------------------------------------------------- files written from the specifications

SCALE = {"muse": 4.88, "hl7": 5.0, "sierra": 5.0, "scp": 5.0, "ishne": 5.0}  # uV a count, as each writer stores it
FORMAT = {"muse": "GE MUSE XML", "hl7": "HL7 aECG", "sierra": "Philips Sierra XML", "scp": "SCP-ECG",
          "ishne": "ISHNE Holter"}
SUFFIX = {"scp": ".scp", "ishne": ".ecg"}


def write_kind(kind: str, folder: Path, n: int = 5000, seed: int = 0) -> tuple[Path, np.ndarray, tuple[str, ...]]:
    """A file of ``kind`` with known counts; (path, counts, lead names)."""
    x = w.counts(12, n, seed)
    if kind == "muse":
        x = x[[0, 1, 6, 7, 8, 9, 10, 11]]
        return w.muse_xml(folder / "muse.xml", x), x, w.MUSE_LEADS
    writer = {"hl7": w.hl7_aecg, "sierra": w.sierra_xml, "scp": w.scp_ecg, "ishne": w.ishne}[kind]
    return writer(folder / f"{kind}{SUFFIX.get(kind, '.xml')}", x), x, w.LEADS12


@pytest.mark.parametrize("kind", sorted(SCALE))
def test_written_file_equals_ecgdatakit_and_the_known_signal(kind: str, tmp_path: Path) -> None:
    path, x, leads = write_kind(kind, tmp_path)
    edk = ecgdatakit.FileParser.parse(path)
    assert edk.file_format.name == FORMAT[kind]
    (ref,), problems = find_records([tmp_path])
    assert problems == [] and ref.kind == "clinical" and ref.name == path.stem
    record = open_record(ref)
    h = record.header
    assert h.leads == leads and h.fs == 500 and h.n_samples == x.shape[1]  # the rhythm, not the median beat
    assert h.units == ("mV",) * len(leads) and h.start_time == w.ISO
    assert dict(h.meta)["format"] == FORMAT[kind]
    assert "warning" not in dict(h.meta), h.meta  # checksums and counts as the specification has them
    got = record.read(0, x.shape[1], range(len(leads)))
    assert np.array_equal(got, np.stack([lead.samples for lead in edk.leads]).astype(np.float32))
    np.testing.assert_allclose(got, x * SCALE[kind] / 1000, rtol=1e-6, atol=1e-9)
    assert np.array_equal(record.read(100, 200, [3, 0]), got[[3, 0], 100:200])


def test_muse_stores_eight_leads_and_hl7_meta_names_the_subject(tmp_path: Path) -> None:
    muse, _, _ = write_kind("muse", tmp_path)
    assert open_path(muse).header.leads == ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6")
    assert dict(open_path(muse).header.meta)["patient_id"] == "P0042"
    hl7, _, _ = write_kind("hl7", tmp_path)
    meta = dict(open_path(hl7).header.meta)
    assert meta["patient_id"] == "SUBJ-7" and meta["sex"] == "M"


def test_clinical_files_extract_end_to_end_beside_each_other(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    signals = {}
    for seed, kind in enumerate(("hl7", "scp", "sierra")):
        path, x, _ = write_kind(kind, folder, n=5000, seed=seed)
        signals[path.stem] = x * SCALE[kind] / 1000
    result = ecgspec.extract(folder, tmp_path / "o.h5", {"n_samples": N, "n_bins": BINS}, workers=2)  # 2 readers
    assert result.errors == []
    with h5py.File(tmp_path / "o.h5") as f:
        assert column(f, "name") == sorted(signals)
        got = f["spectrograms"][:]
    for i, name in enumerate(sorted(signals)):
        ref = torch_ecg(resampled_windows(signals[name], 500, 500, N), n_channels=12, n_samples=N, n_bins=BINS, fs=500)
        assert np.abs(got[2 * i:2 * i + 2] - ref).max() <= 1e-4 * np.abs(ref).max()


# ---------------------------------------------------------------- malformed files


def _spoil_text(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="latin-1")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="latin-1")


def _cut(path: Path, share: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * share)])


BAD = {  # case -> (kind, spoil, what the message says)
    "muse truncated": ("muse", _cut, "Malformed XML"),
    "muse bad base64": ("muse", lambda p: _spoil_text(p, "<WaveFormData>", "<WaveFormData>!!*"), "Base64"),
    "muse wrong count": ("muse", lambda p: _spoil_text(p, "<LeadSampleCountTotal>1000", "<LeadSampleCountTotal>1001"),
                         "LeadSampleCountTotal"),
    "hl7 truncated": ("hl7", _cut, "Malformed XML"),
    "hl7 bad digits": ("hl7", lambda p: _spoil_text(p, "<digits>", "<digits>x7 "), "Invalid digits"),
    "hl7 lone sign": ("hl7", lambda p: _spoil_text(p, "<digits>", "<digits>- "), "Invalid digits"),
    "muse wrong byte count": ("muse", lambda p: _spoil_text(p, "<LeadByteCountTotal>2000", "<LeadByteCountTotal>2002"),
                              "LeadByteCountTotal"),
    "sierra bad repbeat": ("sierra", lambda p: _spoil_text(p, '<waveform duration="500">', '<waveform duration="500">!'),
                           "invalid Base64"),
    "sierra bad base64": ("sierra", lambda p: _spoil_text(p, 'signalsigned="1" resolution="5">', 'signalsigned="1" resolution="5">@@'), "Base64"),
    "sierra wrong count": ("sierra", lambda p: _spoil_text(p, 'durationperchannel="2000"', 'durationperchannel="4000"'),
                           "expected"),
    "scp truncated": ("scp", lambda p: _cut(p, 0.6), "SCP-ECG record declares"),
    "scp wrong lead count": ("scp", lambda p: p.write_bytes(p.read_bytes().replace(bytes([12, 100]), bytes([40, 100]), 1)),
                             "Section 3 declares 40 leads"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_malformed_file_is_a_one_line_record_error(case: str, tmp_path: Path) -> None:
    kind, spoil, reason = BAD[case]
    path, _, _ = write_kind(kind, tmp_path, n=1000)
    spoil(path)
    with pytest.raises(RecordError) as info:
        open_path(path)
    message = str(info.value)
    assert reason in message and "\n" not in message and str(tmp_path) not in message, message


@pytest.mark.parametrize("name, content, reason", [
    ("other.xml", b'<?xml version="1.0"?><note><to>x</to></note>', "not a format ecgdatakit reads"),
    ("empty.xml", b"", "not a format ecgdatakit reads"),
    ("junk.dcm", b"\0" * 200, "not a format ecgdatakit reads"),
    ("cut.dcm", DICOM.read_bytes()[:5000], "DICOM"),
    ("junk.scp", b"SCP" * 100, "not a format ecgdatakit reads"),
])
def test_another_kind_or_broken_file_is_a_one_line_record_error(name: str, content: bytes, reason: str,
                                                                   tmp_path: Path) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(RecordError) as info:
        open_path(path)
    assert reason in str(info.value) and "\n" not in str(info.value), str(info.value)


def test_bad_files_are_listed_and_cost_the_good_record_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    for i, case in enumerate(sorted(BAD)):
        (folder / f"b{i}").mkdir(parents=True)
        kind, spoil, _ = BAD[case]
        path, _, _ = write_kind(kind, folder / f"b{i}", n=1000)
        spoil(path)
    (folder / "other.xml").write_text('<?xml version="1.0"?><note/>')
    write_kind("scp", folder, n=5000)
    result = ecgspec.extract(folder, tmp_path / "o.h5", {"n_samples": N, "n_bins": BINS}, workers=1,
                             leads=["I", "II", "V1"])
    names = sorted(name for name, _ in result.errors)
    assert len(names) == len(BAD) + 1 and all("\n" not in message for _, message in result.errors)
    with h5py.File(tmp_path / "o.h5") as f:
        assert column(f, "name") == ["scp"] and f["spectrograms"].shape[0] == 2


# ---------------------------------------------------------------- without the extra

BLOCK = """\
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {blocked!r}:
            raise ImportError("No module named " + name, name=name)
sys.meta_path.insert(0, Block())
from ecgspec.readers import RecordError, RecordRef, open_record
try:
    open_record(RecordRef("r", __import__("pathlib").Path(sys.argv[1]), "clinical"))
except RecordError as exc:
    print("ERROR", exc)
"""


@pytest.mark.parametrize("blocked, file", [({"ecgdatakit"}, "scp"), ({"pydicom"}, "dcm")])  # XML, SCP: test_*_fast
def test_without_the_extra_a_clinical_file_is_the_one_line_error_naming_it(blocked: set, file: str,
                                                                            tmp_path: Path) -> None:
    path = write_kind(file, tmp_path, n=500)[0] if file != "dcm" else tmp_path / "cut.dcm"
    if file == "dcm":  # a DICOM file ecgspec's own reader leaves to pydicom
        path.write_bytes(DICOM.read_bytes()[:20000])
    else:  # an SCP-ECG record with a CRC mismatch, which ecgspec's own decoder leaves to ecgdatakit (a warning)
        path.write_bytes(bytes([path.read_bytes()[0] ^ 1]) + path.read_bytes()[1:])
    out = subprocess.run([sys.executable, "-c", BLOCK.format(blocked=blocked), str(path)], capture_output=True,
                         text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr
    assert out.stdout.startswith("ERROR reading " if file != "dcm" else "ERROR DICOM: "), out.stdout
    assert out.stdout.strip().endswith("pip install ecgspec[clinical]")
    assert len(out.stdout.strip().splitlines()) == 1


def test_without_the_extra_a_dicom_waveform_is_read_by_ecgspecs_own_reader() -> None:
    code = BLOCK.format(blocked={"ecgdatakit", "pydicom"}).replace('print("ERROR", exc)', 'print("ERROR", exc)\nelse:\n    print("READ")')
    out = subprocess.run([sys.executable, "-c", code, str(DICOM)], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.stdout.strip() == "READ", out.stdout + out.stderr


def test_discovery_imports_neither_ecgdatakit_nor_h5py(tmp_path: Path) -> None:
    write_kind("muse", tmp_path, n=500)
    shutil.copy(DICOM, tmp_path / DICOM.name)
    code = ("import sys; from ecgspec.readers import find_records; refs, _ = find_records([sys.argv[1]]);"
            " print(len(refs), sorted(m for m in ('ecgdatakit', 'pydicom', 'h5py', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, cwd=ROOT,
                         timeout=120)
    assert out.stdout.split(None, 1) == ["2", "[]\n"], out.stderr
