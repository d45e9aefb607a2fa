"""One lead layout for every dataset: a fixed set of leads in a fixed order, a record's signals
placed by lead name (through an alias table), the leads it lacks zero-filled or, for limb leads,
derived by Einthoven's and Goldberger's identities; and signals converted to millivolts.

Pure functions on names and arrays: what a record's header says decides the :class:`LeadPlan`,
and :meth:`LeadPlan.assemble` lays the signals read out in the set's order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from ..readers import RecordError

__all__ = ["lead_key", "STANDARD12", "LEAD_SETS", "LIMB_LEADS", "LeadPlan", "parse_lead_set", "parse_aliases", "standard_name",
           "plan_leads", "derivation", "derive_lead", "derive_limb_leads", "mv_scale", "UNIT_PREFIXES"]

STANDARD12 = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
LEAD_SETS = {"standard12": STANDARD12}
LIMB_LEADS = ("I", "II", "III", "aVR", "aVL", "aVF")


def lead_key(name: str) -> str:
    """Lead names compare without case or spaces: ``aVR`` is ``avr``, ``ECG 1`` is ``ecg1``."""
    return "".join(name.split()).casefold()


_BY_KEY = {lead_key(name): name for name in STANDARD12}

# Written around a lead's name and dropped before it is looked up (keys as lead_key gives them).
_PREFIX = re.compile(r"^(?:ecglead|ekglead|ecg|ekg|lead)[-_:]?")  # ECG II, EKG-V1, Lead aVR, ECG Lead I
_SUFFIX = re.compile(r"\((?:einthoven|goldberger|wilson)\)$")  # SCP-ECG / DICOM: Lead I (Einthoven)
_MODIFIED = re.compile(r"^(?:ml|mod\.?)")  # modified leads: MLII, ML II, mod. II, mod.V1
_ROMAN = {"di": "i", "dii": "ii", "diii": "iii", "d1": "i", "d2": "ii", "d3": "iii"}  # DI/D1 ... (Romance languages)


def standard_name(name: str) -> str | None:
    """The standard-12 lead a record's lead name stands for, by the built-in aliases, or None.

    Case and spaces never matter (:func:`lead_key`, as ``--leads`` compares names). Dropped before the lookup: a
    leading ``ECG``/``EKG`` and/or ``Lead`` (``ECG II``, ``EKG-V1``, ``Lead aVR``, ``ECG Lead I``), a
    trailing ``(Einthoven)``/``(Goldberger)``/``(Wilson)`` (SCP-ECG and DICOM code meanings), a
    modified lead's ``ML``/``mod.`` (``MLII``, ``ML II``, ``mod. II``, ``mod.V1``); ``DI``/``D1``,
    ``DII``/``D2``, ``DIII``/``D3`` are I, II, III. Channel numbers (``ECG 1``), ``V`` alone (which
    chest lead?), bipolar leads (``V2-V1``) and inverted ones (``-aVR``) stand for none.
    """
    key = _SUFFIX.sub("", lead_key(name))
    if key in _BY_KEY:
        return _BY_KEY[key]
    key = _PREFIX.sub("", key, count=1)
    key = _ROMAN.get(key, key)
    if key not in _BY_KEY:
        key = _ROMAN.get(_MODIFIED.sub("", key, count=1), _MODIFIED.sub("", key, count=1))
    return _BY_KEY.get(key)


def parse_lead_set(value: str | Sequence[str]) -> tuple[str, ...]:
    """The leads of ``--lead-set``: a named set (``standard12``) or the leads themselves, in order.
    ValueError for an empty set or a lead named twice (case and spaces aside)."""
    if isinstance(value, str):
        if lead_key(value) in LEAD_SETS:
            return LEAD_SETS[lead_key(value)]
        value = [part.strip() for part in value.split(",")]
    leads = tuple(str(name).strip() for name in value)
    if not leads or any(not name for name in leads):
        raise ValueError(f"lead_set: got {list(leads)!r}, expected {' or '.join(LEAD_SETS)} or lead names")
    keys = [lead_key(name) for name in leads]
    twice = sorted({name for name, key in zip(leads, keys) if keys.count(key) > 1})
    if twice:
        raise ValueError(f"lead_set: {', '.join(twice)} named twice")
    return leads


def parse_aliases(aliases: Mapping[str, str] | None, lead_set: Sequence[str]) -> dict[str, str]:
    """``lead_aliases:`` (a record's lead name -> a lead of the set) keyed by :func:`lead_key`, the
    target spelt as in the set; ValueError naming the alias whose target is not in the set."""
    if not aliases:
        return {}
    if not isinstance(aliases, Mapping):
        raise ValueError(f"lead_aliases: got {aliases!r}, expected a mapping of lead names, e.g. {{D2: II}}")
    members = {lead_key(name): name for name in lead_set}
    out = {}
    for name, target in aliases.items():
        if not isinstance(name, str) or not isinstance(target, str) or not lead_key(name):
            raise ValueError(f"lead_aliases: {name!r}: {target!r}: names and leads must be strings")
        if lead_key(target) not in members:
            raise ValueError(f"lead_aliases.{name}: {target} is not in the lead set ({', '.join(lead_set)})")
        out[lead_key(name)] = members[lead_key(target)]
    return out


# Each limb lead as (coefficient of I, coefficient of II): Einthoven's III = II - I, Goldberger's
# aVR = -(I + II)/2, aVL = I - II/2, aVF = II - I/2.
_FROM_I_II = {"I": (1.0, 0.0), "II": (0.0, 1.0), "III": (-1.0, 1.0), "aVR": (-0.5, -0.5), "aVL": (1.0, -0.5),
              "aVF": (-0.5, 1.0)}
# I and II from each pair of I, II, III, as (coefficient of the first, of the second); in order of preference.
_BASES = {("I", "II"): ((1.0, 0.0), (0.0, 1.0)), ("I", "III"): ((1.0, 0.0), (1.0, 1.0)),
          ("II", "III"): ((1.0, -1.0), (1.0, 0.0))}


def derivation(lead: str, have: Sequence[str]) -> tuple[str, str, float, float] | None:
    """How limb ``lead`` follows from two of I, II, III among ``have``: (first, second, c1, c2) with
    ``lead = c1 * first + c2 * second``; None when ``lead`` is no limb lead or two are not there."""
    if lead not in _FROM_I_II:
        return None
    for (p, q), ((ip, iq), (jp, jq)) in _BASES.items():
        if p in have and q in have:
            ci, cii = _FROM_I_II[lead]
            return p, q, ci * ip + cii * jp, ci * iq + cii * jq
    return None


def derive_lead(c1: float, first: np.ndarray, c2: float, second: np.ndarray) -> np.ndarray:
    """float32 ``c1 * first + c2 * second`` (coefficients 0, +-1/2, +-1: one rounding at most)."""
    first, second = np.asarray(first, dtype=np.float32), np.asarray(second, dtype=np.float32)
    return (np.float32(c1) * first + np.float32(c2) * second).astype(np.float32)


def derive_limb_leads(signals: Mapping[str, np.ndarray], wanted: Sequence[str]) -> dict[str, np.ndarray]:
    """The limb leads of ``wanted`` not in ``signals`` (standard names -> arrays of one length),
    computed from two of I, II, III there; those that cannot be are left out."""
    out = {}
    for lead in wanted:
        if lead in signals:
            continue
        how = derivation(lead, [name for name in ("I", "II", "III") if name in signals])
        if how is not None:
            p, q, c1, c2 = how
            out[lead] = derive_lead(c1, signals[p], c2, signals[q])
    return out


@dataclass(frozen=True)
class LeadPlan:
    """Where each lead of the set comes from, for one record."""

    leads: tuple[str, ...]  # the set, in output order
    sources: tuple[int | None, ...]  # the record's signal (header order) for each lead it has
    derived: tuple[tuple[int, int, float, float] | None, ...]  # (signal, signal, c1, c2) for a derived lead

    @property
    def present(self) -> np.ndarray:
        """bool (n_leads,): the lead holds a signal, read or derived (``/records/lead_mask``)."""
        return np.array([s is not None or d is not None for s, d in zip(self.sources, self.derived)], dtype=bool)

    @property
    def derived_mask(self) -> np.ndarray:
        """bool (n_leads,): the lead is derived (``/records/lead_derived``)."""
        return np.array([d is not None for d in self.derived], dtype=bool)

    @property
    def reads(self) -> tuple[int, ...]:
        """The record's signals to read (sources and derivations' bases), in header order."""
        used = {s for s in self.sources if s is not None}
        used.update(i for d in self.derived if d is not None for i in d[:2])
        return tuple(sorted(used))

    def assemble(self, signals: np.ndarray) -> np.ndarray:
        """float32 (n_leads, T): ``signals`` (len(reads), T), the record's signals in :attr:`reads`
        order, laid out in the set's order; derived leads computed, missing ones zeros."""
        row = {signal: i for i, signal in enumerate(self.reads)}
        out = np.zeros((len(self.leads), signals.shape[-1]), dtype=np.float32)
        for i, (source, how) in enumerate(zip(self.sources, self.derived)):
            if source is not None:
                out[i] = signals[row[source]]
            elif how is not None:
                out[i] = derive_lead(how[2], signals[row[how[0]]], how[3], signals[row[how[1]]])
        return out


