"""A voice terminal's settings changed while it runs: its assistant select, its half duplex and
echo cancellation switches, its idle timeout number, and its reconfigure form. Each is saved in
the terminal's subentry and used by the next session, with no reload: a running call goes on.
Real HA, real loopback WebRTC to the local peer, real sound through the test's PulseAudio
server."""

from __future__ import annotations

from typing import Any

import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from homeassistant.components import conversation
from homeassistant.config_entries import ConfigSubentryDataWithId
from homeassistant.core import Context, HomeAssistant
from homeassistant.helpers import entity_registry as er

from custom_components.aiy_realtime.const import DOMAIN, EVENT_SESSION_ENDED
from tests.audio_server import AudioServer
from tests.helpers import ASSISTANT_ID, TERMINAL_ID, agent, assistant, async_set_up_entry, terminal
from tests.peer import LocalRealtimePeer
from tests.test_conversation import speech
from tests.test_terminal_flow import submit, without_kit
from tests.voice_helpers import Events, satellite, terminal_of, until

pytestmark = pytest.mark.usefixtures("loopback_ice")

OTHER_ID = "assistant0000000000000000002"
OTHER_PROMPT = "You are the garden assistant."
SECOND_ID = "terminal00000000000000000002"


def other_assistant() -> ConfigSubentryDataWithId:
    return ConfigSubentryDataWithId(
        **agent("Garden assistant", prompt=OTHER_PROMPT, model="gpt-realtime-2.1-mini"),
        subentry_id=OTHER_ID,
    )


def entity_of(hass: HomeAssistant, domain: str, key: str, terminal_id: str = TERMINAL_ID) -> str:
    entity_id = er.async_get(hass).async_get_entity_id(domain, DOMAIN, f"{terminal_id}-{key}")
    assert entity_id is not None
    return entity_id


async def start(hass: HomeAssistant, entity_id: str | None = None) -> None:
    await hass.services.async_call(
        DOMAIN, "start_session", {"entity_id": entity_id or satellite(hass)}, blocking=True
    )


async def converse(
    hass: HomeAssistant, text: str, conversation_id: str | None = None
) -> conversation.ConversationResult:
    """A typed turn with the terminal's assistant."""
    agent_id = er.async_get(hass).async_get_entity_id("conversation", DOMAIN, ASSISTANT_ID)
    return await conversation.async_converse(
        hass, text, conversation_id, Context(), agent_id=agent_id
    )


