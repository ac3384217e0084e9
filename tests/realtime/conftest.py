"""Realtime client tests run without Home Assistant, on real WebRTC over loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable
from typing import Any

import pytest

from custom_components.aiy_realtime.realtime.config import SessionConfig
from custom_components.aiy_realtime.realtime.endpoint import Endpoint
from custom_components.aiy_realtime.realtime.session import RealtimeSession
from custom_components.aiy_realtime.realtime.signaling import UnifiedSignaling
from tests.peer import LocalRealtimePeer
from tests.peer.http import VALID_KEY


@pytest.fixture(autouse=True)
def load_this_integration() -> None:
    """No Home Assistant here (overrides the HA fixture of the same name)."""


@pytest.fixture(autouse=True)
def loopback_ice(monkeypatch: pytest.MonkeyPatch) -> None:
    """aioice skips 127.0.0.1 by default; this machine has no other reachable address."""
    import aioice.ice

    monkeypatch.setattr(aioice.ice, "get_host_addresses", lambda use_ipv4, use_ipv6: ["127.0.0.1"])


@pytest.fixture
async def openai_client(peer: LocalRealtimePeer) -> AsyncGenerator[Any]:
    client = Endpoint.create("custom", VALID_KEY, peer.base_url).client()
    yield client
    await client.close()


@pytest.fixture
async def make_session(
    peer: LocalRealtimePeer, openai_client: Any
) -> AsyncGenerator[Callable[..., RealtimeSession]]:
    """Build sessions against the peer; each is closed and the peer checked after the test."""
    made: list[RealtimeSession] = []

    def build(config: SessionConfig | None = None, **kwargs: Any) -> RealtimeSession:
        session = RealtimeSession(
            kwargs.pop("signaling", None) or UnifiedSignaling(openai_client),
            config or SessionConfig(model="gpt-realtime", output_modality="text"),
            **kwargs,
        )
        made.append(session)
        return session

    yield build
    for session in made:
        await session.close()
    assert peer.all_violations() == []
    # Nothing of the client's may outlive its sessions: no WebRTC, ICE or audio task.
    await peer.close()
    await asyncio.sleep(0.05)
    assert webrtc_tasks_left() == []


def webrtc_tasks_left() -> list[str]:
    left = []
    for task in asyncio.all_tasks():
        if task is asyncio.current_task() or task.done():
            continue
        code = getattr(task.get_coro(), "cr_code", None)
        where = code.co_filename if code is not None else ""
        if any(part in where for part in ("aiortc", "aioice", "aiy_realtime")):
            left.append(f"{task.get_name()} {where}")
    return left
