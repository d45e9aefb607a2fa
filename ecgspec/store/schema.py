"""The output file's contract in constants and plain types: names, dtypes, codecs, chunking, attributes,
the ``/records`` row (:class:`RecordRow`) and the stored config's form; no h5py, no NumPy here, so that
checking ``--dtype`` or ``--compression`` keeps ``ecgspec shape`` and ``--help`` light, and a reader
process builds its records' rows without importing h5py. The layout itself is drawn in :mod:`.layout`."""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Iterable

# /windows/qc: each flag's bit, and its attrs["bits"]; their home is the layer that computes the flags
from ..signal.flags import BITS_ATTR, QC_BITS  # noqa: F401 - re-exported, with the rest of the contract

LAYOUT_VERSION = 1
"""The root attribute ``layout_version``: 1 is the layout of ecgspec 0.1 (files without the
attribute are older and read through :func:`ecgspec.store.layout.upgrade`)."""

STORE_DTYPES = ("float32", "float16")  # what /spectrograms may hold
CODECS: dict[str, int | None] = {"none": None, "lzf": 32000, "gzip": 1, "zstd": 32015, "blosc2": 32026}
"""Each ``--compression`` name and its HDF5 filter id (zstd and blosc2 are hdf5plugin's)."""
COMPRESSIONS = tuple(CODECS)
GZIP_LEVEL = 4

PARTIAL = ".partial"  # OUTPUT.partial: where a run writes until it finishes
LOCK = ".partial.lock"  # the writer's lock file
LEGACY = ".partial.prev"  # partial files set aside by --resume before version 0.2 (no longer written)
COUNTER = "committed"  # /committed: records, windows, errors flushed at the last commit point
STAGED = "staged"  # /staged: what a partial file holds until it is finished (ecgspec.store.staged, .tails)

LIBVER = ("v110", "v110")  # SWMR needs the 1.10 file format; capping it there keeps HDF5 1.10 readers able
HDF5_CHUNK_BYTES = 2 << 20  # target size of a /spectrograms chunk (whole windows)
COLUMN_CHUNK = 4096  # rows per chunk of the one-dimensional columns

PART_ATTRS = ("part_index", "part_count", "run_digest", "run_records")  # root attributes of a part file only
SIGNAL_COLUMNS = {"signal_offset": "int64", "signal_length": "int64"}  # /records/<name> of a --store signals file
REQUIRED = ("spectrograms", "windows/record", "windows/start", "records/name", "records/n_windows", "frequencies")


@dataclasses.dataclass(frozen=True)
class RecordRow:
    """One ``/records`` row: a record whose windows are all written (each field a column; its annotation,
    ``str``, ``float``, ``int`` or ``tuple``, gives the column's type in :data:`ecgspec.store.layout.RECORD_COLUMNS`)."""

    name: str
    source: str
    fs: float
    n_samples: int
    leads: str
    n_windows: int
    nan_filled: int
    lead_fs: str  # each lead's own rate, comma-separated in output order (files before it: filled from fs)
    filled_share: float = 0.0  # share of the samples counted that were missing and filled (files before: NaN)
    flat_leads: str = ""  # leads flat over at least one window written, comma-separated (files before: "")
    clipped_share: float = 0.0  # share of the samples counted at their ADC limits (files before: NaN)
    lead_mask: tuple = ()  # (n_leads,) bool: the output lead holds a signal, read or derived (files before: all)
    lead_derived: tuple = ()  # (n_leads,) bool: the output lead was derived (--derive-leads; files before: none)
    comments: str = ""  # the header's comment lines as written, joined by "\n" (files before: "")
    start_time: str = ""  # the record's start, ISO 8601, "" where the header gives no date (files before: "")
    # the reader's header fields (Header.meta) as JSON [[key, value], ...], the source of /records/meta;
    # "" in files written before it, whose meta is derived from their comments
    fields: str = ""


def lead_fs_text(rates: Iterable[float]) -> str:
    """The ``/records/lead_fs`` value: each rate as the shortest decimal that reads back exactly."""
    return ",".join(repr(float(rate)) for rate in rates)


def normalised_config(config: Any) -> dict[str, Any]:
    """The config as stored JSON reads back, so two runs' configs compare equal value for value."""
    return json.loads(json.dumps(dict(config), sort_keys=True, default=str))


def column_name(name: str) -> str:
    """``name`` as an HDF5 dataset name: a ``/`` (which HDF5 reads as a group) becomes ``_``, and an
    empty name or ``.`` is ``_``."""
    name = str(name).replace("/", "_")
    return "_" if name in ("", ".") else name
