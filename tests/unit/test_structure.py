"""The package's shape, read from its imports (those under TYPE_CHECKING too): no cycles
between modules or between packages, and each layer importing only the layers below it.

No server is started: this reads source files with `ast` and needs neither root nor network.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = SRC / "firebox"

# Top to bottom: a package may import those after it, never those before it. The top of the
# package (platform.py, server.py, config.py, cli/) composes everything and is left out.
LAYERS = [
    "api",
    "stacks",
    "objects",
    "asyncinvoke",
    "invoke",
    "control",
    "worker",
    "runtimes",
    "sandboxes",
    "telemetry",
    "storage",
    "domain",
]
# Only these may import the web framework or the HTTP server (the core never sees either).
WEB = {"starlette", "uvicorn"}
WEB_ALLOWED = {"firebox.api", "firebox.server"}


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(path.relative_to(SRC).with_suffix("").parts)
        found[name.removesuffix(".__init__")] = path
    return found


def _imports(name: str, path: Path, modules: dict[str, Path]) -> Iterator[str]:
    """The firebox modules a module imports, and the top-level names of the others."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, *([node.module] if node.module else [])])
            targets = [base, *(f"{base}.{alias.name}" for alias in node.names)]
        for target in targets:
            if not target.startswith("firebox"):
                yield target.split(".")[0]
                continue
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name and not name.startswith(target + "."):
                yield target


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: set(_imports(name, path, modules)) for name, path in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of two or more (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph.get(node, ()):
            if nxt not in graph:
                continue
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in LAYERS else None


def test_no_import_cycles_between_modules() -> None:
    assert _cycles(_graph()) == []


def test_each_layer_imports_only_those_below_it() -> None:
    upward = []
    for module, targets in _graph().items():
        layer = _layer(module)
        for target in targets:
            other = _layer(target)
            if layer and other and LAYERS.index(other) < LAYERS.index(layer):
                upward.append(f"{module} -> {target}")
    assert upward == []


def test_only_the_api_knows_the_web_framework() -> None:
    found = [
        f"{module} imports {target}"
        for module, targets in _graph().items()
        for target in targets & WEB
        if not any(module == a or module.startswith(a + ".") for a in WEB_ALLOWED)
    ]
    assert found == []


def test_the_checks_see_a_cycle_and_an_upward_import() -> None:
    """The checks above would fail if the code had what they look for."""
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert LAYERS.index("domain") > LAYERS.index("control")
    graph = _graph()
    assert "firebox.control.catalog" in graph["firebox.invoke.service"]  # imports are read


def test_test_modules_have_unique_names() -> None:
    """pytest imports test modules by their file name (no packages): two of a name in
    different tiers break the collection of the whole suite."""
    tests = Path(__file__).resolve().parents[1]
    names = [p.name for p in tests.rglob("test_*.py") if "fixtures" not in p.parts]
    assert sorted({n for n in names if names.count(n) > 1}) == []
