"""A new output laid out: every dataset created empty, the attributes set, the string columns staged;
what :class:`ecgspec.store.writer.SpectrogramWriter` does before it turns SWMR on. No torch here.

SWMR mode allows no new dataset or attribute, so everything a partial file ever holds is
made here (``/records/meta`` and ``/records/labels`` only when it is finished:
:mod:`ecgspec.store.finishing`).
"""

from __future__ import annotations

import json
from typing import Any, Mapping

import h5py
import numpy as np

from .. import __version__
from ..errors import OutputError
from . import signals, staged, tails
from .checksums import ROOT_ATTR as CHECKSUMMED
from .checksums import checksum_keywords
from .layout import COUNTER, ERROR_COLUMNS, MASK_COLUMNS, RECORD_COLUMNS, STRING_COLUMNS, WINDOW_COLUMNS
from .schema import BITS_ATTR, COLUMN_CHUNK, HDF5_CHUNK_BYTES, LAYOUT_VERSION, STORE_DTYPES

__all__ = ["checked_dtype", "checked_shape", "growing", "lay_out"]


def lay_out(file: h5py.File, window_shape: tuple[int, ...], dtype: np.dtype, config: Mapping[str, Any],
            frames: Mapping[str, np.ndarray], frequencies: np.ndarray, attrs: Mapping[str, Any],
            filters: Mapping[str, Any]) -> None:
    """Create ``file``'s datasets (empty, growing along rows; ``/spectrograms``, or a signals file's
    ``/signals``, with ``filters``) and
    attributes (``attrs``, ``config`` as sorted JSON, ``complete`` False), and stage its strings."""
    per_chunk = max(1, HDF5_CHUNK_BYTES // (int(np.prod(window_shape)) * dtype.itemsize))
    if signals.is_signals(config):  # --store signals: /signals in place of /spectrograms
        signals.create(file, int(config["n_channels"]), int(config["n_samples"]), dtype,
                       {**filters, **checksum_keywords(dtype)})
    else:
        file.create_dataset("spectrograms", shape=(0, *window_shape), maxshape=(None, *window_shape),
                            chunks=(per_chunk, *window_shape), dtype=dtype, **filters,
                            **checksum_keywords(dtype))  # Fletcher32 after the compression (.checksums)
    for group, columns in (("windows", WINDOW_COLUMNS), ("errors", ERROR_COLUMNS), ("records", RECORD_COLUMNS)):
        for name, column_dtype in columns.items():
            wide = (int(config["n_channels"]),) if group == "records" and name in MASK_COLUMNS else ()
            file.create_dataset(f"{group}/{name}", shape=(0, *wide), maxshape=(None, *wide),
                                chunks=(COLUMN_CHUNK, *wide), dtype=column_dtype, **checksum_keywords(column_dtype))
    file["windows/qc"].attrs["bits"] = BITS_ATTR
    for name, values in frames.items():  # /frames/time, /frames/edge: one value per output frame
        file.create_dataset(f"frames/{name}", data=values, **checksum_keywords(values.dtype))
    file.create_dataset("frequencies", data=frequencies, maxshape=(None,), chunks=(max(1, len(frequencies)),),
                        **checksum_keywords(frequencies.dtype))
    for key, value in attrs.items():
        file.attrs[key] = value if key != "config" else json.dumps(dict(config), sort_keys=True)
    file.attrs["window_shape"] = np.asarray(window_shape, dtype=np.int64)
    file.attrs["ecgspec_version"] = __version__
    file.attrs["layout_version"] = LAYOUT_VERSION
    file.attrs["complete"] = False
    file.attrs[CHECKSUMMED] = bool(checksum_keywords(np.int64))
    file.create_dataset(COUNTER, data=np.zeros(3, dtype=np.int64), **checksum_keywords(np.int64))
    for table, columns in STRING_COLUMNS.items():  # their values go to /staged until the file is finished
        staged.create(file, table, columns, 0)
    tails.create(file, growing(file))


def growing(file: h5py.File) -> list[str]:
    """The datasets of ``file`` that grow with its records while it is partial, every commit point rewriting
    their last chunk (:mod:`.tails`): the values, the numeric columns, the staged strings."""
    names = [name for name in ("spectrograms", signals.SIGNALS) if name in file]
    names += [f"windows/{k}" for k in WINDOW_COLUMNS if k in file["windows"]]
    names += [f"records/{k}" for k in (*RECORD_COLUMNS, *signals.SIGNAL_COLUMNS)
              if k not in STRING_COLUMNS["records"] and k in file["records"]]
    return names + [f"{staged.STAGED}/{t}/{part}" for t in STRING_COLUMNS for part in ("ends", "text")
                    if f"{staged.STAGED}/{t}" in file]


def checked_shape(window_shape: tuple[int, ...]) -> tuple[int, ...]:
    """``window_shape`` as ints; ValueError unless it is non-empty with sizes >= 1."""
    shape = tuple(int(n) for n in window_shape)
    if not shape or min(shape) < 1:
        raise ValueError(f"window_shape: got {window_shape!r}, must be non-empty with sizes >= 1")
    return shape


def checked_dtype(dtype: str) -> np.dtype:
    """The stored dtype named ``dtype``; OutputError unless it is one of STORE_DTYPES."""
    if str(dtype) not in STORE_DTYPES:
        raise OutputError(f"dtype: got {dtype!r}, must be one of {', '.join(STORE_DTYPES)}")
    return np.dtype(str(dtype))
