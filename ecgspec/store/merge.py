"""``ecgspec merge``: the parts of a ``--shard`` (or ``--cluster``) run into one file equal to a single run.

The parts are checked first (:mod:`ecgspec.store.merge_checks`); any problem is one line naming the
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
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import h5py
import numpy as np

from .checksums import checksum_keywords, is_checksummed, seal_strings
from .layout import OutputError, fsync_folder, partial_path
from .lowlevel import copy_stored_chunks, create_like, filters
from .merge_checks import MergeError, PartFile, check_next, check_parts, open_parts
from .record_groups import group_columns, merge_labels, read_labels_group, write_groups
from .schema import LIBVER, PART_ATTRS  # virtual datasets need the 1.10 format, and it keeps files resumable
from .targets import merge_targets, read_target_table, write_targets

__all__ = ["merge_parts", "InOrderMerge", "MergeError", "MergeSummary"]

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
        kinds = {name: _kind(name, ordered) for name in ordered[0].datasets}
        totals = {table: sum(p.rows(table) for p in ordered) for table in ROW_GROUPS.values()}
        writer = MergeWriter(output, ordered[0], kinds, virtual, totals)
        try:
            for part in ordered:
                writer.append(part)
            summary = writer.finish()
        except BaseException:
            writer.abort()
            raise
    _publish(partial, output)
    summary.seconds = time.perf_counter() - t0
    return summary


class InOrderMerge:
    """A copy merge fed one finished part at a time, in part order: how ``extract --cluster`` merges
    each part as soon as it and every part before it are done, while the later ones still run.
    Each part is checked against the first (:func:`check_next`); :meth:`finish` publishes OUTPUT."""

    def __init__(self, output: Path) -> None:
        self.output = output
        self.t0 = time.perf_counter()
        self._stack = contextlib.ExitStack()  # holds the first part open: the others are checked against it
        self._writer: MergeWriter | None = None
        partial_path(output).unlink(missing_ok=True)

    @property
    def merged(self) -> int:
        """Parts appended so far."""
        return len(self._writer.sources) if self._writer else 0

    def add(self, path: Path) -> None:
        """Check and append the part at ``path``, part :attr:`merged` of the run."""
        with contextlib.ExitStack() as stack:  # the first part stays open in self._stack
            part = open_parts([path], self._stack if self._writer is None else stack)[0]
            if self._writer is None:
                self._writer = MergeWriter(self.output, part, {name: _kind(name, [part]) for name in part.datasets},
                                           False)
            check_next(self._writer.first, part, self.merged)
            self._writer.append(part)

    def finish(self) -> MergeSummary:
        """Complete OUTPUT.partial and move it over OUTPUT (fsynced); the summary of the whole merge."""
        if self._writer is None:
            raise MergeError(f"{self.output}: no part to merge")
        with self._stack:
            summary = self._writer.finish()
        _publish(self._writer.partial, self.output)
        summary.seconds = time.perf_counter() - self.t0
        return summary

    def abort(self) -> None:
        """Drop OUTPUT.partial (the parts are kept)."""
        with self._stack:
            if self._writer is not None:
                self._writer.abort()


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


class MergeWriter:
    """OUTPUT.partial built from the parts of one run: each part appended in part order, then
    finished. ``kinds`` says how each dataset merges (:func:`_kind`); rows grow part by part,
    "once" datasets come from the first part (the others must hold the same), "sum" ones are summed.
    ``virtual`` makes ``/spectrograms`` a virtual dataset over the parts instead of a copy.
    ``totals`` (rows of each table once all parts are in) is for a merge that knows all its parts,
    whose ``kinds`` were decided over all of them (:func:`_kind`: "once" ones are equal): the
    datasets are made that long at once. Without, they grow part by part (which needs them
    chunked, as ecgspec writes them), and each part's "once" datasets are compared with the first's."""

    def __init__(self, output: Path, first: PartFile, kinds: dict[str, str], virtual: bool,
                 totals: dict[str, int] | None = None) -> None:
        self.output, self.first, self.kinds, self.virtual, self.totals = output, first, kinds, virtual, totals
        self.rows = dict.fromkeys(ROW_GROUPS.values(), 0)  # rows of /windows, /records, /errors so far
        self.sums: dict[str, np.ndarray] = {}
        self.tables: dict[str, list[np.ndarray]] = {}  # small row datasets, gathered and written at the end
        self.sources: list[tuple[Path, int]] = []  # (path, windows) of each part appended
        self.labels: list[tuple[dict[str, np.ndarray], int]] = []  # each part's /records/labels and records
        self.targets: list[Any] = []  # each part's /records/targets (ecgspec.store.targets)
        self.copied = 0
        self.partial = partial_path(output)
        self.out = h5py.File(self.partial, "w-", libver=LIBVER)
        try:
            self._lay_out()
        except BaseException:
            self.abort()
            raise

    def _lay_out(self) -> None:
        """The root attributes and every dataset but the sums, as the first part has them (rows empty)."""
        first = self.first
        for key, value in first.file.attrs.items():
            if key not in PART_ATTRS:
                self.out.attrs[key] = value
        self.out.attrs["complete"] = False
        for name, kind in self.kinds.items():
            source = first.file[name]
            if kind == "once":
                if source.ndim == 0:
                    self.out.create_dataset(name, data=source[()], dtype=source.dtype)  # (a scalar: no chunks)
                else:
                    _create_like(self.out, name, source, source.shape[0])[...] = source[()]
            elif kind != "sum" and not (name == "spectrograms" and self.virtual):
                _create_like(self.out, name, source, self.totals[kind] if self.totals else 0, grow=not self.totals)
                if name != "spectrograms" and source.size * source.dtype.itemsize <= COPY_BYTES:
                    self.tables[name] = []  # a table column: one write for all parts (100 parts: 100x fewer)
        _copy_attributes(first.file, self.out)

    def append(self, part: PartFile) -> None:
        """The part's rows after those appended so far; its "once" datasets checked, its sums added."""
        shift = self.rows["records"]
        for name, kind in self.kinds.items():
            if (kind == "once" and self.totals is not None) or (name == "spectrograms" and self.virtual):
                continue  # equal to the first's, as _kind found; or read through the virtual dataset
            source = part.file[name]
            if kind == "once":
                if not np.array_equal(source[()], self.first.file[name][()]):
                    raise MergeError(f"cannot merge /{name}: it differs between {self.first.path} and {part.path}")
            elif kind == "sum":
                self.sums[name] = self.sums.get(name, 0) + source[()]
            else:
                transform = (lambda a: a + shift) if name == "windows/record" else None
                if name in self.tables:
                    values = source[()]
                    self.tables[name].append(values if transform is None else transform(values))
                else:
                    self.copied += _append_rows(source, self.out[name], self.rows[kind], transform)
        for table in self.rows:
            self.rows[table] += part.rows(table)
        self.sources.append((part.path, part.n_windows))
        self.labels.append((read_labels_group(part.file, part.n_records), part.n_records))
        self.targets.append(read_target_table(part.file, part.n_records))

    def finish(self) -> MergeSummary:
        """Write the sums (and the virtual dataset), mark the file complete, close it; the summary."""
        first = self.first.file
        for name, values in self.tables.items():
            column = np.concatenate(values) if values else np.empty(0, dtype=first[name].dtype)
            self.copied += _put_rows(self.out[name], 0, column)
        for name, total in self.sums.items():
            self.out.create_dataset(name, data=total, dtype=first[name].dtype, **checksum_keywords(first[name].dtype))
        if self.virtual:
            _virtual(self.out, first["spectrograms"], self.sources, self.output)
        labels = merge_labels(self.labels)
        n = self.rows["records"]
        groups = group_columns(self.out, n, (lambda names: labels) if labels else None)
        write_groups(self.out, n, groups)
        write_targets(self.out, merge_targets(self.targets, groups, n, json.loads(first.attrs["config"])))
        if is_checksummed(self.out):  # as the first part is: its datasets' filters are the output's
            seal_strings(self.out)  # the first part's CRCs hold for its rows; those of the others are added
        self.out.attrs["complete"] = True
        self.out.close()
        return MergeSummary(str(self.output), len(self.sources), self.rows["records"], self.rows["windows"],
                            self.rows["errors"], self.virtual, 0.0, self.copied)

    def abort(self) -> None:
        """Close and remove OUTPUT.partial."""
        with contextlib.suppress(Exception):
            self.out.close()
        with contextlib.suppress(OSError):
            self.partial.unlink()


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