def plan_leads(
    names: Sequence[str], lead_set: Sequence[str], aliases: Mapping[str, str] | None = None, derive: bool = False
) -> LeadPlan:
    """Place a record's signals (lead ``names`` in header order) in ``lead_set``.

    A signal goes to the lead it names: through ``aliases`` (:func:`parse_aliases`) first, then by
    the same name (case and spaces aside), then by the built-in aliases (:func:`standard_name`);
    where several name one lead, the first in that order and then in header order. With
    ``derive``, a limb lead of the set the record lacks comes from two of I, II, III it has.
    RecordError when none of the set's leads is there (read or derived).
    """
    members = {lead_key(name): i for i, name in enumerate(lead_set)}
    best: list[tuple[int, int] | None] = [None] * len(lead_set)
    for index, name in enumerate(names):
        ranked = [(rank, t) for rank, t in enumerate(_targets(name, aliases or {}, members)) if t is not None]
        if ranked:
            rank, target = ranked[0]
            if best[target] is None or (rank, index) < best[target]:  # type: ignore[operator]
                best[target] = (rank, index)
    sources = tuple(None if b is None else b[1] for b in best)
    derived: list[tuple[int, int, float, float] | None] = [None] * len(lead_set)
    if derive:
        bases = _limb_bases(names, lead_set, sources)
        for i, lead in enumerate(lead_set):
            how = derivation(standard_name(lead) or lead, list(bases)) if sources[i] is None else None
            if how is not None:
                derived[i] = (bases[how[0]], bases[how[1]], how[2], how[3])
    if all(s is None for s in sources) and all(d is None for d in derived):
        what = f"leads: {', '.join(names)}" if names else "no lead names"
        raise RecordError(f"has none of the leads {', '.join(lead_set)} ({what})")
    return LeadPlan(tuple(lead_set), sources, tuple(derived))


