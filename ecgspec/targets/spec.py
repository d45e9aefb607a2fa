"""``--targets VOCAB`` as written: the vocabularies' spellings and the settings that go with them, checked
before anything is read (no NumPy: ``ecgspec shape`` and ``--help`` stay light)."""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError
from .cinc import CHALLENGES
from .ptbxl import TASKS

__all__ = ["ALLOWED", "CODE15", "parse_spec", "check_targets"]

CODE15 = ("1dAVb", "RBBB", "LBBB", "SB", "AF", "ST")  # Ribeiro et al. (2020), the order of their model's outputs
ALLOWED = ("cinc2021, cinc2020, ptbxl:TASK (TASK: " + ", ".join(TASKS) + "), code15,"
           " codes:labels/COLUMN or codes:meta/KEY")
_PREFIXES = ("labels/", "meta/")


def parse_spec(spec: Any) -> tuple[str, str]:
    """``"ptbxl:diagnostic"`` -> ``("ptbxl", "diagnostic")``, ``"cinc2021"`` -> ``("cinc2021", "")``; a
    ConfigError naming what is allowed for anything else."""
    if not isinstance(spec, str) or not spec.strip():
        raise ConfigError(f"targets: got {spec!r}, must be one of {ALLOWED}")
    kind, _, arg = spec.strip().partition(":")
    if kind in CHALLENGES or kind == "code15":
        if arg:
            raise ConfigError(f"targets: got {spec!r}; {kind} takes no ':...' (allowed: {ALLOWED})")
    elif kind == "ptbxl":
        if arg not in TASKS:
            raise ConfigError(f"targets: got {spec!r}; the PTB-XL tasks are {', '.join(TASKS)} (ptbxl:TASK)")
    elif kind == "codes":
        if not arg.startswith(_PREFIXES) or arg in _PREFIXES:
            raise ConfigError(f"targets: got {spec!r}; name the column as codes:labels/COLUMN (a --labels column)"
                              " or codes:meta/KEY (a header field)")
    else:
        raise ConfigError(f"targets: got {spec!r}, must be one of {ALLOWED}")
    return kind, arg


def check_targets(spec: Any, *, labels: bool, min_count: Any, statements: Any, required: bool) -> None:
    """The ``--targets`` settings, checked before anything is read: a ConfigError for an unknown vocabulary or
    task, a vocabulary reading ``--labels`` without it, and options given without the vocabulary they serve."""
    if spec is None:
        for name, value in (("targets_required", required), ("min_count", min_count), ("ptbxl_statements", statements)):
            if value not in (None, False):
                raise ConfigError(f"{name}: given without targets; it needs --targets VOCAB ({ALLOWED})")
        return
    kind, arg = parse_spec(spec)
    needs_labels = kind in ("ptbxl", "code15") or arg.startswith("labels/")
    if needs_labels and not labels:
        column = {"ptbxl": "its scp_codes column", "code15": f"its columns {', '.join(CODE15)}"}.get(kind, arg)
        raise ConfigError(f"targets: {spec} reads {column} of --labels; give --labels TABLE --label-key COLUMN")
    if min_count is not None and (kind != "codes" or isinstance(min_count, bool) or not isinstance(min_count, int)
                                  or min_count < 1):
        raise ConfigError(f"min_count: got {min_count!r}; it is an integer >= 1 and only for --targets codes:COLUMN")
    if statements is not None and kind != "ptbxl":
        raise ConfigError(f"ptbxl_statements: given with --targets {spec}; it is only for ptbxl:TASK")
    if not isinstance(required, bool):
        raise ConfigError(f"targets_required: got {required!r}, must be true or false")
