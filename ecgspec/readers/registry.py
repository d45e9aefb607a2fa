"""Which reader reads a file: every format ecgspec reads, registered with the extensions it is
found by, how it recognises a file of its own, and its priority, as ecgdatakit registers its
parsers (``Parser.can_parse``, ``PRIORITY``).

Discovery asks :func:`kind_of` whether a file is a record (by its extension, in any case:
``.XML`` is ``.xml``, as devices and Windows tools write them); :func:`read` opens one by trying
the formats of its kind and extension in priority order (lower first). A format with a ``sniff``
is tried only where that predicate accepts the file's first :data:`SNIFF` bytes; a reader that
finds a file is not one it reads raises :class:`Unhandled`, the one way to say "not mine, try the
next". ecgspec's own clinical decoders come before the ecgdatakit adapter, which reads every
clinical file they leave (or says what reading it needs). A reader is imported when a file of its
is opened, so that finding records imports none (no h5py, no ecgdatakit).
"""

from __future__ import annotations

import functools
import importlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..errors import EcgspecError
from .base import Record, RecordError, RecordRef

SNIFF = 4096  # bytes of a file a sniff sees (what ecgdatakit's detection reads)
_SEP = os.sep
_SEPS_AND_DOT = {"/", os.sep, "."}


class Unhandled(EcgspecError):
    """A file a reader does not read (never raised out of :func:`read`): the next format in the
    registry's order tries it. ``malformed`` says the reader found it broken (the reason is then
    the user's one line when no later reader can say more), not merely a variant it leaves."""

    def __init__(self, reason: str, malformed: bool = False) -> None:
        super().__init__(reason)
        self.malformed = malformed


@dataclass(frozen=True)
class Format:
    """A format ecgspec reads.

    ``kind`` groups the formats discovery tells apart by extension alone (:class:`RecordRef`'s
    ``kind``); ``suffixes`` are its extensions, lower case; ``reader`` and ``sniff`` are
    ``"module:function"`` under :mod:`ecgspec.readers`; the reader is called with the ref and the
    :class:`Request` fields named in ``takes``.
    """

    name: str
    kind: str
    suffixes: tuple[str, ...]
    reader: str
    priority: int = 50
    sniff: str | None = None
    takes: tuple[str, ...] = ()


CLINICAL = (".xml", ".dcm", ".scp", ".ecg", ".mwf", ".mfer", ".mfr")
_FACTS = "clinical.ecgdatakit_facts"

_DECLARED = (
    Format("WFDB", "wfdb", (".hea",), "wfdb.dispatch:open_wfdb"),
    Format("NumPy array", "npy", (".npy",), "numpy:open_npy", takes=("input_fs",)),
    Format("NumPy archive", "npz", (".npz",), "numpy:open_npz"),
    Format("EDF, EDF+, BDF", "edf", (".edf", ".bdf"), "edf:open_edf"),
    Format("CSV", "csv", (".csv",), "csv_records:open_csv", takes=("input_fs",)),
    Format("CODE-15% HDF5", "code15", (".hdf5", ".h5"), "code15:open_code15", takes=("stated_fs",)),
    # ecgspec's own clinical decoders, then ecgdatakit for every clinical file they leave
    Format("DICOM waveform", "clinical", (".dcm",), "clinical.dicom:read_fast", 10, takes=("data",)),
    Format("SCP-ECG", "clinical", (".scp",), "clinical:read_scp", 30, takes=("data",)),
    Format("GE MUSE XML", "clinical", (".xml",), "clinical:read_muse", 50, f"{_FACTS}:is_muse", ("data",)),
    Format("HL7 aECG", "clinical", (".xml",), "clinical:read_hl7", 50, f"{_FACTS}:is_hl7", ("data",)),
    Format("Philips Sierra XML", "clinical", (".xml",), "clinical:read_sierra", 50, f"{_FACTS}:is_sierra", ("data",)),
    Format("ecgdatakit", "clinical", CLINICAL, "clinical:read_by_ecgdatakit", 100, takes=("declined",)),
)
FORMATS: tuple[Format, ...] = tuple(sorted(_DECLARED, key=lambda f: f.priority))  # (a stable sort)
KINDS: dict[str, str] = {suffix: f.kind for f in _DECLARED for suffix in f.suffixes}  # extension (lower case) -> kind


