"""The package's import graph: no cycles, and every edge runs down the layer order.

Reads the source with ``ast`` (every ``import``, including ones inside functions and under
``TYPE_CHECKING``), so the picture in the hub's docstring stays true after every change.
"""

from __future__ import annotations

import ast
from pathlib import Path

import fanin

ROOT = Path(fanin.__file__).resolve().parent

# Lowest first. A module may import its own layer's modules and any lower layer's, never a
# higher one; the display and the backends share a rank and must not import each other.
LAYERS: list[tuple[str, ...]] = [
    ("_wire", "_errors", "_died", "_text", "_threads"),
    ("_worker",),
    ("_ingest",),
    ("_display", "_backends"),
    ("_run",),
    ("_integrations",),
    ("_cli", "__main__", "__init__", "tqdm_auto"),
]
SIBLINGS_APART = {("_display", "_backends"), ("_backends", "_display")}


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts.pop()
    return ".".join(parts)


def _resolve(current: str, is_pkg: bool, node: ast.ImportFrom) -> list[str]:
    base = current.split(".") if current != "__init__" else []
    if not is_pkg and base:
        base = base[:-1]
    if node.level:
        base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
        prefix = ".".join(base)
    elif node.module and node.module.startswith("fanin"):
        prefix = ""
        mod = node.module[len("fanin"):].lstrip(".")
        return [mod or "__init__"]
    else:
        return []
    mod = ".".join(p for p in (prefix, node.module or "") if p)
    if node.module is None:  # from . import x
        return [".".join(p for p in (prefix, a.name) if p) for a in node.names]
    return [mod]


def import_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in ROOT.rglob("*.py"):
        name = _module_name(path)
        is_pkg = path.name == "__init__.py" and path.parent != ROOT
        edges: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                edges.update(_resolve(name, is_pkg, node))
            elif isinstance(node, ast.Import):
                edges.update(a.name[len("fanin."):] for a in node.names
                             if a.name.startswith("fanin."))
        graph[name] = {e for e in edges if e and e != name}
    return graph


def _top(name: str) -> str:
    return name.split(".")[0]


def _rank(name: str) -> int:
    top = _top(name)
    for i, layer in enumerate(LAYERS):
        if top in layer:
            return i
    raise AssertionError(f"module {name!r} belongs to no layer; add it to LAYERS")


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    found: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> None:
        state[n] = 1
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            if m not in graph:
                continue
            if state.get(m) == 1:
                found.append([*stack[stack.index(m):], m])
            elif m not in state:
                visit(m)
        stack.pop()
        state[n] = 2

    for n in sorted(graph):
        if n not in state:
            visit(n)
    return found


def violations(graph: dict[str, set[str]]) -> list[str]:
    out = []
    for src, targets in graph.items():
        for dst in targets:
            if _top(src) == _top(dst):
                continue
            if (_top(src), _top(dst)) in SIBLINGS_APART or _rank(dst) > _rank(src):
                out.append(f"{src} -> {dst}")
    return sorted(out)


def test_every_import_target_exists() -> None:
    graph = import_graph()
    missing = sorted(f"{s} -> {d}" for s, ds in graph.items() for d in ds
                     if d not in graph and d.rsplit(".", 1)[0] not in graph)
    assert not missing


def test_no_import_cycles() -> None:
    assert cycles(import_graph()) == []


def test_imports_run_down_the_layers() -> None:
    assert violations(import_graph()) == []


def test_only_the_rich_view_imports_rich_live() -> None:
    users = []
    for path in ROOT.rglob("*.py"):
        text = path.read_text()
        if "rich.live" in text or "from rich.live" in text:
            users.append(_module_name(path))
    assert users == ["_display.richview"]


def test_no_backend_checks_outside_the_factory() -> None:
    """The hub knows a backend only through its interface (no isinstance, no name tests)."""
    offenders = []
    for path in (ROOT / "_run").rglob("*.py"):
        text = path.read_text()
        for word in ("ThreadBackend", "ProcessBackend", "DaskBackend", '== "dask"',
                     '== "process"', '== "thread"', "isinstance(pool", "isinstance(backend"):
            if word in text:
                offenders.append(f"{_module_name(path)}: {word}")
    assert offenders == []
