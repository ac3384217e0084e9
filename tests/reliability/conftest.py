"""The reliability suite's harness: a distinctive API key looked for everywhere.

The table of cases (how often each ran, how each run ended) is printed at the end of any run that
collected one, by tests/conftest.py (the one conftest a pytest-xdist controller loads);
`AIY_RELIABILITY_REPORT=1` also writes it to docs/reliability.md.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Generator
import logging
from typing import Any

import pytest

from homeassistant.config_entries import ConfigEntries, ConfigEntryState
from homeassistant.const import EVENT_STATE_CHANGED, MATCH_ALL
from homeassistant.core import Event, HomeAssistant, callback

from tests.peer import LocalRealtimePeer
from tests.reliability.keyscan import KEY, SCAN, KeyScan

DEBUG_LOGGERS = ("custom_components.aiy_realtime", "aiortc", "aioice", "openai", "httpx")


@pytest.fixture
async def peer(socket_enabled: None) -> AsyncGenerator[LocalRealtimePeer]:
    """The local peer, taking only the suite's key."""
    server = LocalRealtimePeer(api_key=KEY)
    await server.start()
    yield server
    await server.close()


@pytest.fixture(autouse=True)
def key_everywhere(
    hass: HomeAssistant, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> Generator[KeyScan]:
    """Entries made with the suite's key; every log record (DEBUG on for the integration,
    aiortc, aioice and the SDK), event and state of the test, and the diagnostics of each entry
    before it unloads, looked through for it."""
    import tests.conftest
    import tests.helpers

    monkeypatch.setattr(tests.conftest, "VALID_KEY", KEY)
    monkeypatch.setattr(tests.helpers, "VALID_KEY", KEY)
    levels = {name: logging.getLogger(name).level for name in DEBUG_LOGGERS}
    for name in levels:
        logging.getLogger(name).setLevel(logging.DEBUG)
    root = logging.getLogger()
    root.addHandler(SCAN)
    found_before = len(SCAN.found)

    @callback
    def _event(event: Event[Any]) -> None:
        SCAN.event(event.event_type, event.data)
        if event.event_type == EVENT_STATE_CHANGED and (new := event.data["new_state"]):
            SCAN.state(new.entity_id, new.state, dict(new.attributes))

    stop_listening = hass.bus.async_listen(MATCH_ALL, _event)
    unload = ConfigEntries.async_unload

    async def _unload_after_diagnostics(
        self: ConfigEntries, entry_id: str, *args: Any, **kwargs: Any
    ) -> bool:
        from custom_components.aiy_realtime.const import DOMAIN
        from custom_components.aiy_realtime.diagnostics import (
            async_get_config_entry_diagnostics,
        )

        entry = self.async_get_entry(entry_id)
        if entry is not None and entry.domain == DOMAIN and entry.state is ConfigEntryState.LOADED:
            SCAN.diagnostics(await async_get_config_entry_diagnostics(hass, entry))
        return await unload(self, entry_id, *args, **kwargs)

    monkeypatch.setattr(ConfigEntries, "async_unload", _unload_after_diagnostics)
    try:
        yield SCAN
    finally:
        for state in hass.states.async_all():
            SCAN.state(state.entity_id, state.state, dict(state.attributes))
        stop_listening()
        root.removeHandler(SCAN)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
    assert SCAN.found[found_before:] == [], f"the API key leaked in {request.node.name}"
