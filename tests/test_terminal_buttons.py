"""A terminal's Start and End conversation buttons, pressed as a dashboard presses them
(`button.press`). Real HA, real loopback WebRTC to the local peer, real sound through the test's
PulseAudio server."""

from __future__ import annotations

from pathlib import Path

import pytest

from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError

from custom_components.aiy_realtime.const import (
    DEFAULT_GREETING,
    EVENT_SESSION_ENDED,
    EVENT_SESSION_STARTED,
    EVENT_TRANSCRIPT,
)
from tests.audio_server import AudioServer
from tests.helpers import TERMINAL_ID, assistant, async_set_up_entry, terminal
from tests.peer import LocalRealtimePeer
from tests.voice_helpers import Events, ended_reasons, our_streams, terminal_of, until

START = "button.kitchen_terminal_start_conversation"
END = "button.kitchen_terminal_end_conversation"


async def press(hass: HomeAssistant, entity_id: str) -> None:
    await hass.services.async_call("button", "press", {"entity_id": entity_id}, blocking=True)


async def test_the_buttons_start_and_end_a_session(
    hass: HomeAssistant,
    openai_at_peer: LocalRealtimePeer,
    loopback_ice: None,
    audio_server: AudioServer,
) -> None:
    """Start: the call the start_session action places (the assistant's greeting first); a
    second press while it runs says the terminal is busy. End: a goodbye, then `user_ended`, as
    end_session's default."""
    entry = await async_set_up_entry(hass, assistant(), terminal(audio_server.server))
    events = Events(hass)

    await press(hass, START)

    call = openai_at_peer.call()
    assert openai_at_peer.active_calls == 1
    (started,) = events.of(EVENT_SESSION_STARTED)
    assert started["terminal_id"] == TERMINAL_ID
    assert started["conversation_id"] == terminal_of(entry).session.conversation_id
    await until(lambda: bool(events.of(EVENT_TRANSCRIPT)))
    greeting = next(e for e in call.received if e["type"] == "response.create")
    assert DEFAULT_GREETING in greeting["response"]["instructions"]

    with pytest.raises(HomeAssistantError) as raised:
        await press(hass, START)
    assert raised.value.translation_key == "terminal_busy"
    assert openai_at_peer.requests["calls"] == 1

    await press(hass, END)

    assert ended_reasons(events) == ["user_ended"]
    goodbye = [e for e in call.received if e["type"] == "response.create"][-1]
    assert "goodbye" in goodbye["response"]["instructions"]
    assert openai_at_peer.hangups == [call.call_id]
    assert openai_at_peer.active_calls == 0
    assert terminal_of(entry).session is None
    # Both buttons stay usable: the next press starts a new session.
    assert hass.states.get(START).state != STATE_UNAVAILABLE
    assert hass.states.get(END).state != STATE_UNAVAILABLE
    assert await hass.config_entries.async_unload(entry.entry_id)
    assert await our_streams(audio_server) == (0, 0)


async def test_end_without_a_session_does_nothing(
    hass: HomeAssistant,
    openai_at_peer: LocalRealtimePeer,
    loopback_ice: None,
    audio_server: AudioServer,
) -> None:
    """As end_session: nothing to end is no error (a dashboard press after the session timed
    out)."""
    entry = await async_set_up_entry(hass, assistant(), terminal(audio_server.server))
    events = Events(hass)

    await press(hass, END)

    assert events.of(EVENT_SESSION_ENDED) == []
    assert openai_at_peer.requests["calls"] == 0
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_the_buttons_are_unavailable_while_the_sound_is_missing(
    hass: HomeAssistant,
    openai_at_peer: LocalRealtimePeer,
    loopback_ice: None,
    audio_server: AudioServer,
    tmp_path: Path,
) -> None:
    """As the terminal's satellite and sensors; back once its sound works again."""
    later = tmp_path / "later"
    entry = await async_set_up_entry(hass, assistant(), terminal(f"unix:{later}"))
    voice_terminal = terminal_of(entry)
    assert voice_terminal.audio_problem is not None
    assert hass.states.get(START).state == STATE_UNAVAILABLE
    assert hass.states.get(END).state == STATE_UNAVAILABLE

    later.symlink_to(audio_server.server.removeprefix("unix:"))
    assert await voice_terminal.async_check_audio()
    await hass.async_block_till_done()

    assert hass.states.get(START).state != STATE_UNAVAILABLE
    assert hass.states.get(END).state != STATE_UNAVAILABLE
    assert await hass.config_entries.async_unload(entry.entry_id)
