"""We use the OpenAI SDK through its public API only: no private module, not its HTTP library.

Both change without notice between SDK releases, and HA installs whatever SDK our requirement
allows; the public names are what the SDK promises to keep.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path
from typing import Any

from custom_components.aiy_realtime.realtime.session import RealtimeSession
from custom_components.aiy_realtime.realtime.signaling import EphemeralSignaling
from tests.peer import LocalRealtimePeer

COMPONENT = Path(__file__).resolve().parents[2] / "custom_components" / "aiy_realtime"


def _imported_modules(tree: ast.AST) -> list[str]:
    """Every module a file imports, `from a import b` counting as `a.b` (b may be a module)."""
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found += [f"{node.module}.{alias.name}" for alias in node.names]
    return found


def _forbidden(module: str) -> bool:
    top, *rest = module.split(".")
    return top == "httpx2" or (top == "openai" and any(part.startswith("_") for part in rest))


def test_the_scan_sees_what_it_must_refuse() -> None:
    tree = ast.parse(
        "import httpx2\nfrom openai._legacy_response import X\nfrom openai import _types"
    )
    modules = _imported_modules(tree)
    assert len(modules) == 3
    assert all(_forbidden(module) for module in modules)
    assert not _forbidden("openai.types.realtime.RealtimeSessionCreateRequest")


def test_no_private_sdk_module_and_no_httpx2() -> None:
    paths = list(COMPONENT.rglob("*.py"))
    assert paths
    found = [
        f"{path.relative_to(COMPONENT)}: {module}"
        for path in paths
        for module in _imported_modules(ast.parse(path.read_text()))
        if _forbidden(module)
    ]
    assert found == []


async def test_ephemeral_answer_carries_the_call_id(
    make_session: Callable[..., RealtimeSession], peer: LocalRealtimePeer, openai_client: Any
) -> None:
    """The SDK's public binary response gives signaling the `Location` header it needs."""
    session = make_session(signaling=EphemeralSignaling(openai_client))
    await session.start()
    assert session.call_id is not None
    assert session.call_id == peer.call().call_id
