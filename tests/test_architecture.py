"""The dependency direction of docs/architecture.md, checked on the source: every import
(module level or inside a function) of the product packages is read with `ast`, and the
test fails on an import that runs upward or sideways, or on a cycle between modules."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("protocol", "hardware", "broker", "kiosk", "display", "counterdisplay", "server", "national", "xephang")

# Layers, lowest first. A module may import its own group and any lower layer; groups of
# the same layer do not import each other (the kiosk does not import the display).
LAYERS: list[tuple[str, ...]] = [
    ("protocol",),
    ("hardware", "broker"),
    ("kiosk", "display", "counterdisplay", "server", "server.settings", "server.storage", "national"),
    ("server.stats", "server.desk", "server.booking"),
    ("server.notify",),
    ("server.mqtt",),
    ("server.runtime",),
    ("server.web",),
    ("server.commands",),
    ("xephang",),
]
# `python -m kiosk` runs the one command line; the only import of xephang below it.
ENTRY_SHIMS = {("kiosk.__main__", "xephang.cli")}


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


MODULES = _modules()


def _resolve(name: str) -> str | None:
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(name: str, path: Path) -> set[str]:
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            wanted = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            wanted = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        for target in wanted:
            resolved = _resolve(target)
            # `from server.storage import audit` names the submodule; a package's own
            # __init__ is not an edge of its children.
            if resolved and resolved != name and not name.startswith(resolved + "."):
                targets.add(resolved)
    return targets


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _group(name: str) -> tuple[int, str]:
    best: tuple[int, str] | None = None
    for rank, groups in enumerate(LAYERS):
        for group in groups:
            if (name == group or name.startswith(group + ".")) and (best is None or len(group) > len(best[1])):
                best = (rank, group)
    assert best is not None, f"{name} belongs to no layer of LAYERS: add it"
    return best


def test_the_graph_was_read():
    """The walk finds the modules and the imports it is meant to judge."""
    assert {"protocol.events", "server.runtime", "server.web.app", "kiosk.app", "xephang.cli"} <= set(MODULES)
    assert "server.desk.dispatch" in GRAPH["server.runtime"]
    assert "protocol.events" in GRAPH["server.storage.events"]


def test_no_import_runs_upward_or_sideways():
    wrong = []
    for name, targets in sorted(GRAPH.items()):
        rank, group = _group(name)
        for target in sorted(targets):
            other_rank, other_group = _group(target)
            if (name, target) in ENTRY_SHIMS:
                continue
            if other_rank > rank or (other_rank == rank and other_group != group):
                wrong.append(f"{name} imports {target} ({group} may not depend on {other_group})")
    assert not wrong, "\n".join(wrong)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycles():
    assert _cycles(GRAPH) == []


@pytest.mark.parametrize("graph, expected", [
    ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, [["a", "b", "c"]]),
    ({"a": {"b"}, "b": set()}, []),
])
def test_the_cycle_finder_finds_cycles(graph, expected):
    assert _cycles(graph) == expected


def test_no_role_imports_the_top_package_but_the_entry_shim():
    below = [(name, target) for name, targets in GRAPH.items() for target in targets
             if target.split(".")[0] == "xephang" and name.split(".")[0] != "xephang"]
    assert set(below) <= ENTRY_SHIMS, below
