"""The package's shape: no import cycles (function-local imports count; imports for type
checking only do not), and the core imports no edge."""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "remediator"
CORE = ("remediator.config", "remediator.catalog", "remediator.models", "remediator.policy",
        "remediator.guardrails", "remediator.limits", "remediator.settings", "remediator.planner",
        "remediator.reasons", "remediator.record")
EDGES = ("remediator.executor", "remediator.server", "remediator.store", "remediator.cli",
         "remediator.notify", "remediator.history", "remediator.reports")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking_only(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return True
    return False


def imports(path: Path, modules: set[str]) -> set[str]:
    """The package modules ``path`` imports at run time, wherever the import statement is."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    found: set[str] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Import | ast.ImportFrom) or \
                _type_checking_only(node, parents):
            continue
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            base = package.split(".")[: len(package.split(".")) - node.level + 1] \
                if node.level else []
            stem = ".".join([*base, node.module] if node.module else base)
            named = [f"{stem}.{alias.name}" for alias in node.names]
            # `from pkg import module` needs the module; `from pkg import name`, pkg itself
            targets = [t if t in modules else stem for t in named]
        for target in targets:
            known = target
            while known and known not in modules:
                known = known.rpartition(".")[0]
            if known and known != name:
                found.add(known)
    return found


@cache  # parsing the package takes most of a second: once per process
def graph() -> dict[str, set[str]]:
    paths = sorted(PACKAGE.rglob("*.py"))
    modules = {module_name(p) for p in paths}
    return {module_name(p): imports(p, modules) for p in paths}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_the_package_has_no_import_cycles() -> None:
    # a package's __init__ re-exporting its modules is not a cycle of behaviour
    edges = {m: {t for t in ts if not (t.startswith(m + ".") and m in ts)}
             for m, ts in graph().items()}
    assert cycles(edges) == []


@pytest.mark.parametrize("core", CORE)
def test_the_core_imports_no_edge(core: str) -> None:
    edges = graph()
    reached: set[str] = set()
    todo = [m for m in edges if m == core or m.startswith(core + ".")]
    while todo:
        module = todo.pop()
        if module in reached:
            continue
        reached.add(module)
        todo += edges[module]
    assert sorted(m for m in reached if m.startswith(EDGES)) == []
