"""What a run is told beyond its settings, and what it reports: :class:`RunControl` (an existing
output, progress, messages) and :class:`ExtractResult` (the summary, ``--json``). Neither changes a
value written."""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Dict, List, TextIO, Tuple

from tqdm import tqdm

__all__ = ["ExtractResult", "RunControl", "stderr_log"]


@dataclass
class ExtractResult:
    """What a run did: the summary printed at the end (``summary_line``) and by ``--json`` (``to_dict``).

    Attributes
    ----------
    output : str
        The file written.
    records, windows : int
        Records read and windows written by this run (not counting those kept by ``resume``).
    empty : list of str
        Records shorter than one window (a ``/records`` row with ``n_windows = 0``).
    errors : list of (str, str)
        The records skipped, and why, as ``/errors`` lists them.
    resumed : int
        Records kept from a previous run (``resume``).
    nan_skipped : int
        Windows skipped for too many missing samples (``max_nan``).
    seconds, discovery_seconds : float
        The run's time, and the part of it finding the records took.
    window_shape : tuple of int
        One window's spectrogram shape.
    labels_matched, labels_unmatched, labels_first_unmatched
        With ``labels``: the records with a row, those without, the first without; else None, 0, None.
    shares : dict of str to float
        Each stage's share of the run (``reading``, ``engine``, ``writing``): the one near 1 limits it.

    Examples
    --------
    >>> from ecgspec import ExtractResult
    >>> ExtractResult("out.h5", records=2, windows=4, seconds=2.0).summary_line()
    'ecgspec: 2 records read, 4 windows written, 0 records without windows, 0 skipped, 2.0 s, 2.0 windows/s'
    """

    output: str
    records: int = 0
    windows: int = 0
    empty: List[str] = field(default_factory=list)
    errors: List[Tuple[str, str]] = field(default_factory=list)
    resumed: int = 0  # records kept in the output from a previous run (--resume), not in `records`
    repaired: List[str] = field(default_factory=list)  # --resume: stored records that failed their checksum
    nan_skipped: int = 0  # windows skipped for too many missing samples
    seconds: float = 0.0
    window_shape: Tuple[int, ...] = ()
    labels_matched: int | None = None  # with --labels: records of the run that have a row
    labels_unmatched: int = 0  # and those without one
    labels_first_unmatched: str | None = None
    discovery_seconds: float = 0.0  # finding the records (and, with --shard, picking the part)
    shares: Dict[str, float] = field(default_factory=dict)  # reading/engine/writing: each stage's share of the run

    @property
    def windows_per_second(self) -> float:
        return self.windows / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> Dict[str, Any]:
        out = asdict(self)
        out["errors"] = [{"name": n, "message": m} for n, m in self.errors]
        out["windows_per_second"] = round(self.windows_per_second, 1)
        out["seconds"] = round(self.seconds, 3)
        out["discovery_seconds"] = round(self.discovery_seconds, 3)
        out["shares"] = {k: round(v, 3) for k, v in self.shares.items()}
        return out

    def summary_line(self) -> str:
        resumed = f", {self.resumed} records kept from the previous run" if self.resumed else ""
        if self.repaired:
            resumed += f", {len(self.repaired)} repaired (their stored rows failed their checksum: computed again)"
        return (
            f"ecgspec: {self.records} records read, {self.windows} windows written, "
            f"{len(self.empty)} records without windows, {len(self.errors)} skipped{resumed}, "
            f"{self.seconds:.1f} s, {self.windows_per_second:.1f} windows/s{self._labels_text()}"
        )

    def _labels_text(self) -> str:
        if self.labels_matched is None:
            return ""
        total = self.labels_matched + self.labels_unmatched
        first = f" (first without: {self.labels_first_unmatched})" if self.labels_first_unmatched else ""
        return f"; labels matched {self.labels_matched} of {total} records{first}"


def stderr_log(message: str) -> None:
    """A message on stderr, above tqdm's bar when there is one."""
    tqdm.write(message, file=sys.stderr)


@dataclass
class RunControl:
    """How a run treats an existing output and reports its progress; nothing here changes the values written."""

    overwrite: bool = False  # replace OUTPUT (and any partial file)
    resume: bool = False  # continue OUTPUT.partial, or add new records to OUTPUT
    progress: bool = False  # a tqdm bar on stderr
    log_every: float = 0.0  # without the bar: a progress line on stderr every this many seconds (0: none)
    stdin: TextIO | None = None  # where the input "-" reads record paths
    log: Callable[[str], None] = stderr_log  # per-record messages and warnings
    space_check: bool = True  # stop before writing when the expected output exceeds the free space
