"""Writers of small clinical ECG files with known signals, from the formats' specifications, for
the reader tests and the readers benchmark (not a test module).

- GE MUSE XML (restecg.dtd): ``RestingECG`` with a ``Median`` and a ``Rhythm`` ``Waveform``, each
  lead Base64 little-endian int16 in ``LeadAmplitudeUnitsPerBit`` ``MICROVOLTS``, 8 leads.
- HL7 aECG (ANSI/HL7 V3 ECG R1-2004): an ``AnnotatedECG`` whose rhythm ``series`` holds a
  ``sequenceSet`` of a ``TIME_ABSOLUTE`` GLIST and one ``SLIST_PQ`` a lead
  (``value = origin + scale * digit``), and a ``REPRESENTATIVE_BEAT`` derived series.
- Philips Sierra XML 1.04: ``restingecgdata`` with uncompressed Base64 ``parsedwaveforms``
  (lead after lead, int16 counts of ``resolution`` uV) and ``repbeats``.
- SCP-ECG (EN 1064): :mod:`.scp_writer` (preamble, Sections 0-6, int16 or Huffman coded
  amplitudes or differences, CRC-CCITT checksums).
- ISHNE Holter (Badilini 1998): magic, CRC-CCITT, the fixed header, int16 samples interleaved.
- MFER (ISO 22077-1, Part 1 v1.05): a preamble, then tag-length-value definitions (byte order,
  waveform type, sampling rate, sensitivity, channels, block, sequences, data type, each channel's
  lead code) and one frame of big-endian int16 samples, a channel's block after another.
- CODE-15% parts (``tracings``, ``exam_id``) and CSV records.
"""

from __future__ import annotations

import base64
import binascii
import struct
import zlib
from pathlib import Path

import numpy as np

from .scp_writer import SCP_CODES, scp_ecg  # noqa: F401 - the SCP-ECG writer, with its options, lives there

LEADS12 = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
MUSE_LEADS = ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6")
ACQUIRED = (2021, 3, 14, 10, 11, 12)  # the acquisition time every writer stores
ISO = "2021-03-14T10:11:12"


