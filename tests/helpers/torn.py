"""A flush torn at page granularity: which 4 KiB pages it changed, and the file with only some of them
written (what a kill inside it can leave), for the torn-heap test and the torn-file fuzzer."""

from __future__ import annotations

PAGE = 4096


def changed_pages(before: bytes, after: bytes) -> list[int]:
    """The pages that differ between the file before a flush and after it (in file order)."""
    size = max(len(before), len(after))
    return [p for p in range(-(-size // PAGE)) if before[p * PAGE : (p + 1) * PAGE] != after[p * PAGE : (p + 1) * PAGE]]


def splice(before: bytes, after: bytes, pages: list[int]) -> bytes:
    """``before`` with the given pages of ``after`` written over it (a write that reached only those pages)."""
    out = bytearray(before) + bytearray(max(0, len(after) - len(before)))
    for page in pages:
        out[page * PAGE : (page + 1) * PAGE] = after[page * PAGE : (page + 1) * PAGE]
    return bytes(out[: len(after)])
