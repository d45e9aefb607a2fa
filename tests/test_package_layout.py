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


# -- layers that only look down --------------------------------------------------------------------

LAYERS = ("errors", "engine", "readers", "signal", "targets", "store", "run", "cli")  # cli and plot share the top
TOP = {"cli": "cli", "plot": "cli", "__main__": "cli"}


def layer(module: str) -> int | None:
    """The layer of an ecgspec module (its subpackage, or errors/cli/plot); None for the package itself,
    whose lazy re-exports (PEP 562) reach every layer by design."""
    parts = module.split(".")
    if len(parts) == 1:
        return None
    return LAYERS.index(TOP.get(parts[1], parts[1]))


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    """``A -> B`` for each import of a module of a higher layer (a module imports its own layer freely)."""
    found = []
    for module, deps in sorted(graph.items()):
        here = layer(module)
        for dep in sorted(deps):
            there = layer(dep)
            if here is not None and there is not None and there > here:
                found.append(f"{module} -> {dep} ({LAYERS[here]} imports {LAYERS[there]})")
    return found


def test_every_module_has_a_layer():
    assert all(layer(m) is not None for m in import_graph() if m != "ecgspec")


def test_imports_only_look_down_the_layers():
    # errors < engine < readers < signal < targets < store < run < cli/plot; imports inside functions and under
    # TYPE_CHECKING count as much as those at the top of a module
    assert upward_imports(import_graph()) == []


def test_the_layer_check_finds_an_upward_import():
    graph = {"ecgspec.signal.leads": {"ecgspec.run.options", "ecgspec.readers.base"}, "ecgspec.run.options": set(),
             "ecgspec.readers.base": {"ecgspec.errors"}, "ecgspec.cli": {"ecgspec.run.api", "ecgspec"}}
    assert upward_imports(graph) == ["ecgspec.signal.leads -> ecgspec.run.options (signal imports run)"]


def test_the_reading_stage_imports_neither_torch_nor_h5py():
    # what a reader process imports (its forkserver preloads the reading stage; its target is the worker's main)
    code = ("import sys, ecgspec.run.reading, ecgspec.run.reader_process;"
            "print(sorted(m for m in ('torch', 'h5py') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# -- small modules, small functions ----------------------------------------------------------------

MAX_MODULE_LINES, MAX_FUNCTION_LINES = 400, 50
def docstring_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """The lines of a function's docstring: the public API's NumPy-style docstrings (parameters, errors, an
    example) are the reference the docs site is generated from, not code, so the size limit leaves them out."""
    first = node.body[0]
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
        return first.end_lineno - first.lineno + 1
    return 0


def oversized(root: Path) -> list[str]:
    """Modules over MAX_MODULE_LINES lines and functions over MAX_FUNCTION_LINES (def to last line, its
    docstring left out) under ``root``."""
    found = []
    for path in sorted(root.rglob("*.py")):
        name = path.relative_to(root).as_posix()
        source = path.read_text()
        if source.count("\n") > MAX_MODULE_LINES:
            found.append(name)
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                if node.end_lineno - node.lineno + 1 - docstring_lines(node) > MAX_FUNCTION_LINES:
                    found.append(f"{name}:{node.name}")
    return found


def test_modules_and_functions_are_small():
    assert oversized(PACKAGE) == []


def test_the_size_check_finds_a_long_function(tmp_path: Path):
    body = "\n".join(f"    x = {i}" for i in range(MAX_FUNCTION_LINES))
    (tmp_path / "m.py").write_text(f"def long():\n{body}\n\n\ndef short():\n    return 1\n")
    assert oversized(tmp_path) == ["m.py:long"]


def test_the_size_check_leaves_docstrings_out_but_not_code(tmp_path: Path):
    doc = "\n".join(f"    line {i}" for i in range(MAX_FUNCTION_LINES))
    body = "\n".join(f"    x = {i}" for i in range(MAX_FUNCTION_LINES - 2))
    (tmp_path / "m.py").write_text(f'def documented():\n    """Doc.\n{doc}\n    """\n{body}\n    return x\n\n\n'
                                   f'def long():\n    """Doc."""\n{body}\n    y = 1\n    z = 2\n    return y\n')
    assert oversized(tmp_path) == ["m.py:long"]
