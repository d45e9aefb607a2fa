"""What the fast XML decoders (:mod:`.muse`, :mod:`.hl7`, :mod:`.sierra`) share: the document
parsed with its big payloads cut out first, Base64 decoded strictly, and the rhythm leads scaled to
mV as they come out (which decoder a file is for is :mod:`.ecgdatakit_facts`' ``detect``).

The XML is parsed by :mod:`xml.etree.ElementTree` (expat). A document that declares entities is
not decoded here (ecgdatakit refuses those, and it decides); without entity declarations there
is nothing to expand, and Python 3.11's expat also refuses runaway entity expansion ("billion
laughs") by itself. External DTDs and entities are never fetched.
"""

from __future__ import annotations

import binascii
import functools
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pybase64

from ..registry import Unhandled
from .ecgdatakit_facts import TO_UV


@dataclass
class Decoded:
    """A file's rhythm leads in mV, as ecgdatakit's path in :mod:`ecgspec.readers.clinical` gives them."""

    names: list[str]
    signals: list[np.ndarray]  # float32, one a lead
    rates: list[float]
    units: list[str]
    start_time: str
    meta: tuple[tuple[str, str], ...]


def cut_payloads(raw: bytes, tag: bytes, payloads: list | None = None, views: bool = False) -> tuple[bytes, list]:
    """``raw`` with the text of every ``<tag ...>text</tag>`` replaced by ``@@k@@`` (its index in
    ``payloads``) and the texts cut out into ``payloads``, so that expat never walks them. A text
    holding markup (a comment, CDATA, a character reference) is left in place for the parser; one
    cut from a comment is never claimed (:meth:`Payloads.all_used`). With ``views``, each text is
    a memoryview of ``raw``, not a copy (for a reader that parses the buffer as it is)."""
    payloads = [] if payloads is None else payloads
    source = memoryview(raw) if views else raw
    open_, close = b"<" + tag, b"</" + tag + b">"
    parts, pos, search = [], 0, 0
    while True:
        start = raw.find(open_, search)
        if start < 0:
            break
        search = start + len(open_)
        if raw[search:search + 1] not in (b">", b" ", b"\t", b"\n", b"\r"):
            continue  # another tag that starts with this name
        gt = raw.find(b">", search)
        end = raw.find(b"<", gt + 1) if gt >= 0 else -1
        if end < 0:
            break
        search = end
        if raw[gt - 1:gt] != b"/" and raw.startswith(close, end) and raw.find(b"&", gt + 1, end) < 0:
            parts += [raw[pos:gt + 1], b"@@%d@@" % len(payloads)]
            payloads.append(source[gt + 1:end])
            pos = end
    parts.append(raw[pos:])
    return b"".join(parts), payloads


class Payloads:
    """The cut-out texts, each to be claimed once by the element it came from."""

    def __init__(self, payloads: list[bytes]) -> None:
        self._payloads = payloads
        self._used = [False] * len(payloads)

    def text(self, el: ET.Element | None) -> bytes | memoryview | None:
        """The bytes of ``el``'s text: its cut payload, or what the parser kept; None without text."""
        if el is None:
            return None
        if el.text is None:
            if len(el):
                raise Unhandled("a waveform element holds child elements")
            return None
        t = el.text
        if t.startswith("@@") and t.endswith("@@") and len(el) == 0:
            k = int(t[2:-2])
            if self._used[k]:
                raise Unhandled("a waveform text is referenced twice")
            self._used[k] = True
            return self._payloads[k]
        if len(el):
            raise Unhandled("a waveform element holds child elements")
        return t.encode("utf-8")

    def all_used(self) -> None:
        """Unhandled unless every cut text was claimed (one inside a comment or CDATA was not)."""
        if not all(self._used):
            raise Unhandled("waveform text outside the waveform elements")


