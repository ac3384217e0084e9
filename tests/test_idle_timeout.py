"""A terminal's idle timeout within what OpenAI takes: server VAD's `idle_timeout_ms` is 5 to 30 s
(OpenAI's OpenAPI document; the local peer refuses a call outside it, as the API does), and no
longer than Home Assistant keeps a silent chat session, so one session keeps one conversation id."""

from __future__ import annotations

import pytest

from homeassistant.const import CONF_NAME
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import InvalidData
from homeassistant.helpers import chat_session

from custom_components.aiy_realtime.const import DOMAIN, MAX_IDLE_TIMEOUT
from custom_components.aiy_realtime.realtime.config import server_idle_timeout_ms, server_vad
from custom_components.aiy_realtime.terminal.settings import TerminalSettings
from tests.audio_server import AudioServer
from tests.helpers import ASSISTANT_ID, TERMINAL_ID, assistant, async_set_up_entry, terminal
from tests.peer import LocalRealtimePeer
from tests.test_terminal_flow import begin, submit, suggested
from tests.voice_helpers import satellite, terminal_of


async def test_a_terminal_that_waits_longer_than_the_api_allows_still_connects(
    hass: HomeAssistant,
    openai_at_peer: LocalRealtimePeer,
    loopback_ice: None,
    audio_server: AudioServer,
) -> None:
    """60 s (the old demo's value): the call used to carry `idle_timeout_ms: 60000`, which the
    API refuses; now the terminal times that silence itself."""
    entry = await async_set_up_entry(hass, assistant(), terminal(audio_server.server))
    await hass.services.async_call(
        DOMAIN, "start_session", {"entity_id": satellite(hass)}, blocking=True
    )

    detection = openai_at_peer.all_calls[-1].session["audio"]["input"]["turn_detection"]
    assert "idle_timeout_ms" not in detection
    assert terminal_of(entry).session is not None
    assert openai_at_peer.all_violations() == []
    assert await hass.config_entries.async_unload(entry.entry_id)


def test_a_timeout_saved_beyond_the_chat_session_s_life_is_shortened() -> None:
    assert chat_session.CONVERSATION_TIMEOUT.total_seconds() > MAX_IDLE_TIMEOUT
    options = {"assistant": ASSISTANT_ID, "idle_timeout": 600}
    assert TerminalSettings.from_options(options).idle_timeout == MAX_IDLE_TIMEOUT


@pytest.mark.usefixtures("openai_at_peer", "loopback_ice")
async def test_the_form_takes_no_timeout_beyond_the_chat_session_s_life(
    hass: HomeAssistant,
) -> None:
    entry = await async_set_up_entry(hass, assistant())
    result = await begin(hass, entry)
    fields = {CONF_NAME: "Kitchen", "assistant": ASSISTANT_ID, "half_duplex": False}
    fields["audio_backend"] = "pulseaudio"

    with pytest.raises(InvalidData):
        await submit(hass, result, {**fields, "idle_timeout": MAX_IDLE_TIMEOUT + 1})
    result = await submit(hass, result, {**fields, "idle_timeout": MAX_IDLE_TIMEOUT})
    assert result["step_id"] != "terminal"


@pytest.mark.parametrize("milliseconds", [4999, 30001, 60000])
def test_the_realtime_layer_refuses_a_timeout_the_api_would(milliseconds: int) -> None:
    with pytest.raises(ValueError, match="outside 5000 to 30000"):
        server_vad(idle_timeout_ms=milliseconds)
    assert server_idle_timeout_ms(milliseconds / 1000) is None


@pytest.mark.usefixtures("openai_at_peer", "loopback_ice")
async def test_reconfigure_offers_a_timeout_saved_beyond_the_limit_as_the_limit(
    hass: HomeAssistant, audio_server: AudioServer
) -> None:
    entry = await async_set_up_entry(
        hass, assistant(), terminal(audio_server.server, idle_timeout=600)
    )
    result = await entry.start_subentry_reconfigure_flow(hass, TERMINAL_ID)
    assert suggested(result, "idle_timeout") == MAX_IDLE_TIMEOUT
    assert await hass.config_entries.async_unload(entry.entry_id)