def _create_like(out: h5py.File, name: str, source: h5py.Dataset, rows: int, grow: bool = False) -> h5py.Dataset:
    """A dataset like ``source`` (type, chunks, filters, fill value, resizable axes) with ``rows`` rows;
    ``grow``: resizable along rows whatever ``source`` is (a merge appends to it part by part)."""
    parent = out.require_group(name.rsplit("/", 1)[0]) if "/" in name else out
    shape = (rows, *source.shape[1:])
    grows = grow or (source.maxshape is not None and source.maxshape[0] is None)
    if grows and source.chunks is None:
        raise MergeError(f"cannot merge /{name}: it is not chunked, so it cannot grow part by part")
    maxshape = (None if grows else rows, *(source.maxshape or shape)[1:])
    return create_like(parent, name.rsplit("/", 1)[-1], source, shape, maxshape)


def _append_rows(source: h5py.Dataset, target: h5py.Dataset, offset: int,
                 transform: Callable[[np.ndarray], np.ndarray] | None) -> int:
    """Grow ``target`` to hold ``source``'s rows from ``offset`` on and copy them; return the bytes copied.
    A small dataset (a table column) is read and written at once, a large one (``/spectrograms``)
    streamed with :func:`copy_rows`."""
    if source.size * source.dtype.itemsize <= COPY_BYTES or h5py.check_string_dtype(target.dtype):
        values = source[()]
        return _put_rows(target, offset, values if transform is None else transform(values))
    _grow(target, offset + source.shape[0])
    return copy_rows(source, target, offset, transform)