async def end(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    await terminal_of(entry).async_end(graceful=False)


async def call(hass: HomeAssistant, domain: str, service: str, data: dict[str, Any]) -> None:
    await hass.services.async_call(domain, service, data, blocking=True)
    await hass.async_block_till_done()


def assert_not_reloaded(entry: MockConfigEntry, loaded: object, events: Events) -> None:
    """A reload makes new runtime data and hangs up the running call (`shutdown`)."""
    assert entry.runtime_data is loaded
    assert events.of(EVENT_SESSION_ENDED) == []


async def test_the_assistant_select_switches_the_next_session_without_a_reload(
    hass: HomeAssistant, openai_at_peer: LocalRealtimePeer, audio_server: AudioServer
) -> None:
    entry = await async_set_up_entry(
        hass, assistant(), other_assistant(), terminal(audio_server.server)
    )
    select = entity_of(hass, "select", "assistant")
    state = hass.states.get(select)
    assert state is not None
    assert state.state == "AIY Realtime assistant"
    assert state.attributes["options"] == ["AIY Realtime assistant", "Garden assistant"]
    loaded, events = entry.runtime_data, Events(hass)
    await start(hass)
    running = terminal_of(entry).session

    await call(hass, "select", "select_option", {"entity_id": select, "option": "Garden assistant"})

    assert_not_reloaded(entry, loaded, events)
    assert terminal_of(entry).session is running  # the call goes on with the first assistant
    assert openai_at_peer.active_calls == 1
    assert entry.subentries[TERMINAL_ID].data["assistant"] == OTHER_ID
    assert hass.states.get(select).state == "Garden assistant"  # type: ignore[union-attr]
    await end(hass, entry)
    await start(hass)
    session = openai_at_peer.session_configs[-1]
    assert session["model"] == "gpt-realtime-2.1-mini"
    assert OTHER_PROMPT in session["instructions"]
    await end(hass, entry)


async def test_the_idle_timeout_number_applies_to_the_next_session_without_a_reload(
    hass: HomeAssistant, openai_at_peer: LocalRealtimePeer, audio_server: AudioServer
) -> None:
    """A typed conversation goes on too, on the call it had (a reload closes it)."""
    entry = await async_set_up_entry(hass, assistant(), terminal(audio_server.server))
    number = entity_of(hass, "number", "idle_timeout")
    state = hass.states.get(number)
    assert state is not None
    assert float(state.state) == 60
    assert (state.attributes["min"], state.attributes["max"]) == (5, 240)  # the form's
    loaded, events = entry.runtime_data, Events(hass)
    typed = await converse(hass, "Hello")
    await start(hass)
    calls = openai_at_peer.requests["calls"]

    await call(hass, "number", "set_value", {"entity_id": number, "value": 20})

    assert_not_reloaded(entry, loaded, events)
    assert openai_at_peer.active_calls == 2
    again = await converse(hass, "Still there?", typed.conversation_id)
    assert speech(again) == "You said: Still there?"
    assert openai_at_peer.requests["calls"] == calls
    assert entry.subentries[TERMINAL_ID].data["idle_timeout"] == 20
    assert float(hass.states.get(number).state) == 20  # type: ignore[union-attr]
    await end(hass, entry)
    await start(hass)
    detection = openai_at_peer.session_configs[-1]["audio"]["input"]["turn_detection"]
    assert detection["idle_timeout_ms"] == 20_000
    await end(hass, entry)


async def test_the_half_duplex_switch_applies_to_the_next_session_without_a_reload(
    hass: HomeAssistant, openai_at_peer: LocalRealtimePeer, audio_server: AudioServer
) -> None:
    entry = await async_set_up_entry(hass, assistant(), terminal(audio_server.server))
    switch = entity_of(hass, "switch", "half_duplex")
    assert hass.states.get(switch).state == "off"  # type: ignore[union-attr]
    loaded, events = entry.runtime_data, Events(hass)
    await start(hass)
    running = terminal_of(entry).session
    assert running._setup.half_duplex is False

    await call(hass, "switch", "turn_on", {"entity_id": switch})

    assert_not_reloaded(entry, loaded, events)
    assert terminal_of(entry).session is running
    assert entry.subentries[TERMINAL_ID].data["half_duplex"] is True
    assert hass.states.get(switch).state == "on"  # type: ignore[union-attr]
    await end(hass, entry)
    await start(hass)
    assert terminal_of(entry).session._setup.half_duplex is True
    await end(hass, entry)


async def test_the_echo_cancellation_switch_loads_the_canceller_once_the_call_ends(
    hass: HomeAssistant, openai_at_peer: LocalRealtimePeer, audio_server: AudioServer
) -> None:
    """The running call keeps its devices (a canceller's would be pulled from under it); the
    canceller loads when it ends, and goes again when the switch is turned off."""
    entry = await async_set_up_entry(hass, assistant(), terminal(audio_server.server))
    switch = entity_of(hass, "switch", "echo_cancellation")
    sensor = "sensor.kitchen_terminal_echo_cancellation"
    assert hass.states.get(switch).state == "off"  # type: ignore[union-attr]
    assert hass.states.get(sensor).state == "off"  # type: ignore[union-attr]
    loaded, events = entry.runtime_data, Events(hass)
    await start(hass)

    await call(hass, "switch", "turn_on", {"entity_id": switch})

    assert_not_reloaded(entry, loaded, events)
    assert entry.subentries[TERMINAL_ID].data["echo_cancellation"] is True
    assert hass.states.get(switch).state == "on"  # type: ignore[union-attr]
    assert hass.states.get(sensor).state == "off"  # type: ignore[union-attr]
    assert terminal_of(entry).sound.canceller is None
    await end(hass, entry)
    await hass.async_block_till_done()
    assert terminal_of(entry).sound.canceller is not None
    assert hass.states.get(sensor).state == terminal_of(entry).sound.canceller.method  # type: ignore[union-attr]
    module = terminal_of(entry).sound.canceller.module

    await call(hass, "switch", "turn_off", {"entity_id": switch})

    # Unloaded in the background, between sessions: a PulseAudio round trip.
    await until(lambda: terminal_of(entry).sound.canceller is None)
    assert hass.states.get(sensor).state == "off"  # type: ignore[union-attr]
    modules = await audio_server.pactl("list", "short", "modules")
    assert not any(line.split("\t")[0] == str(module) for line in modules.splitlines())
    assert entry.runtime_data is loaded


async def test_the_reconfigure_form_of_one_terminal_leaves_another_s_call_alone(
    hass: HomeAssistant, openai_at_peer: LocalRealtimePeer, audio_server: AudioServer
) -> None:
    second = ConfigSubentryDataWithId(
        **{**terminal(audio_server.server, title="Hall terminal"), "subentry_id": SECOND_ID}
    )
    entry = await async_set_up_entry(hass, assistant(), terminal(audio_server.server), second)
    loaded, events = entry.runtime_data, Events(hass)
    hall = entry.runtime_data.terminals[SECOND_ID]
    await start(hass, er.async_get(hass).async_get_entity_id("assist_satellite", DOMAIN, SECOND_ID))
    running = hall.session
    assert running is not None

    result = await entry.start_subentry_reconfigure_flow(hass, TERMINAL_ID)
    result = await submit(
        hass,
        result,
        {"assistant": ASSISTANT_ID, "audio_backend": "pulseaudio"}
        | {"idle_timeout": 20, "half_duplex": True, "echo_cancellation": False},
    )
    result = await without_kit(hass, result)
    result = await submit(hass, result, {"pulse_server": audio_server.server})
    result = await submit(
        hass, result, {"pulse_source": "kit_mic.monitor", "pulse_sink": "kit_speaker"}
    )
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()

    assert_not_reloaded(entry, loaded, events)
    assert hall.session is running
    assert openai_at_peer.active_calls == 1
    kitchen = terminal_of(entry)
    assert (kitchen.settings.idle_timeout, kitchen.settings.half_duplex) == (20, True)
    number = entity_of(hass, "number", "idle_timeout")
    assert float(hass.states.get(number).state) == 20  # type: ignore[union-attr]
    await hall.async_end(graceful=False)


async def test_settings_and_buttons_are_written_only_when_they_change_not_on_each_state(
    hass: HomeAssistant, openai_at_peer: LocalRealtimePeer, audio_server: AudioServer
) -> None:
    """A session goes through many states (connecting, listening, speaking, ending...): only the
    satellite and the sensor show them. The settings and the buttons were written each time."""
    from homeassistant.const import EVENT_STATE_CHANGED, EVENT_STATE_REPORTED
    from homeassistant.core import Event, callback

    entry = await async_set_up_entry(hass, assistant(), terminal(audio_server.server))
    quiet = {
        entity_of(hass, "select", "assistant"),
        entity_of(hass, "switch", "half_duplex"),
        entity_of(hass, "switch", "echo_cancellation"),
        entity_of(hass, "number", "idle_timeout"),
        entity_of(hass, "button", "start_conversation"),
        entity_of(hass, "button", "end_conversation"),
    }
    sensor = entity_of(hass, "sensor", "session_state")
    written: list[str] = []

    @callback
    def seen(event: Event) -> None:
        written.append(event.data["entity_id"])

    @callback
    def ours(event_data: Any) -> bool:
        return True

    for kind in (EVENT_STATE_CHANGED, EVENT_STATE_REPORTED):
        hass.bus.async_listen(kind, seen, event_filter=ours)
    await start(hass)
    await until(lambda: hass.states.get(sensor).state == "listening")  # type: ignore[union-attr]
    await end(hass, entry)
    await hass.async_block_till_done()

    assert written.count(sensor) >= 3  # the session's states were shown
    assert [entity_id for entity_id in written if entity_id in quiet] == []
    # A change is still shown.
    await call(hass, "switch", "turn_on", {"entity_id": entity_of(hass, "switch", "half_duplex")})
    assert hass.states.get(entity_of(hass, "switch", "half_duplex")).state == "on"  # type: ignore[union-attr]
