"""A voice terminal's settings changed while it runs: its assistant select, its half duplex and
echo cancellation switches, its idle timeout number, and its reconfigure form. Each is saved in
the terminal's subentry and used by the next session, with no reload: a running call goes on.
Real HA, real loopback WebRTC to the local peer, real sound through the test's PulseAudio
server."""

from __future__ import annotations

from typing import Any

import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from homeassistant.config_entries import ConfigSubentryDataWithId
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er

from custom_components.aiy_realtime.const import DOMAIN, EVENT_SESSION_ENDED
from tests.audio_server import AudioServer
from tests.helpers import ASSISTANT_ID, TERMINAL_ID, agent, assistant, async_set_up_entry, terminal
from tests.peer import LocalRealtimePeer
from tests.test_terminal_flow import submit, without_kit
from tests.voice_helpers import Events, satellite, terminal_of

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


async def end(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    await terminal_of(entry).async_end(graceful=False)


async def call(hass: HomeAssistant, domain: str, service: str, data: dict[str, Any]) -> None:
    await hass.services.async_call(domain, service, data, blocking=True)
    await hass.async_block_till_done()


def assert_not_reloaded(entry: MockConfigEntry, loaded: object, events: Events) -> None:
    """A reload makes new runtime data and hangs up the running call (`shutdown`)."""
    assert entry.runtime_data is loaded
    assert events.of(EVENT_SESSION_ENDED) == []


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
    await hall.async_end(graceful=False)
