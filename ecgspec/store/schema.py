"""The output file's contract in constants: names, dtypes, codecs, chunking and attributes; nothing
but Python literals here (no h5py, no NumPy), so that checking ``--dtype`` or ``--compression``
keeps ``ecgspec shape`` and ``--help`` light. The layout itself is drawn in :mod:`.layout`."""

from __future__ import annotations

import json

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

LIBVER = ("v110", "v110")  # SWMR needs the 1.10 file format; capping it there keeps HDF5 1.10 readers able
HDF5_CHUNK_BYTES = 2 << 20  # target size of a /spectrograms chunk (whole windows)
COLUMN_CHUNK = 4096  # rows per chunk of the one-dimensional columns

QC_BITS = {"filled": 1, "flat": 2, "clipped": 4, "missing_lead": 8}  # /windows/qc: each flag's bit
BITS_ATTR = json.dumps({str(bit): name for name, bit in QC_BITS.items()})  # /windows/qc attrs["bits"]

PART_ATTRS = ("part_index", "part_count", "run_digest", "run_records")  # root attributes of a part file only
REQUIRED = ("spectrograms", "windows/record", "windows/start", "records/name", "records/n_windows", "frequencies")
