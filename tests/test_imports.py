"""No import cycle among the integration's modules.

A cycle is two layers that each need the other (the kit's adapter and the terminal once did):
neither can be read, tested or changed alone, and which one Python finishes first decides
whether a name is there yet. Imports under `if TYPE_CHECKING:` count too: they cost nothing at
run time, but they are the same dependency for a reader and for mypy, and hiding a cycle behind
them is how the kit and the terminal came to know each other.

Edges are the imports a module writes; the package `__init__` every submodule import runs first
is not one (every module would otherwise be in a cycle with `__init__`).

No import upward either. The HA layer is in rooms, and a room imports only the rooms below it:

    the top (__init__, config_flow, the platforms, diagnostics, repairs, logbook, services)
      -> terminal/, agent/, flows/   (flows/ reads a kit's settings from terminal/kit.py)
      -> assistant/ -> chat/
      -> realtime/, hardware/        (no Home Assistant, none of the HA layer)

`const.py` and `entity.py` may be imported from anywhere in the HA layer. A room that reached up
(the terminal into a platform, the agent into the package's `__init__` for the entry's type)
could not be loaded, tested or read without what sits on top of it.
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
            if not node.level:
                source = node.module or ""
            elif node.module:
                source = f"{base}.{node.module}"
            else:
                source = base
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


BASE = frozenset({"realtime", "hardware"})
"""No Home Assistant inside: they import nothing of the HA layer."""
SHARED = frozenset({"const", "entity"})
"""Top-level modules any room may import."""
ROOMS: Mapping[str, frozenset[str]] = {
    "terminal": frozenset({"assistant", "chat"}),
    "agent": frozenset({"assistant", "chat"}),
    "flows": frozenset({"terminal", "assistant", "chat"}),
    "assistant": frozenset({"chat"}),
    "chat": frozenset(),
}
"""Each room, and the rooms below it that it may import (besides itself and the base)."""


def _room_of(path: Path, root: Path) -> str | None:
    """The room (subpackage) a module is in; None for a module at the top."""
    parts = path.relative_to(root).parts
    return parts[0] if len(parts) > 1 else None


def _upward_imports(root: Path, package: str) -> list[str]:
    """Every import of a room into a room above it, or into the top, as `module -> module`."""
    known = _modules(root, package)
    room = {module: _room_of(path, root) for module, path in known.items()}
    found: list[str] = []
    for module, path in sorted(known.items()):
        source = room[module]
        if source is None:
            continue  # the top may import any room
        for target in sorted(set(_imports(module, path, known))):
            goal = room[target]
            if goal == source or (source not in BASE and goal in BASE):
                continue
            if source in BASE:
                allowed = goal in BASE
            elif goal is None:
                allowed = known[target].stem in SHARED
            else:
                allowed = goal in ROOMS.get(source, frozenset())
            if not allowed:
                where = f"{goal}/" if goal is not None else "the top"
                found.append(f"{module} -> {target} ({source}/ imports {where})")
    return found


def test_the_direction_scan_names_an_upward_import(tmp_path: Path) -> None:
    for room in ("chat", "terminal", "agent", "realtime"):
        (tmp_path / room).mkdir()
        (tmp_path / room / "__init__.py").write_text("")
    (tmp_path / "__init__.py").write_text("from .terminal.device import Device\nEntry = 1\n")
    (tmp_path / "const.py").write_text("DOMAIN = 'x'\n")
    (tmp_path / "sensor.py").write_text("from .terminal.device import Device\n")
    (tmp_path / "realtime" / "session.py").write_text("from ..const import DOMAIN\n")
    (tmp_path / "chat" / "bridge.py").write_text(
        "from typing import TYPE_CHECKING\nfrom ..const import DOMAIN\n"
        "if TYPE_CHECKING:\n    from ..agent.turn import Turn\n"
    )
    (tmp_path / "agent" / "turn.py").write_text(
        "from .. import Entry\nfrom ..chat.bridge import Bridge\nTurn = 1\n"
    )
    (tmp_path / "terminal" / "device.py").write_text(
        "from ..chat import bridge\nfrom ..realtime.session import Session\n"
        "from ..sensor import Sensor\nfrom ..agent import turn\nDevice = 1\n"
    )
    assert _upward_imports(tmp_path, "pkg") == [
        "pkg.agent.turn -> pkg (agent/ imports the top)",
        "pkg.chat.bridge -> pkg.agent.turn (chat/ imports agent/)",
        "pkg.realtime.session -> pkg.const (realtime/ imports the top)",
        "pkg.terminal.device -> pkg.agent.turn (terminal/ imports agent/)",
        "pkg.terminal.device -> pkg.sensor (terminal/ imports the top)",
    ]


def test_every_subpackage_is_a_known_room() -> None:
    packages = {path.parent.name for path in COMPONENT.glob("*/__init__.py")}
    assert packages == set(ROOMS) | BASE


def test_no_room_imports_a_room_above_it() -> None:
    assert _upward_imports(COMPONENT, PACKAGE) == []
