"""Finishing a partial file: the staged strings into the public string datasets, ``/records/meta`` and
``/records/labels``, ``/staged`` dropped, ``complete`` set; what it costs grows with the records added.

:meth:`ecgspec.store.writer.SpectrogramWriter.finish` commits the last rows, then :func:`prepare`
reads and computes everything from the file while it is still in SWMR mode (readers can open it);
only :func:`complete` runs with SWMR off (HDF5 creates no dataset and sets no attribute in SWMR
mode), and for as short a time as writing takes. The records a file held when it was last
finished keep their strings and ``meta`` rows as they are: only the staged rows are read,
parsed and written, so adding 5% to a large file costs 5% of finishing it. No torch here.
"""

from __future__ import annotations

import dataclasses
from typing import Mapping

import h5py
import numpy as np

from . import staged
from .checksums import seal_strings
from .layout import STRING_COLUMNS
from .record_groups import LABELS, META, LabelColumns, extend_meta, meta_columns, read_labels_group, write_groups
from .targets import Targets, target_table, write_targets

__all__ = ["Finish", "complete", "prepare"]

HEAP_OBJECT_BYTES = 16  # a global-heap object's header, beside its text (8-aligned)


@dataclasses.dataclass
class Finish:
    """What finishing writes: the staged rows' strings of each table, the ``meta`` columns of the staged
    records, and the ``labels`` columns of every record (with ``--labels``)."""

    records: int
    strings: dict[str, dict[str, np.ndarray]]
    meta: dict[str, np.ndarray]
    labels: Mapping[str, np.ndarray] | None

    @property
    def nbytes(self) -> int:
        """About the bytes finishing adds to the file: each string a global-heap object (``/staged``'s
        space is not reused), ``meta`` too; labels, rewritten, as many again."""
        tables = [*self.strings.values(), self.meta, self.labels or {}]
        columns = [column for table in tables for column in table.values() if column.dtype == object]
        return sum(sum(map(len, column)) + HEAP_OBJECT_BYTES * len(column) for column in columns)


def prepare(file: h5py.File, n_records: int, n_errors: int, labels: LabelColumns | None) -> Finish:
    """Read the staged strings of the committed rows of ``file`` (the writer's, in SWMR mode) and compute
    the ``meta`` columns of the staged records and, with ``labels``, every record's labels."""
    strings = {"records": staged.staged_values(file, "records", n_records),
               "errors": staged.staged_values(file, "errors", n_errors)}
    records = strings["records"]
    meta = meta_columns(records["fields"], records["comments"])
    joined = None
    if labels is not None:
        names = staged.read(file, "records", n_records, ("name",))["name"]
        joined = labels(np.asarray(names, dtype=object))
    return Finish(n_records, strings, meta, joined)


def complete(file: h5py.File, work: Finish, targets: Targets | None = None) -> list[str]:
    """Turn ``file`` (open for writing, SWMR off) into a finished file: the staged strings appended to the
    public datasets, ``meta`` extended (or rebuilt), ``labels`` written (or dropped when they no longer
    cover every record), with ``targets`` ``/records/targets`` from every record's ``meta`` and
    ``labels`` (read back: the one step that grows with all the records), ``/staged`` deleted,
    ``complete`` set. Returns warnings for the user.

    The strings and ``meta`` are written and flushed before ``/staged`` goes: a writer killed before
    that flush leaves the staged rows as they were."""
    base = staged.first_row(file, "records")
    for table in STRING_COLUMNS:
        staged.unstage(file, table, work.strings[table])
    extend_meta(file, base, work.records, work.meta)
    warnings = write_groups(file, work.records, {} if work.labels is None else {LABELS: work.labels})
    if targets is not None:
        meta = {k: d.asstr()[: work.records] for k, d in file[META].items()} if META in file else {}
        groups = {META: meta, LABELS: read_labels_group(file, work.records)}
        write_targets(file, target_table(targets, groups, work.records))
    file.flush()
    staged.drop(file)
    seal_strings(file)  # each string dataset's CRCs (HDF5 allows no filter on them): of the rows added
    file.attrs["complete"] = True
    return warnings
