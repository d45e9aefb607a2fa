"""``ecgspec merge``: the parts of a ``--shard`` (or ``--cluster``) run into one file equal to a single run.

The parts are checked first (:mod:`ecgspec.merge_checks`); any problem is one line naming the
files. The merged file holds every dataset of the parts, found by walking them, so datasets
added to the layout later merge too:

- ``/spectrograms``, ``/windows/*``: the parts' windows in part order (a single run's order),
  ``/windows/record`` renumbered to rows of the merged ``/records``;
- ``/records/*``, ``/errors/*``: the parts' rows in part order (part 0 holds the discovery
  problems a single run lists first);
- ``/committed`` (the writer's counters): summed;
- anything else (``/frequencies``, per-frame constants): equal in every part, copied once;
  failing that, a dataset as long as each part's windows (or records) is concatenated.

The copy streams ``/spectrograms`` in large chunk-aligned slices, and where a part starts on a
chunk boundary of the output and is stored with the same chunks and filters, copies its
chunks as stored bytes (``read_direct_chunk``/``write_direct_chunk``: no decompression).
It is written to ``OUTPUT.partial``, fsynced and renamed, like ``extract``'s output.
``virtual=True`` makes ``/spectrograms`` an HDF5 virtual dataset over the parts' own, by paths
relative to OUTPUT's folder (move the folder as a whole), and copies the rest.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import h5py
import numpy as np

from .layout import OutputError, partial_path
from .merge_checks import MergeError, PartFile, check_parts, open_parts
from .resume import LIBVER, fsync_folder  # the writer's LIBVER: virtual datasets need the 1.10 format, and it keeps files resumable
from .shard import PART_ATTRS

__all__ = ["merge_parts", "MergeError", "MergeSummary", "missing_sources"]

COPY_BYTES = 64 << 20  # spectrogram bytes one copy step holds in memory
SUMMED = ("committed",)  # counters of rows: the merged file's are the parts' sums
ROW_GROUPS = {"windows": "windows", "records": "records", "errors": "errors"}


@dataclass
class MergeSummary:
    """What a merge wrote."""

    output: str
    parts: int
    records: int
    windows: int
    errors: int
    virtual: bool
    seconds: float
    bytes_copied: int

    def line(self) -> str:
        how = "virtual, nothing copied" if self.virtual else f"{self.bytes_copied / 2**20:.0f} MiB copied"
        return (f"ecgspec: merged {self.parts} parts into {self.output}: {self.records} records, {self.windows}"
                f" windows, {self.errors} skipped ({how}), {self.seconds:.1f} s")


def merge_parts(parts: Sequence[str | os.PathLike[str]], output: str | os.PathLike[str], *, virtual: bool = False,
                overwrite: bool = False) -> MergeSummary:
    """Merge the part files ``parts`` (any order) into ``output``; see the module doc."""
    t0 = time.perf_counter()
    output = Path(output)
    partial = partial_path(output)
    _check_output(output, partial, [Path(p) for p in parts], overwrite)
    with contextlib.ExitStack() as stack:
        files = open_parts([Path(p) for p in parts], stack)
        ordered = check_parts(files)
        try:
            copied = _write(ordered, partial, output, virtual)
        except BaseException:
            with contextlib.suppress(OSError):
                partial.unlink()
            raise
        summary = MergeSummary(str(output), len(ordered), sum(p.n_records for p in ordered),
                               sum(p.n_windows for p in ordered), sum(p.n_errors for p in ordered), virtual,
                               0.0, copied)
    _publish(partial, output)
    summary.seconds = time.perf_counter() - t0
    return summary


def _check_output(output: Path, partial: Path, parts: list[Path], overwrite: bool) -> None:
    if not output.parent.is_dir():
        raise OutputError(f"{output}: folder {output.parent} does not exist")
    if any(p.resolve() == output.resolve() for p in parts):
        raise MergeError(f"{output} is one of the parts; give a new file as OUTPUT")
    for path in (output, partial):
        if path.exists() and not overwrite:
            raise OutputError(f"{path} exists; pass --overwrite to replace it")
    if partial.exists():
        partial.unlink()


def _publish(partial: Path, output: Path) -> None:
    """Make the finished file durable, then move it into place (and make the rename durable)."""
    with open(partial, "rb+") as fh:
        os.fsync(fh.fileno())
    os.replace(partial, output)
    with contextlib.suppress(OSError):  # not every filesystem lets a folder be fsynced
        fsync_folder(output.parent)


# -- writing -----------------------------------------------------------------------------------


def _write(parts: list[PartFile], partial: Path, output: Path, virtual: bool) -> int:
    """Write the merged file; return the spectrogram bytes copied."""
    copied = 0
    with h5py.File(partial, "w-", libver=LIBVER) as out:
        for key, value in parts[0].file.attrs.items():
            if key not in PART_ATTRS:
                out.attrs[key] = value
        out.attrs["complete"] = False
        for name in parts[0].datasets:
            kind = _kind(name, parts)
            if name == "spectrograms" and virtual:
                _virtual(out, parts, output)
            elif kind in ("once", "sum"):
                first = parts[0].file[name]
                values = first[()] if kind == "once" else sum(p.file[name][()] for p in parts)
                if first.ndim == 0:
                    out.create_dataset(name, data=values, dtype=first.dtype)
                else:
                    _create_like(out, name, first, first.shape[0])[...] = values
            else:
                copied += _concatenate(out, name, parts)
        _copy_attributes(parts[0].file, out)
        out.attrs["complete"] = True
    return copied


def _kind(name: str, parts: list[PartFile]) -> str:
    """How dataset ``name`` merges: "windows"/"records"/"errors" (rows concatenated), "once" or "sum"."""
    group = name.split("/")[0] if "/" in name else None
    if name == "spectrograms" or group == "windows":
        return "windows"
    if group in ROW_GROUPS:
        return ROW_GROUPS[group]
    if name in SUMMED:
        return "sum"
    datasets = [p.file[name] for p in parts]
    first = datasets[0][()]
    if all(d.shape == datasets[0].shape and np.array_equal(d[()], first) for d in datasets[1:]):
        return "once"
    for rows in ("windows", "records"):
        if all(d.ndim and d.shape[0] == p.rows(rows) for d, p in zip(datasets, parts)):
            return rows
    raise MergeError(f"cannot merge /{name}: it differs between {parts[0].path} and the other parts,"
                     " and is not one row per window or record")


def _create_like(out: h5py.File, name: str, source: h5py.Dataset, rows: int) -> h5py.Dataset:
    """A dataset like ``source`` (type, chunks, filters, fill value, resizable axes) with ``rows`` rows."""
    parent = out.require_group(name.rsplit("/", 1)[0]) if "/" in name else out
    shape = (rows, *source.shape[1:])
    grows = source.maxshape is not None and source.maxshape[0] is None
    maxshape = (h5py.h5s.UNLIMITED if grows else rows, *(h5py.h5s.UNLIMITED if m is None else m
                                                          for m in (source.maxshape or shape)[1:]))
    space = h5py.h5s.create_simple(shape, maxshape)
    dsid = h5py.h5d.create(parent.id, name.rsplit("/", 1)[-1].encode(), source.id.get_type(), space,
                           dcpl=source.id.get_create_plist())
    return h5py.Dataset(dsid)


def _concatenate(out: h5py.File, name: str, parts: list[PartFile]) -> int:
    """Write ``name`` as the parts' rows one after another; return the bytes copied.

    A small dataset (the tables) is gathered in memory and written at once; a large one
    (``/spectrograms``) streamed part by part with :func:`copy_rows`.
    """
    sources = [p.file[name] for p in parts]
    total = sum(s.shape[0] for s in sources)
    target = _create_like(out, name, sources[0], total)
    offsets = np.cumsum([0] + [p.n_records for p in parts])  # /windows/record of part k counts from offsets[k]
    shifts = [(lambda a, k=int(k): a + k) if name == "windows/record" else None for k in offsets[:-1]]
    nbytes = sum(s.size * s.dtype.itemsize for s in sources)
    if nbytes <= COPY_BYTES or h5py.check_string_dtype(target.dtype):
        if total:
            values = [s[()] if shift is None else shift(s[()]) for s, shift in zip(sources, shifts)]
            target[...] = np.concatenate(values)
        return nbytes
    offset, copied = 0, 0
    for source, shift in zip(sources, shifts):
        copied += copy_rows(source, target, offset, shift)
        offset += source.shape[0]
    return copied


def copy_rows(source: h5py.Dataset, target: h5py.Dataset, offset: int,
              transform: Callable[[np.ndarray], np.ndarray] | None = None) -> int:
    """Copy every row of ``source`` to ``target[offset:]``; return the bytes copied.

    Stored chunks are copied as they are where ``offset`` is a chunk boundary of ``target``
    and both are chunked and filtered alike (no transform); the rest in slices of about
    ``COPY_BYTES`` that end on ``target``'s chunk boundaries, so each chunk is written once.
    """
    n = source.shape[0]
    if n == 0:
        return 0
    row_bytes = source.dtype.itemsize * int(np.prod(source.shape[1:], dtype=np.int64))
    done = _copy_chunks(source, target, offset) if transform is None else 0
    chunk = target.chunks[0] if target.chunks else 1
    step = max(chunk, (COPY_BYTES // max(row_bytes, 1)) // chunk * chunk)
    while done < n:
        stop = min(n, done + step - (offset + done) % chunk)  # ends on a chunk boundary of target
        values = source[done:stop]
        target[offset + done : offset + stop] = transform(values) if transform else values
        done = stop
    return n * row_bytes


def _same_storage(source: h5py.Dataset, target: h5py.Dataset) -> bool:
    """Chunks of ``source`` can be written to ``target`` as stored bytes."""
    if source.chunks is None or source.chunks != target.chunks or source.dtype != target.dtype:
        return False
    a, b = source.id.get_create_plist(), target.id.get_create_plist()
    filters = lambda plist: [plist.get_filter(i)[:3] for i in range(plist.get_nfilters())]  # noqa: E731
    return filters(a) == filters(b)


def _copy_chunks(source: h5py.Dataset, target: h5py.Dataset, offset: int) -> int:
    """Copy ``source``'s whole chunks as stored bytes when ``offset`` allows; return the rows done."""
    chunk = target.chunks[0] if target.chunks else 0
    if not chunk or offset % chunk or not _same_storage(source, target) or source.is_virtual:
        return 0
    n = source.shape[0]
    whole = n // chunk * chunk  # the last, partial chunk goes by value: the next part fills its rest
    zeros = (0,) * (source.ndim - 1)
    for start in range(0, whole, chunk):
        mask, data = source.id.read_direct_chunk((start, *zeros))
        target.id.write_direct_chunk((offset + start, *zeros), data, mask)
    return whole


