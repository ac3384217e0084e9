"""Adding and changing a voice terminal through HA's subentry flow, against real PulseAudio."""

from __future__ import annotations

import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from homeassistant.config_entries import SOURCE_USER
from homeassistant.const import CONF_NAME
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import entity_registry as er

from custom_components.aiy_realtime.const import DOMAIN, SUBENTRY_TERMINAL
from tests.audio_server import AudioServer
from tests.helpers import ASSISTANT_ID, assistant, async_set_up_entry
from tests.peer import LocalRealtimePeer

pytestmark = pytest.mark.usefixtures("openai_at_peer", "loopback_ice")


def options_of(result: dict[str, object], field: str) -> list[str]:
    schema = result["data_schema"].schema  # type: ignore[index, union-attr]
    key = next(k for k in schema if str(k) == field)
    return [option["value"] for option in schema[key].config["options"]]


async def begin(hass: HomeAssistant, entry: MockConfigEntry) -> dict[str, object]:
    return await hass.config_entries.subentries.async_init(  # type: ignore[return-value]
        (entry.entry_id, SUBENTRY_TERMINAL), context={"source": SOURCE_USER}
    )


async def without_kit(hass: HomeAssistant, result: dict[str, object]) -> dict[str, object]:
    assert result["step_id"] == "kit"
    return await hass.config_entries.subentries.async_configure(  # type: ignore[return-value]
        result["flow_id"],  # type: ignore[arg-type]
        {"board": "none", "pins": "local", "long_press": "end_session", "led_idle": "off"},
    )


async def test_add_a_terminal_on_a_pulseaudio_server(
    hass: HomeAssistant,
    peer: LocalRealtimePeer,
    audio_server: AudioServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PULSE_SERVER", audio_server.server)
    entry = await async_set_up_entry(hass, assistant())

    result = await begin(hass, entry)
    assert result["step_id"] == "terminal"
    assert options_of(result, "assistant") == [ASSISTANT_ID]
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"],  # type: ignore[arg-type]
        {
            CONF_NAME: "Kitchen terminal",
            "assistant": ASSISTANT_ID,
            "audio_backend": "pulseaudio",
            "idle_timeout": 30,
            "half_duplex": True,
        },
    )

    result = await without_kit(hass, result)

    # The sound step lists what the server has (HA OS's PULSE_SERVER is the default server).
    assert result["step_id"] == "pulseaudio"
    assert "kit_mic.monitor" in options_of(result, "pulse_source")
    assert "kit_speaker" in options_of(result, "pulse_sink")
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"],  # type: ignore[arg-type]
        {"pulse_source": "kit_mic.monitor", "pulse_sink": "kit_speaker"},
    )
    await hass.async_block_till_done()

    assert result["type"] is FlowResultType.CREATE_ENTRY
    (added,) = [s for s in entry.subentries.values() if s.subentry_type == SUBENTRY_TERMINAL]
    assert added.title == "Kitchen terminal"
    assert added.data["half_duplex"] is True
    # The entry reloaded with it: the terminal's satellite is there and available.
    entity_id = er.async_get(hass).async_get_entity_id(
        "assist_satellite", DOMAIN, added.subentry_id
    )
    assert entity_id is not None
    assert hass.states.get(entity_id).state == "idle"
    await hass.config_entries.async_unload(entry.entry_id)


async def test_a_server_that_does_not_answer_is_a_clear_error(
    hass: HomeAssistant, peer: LocalRealtimePeer, audio_server: AudioServer
) -> None:
    entry = await async_set_up_entry(hass, assistant())
    result = await begin(hass, entry)
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"],  # type: ignore[arg-type]
        {
            CONF_NAME: "Far terminal",
            "assistant": ASSISTANT_ID,
            "audio_backend": "pulseaudio",
            "idle_timeout": 30,
            "half_duplex": False,
        },
    )
    result = await without_kit(hass, result)

    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"],  # type: ignore[arg-type]
        {"pulse_server": "unix:/nonexistent/native"},
    )

    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "audio_server_unreachable"}
    assert "unix:/nonexistent/native" in result["description_placeholders"]["problem"]  # type: ignore[index]
    # Fixed in the same form: nothing typed is lost.
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"],  # type: ignore[arg-type]
        {"pulse_server": audio_server.server, "pulse_sink": "kit_speaker"},
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    await hass.config_entries.async_unload(entry.entry_id)


async def test_a_terminal_needs_an_assistant(hass: HomeAssistant, peer: LocalRealtimePeer) -> None:
    entry = MockConfigEntry(domain=DOMAIN, data={"api_key": "sk-test-valid", "endpoint": "openai"})
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)

    result = await begin(hass, entry)

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "no_assistant"
    await hass.config_entries.async_unload(entry.entry_id)
