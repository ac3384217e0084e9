"""A voice terminal's session at the terminal's own end: Home Assistant stopping, the entry
unloading, and starts that come while (or after) it closes. Real HA, real loopback WebRTC to the
local peer, real sound through the test's PulseAudio server."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from homeassistant.const import EVENT_HOMEASSISTANT_STOP
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError

from custom_components.aiy_realtime.const import DOMAIN, EVENT_SESSION_ENDED
from custom_components.aiy_realtime.terminal.session import VoiceRequest
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


async def test_a_start_that_waits_while_the_terminal_closes_places_no_call(
    hass: HomeAssistant,
    openai_at_peer: LocalRealtimePeer,
    loopback_ice: None,
    audio_server: AudioServer,
    tmp_path: Path,
) -> None:
    """A terminal whose sound just came back is looked at again by the start; the entry
    unloads meanwhile. The start must not connect after the entry is gone, and says why."""
    later = tmp_path / "later"
    entry = await async_set_up_entry(hass, assistant(), terminal(f"unix:{later}"))
    voice_terminal = terminal_of(entry)
    assert voice_terminal.audio_problem is not None
    later.symlink_to(audio_server.server.removeprefix("unix:"))

    starting = hass.async_create_task(voice_terminal.async_start(VoiceRequest()))
    await asyncio.sleep(0)  # the start is looking at the sound
    # Before the guard the start went on: its microphone, on the sound the close had shut,
    # failed (`session_failed`); a sound that stayed up would have placed the call.
    assert await hass.config_entries.async_unload(entry.entry_id)

    with pytest.raises(HomeAssistantError) as raised:
        await starting
    await hass.async_block_till_done()
    assert raised.value.translation_key == "terminal_closed"
    assert openai_at_peer.requests["calls"] == 0
    assert openai_at_peer.active_calls == 0