def counts(n_leads: int, n: int, seed: int = 0) -> np.ndarray:
    """(n_leads, n) int16 counts: a few sines and noise, within +-3000."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / 500
    x = [1500 * np.sin(2 * np.pi * (1 + k / 3) * t + k) + rng.normal(0, 200, n) for k in range(n_leads)]
    return np.clip(np.round(x), -3000, 3000).astype(np.int16)


def _b64(x: np.ndarray) -> str:
    return base64.b64encode(np.asarray(x, dtype="<i2").tobytes()).decode()


# ---------------------------------------------------------------- GE MUSE


def _muse_lead(name: str, x: np.ndarray, uv_per_bit: float, wrap: bool = True, crc: str = "ok",
               units: str = "MICROVOLTS", baseline: int = 0) -> str:
    payload = np.asarray(x, dtype="<i2").tobytes()
    data = (base64.encodebytes if wrap else base64.b64encode)(payload).decode()
    check = {"ok": f"<LeadDataCRC32>{zlib.crc32(payload)}</LeadDataCRC32>", "none": "",
             "bad": f"<LeadDataCRC32>{zlib.crc32(payload) ^ 1}</LeadDataCRC32>"}[crc]
    return (f"<LeadData><LeadByteCountTotal>{len(payload)}</LeadByteCountTotal><LeadTimeOffset>0</LeadTimeOffset>"
            f"<LeadSampleCountTotal>{len(x)}</LeadSampleCountTotal>"
            f"<LeadAmplitudeUnitsPerBit>{uv_per_bit}</LeadAmplitudeUnitsPerBit>"
            f"<LeadAmplitudeUnits>{units}</LeadAmplitudeUnits><LeadHighLimit>32767</LeadHighLimit>"
            f"<LeadLowLimit>-32768</LeadLowLimit><LeadID>{name}</LeadID><LeadOffsetFirstSample>0</LeadOffsetFirstSample>"
            f"<FirstSampleBaseline>{baseline}</FirstSampleBaseline><LeadSampleSize>2</LeadSampleSize><LeadOff>FALSE</LeadOff>"
            f"<BaselineSway>FALSE</BaselineSway>{check}<WaveFormData>{data}</WaveFormData></LeadData>")


def _muse_waveform(kind: str, x: np.ndarray, fs: int, uv_per_bit: float, exponent: int = 0, **lead) -> str:
    names = MUSE_LEADS if len(x) == len(MUSE_LEADS) else LEADS12
    leads = "".join(_muse_lead(name, row, uv_per_bit, **lead) for name, row in zip(names, x))
    return (f"<Waveform><WaveformType>{kind}</WaveformType><WaveformStartTime>0</WaveformStartTime>"
            f"<NumberofLeads>{len(x)}</NumberofLeads><SampleType>CONTINUOUS_SAMPLES</SampleType>"
            f"<SampleBase>{fs / 10 ** exponent:g}</SampleBase><SampleExponent>{exponent}</SampleExponent>"
            f"<HighPassFilter>16</HighPassFilter><LowPassFilter>150</LowPassFilter><ACFilter>60</ACFilter>{leads}</Waveform>")


def muse_xml(path: Path, x: np.ndarray, fs: int = 500, uv_per_bit: float = 4.88, *, median: bool = True,
             patient: str = "", test: str = "", exponent: int = 0, **lead) -> Path:
    """A GE MUSE RestingECG of the 8 leads ``x`` (I, II, V1-V6; or 12, I-V6) and a median beat of other values.

    ``patient``/``test`` are more PatientDemographics/TestDemographics fields (XML); ``exponent``
    states the rate as SampleBase x 10^SampleExponent; ``lead`` options: ``wrap`` (Base64 in
    76-character lines, else one line), ``crc`` (``ok``, ``bad``, ``none``), ``units``
    (LeadAmplitudeUnits), ``baseline`` (FirstSampleBaseline).
    """
    y, mo, d, h, mi, s = ACQUIRED
    beat = _muse_waveform("Median", (x[:, : fs // 2] // 2 + 7).astype(np.int16), fs, uv_per_bit, exponent, **lead)
    path.write_text(
        '<?xml version="1.0" encoding="ISO-8859-1"?>\n<!DOCTYPE RestingECG SYSTEM "restecg.dtd">\n'
        "<RestingECG><MuseInfo><MuseVersion>9.0.9.18167</MuseVersion></MuseInfo>"
        "<PatientDemographics><PatientID>P0042</PatientID><PatientAge>63</PatientAge><AgeUnits>YEARS</AgeUnits>"
        f"<Gender>FEMALE</Gender>{patient}</PatientDemographics>"
        f"<TestDemographics><DataType>RESTING</DataType><Site>1</Site><AcquisitionDevice>MAC55</AcquisitionDevice>"
        f"<AcquisitionDate>{mo:02d}-{d:02d}-{y}</AcquisitionDate><AcquisitionTime>{h:02d}:{mi:02d}:{s:02d}</AcquisitionTime>"
        f"{test}</TestDemographics>"
        f"{beat if median else ''}{_muse_waveform('Rhythm', x, fs, uv_per_bit, exponent, **lead)}"
        "</RestingECG>\n", encoding="latin-1")
    return path


# ---------------------------------------------------------------- HL7 aECG


def _hl7_sequence_set(x: np.ndarray, fs: int, scale_uv: float, origin_uv: float, scale_unit: str = "uV",
                      sep: str = " ", digit: str = "{}") -> str:
    y, mo, d, h, mi, s = ACQUIRED
    time = (f'<component><sequence><code code="TIME_ABSOLUTE" codeSystem="2.16.840.1.113883.5.4"/>'
            f'<value xsi:type="GLIST_TS"><head value="{y}{mo:02d}{d:02d}{h:02d}{mi:02d}{s:02d}.000"/>'
            f'<increment value="{1 / fs:g}" unit="s"/></value></sequence></component>')
    leads = "".join(
        f'<component><sequence><code code="MDC_ECG_LEAD_{name.upper()}" codeSystem="2.16.840.1.113883.6.24"/>'
        f'<value xsi:type="SLIST_PQ"><origin value="{origin_uv:g}" unit="uV"/>'
        f'<scale value="{scale_uv:g}" unit="{scale_unit}"/>'
        f'<digits>{sep.join(digit.format(v) for v in lead.tolist())}</digits></value></sequence></component>'
        for name, lead in zip(LEADS12, x))
    return f"<component><sequenceSet>{time}{leads}</sequenceSet></component>"


def hl7_aecg(path: Path, x: np.ndarray, fs: int = 500, scale_uv: float = 5.0, origin_uv: float = 0.0, *,
             beat: bool = True, person: str = "", series: str = "", root: str = "", **digits) -> Path:
    """An HL7 aECG of the 12 leads ``x`` (digits), with a representative beat of other values.

    ``person`` is more subjectDemographicPerson XML (a name, a raceCode), ``series`` more of the
    rhythm series (an author device, controlVariable filters, subjectOf annotation sets), ``root``
    more of the document (a location, pertainsTo findings); ``digits`` options: ``scale_unit``,
    ``sep`` (between digits), ``digit`` (a format for each, ``"{}"`` an integer as is).
    """
    y, mo, d, h, mi, s = ACQUIRED
    stamp = f"{y}{mo:02d}{d:02d}{h:02d}{mi:02d}{s:02d}"
    median = (x[:, : fs // 2] // 3 - 5).astype(np.int16)
    derived = ('<derivation><derivedSeries><code code="REPRESENTATIVE_BEAT" codeSystem="2.16.840.1.113883.5.4"/>'
               f'{_hl7_sequence_set(median, fs, scale_uv, origin_uv, **digits).replace("TIME_ABSOLUTE", "TIME_RELATIVE")}'
               '</derivedSeries></derivation>') if beat else ""
    path.write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<AnnotatedECG xmlns="urn:hl7-org:v3" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        '<id root="61d1a24f-b47e-41aa-ae95-f8ac302f4eeb"/><code code="93000" codeSystem="2.16.840.1.113883.6.12"/>'
        f'<effectiveTime><low value="{stamp}"/><high value="{stamp}"/></effectiveTime>{root}'
        '<componentOf><timepointEvent><componentOf><subjectAssignment><subject><trialSubject>'
        '<id extension="SUBJ-7"/><subjectDemographicPerson><administrativeGenderCode code="M"/>'
        f'<birthTime value="19600101"/>{person}</subjectDemographicPerson></trialSubject></subject>'
        '</subjectAssignment></componentOf></timepointEvent></componentOf>'
        '<component><series><code code="RHYTHM" codeSystem="2.16.840.1.113883.5.4"/>'
        f'<effectiveTime><low value="{stamp}"/></effectiveTime>{series}'
        f'{_hl7_sequence_set(x, fs, scale_uv, origin_uv, **digits)}{derived}'
        '</series></component></AnnotatedECG>\n', encoding="utf-8")
    return path


# ---------------------------------------------------------------- Philips Sierra XML


def sierra_xml(path: Path, x: np.ndarray, fs: int = 500, resolution_uv: float = 5.0, *, offset: int = 0,
               signed: bool = True, compression: str = "Uncompressed", beats: bool = True, attrs: str = "",
               acquisition: str = "", patient: str = "", xmlns: str = "", labels: tuple[str, ...] = LEADS12) -> Path:
    """A Philips Sierra ECG XML 1.04 of the leads ``x`` (``labels``): uncompressed Base64, one lead after another.

    ``offset`` is the signaloffset (the count of 0 V), ``signed`` False stores uint16 counts,
    ``compression`` the parsedwaveforms' (``XLI`` keeps the same bytes, for the fallback tests),
    ``beats`` False leaves out the repbeats, ``attrs`` more parsedwaveforms attributes (filters),
    ``acquisition``/``patient`` more dataacquisition (machine, acquirer) and generalpatientdata
    XML, ``xmlns`` a default namespace for the document.
    """
    y, mo, d, h, mi, s = ACQUIRED
    n = x.shape[1]
    stored = np.asarray(x, dtype=np.int64) + offset
    data = base64.b64encode(stored.astype("<i2" if signed else "<u2").tobytes()).decode()
    repbeats = "".join(f'<repbeat leadname="{name}"><waveform duration="500">{_b64(lead[: fs // 2] // 4)}</waveform></repbeat>'
                       for name, lead in zip(labels, x))
    repbeats = (f'<repbeats dataencoding="Base64" samplespersec="{fs}" resolution="{resolution_uv:g}">{repbeats}</repbeats>'
                if beats else "")
    flag = "False" if compression == "Uncompressed" else "True"
    path.write_text(
        f'<?xml version="1.0" encoding="utf-8"?>\n<restingecgdata{f" xmlns={chr(34)}{xmlns}{chr(34)}" if xmlns else ""}>'
        '<documentinfo><documenttype>SierraECG</documenttype><documentversion>1.04</documentversion></documentinfo>'
        f'<dataacquisition date="{y}-{mo:02d}-{d:02d}" time="{h:02d}:{mi:02d}:{s:02d}">{acquisition}'
        f'<signalcharacteristics><samplingrate>{fs}</samplingrate><resolution>{resolution_uv:g}</resolution>'
        f'<acquisitiontype>STD-12</acquisitiontype><bitspersample>16</bitspersample><signaloffset>{offset}</signaloffset>'
        f'<signalsigned>{int(signed)}</signalsigned><numberchannelsvalid>{len(x)}</numberchannelsvalid>'
        f'<numberchannelsallocated>{len(x)}</numberchannelsallocated></signalcharacteristics></dataacquisition>'
        f'<patient><generalpatientdata><patientid>S-991</patientid><sex>Male</sex>{patient}</generalpatientdata></patient>'
        f'<waveforms>{repbeats}'
        f'<parsedwaveforms durationperchannel="{n * 1000 // fs}" samplespersecond="{fs}" dataencoding="Base64"'
        f' compression="{compression}" compressflag="{flag}" leadlabels="{" ".join(labels)}" numberofleads="{len(x)}"'
        f' signalsigned="{int(signed)}" resolution="{resolution_uv:g}"{attrs}>{data}</parsedwaveforms></waveforms>'
        '</restingecgdata>\n', encoding="utf-8")
    return path


# ---------------------------------------------------------------- SCP-ECG (scp_writer) and ISHNE's checksum

def _crc(data: bytes) -> int:
    """CRC-CCITT, polynomial 0x1021, initial value 0xFFFF (EN 1064 5.3.2; ISHNE's checksum too)."""
    return binascii.crc_hqx(data, 0xFFFF)


# ---------------------------------------------------------------- ISHNE Holter

ISHNE_CODES = {name: 5 + i for i, name in enumerate(LEADS12)}  # spec Table 1: I = 5 ... V6 = 16


def ishne(path: Path, x: np.ndarray, fs: int = 500, resolution_nv: int = 5000) -> Path:
    """An ISHNE Holter file (Badilini 1998) of up to 12 leads ``x``: magic, CRC, the 512-byte fixed
    header, no variable block, then int16 samples interleaved lead by lead."""
    y, mo, d, h, mi, s = ACQUIRED
    n_leads = len(x)
    codes = [ISHNE_CODES[name] for name in LEADS12[:n_leads]] + [-9] * (12 - n_leads)
    fixed = (struct.pack("<iiiih", 0, x.shape[1], 522, 522, 1) + b"Ada".ljust(40, b"\0") + b"Lovelace".ljust(40, b"\0")
             + b"ISHNE-55".ljust(20, b"\0") + struct.pack("<hh", 2, 0) + struct.pack("<3h", 10, 12, 1955)
             + struct.pack("<3h", d, mo, y) + struct.pack("<3h", d, mo, y) + struct.pack("<3h", h, mi, s)
             + struct.pack("<h12h12h", n_leads, *codes, *[1] * 12)
             + struct.pack("<12h", *([resolution_nv] * n_leads + [0] * (12 - n_leads)))
             + struct.pack("<h", 0) + b"digital".ljust(40, b"\0") + struct.pack("<h", fs) + b"\0" * 248)
    assert len(fixed) == 512
    data = np.ascontiguousarray(np.asarray(x, dtype="<i2").T).tobytes()
    path.write_bytes(b"ISHNE1.0" + struct.pack("<H", _crc(fixed)) + fixed + data)
    return path


MFER_CODES = {"I": 1, "II": 2, "V1": 3, "V2": 4, "V3": 5, "V4": 6, "V5": 7, "V6": 8, "III": 61, "aVR": 62,
              "aVL": 63, "aVF": 64}  # Part 1 Table 5-17


def _tlv(tag: int, value: bytes) -> bytes:
    """An MFER definition: its tag, its length (one byte under 128, else 0x84 and four bytes), its value."""
    size = bytes([len(value)]) if len(value) < 0x80 else b"\x84" + len(value).to_bytes(4, "big")
    return bytes([tag]) + size + value


def mfer(path: Path, x: np.ndarray, fs: int = 500, resolution_uv: int = 5) -> Path:
    """An MFER standard 12-lead ECG of the leads ``x`` (int16 counts of ``resolution_uv`` uV) at
    ``fs`` Hz: one frame of one sequence, each channel a block of all its samples."""
    n_leads, n = x.shape
    channels = b"".join(b"\x3f" + bytes([c]) + bytes([3]) + _tlv(0x09, bytes([MFER_CODES[name]]))
                        for c, name in enumerate(LEADS12[:n_leads]))
    body = (_tlv(0x40, b"MFR ECG".ljust(32, b" ")) + _tlv(0x01, b"\x00") + _tlv(0x08, (1).to_bytes(2, "big"))
            + _tlv(0x0B, b"\x00\x00" + fs.to_bytes(2, "big")) + _tlv(0x0C, b"\x00\xfa" + bytes([resolution_uv]))
            + _tlv(0x05, bytes([n_leads])) + _tlv(0x04, n.to_bytes(4, "big")) + _tlv(0x06, b"\x01")
            + _tlv(0x0A, b"\x00") + channels + _tlv(0x1E, np.asarray(x, ">i2").tobytes()) + b"\x80\x00")
    path.write_bytes(body)
    return path


# ---------------------------------------------------------------- CODE-15% and CSV


def code15_part(path: Path, rows: list[tuple[int, np.ndarray, int]], length: int = 4096) -> Path:
    """A CODE-15%-layout part: one ``(exam_id, (samples, 12) signal, offset)`` a row, zero-padded to
    ``length`` (float32), and the empty last row with exam_id 0, as the real parts end."""
    import h5py

    tracings = np.zeros((len(rows) + 1, length, 12), dtype=np.float32)
    for i, (_, x, offset) in enumerate(rows):
        tracings[i, offset:offset + len(x)] = x
    with h5py.File(path, "w") as f:
        f.create_dataset("tracings", data=tracings, chunks=(1, length, 12))
        f.create_dataset("exam_id", data=np.array([e for e, _, _ in rows] + [0], dtype=np.int64))
    return path


def csv_record(path: Path, x: np.ndarray, leads: tuple[str, ...] = LEADS12) -> Path:
    """A CSV record: a header row of lead names, then one row a sample (``x`` is (leads, samples))."""
    rows = "\n".join(",".join(repr(float(v)) if x.dtype.kind == "f" else str(v) for v in row) for row in x.T.tolist())
    path.write_text(",".join(leads) + "\n" + rows + "\n")
    return path
