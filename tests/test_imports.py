"""No import cycle among the integration's modules.

A cycle is two layers that each need the other (the kit's adapter and the terminal once did):
neither can be read, tested or changed alone, and which one Python finishes first decides
whether a name is there yet. Imports under `if TYPE_CHECKING:` count too: they cost nothing at
run time, but they are the same dependency for a reader and for mypy, and hiding a cycle behind
them is how the kit and the terminal came to know each other.

Edges are the imports a module writes; the package `__init__` every submodule import runs first
is not one (every module would otherwise be in a cycle with `__init__`).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from pathlib import Path

COMPONENT = Path(__file__).resolve().parents[1] / "custom_components" / "aiy_realtime"
PACKAGE = "custom_components.aiy_realtime"


def _modules(root: Path, package: str) -> dict[str, Path]:
    """Every module under `root` by its dotted name (a package by its own, for `__init__`)."""
    found: dict[str, Path] = {}
    for path in root.rglob("*.py"):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join([package, *parts])] = path
    return found


def _imports(module: str, path: Path, known: Mapping[str, Path]) -> Iterator[str]:
    """The modules of the package `module` imports, relative imports resolved."""
    is_package = path.name == "__init__.py"
    here = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = here
            for _ in range(node.level - 1 if node.level else 0):
                base = base.rpartition(".")[0]
            source = node.module or "" if not node.level else base
            if node.level and node.module:
                source = f"{base}.{node.module}"
            # `from a import b`: b is a module of its own, or a name of a.
            targets = [
                f"{source}.{alias.name}" if f"{source}.{alias.name}" in known else source
                for alias in node.names
            ]
        else:
            continue
        yield from (target for target in targets if target in known and target != module)


def _graph(root: Path, package: str) -> dict[str, set[str]]:
    known = _modules(root, package)
    return {module: set(_imports(module, path, known)) for module, path in known.items()}


def _cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """One cycle for each strongly connected group of modules (Tarjan's), shortest names."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group: list[str] = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def test_the_scan_sees_relative_and_type_checking_imports(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "__init__.py").write_text("from .a import A\n")
    (tmp_path / "a.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .sub import b\nA = 1\n"
    )
    (tmp_path / "sub" / "__init__.py").write_text("")
    (tmp_path / "sub" / "b.py").write_text("from .. import a\nfrom ..a import A\n")
    (tmp_path / "c.py").write_text("import pkg.a\nfrom pkg import A\n")
    graph = _graph(tmp_path, "pkg")
    assert graph["pkg"] == {"pkg.a"}
    assert graph["pkg.a"] == {"pkg.sub.b"}
    assert graph["pkg.sub.b"] == {"pkg.a"}
    assert graph["pkg.c"] == {"pkg.a", "pkg"}
    assert _cycles(graph) == [["pkg.a", "pkg.sub.b"]]


def test_no_import_cycle_among_the_integrations_modules() -> None:
    graph = _graph(COMPONENT, PACKAGE)
    assert len(graph) > 40  # the scan found the package
    assert _cycles(graph) == []