def parse(raw: bytes, tags: tuple[bytes, ...], attributes: tuple[bytes, ...] = (),
          refuse: Callable[[bytes], str | None] | None = None, views: bool = False) -> tuple[ET.Element, Payloads]:
    """The document's root (the texts of ``tags`` cut out first), namespaces stripped as
    ecgdatakit's ``parse_xml_root`` strips them (those of attribute names where one of the
    ``attributes`` read may be prefixed), and its payloads; Unhandled when it declares entities,
    when ``refuse`` gives a reason for the cut document, or when it is not well-formed
    (ecgdatakit then decodes it or gives its reason). ``views``: the payloads as memoryviews
    (:func:`cut_payloads`)."""
    small, payloads = raw, []
    for tag in tags:
        small, payloads = cut_payloads(small, tag, payloads, views)
    if b"<!ENTITY" in small:  # (a cut text holds no markup)
        raise Unhandled("the XML declares entities")
    reason = refuse(small) if refuse is not None else None
    if reason:
        raise Unhandled(reason)
    namespaced = b"xmlns" in small or b"xml:" in small  # (the xml prefix is bound without a declaration)
    prefixes = declared_prefixes(small) if namespaced else []
    plain = without_default_namespace(small, prefixes) if prefixes else small
    root = None
    if plain is not None:
        try:
            root = ET.fromstring(plain)
        except ET.ParseError:
            plain = None  # (the document's own error, or its tree, below)
    if root is None:
        try:
            root = ET.fromstring(small)
        except ET.ParseError as exc:
            raise Unhandled(f"Malformed XML: {exc}", malformed=True) from None
    if namespaced:  # a document with namespaces
        prefixed = names_prefixed(small, attributes, prefixes)
        if plain is None or prefixed or (not prefixes and b"<xml:" in small):
            strip_namespaces(root, prefixed)
    return root, Payloads(payloads)


_DECLARATION = re.compile(rb"xmlns(?::([^\s=>/]+))?\s*=")  # a namespace declaration: its prefix (b"" for a default one)
_ROOT_DEFAULT_NS = re.compile(  # the prolog, the root's name and attributes, then its xmlns="..."
    rb"\A(?:<\?[^>]*\?>|<!--.*?-->|\s)*<[^\s>/!?]+(?:\s+[^\s=>]+\s*=\s*(?:\"[^\"]*\"|'[^']*'))*?"
    rb"(\s+xmlns\s*=\s*(?:\"[^\"<]*\"|'[^'<]*'))(?=[\s/>])", re.S)
# a namespace name expat may refuse (a reference, a byte it does not take, a reserved name): the
# document is then parsed as it is, for expat to say
_UNSAFE_URI = re.compile(rb"[^\t\n\r\x20-\x7e]|&|www\.w3\.org/(?:XML/1998/namespace|2000/xmlns)")


def declared_prefixes(small: bytes) -> list[bytes]:
    """The prefix of each namespace declaration in ``small`` (b"" for a default one), in order;
    one in a comment or an attribute's value too (what is found here is only ever checked for)."""
    return _DECLARATION.findall(small)


def _bound(prefixes: list[bytes]) -> frozenset[bytes]:
    """The prefixes a tag or attribute name can have: those declared, and ``xml`` (always bound)."""
    return frozenset(prefixes) - {b""} | {b"xml"}


def without_default_namespace(small: bytes, prefixes: list[bytes] | None = None) -> bytes | None:
    """``small`` without its root's default namespace declaration, when that is its one default
    declaration and no tag has a prefix: its tags then parse to the names that stripping their
    namespaces gives (its prefixed attributes keep theirs), without a walk of the tree. None
    for any other document. ``prefixes``: its :func:`declared_prefixes`, where known. (A tag's
    prefix is one bound, or expat refuses the document: ``<p:`` for each bound ``p`` finds them all.)"""
    prefixes = declared_prefixes(small) if prefixes is None else prefixes
    if prefixes.count(b"") != 1 or any(b"<" + p + b":" in small for p in _bound(prefixes)):
        return None
    match = _ROOT_DEFAULT_NS.match(small)
    if match is None or _UNSAFE_URI.search(match.group(1)):
        return None
    return small[:match.start(1)] + small[match.end(1):]