def suffix_of(name: str) -> str:
    """The extension of a file name or path, lower case (``""`` for none): ``os.path.splitext``'s, at
    a fraction of its cost (a tree of a million files asks it for each)."""
    dot = name.rfind(".")
    if dot <= 0:
        return ""
    suffix = name[dot:]
    if "/" in suffix or _SEP in suffix:
        return ""  # the last dot is a folder's
    if name[dot - 1] not in _SEPS_AND_DOT:
        return suffix.lower()  # (the usual name: a character of the stem before the dot)
    start = max(name.rfind("/"), name.rfind(_SEP)) + 1
    return suffix.lower() if name[start:dot].strip(".") else ""


def kind_of(name: str | os.PathLike) -> str | None:
    """The record kind of a file by its extension, in any case (None: not a record file)."""
    return KINDS.get(suffix_of(os.fspath(name)))


def record_name(name: str) -> str:
    """A record file's name without its extension (any other name as it is)."""
    suffix = suffix_of(name)
    return name[: len(name) - len(suffix)] if suffix in KINDS else name


def expected() -> str:
    """The extensions read, for a message: ``.hea, .npy, ... or .mfr``."""
    names = list(KINDS)
    return ", ".join(names[:-1]) + " or " + names[-1]


def formats_for(ref: RecordRef) -> list[Format]:
    """The formats that may read ``ref``, in the order they are tried: those of its kind that
    register its extension, or every format of its kind for an extension none registers."""
    mine = [f for f in FORMATS if f.kind == ref.kind]
    if not mine:
        raise ValueError(f"unknown record kind {ref.kind!r}; expected one of {sorted(set(KINDS.values()))}")
    suffix = suffix_of(ref.path.name)
    return [f for f in mine if suffix in f.suffixes] or mine


@dataclass
class Request:
    """What a reader may be given besides the ref (a :class:`Format` names them in ``takes``):
    the rates the caller states (see :func:`ecgspec.readers.open_record`), the file's bytes (read
    once, for every reader that takes them), and why the reader before this one declined it."""

    input_fs: float | None = None
    stated_fs: float | None = None
    data: bytes | None = None
    declined: Unhandled | None = None


@functools.lru_cache(maxsize=None)
def _load(spec: str) -> Callable[..., Any]:
    """The function ``"module:function"`` names, its module imported (under :mod:`ecgspec.readers`)."""
    module, name = spec.split(":")
    return getattr(importlib.import_module(f"{__package__}.{module}"), name)


def _head(path: Path, request: Request) -> bytes:
    if request.data is not None:
        return request.data[:SNIFF]
    with open(path, "rb") as f:
        return f.read(SNIFF)


def read(ref: RecordRef, request: Request | None = None) -> Record:
    """``ref``'s record, by the first of :func:`formats_for` whose sniff accepts the file and whose
    reader does not raise :class:`Unhandled`; RecordError (or OSError) otherwise."""
    request = request or Request()
    candidates = formats_for(ref)
    if request.data is None and any("data" in f.takes for f in candidates):
        request.data = ref.path.read_bytes()  # once, for the sniffs and every reader that takes it
    for fmt in candidates:
        if fmt.sniff is not None and not _load(fmt.sniff)(_head(ref.path, request)):
            continue
        try:
            return _load(fmt.reader)(ref, *(getattr(request, name) for name in fmt.takes))
        except Unhandled as exc:
            request.declined = exc
    raise RecordError(str(request.declined or f"no reader takes {ref.path.name}"))
