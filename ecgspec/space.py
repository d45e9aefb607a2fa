"""Free space: what a run is expected to write, checked against the output folder before it starts.

The estimate reads each record's header only (its rate and length) and counts the windows it
gives at the config's rate and stride, so it is an upper bound for the uncompressed output
(bad records and skipped windows only make the real file smaller).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Sequence

from .config import ExtractOptions, InputConfig
from .layout import OutputError, expected_output_bytes, windows_in
from .readers import RecordRef, open_record
from .resample import check_drift, resample_ratio, resampled_length

__all__ = ["check_free_space", "expected_run_bytes"]


def expected_run_bytes(
    refs: Sequence[RecordRef], config: InputConfig, options: ExtractOptions, window_shape: tuple[int, ...]
) -> int:
    """Bytes the output of ``refs`` takes at most (uncompressed), from their headers alone."""
    stride = options.stride or config.n_samples
    n_windows = 0
    for ref in refs:
        try:
            header = open_record(ref, input_fs=options.input_fs or config.sampling_rate).header
            check_drift(header.fs, config.sampling_rate, header.n_samples)
            up, down = resample_ratio(header.fs, config.sampling_rate)
        except Exception:  # noqa: BLE001 - a bad record is reported by the run; it writes no windows
            continue
        n_windows += windows_in(resampled_length(header.n_samples, up, down), config.n_samples, stride)
    return expected_output_bytes(n_windows, window_shape, options.dtype, len(refs))


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