def _targets(name: str, aliases: Mapping[str, str], members: Mapping[str, int]) -> list[int | None]:
    """The set's lead a record's lead name would fill, by rank: user alias, same name, built-in alias."""
    key = lead_key(name)
    user = members.get(lead_key(aliases[key])) if key in aliases else None
    standard = standard_name(name)
    return [user, members.get(key), members.get(lead_key(standard)) if standard else None]


def _limb_bases(names: Sequence[str], lead_set: Sequence[str], sources: Sequence[int | None]) -> dict[str, int]:
    """The record's signals for I, II, III (standard name -> header index) that derivations may use:
    those placed in the set, then any other the record names so (a set of aVR, V1 from I, II)."""
    bases = {}
    for lead, source in zip(lead_set, sources):
        standard = standard_name(lead) or lead
        if source is not None and standard in ("I", "II", "III"):
            bases[standard] = source
    for index, name in enumerate(names):
        standard = standard_name(name)
        if standard in ("I", "II", "III") and standard not in bases and index not in sources:
            bases[standard] = index
    return bases


# ---- units -------------------------------------------------------------------------------------

UNIT_PREFIXES = {"": 1e3, "m": 1.0, "milli": 1.0, "u": 1e-3, "\u03bc": 1e-3, "micro": 1e-3, "mc": 1e-3,
                 "n": 1e-6, "nano": 1e-6}  # to millivolts; casefold turns the micro sign into Greek mu
_UNIT = re.compile(r"^(?P<prefix>[a-z\u03bc]*?)(?:v|volts?)$")


def mv_scale(unit: str | None, lead: str = "") -> float:
    """The factor taking a signal in ``unit`` to millivolts: V, mV, uV/µV/μV, nV, and their words
    (``millivolts``, ``microvolt``), case and spaces aside. RecordError for any other unit."""
    key = lead_key(unit or "")
    which = f" of lead {lead}" if lead else ""
    if not key:
        raise RecordError(f"states no unit{which}, so --units mV cannot convert it")
    match = _UNIT.match(key)
    if match is None or match.group("prefix") not in UNIT_PREFIXES:
        raise RecordError(f"unit {unit!r}{which} is not a voltage --units mV converts (V, mV, uV, nV)")
    return UNIT_PREFIXES[match.group("prefix")]
