"""The package's shape: no import cycle (imports inside functions included), few top-level modules,
every exception under EcgspecError, light imports for the commands that compute nothing."""

from __future__ import annotations

import ast
import inspect
import subprocess
import sys
from pathlib import Path

import ecgspec
import ecgspec.errors

PACKAGE = Path(ecgspec.__file__).parent


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, modules: set[str]) -> set[str]:
    """Every ecgspec module ``path`` imports, anywhere in it (a name imported from a package that is
    itself a module counts as that module)."""
    here = module_name(path)
    package = here if path.name == "__init__.py" else here.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "ecgspec")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "ecgspec":
                continue
            found.add(target)
            found.update(f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in modules)
    return {m for m in found if m in modules and m != here}


def import_graph() -> dict[str, set[str]]:
    paths = sorted(PACKAGE.rglob("*.py"))
    modules = {module_name(p) for p in paths}
    return {module_name(p): imported_modules(p, modules) for p in paths}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_no_import_cycle():
    # package __init__ modules importing their own submodules lazily are edges too: none may close a loop
    graph = import_graph()
    graph = {m: {d for d in deps if not m.startswith(d + ".")} for m, deps in graph.items()}  # a module's own package
    assert cycles(graph) == []


def test_the_cycle_finder_finds_one():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == [["a", "b", "c"]]


def test_at_most_eight_top_level_modules():
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= 8, top


def test_every_exception_class_derives_from_ecgspec_error():
    import importlib

    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        name = module_name(path)
        if name.endswith(("plot", "cluster", "__main__")):  # optional extras, and the entry point: checked by source
            source = path.read_text()
            for node in ast.walk(ast.parse(source)):
                if isinstance(node, ast.ClassDef) and any(getattr(b, "id", "").endswith(("Error", "Exception")) for b in node.bases):
                    offenders.append(f"{name}.{node.name}")
            continue
        module = importlib.import_module(name)
        for cls_name, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, BaseException) and cls.__module__ == name and not issubclass(cls, ecgspec.EcgspecError):
                offenders.append(f"{name}.{cls_name}")
    assert offenders == []


def test_errors_are_caught_as_one_base_and_keep_value_error():
    from ecgspec.run.options import ExtractOptions

    try:
        ExtractOptions(shard="5/2")
    except ecgspec.ConfigError as exc:
        assert isinstance(exc, ecgspec.EcgspecError) and isinstance(exc, ValueError)
    else:
        raise AssertionError("shard 5/2 accepted")


def test_star_import_leaves_builtin_open_alone():
    namespace: dict = {}
    exec("from ecgspec import *", namespace)
    assert "open" not in namespace and "EcgspecError" in namespace
    assert ecgspec.open.__module__ == "ecgspec.store.reader"


def test_light_packages_import_no_torch():
    code = ("import sys, ecgspec, ecgspec.engine, ecgspec.store, ecgspec.store.schema, ecgspec.errors, ecgspec.run.options;"
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
