"""What the voice tests share: waiting for a condition, the integration's events as an automation
sees them, the terminal under test and its streams on the test's PulseAudio server."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import json
from typing import Any

from pytest_homeassistant_custom_component.common import MockConfigEntry

from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.helpers import entity_registry as er

from custom_components.aiy_realtime.const import (
    DOMAIN,
    EVENT_SESSION_ENDED,
    EVENT_SESSION_STARTED,
    EVENT_TRANSCRIPT,
)
from custom_components.aiy_realtime.hardware.pulse.connection import CLIENT_NAME
from tests.audio_server import AudioServer
from tests.helpers import TERMINAL_ID

TIMEOUT = 20.0


async def until(condition: Callable[[], bool], timeout: float = TIMEOUT) -> None:
    async with asyncio.timeout(timeout):
        while not condition():  # noqa: ASYNC110 - states and counters have no event to await
            await asyncio.sleep(0.02)


class Events:
    """The integration's events, as an automation would see them."""

    def __init__(self, hass: HomeAssistant) -> None:
        self.seen: list[tuple[str, dict[str, Any]]] = []
        for kind in (EVENT_SESSION_STARTED, EVENT_SESSION_ENDED, EVENT_TRANSCRIPT):
            hass.bus.async_listen(kind, self._on)

    @callback
    def _on(self, event: Event) -> None:
        self.seen.append((event.event_type, dict(event.data)))

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [data for seen, data in self.seen if seen == kind]


def satellite(hass: HomeAssistant) -> str:
    entity_id = er.async_get(hass).async_get_entity_id("assist_satellite", DOMAIN, TERMINAL_ID)
    assert entity_id is not None
    return entity_id


def terminal_of(entry: MockConfigEntry) -> Any:
    return entry.runtime_data.terminals[TERMINAL_ID]


def ended_reasons(events: Events) -> list[str]:
    return [str(e["reason"]) for e in events.of(EVENT_SESSION_ENDED)]


async def our_streams(audio_server: AudioServer) -> tuple[int, int]:
    """The terminal's recorders and players on the server (it keeps recorders of its own)."""
    counts = []
    for kind in ("source-outputs", "sink-inputs"):
        streams = json.loads(await audio_server.pactl("-f", "json", "list", kind))
        counts.append(sum(s["properties"].get("application.name") == CLIENT_NAME for s in streams))
    return counts[0], counts[1]