def strip_namespaces(root: ET.Element, attributes: bool = True) -> None:
    """Tags (and attribute names) without their namespace URIs, as ecgdatakit's ``parse_xml_root``."""
    for el in root.iter():
        tag = el.tag
        if tag[0] == "{":  # only a namespaced tag holds a "}"
            el.tag = tag[tag.index("}") + 1:]
        if attributes and any("}" in k for k in el.keys()):
            el.attrib = {k.split("}", 1)[-1]: v for k, v in el.attrib.items()}


def names_prefixed(small: bytes, names: tuple[bytes, ...], prefixes: list[bytes]) -> bool:
    """Whether an attribute of one of ``names`` may be namespace-prefixed in ``small`` (then
    stripping attribute namespaces can change what a lookup of that name finds), given its
    :func:`declared_prefixes` (an attribute's prefix is one bound, as a tag's)."""
    return bool(names) and _prefixed_names(_bound(prefixes), names).search(small) is not None


@functools.lru_cache(maxsize=64)
def _prefixed_names(prefixes: frozenset[bytes], names: tuple[bytes, ...]) -> re.Pattern:
    """``p:name`` for any of ``prefixes`` and ``names``, one pattern (one pass over the document)."""
    def either(words):
        return b"|".join(re.escape(w) for w in sorted(words))
    return re.compile(b"(?:%s):(?:%s)" % (either(prefixes), either(names)))


def base64_strict(data: bytes) -> bytes | None:
    """``base64.b64decode("".join(text.split()), validate=True)`` of a text whose whitespace is
    XML's (space, tab, CR, LF), None where that raises. pybase64's SIMD decode first (what it
    accepts, Python's strict decode gives the same bytes); Python's where it refuses, which is the
    rule (it accepts a few texts pybase64 does not, such as data after the padding)."""
    data = without_xml_space(data)
    try:
        return pybase64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        pass
    try:
        return binascii.a2b_base64(data, strict_mode=True)
    except (binascii.Error, ValueError):
        return None


def without_xml_space(data: bytes) -> bytes:
    """``data.translate(None, b" \\t\\n\\r")``, a character at a time with ``bytes.replace``
    (memchr's speed: six times translate's on Base64 in lines), only for those it holds (the
    text itself, not a copy, where it holds none)."""
    for space in (b"\n", b"\r", b" ", b"\t"):
        if space in data:
            data = data.replace(space, b"")
    return data


def leads_to_mv(counts: list[np.ndarray], scales: list[tuple[float, str, float]]) -> list[np.ndarray]:
    """:func:`to_mv` of each lead's counts by its (resolution, unit, offset). Lead by lead: the
    float64 temporaries of one lead stay in the CPU cache (all leads at once were slower)."""
    return [to_mv(c, *s) for c, s in zip(counts, scales)]


def mv_scale(resolution: float, unit: str, offset: float = 0.0) -> tuple[float, float]:
    """The (scale, shift) of ecgdatakit's auto_scale to mV of counts of ``resolution`` ``unit``
    plus ``offset``: mV = count x scale, plus shift where it is not 0, in float64."""
    factor = TO_UV[unit] / TO_UV["mV"]
    return resolution * factor, offset * factor


def to_mv(counts: np.ndarray, resolution: float, unit: str, offset: float = 0.0) -> np.ndarray:
    """ecgdatakit's auto_scale to mV of counts (:func:`mv_scale`): the same float64 operations in
    the same order, then float32 as :mod:`ecgspec.readers.clinical` keeps them."""
    scale, shift = mv_scale(resolution, unit, offset)
    x = np.multiply(counts, scale, dtype=np.float64)  # (each count as float64, then the product)
    if shift:
        x += shift
    return x.astype(np.float32)
