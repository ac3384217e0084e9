"""The shipped blueprints, used as a user would: copied into Home Assistant's blueprints folder,
an automation made from each, run against a real terminal (and a kit) on the local peer."""

from __future__ import annotations

import asyncio
from pathlib import Path
import shutil
from typing import Any

from gpiozero.pins.mock import MockFactory
import pytest

from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component

from custom_components.aiy_realtime.const import EVENT_TRANSCRIPT
from tests.audio_server import AudioServer
from tests.helpers import assistant, async_set_up_entry, terminal
from tests.kit_helpers import press
from tests.peer import LocalRealtimePeer
from tests.voice_helpers import Events, satellite, terminal_of, until

BLUEPRINTS = Path(__file__).resolve().parent.parent / "blueprints"


@pytest.fixture
def blueprints(hass: HomeAssistant, tmp_path: Path) -> None:
    """The repository's blueprints where HA looks for them (HACS users copy them there)."""
    hass.config.config_dir = str(tmp_path)
    shutil.copytree(BLUEPRINTS, tmp_path / "blueprints")


async def automation(hass: HomeAssistant, path: str, inputs: dict[str, Any]) -> None:
    assert await async_setup_component(
        hass,
        "automation",
        {"automation": {"use_blueprint": {"path": f"aiy_realtime/{path}", "input": inputs}}},
    )
    await hass.async_block_till_done()
    (state,) = hass.states.async_all("automation")
    assert state.state == "on", state.attributes


async def test_announce_when_something_happens(
    hass: HomeAssistant,
    lights: None,
    blueprints: None,
    openai_at_peer: LocalRealtimePeer,
    loopback_ice: None,
    audio_server: AudioServer,
) -> None:
    entry = await async_set_up_entry(hass, assistant(), terminal(audio_server.server))
    events = Events(hass)
    await automation(
        hass,
        "announce_when.yaml",
        {
            "watched": "input_boolean.kitchen",
            "to_state": "on",
            "terminal": satellite(hass),
            "message": "The {{ trigger.to_state.name }} switch is {{ trigger.to_state.state }}.",
        },
    )

    await hass.services.async_call(
        "input_boolean", "turn_on", {"entity_id": "input_boolean.kitchen"}
    )
    await until(lambda: bool(events.of(EVENT_TRANSCRIPT)))
    await hass.services.async_call(
        "input_boolean", "turn_off", {"entity_id": "input_boolean.kitchen"}, blocking=True
    )
    await asyncio.sleep(0.5)

    assert [e["text"] for e in events.of(EVENT_TRANSCRIPT)] == ["The kitchen switch is on."]
    await until(lambda: terminal_of(entry).session is None)
    await hass.config_entries.async_unload(entry.entry_id)


async def test_a_long_press_starts_a_session_of_its_own(
    hass: HomeAssistant,
    blueprints: None,
    openai_at_peer: LocalRealtimePeer,
    loopback_ice: None,
    audio_server: AudioServer,
    kit_pins: MockFactory,
) -> None:
    entry = await async_set_up_entry(
        hass,
        assistant(),
        terminal(audio_server.server, board="voice_hat", pins="local", long_press="event_only"),
    )
    voice = terminal_of(entry)
    events = Events(hass)
    await automation(
        hass,
        "button_starts_session.yaml",
        {
            "button": "event.kitchen_terminal_button",
            "terminal": satellite(hass),
            "instructions": "The user is cooking: keep answers short.",
            "greeting": "Say that the kitchen assistant is listening.",
        },
    )

    await press(hass, kit_pins, seconds=1.3)
    # The terminal listens as soon as the call is up, before the greeting's answer is spoken:
    # wait for the answer itself.
    await until(lambda: bool(events.of(EVENT_TRANSCRIPT)))
    await until(lambda: voice.session is not None and voice.state.value == "listening")

    call = openai_at_peer.call()
    assert "The user is cooking" in call.session["instructions"]
    assert [e["text"] for e in events.of(EVENT_TRANSCRIPT)] == [
        "Say that the kitchen assistant is listening."
    ]
    await press(hass, kit_pins, seconds=1.3)  # again: ends it
    await until(lambda: voice.session is None)
    await hass.config_entries.async_unload(entry.entry_id)