def _virtual(out: h5py.File, parts: list[PartFile], output: Path) -> None:
    """``/spectrograms`` as a virtual dataset over the parts' own, by paths relative to OUTPUT's folder."""
    first = parts[0].file["spectrograms"]
    total = sum(p.n_windows for p in parts)
    layout = h5py.VirtualLayout(shape=(total, *first.shape[1:]), dtype=first.dtype)
    offset = 0
    for part in parts:
        n = part.n_windows
        if n:
            relative = os.path.relpath(part.path.resolve(), output.parent.resolve())
            layout[offset : offset + n] = h5py.VirtualSource(relative, "spectrograms", shape=(n, *first.shape[1:]))
        offset += n
    out.create_virtual_dataset("spectrograms", layout, fillvalue=np.nan)


def _copy_attributes(source: h5py.File, out: h5py.File) -> None:
    """Each dataset's and group's own attributes, as part 0 has them."""

    def visit(name: str, obj: Any) -> None:
        if name in out:
            for key, value in obj.attrs.items():
                out[name].attrs[key] = value

    source.visititems(visit)


def missing_sources(dataset: h5py.Dataset, folder: Path) -> list[str]:
    """The source files of a virtual dataset that are not there (relative to ``folder``, the file's own)."""
    if not dataset.is_virtual:
        return []
    names = {source.file_name for source in dataset.virtual_sources()}
    return sorted(n for n in names if n != "." and not (folder / n).is_file())
