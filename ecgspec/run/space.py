"""Free space: what a run is expected to write, checked against the output folder before it starts.

The estimate is the dry run's (:mod:`ecgspec.run.plan`): each record's header only, its windows
counted with the run's own arithmetic, the file's size from
:func:`ecgspec.store.layout.expected_output_bytes` (windows skipped for missing samples only make
the real file smaller). Past ``limits.sample_records`` records, an evenly spaced sample of that many
stands for the rest (scaled to the whole), read in threads while the reader processes already
read the first records: the check of a run of 800,000 records costs a fraction of a second.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Sequence

from ..readers import RecordRef
from ..store.layout import OutputError, expected_output_bytes
from .plan import outcomes
from .settings import Settings

__all__ = ["check_free_space", "expected_run_bytes"]


def expected_run_bytes(refs: Sequence[RecordRef], settings: Settings) -> int:
    """Bytes the output of ``refs`` takes (uncompressed), from their headers alone (or a sample's, read
    in threads: the sample is smaller than ``limits.process_min_records``)."""
    limits = settings.limits
    step = max(1, -(-len(refs) // limits.sample_records))
    sample = refs[::step]
    counts = [n[0] for n in outcomes(sample, settings.read, settings.options.workers, limits)
              if not isinstance(n, str)]  # str: a record skipped
    scale = len(refs) / max(1, len(sample))
    n_windows, n_read = round(sum(counts) * scale), round(len(counts) * scale)
    return expected_output_bytes(n_windows, settings.window_shape, settings.options.dtype, n_read, len(refs) - n_read)


def check_free_space(output: Path, needed: int) -> None:
    """One-line OutputError when the folder of ``output`` has less than ``needed`` bytes free
    (a missing folder is left to the writer to report)."""
    folder = output.parent
    if not folder.is_dir():
        return
    free = shutil.disk_usage(folder).free
    if needed > free:
        raise OutputError(
            f"{folder} has {free} bytes free, the output is expected to need {needed} more (about"
            f" {needed - free} short); free some space or pass --no-space-check to try anyway"
        )
