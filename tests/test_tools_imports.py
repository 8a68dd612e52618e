"""tools/ has no import cycle, between its modules or between its subpackages (models, export,
train, data, evaluate).

Every import counts, also one inside a function: a lazy import still ties the two modules
together (it only moves the failure to run time). Read from the source with `ast`, so the test
needs neither torch nor the tools' other extras.
"""

from __future__ import annotations

import ast
from pathlib import Path

TOOLS = Path(__file__).resolve().parents[1] / "tools"
PREFIX = "vpipe.tools"


def module_name(path: Path) -> str:
    parts = path.relative_to(TOOLS).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join((PREFIX, *parts))


def imported(path: Path, known: set[str]) -> set[str]:
    """The tools modules `path` imports, relative imports resolved."""
    here = module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            # `from pkg import mod` imports the module pkg.mod when there is one, else pkg itself.
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        for name in names:
            while name and name not in known:  # vpipe.tools.export.exporter.ExportError -> the module
                name = name.rpartition(".")[0]
            if name and name != here:
                found.add(name)
    return found


def graph() -> dict[str, set[str]]:
    files = sorted(TOOLS.rglob("*.py"))
    known = {module_name(f) for f in files}
    return {module_name(f): imported(f, known) for f in files}


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One cycle as [a, b, ..., a], or None (depth-first search, three colours)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_cycle_finder_sees_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_no_import_cycle_between_tools_modules():
    edges = graph()
    assert f"{PREFIX}.export.exporter" in edges and edges[f"{PREFIX}.cli"], "the scan found no tools modules"
    cycle = find_cycle(edges)
    assert cycle is None, "import cycle in tools/: " + " -> ".join(cycle)


def test_no_import_cycle_between_tools_subpackages():
    def package(module: str) -> str:
        return ".".join(module.split(".")[:3])  # vpipe.tools.export.exporter -> vpipe.tools.export

    edges: dict[str, set[str]] = {}
    for module, targets in graph().items():
        if module.count(".") < 3:  # vpipe.tools and vpipe.tools.cli sit above the subpackages
            continue
        edges.setdefault(package(module), set()).update(
            package(t) for t in targets if t.count(".") >= 2 and package(t) != package(module))
    cycle = find_cycle(edges)
    assert cycle is None, "import cycle between tools/ subpackages: " + " -> ".join(cycle)
