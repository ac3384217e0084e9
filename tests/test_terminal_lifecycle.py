"""A voice terminal's session at the terminal's own end: Home Assistant stopping, the entry
unloading, and starts that come while (or after) it closes. Real HA, real loopback WebRTC to the
local peer, real sound through the test's PulseAudio server."""

from __future__ import annotations

import pytest

from homeassistant.const import EVENT_HOMEASSISTANT_STOP
from homeassistant.core import HomeAssistant

from custom_components.aiy_realtime.const import DOMAIN, EVENT_SESSION_ENDED
from tests.audio_server import AudioServer
from tests.helpers import assistant, async_set_up_entry, terminal
from tests.peer import LocalRealtimePeer
from tests.voice_helpers import Events, ended_reasons, our_streams, satellite, terminal_of, until


async def start(hass: HomeAssistant) -> None:
    await hass.services.async_call(
        DOMAIN, "start_session", {"entity_id": satellite(hass)}, blocking=True
    )


# The stop case: HA's chat-session cleanup timer is re-armed by a session that ends after the
# stop event, which the harness would report as lingering.
@pytest.mark.parametrize(("ends", "expected_lingering_timers"), [("unload", False), ("stop", True)])
async def test_a_session_hung_up_by_a_stop_or_unload_ends_as_shutdown(
    hass: HomeAssistant,
    openai_at_peer: LocalRealtimePeer,
    loopback_ice: None,
    audio_server: AudioServer,
    ends: str,
    expected_lingering_timers: bool,
) -> None:
    """Not `user_ended`: an automation on the user ending a session must not fire on every
    restart."""
    entry = await async_set_up_entry(hass, assistant(), terminal(audio_server.server))
    events = Events(hass)
    await start(hass)
    voice_terminal = terminal_of(entry)

    if ends == "unload":
        assert await hass.config_entries.async_unload(entry.entry_id)
    else:
        hass.bus.async_fire(EVENT_HOMEASSISTANT_STOP)
    await until(lambda: bool(events.of(EVENT_SESSION_ENDED)))
    await hass.async_block_till_done()

    assert ended_reasons(events) == ["shutdown"]
    assert voice_terminal.last_end_reason == "shutdown"
    if ends == "stop":
        state = hass.states.get("sensor.kitchen_terminal_session")
        assert state is not None
        assert state.attributes["last_end_reason"] == "shutdown"
        assert await hass.config_entries.async_unload(entry.entry_id)
    assert openai_at_peer.active_calls == 0
    assert await our_streams(audio_server) == (0, 0)
