"""Records/s of each reader of issue 20 beside WFDB's, for the same samples (12 leads x 5000 at 500 Hz).

One record is: found (``find_records`` over its folder, its share), opened (``open_record``) and
read whole (all 12 leads). Each format gets a folder of N records of the same int16 counts: WFDB
format 16 (the reference), GE MUSE XML (12 leads here, to compare the same samples), HL7 aECG,
Philips Sierra XML, SCP-ECG, ISHNE Holter, DICOM (pydicom's waveform_ecg.dcm with its rhythm group replaced by
these samples), CSV, and one CODE-15%-layout part of N rows (5000 samples a row, zero-padded).
The formats are timed in turn, the order rotated each repetition; best of 5 (a shared machine's
slow spells last seconds: five rounds give each format as many chances to miss them). Target: each at
least 0.3 of WFDB's records/s (issue 30: HL7 aECG's digits are parsed by plain C, no SIMD).

    python benchmarks/bench_readers.py [--records N]      # alone
    python benchmarks/bench.py --only readers              # in the main bench
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, List

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]  # ecgspec, and the tests' writers of these formats

from bench_common import Table, log  # noqa: E402

from tests.helpers import ecg_writers as w  # noqa: E402

TARGET = 0.3
REPS = 5
MAX_RECORDS = 20_000
FS, N_SAMPLES = 500, 5000


def _dicom(path: Path, x: np.ndarray) -> None:
    """pydicom's 12-lead test file, its rhythm group holding ``x`` (12, n) at 500 Hz."""
    import pydicom
    from pydicom.data import get_testdata_file

    ds = pydicom.dcmread(get_testdata_file("waveform_ecg.dcm"))
    group = ds.WaveformSequence[0]
    group.SamplingFrequency = FS
    group.NumberOfWaveformSamples = x.shape[1]
    group.WaveformData = np.ascontiguousarray(x.T, dtype="<i2").tobytes()
    ds.save_as(path)


def _wfdb(folder: Path, name: str, x: np.ndarray) -> None:
    import wfdb

    wfdb.wrsamp(name, fs=FS, units=["mV"] * 12, sig_name=list(w.LEADS12), d_signal=np.ascontiguousarray(x.T),
                adc_gain=[200.0] * 12, baseline=[0] * 12, fmt=["16"] * 12, write_dir=str(folder))


WRITERS: Dict[str, Callable[[Path, str, np.ndarray], Any]] = {
    "WFDB": lambda d, name, x: _wfdb(d, name, x),
    "GE MUSE XML": lambda d, name, x: w.muse_xml(d / f"{name}.xml", x),
    "HL7 aECG": lambda d, name, x: w.hl7_aecg(d / f"{name}.xml", x),
    "Philips Sierra XML": lambda d, name, x: w.sierra_xml(d / f"{name}.xml", x),
    "SCP-ECG": lambda d, name, x: w.scp_ecg(d / f"{name}.scp", x),
    "ISHNE Holter": lambda d, name, x: w.ishne(d / f"{name}.ecg", x),
    "DICOM": lambda d, name, x: _dicom(d / f"{name}.dcm", x),
    "CSV": lambda d, name, x: w.csv_record(d / f"{name}.csv", x),
}


def _copies(folder: Path, n: int) -> None:
    """``n - 1`` more records in ``folder`` like its one record ``r00000``: hard links to its
    files, a WFDB header written anew for each (it names its record and signal file)."""
    files = sorted(folder.iterdir())
    for r in range(1, n):
        name = f"r{r:05d}"
        for f in files:
            target = folder / f"{name}{f.suffix}"
            if f.suffix == ".hea":
                target.write_text(f.read_text().replace("r00000", name))
            else:
                os.link(f, target)


def build(tmp: Path, n: int) -> Dict[str, Path]:
    """A folder of ``n`` records a format, all of the same counts (one written, the rest linked to it)."""
    x = w.counts(12, N_SAMPLES)
    folders = {}
    for i, (fmt, write) in enumerate(WRITERS.items()):
        folder = tmp / f"f{i}"
        folder.mkdir()
        write(folder, "r00000", x)
        _copies(folder, n)
        folders[fmt] = folder
    folder = tmp / "code15"
    folder.mkdir()
    w.code15_part(folder / "exams_part0.hdf5", [(r + 1, x.T.astype(np.float32), 60) for r in range(n)],
                  length=N_SAMPLES + 120)
    folders["CODE-15% HDF5"] = folder
    return folders


def records_per_second(folder: Path) -> float:
    """Find, open and read whole every record under ``folder``; records/s."""
    from ecgspec.readers import find_records, open_record

    t0 = time.perf_counter()
    refs, problems = find_records([folder])
    assert refs and not problems, problems
    for ref in refs:
        record = open_record(ref, input_fs=FS)
        data = record.read(0, record.header.n_samples, range(12))
        assert data.shape == (12, N_SAMPLES), (ref, data.shape)
    return len(refs) / (time.perf_counter() - t0)


def measure(folders: Dict[str, Path], reps: int = REPS) -> Dict[str, float]:
    """Best records/s of each format over ``reps`` rounds, the order rotated each round (after a warm-up)."""
    names = list(folders)
    for name in names:  # imports (ecgdatakit, pydicom, h5py) and first-call costs
        records_per_second(folders[name])
    best: Dict[str, float] = {}
    for rep in range(reps):
        for name in names[rep % len(names):] + names[:rep % len(names)]:
            best[name] = max(best.get(name, 0.0), records_per_second(folders[name]))
    return best


def section_readers(args: argparse.Namespace, table: Table, ctx: Dict[str, Any]) -> None:
    """The main bench's ``readers`` section: a row a format, records/s beside WFDB's."""
    n = max(20, min(int(getattr(args, "reader_records", 200)), MAX_RECORDS))
    folders = build(Path(tempfile.mkdtemp(prefix="readers-", dir=ctx["tmp"])), n)
    best = measure(folders)
    ref = best["WFDB"]
    for name, rate in best.items():
        if name == "WFDB":
            continue
        ratio = rate / ref
        table.add("readers", f"{name}: find, open, read 12 x {N_SAMPLES}, {n} records, best of {REPS}",
                  f"{rate:.0f} rec/s", f"WFDB {ref:.0f} rec/s", ratio, f">= {TARGET:.2f}", ratio >= TARGET)


def main(argv: List[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--records", type=int, default=200, help=f"records a format (20..{MAX_RECORDS})")
    args = p.parse_args(argv)
    args.reader_records = args.records
    table = Table()
    with tempfile.TemporaryDirectory(prefix="ecgspec-bench-readers-") as tmp:
        log(f"building {args.records} records a format")
        section_readers(args, table, {"tmp": Path(tmp)})
    print(table.render())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