def _put_rows(target: h5py.Dataset, offset: int, values: np.ndarray) -> int:
    """``values`` as ``target``'s rows from ``offset`` on (grown to hold them); return their bytes."""
    _grow(target, offset + len(values))
    if len(values):
        target[offset : offset + len(values)] = values
    return values.size * values.dtype.itemsize


def _grow(target: h5py.Dataset, rows: int) -> None:
    if target.shape[0] < rows:
        target.resize(rows, axis=0)


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
    return filters(source) == filters(target)


def _copy_chunks(source: h5py.Dataset, target: h5py.Dataset, offset: int) -> int:
    """Copy ``source``'s whole chunks as stored bytes when ``offset`` allows; return the rows done."""
    chunk = target.chunks[0] if target.chunks else 0
    if not chunk or offset % chunk or not _same_storage(source, target) or source.is_virtual:
        return 0
    whole = source.shape[0] // chunk * chunk  # the last, partial chunk goes by value: the next part fills its rest
    copy_stored_chunks(source, target, offset, whole)
    return whole


def _virtual(out: h5py.File, first: h5py.Dataset, sources: list[tuple[Path, int]], output: Path) -> None:
    """``/spectrograms`` as a virtual dataset over the parts' own (``sources``: path and windows of each),
    by paths relative to OUTPUT's folder."""
    total = sum(n for _, n in sources)
    layout = h5py.VirtualLayout(shape=(total, *first.shape[1:]), dtype=first.dtype)
    offset = 0
    for path, n in sources:
        if n:
            relative = os.path.relpath(path.resolve(), output.parent.resolve())
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
