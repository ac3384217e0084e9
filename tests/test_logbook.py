"""A terminal's sessions in Home Assistant's Activity (the logbook), as its page asks for them
(`logbook/get_events`): real HA with its recorder and logbook, real loopback WebRTC to the local
peer, real sound through the test's PulseAudio server."""

from __future__ import annotations

from collections.abc import Generator
from datetime import timedelta
import logging
from pathlib import Path
from typing import Any

import pytest
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)
from pytest_homeassistant_custom_component.typing import (
    RecorderInstanceContextManager,
    WebSocketGenerator,
)

from homeassistant.components.recorder import Recorder
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, entity_registry as er
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util

from custom_components.aiy_realtime.const import DOMAIN, EVENT_SESSION_ENDED, EVENT_TRANSCRIPT
from tests.audio_server import AudioServer, speech_wav
from tests.helpers import assistant, async_set_up_entry, terminal
from tests.peer import LocalRealtimePeer
from tests.peer.script import Rule
from tests.voice_helpers import Events, satellite, until


@pytest.fixture
async def mock_recorder_before_hass(
    async_test_recorder: RecorderInstanceContextManager,
) -> None:
    """The recorder's database must be made before `hass` (the harness checks it), and this
    suite's autouse fixtures ask for `hass` before any test's own fixtures."""


@pytest.fixture(autouse=True)
def quiet_sql() -> Generator[None]:
    """The harness logs at DEBUG, which makes SQLAlchemy echo every statement the recorder's
    thread runs, and the recorder's pool each connection, printed past the test's capture: only
    their warnings here."""
    loggers = [
        logging.getLogger(name)
        for name in ("sqlalchemy.engine", "homeassistant.components.recorder.pool")
    ]
    levels = [each.level for each in loggers]
    for each in loggers:
        each.setLevel(logging.WARNING)
    yield
    for each, level in zip(loggers, levels, strict=True):
        each.setLevel(level)


def test_every_end_reason_has_its_words_in_the_logbook_and_on_the_sensor() -> None:
    """The logbook's words for an end (English, as HA's logbook is) and the sensor's (in
    strings.json): one for each way a session ends, no more."""
    import json

    from custom_components.aiy_realtime import logbook
    from custom_components.aiy_realtime.realtime.lifecycle import CloseReason

    strings = json.loads(
        (Path(logbook.__file__).parent / "strings.json").read_text(encoding="utf-8")
    )
    sensor = strings["entity"]["sensor"]["session_state"]["state_attributes"]
    on_sensor = sensor["last_end_reason"]["state"]
    assert set(logbook.END_REASONS) == {reason.value for reason in CloseReason} == set(on_sensor)


def device_of(hass: HomeAssistant) -> str:
    """The terminal's device: its satellite's."""
    registered = er.async_get(hass).async_get(satellite(hass))
    assert registered is not None
    assert registered.device_id is not None
    return registered.device_id


async def activity(
    hass: HomeAssistant, hass_ws_client: WebSocketGenerator, **query: Any
) -> list[dict[str, Any]]:
    """Our entries in the logbook, as the Activity page gets them."""
    await async_wait_recording_done(hass)
    client = await hass_ws_client()
    now = dt_util.utcnow()
    await client.send_json_auto_id(
        {
            "type": "logbook/get_events",
            "start_time": (now - timedelta(hours=1)).isoformat(),
            "end_time": (now + timedelta(minutes=1)).isoformat(),
            **query,
        }
    )
    response = await client.receive_json()
    assert response["success"], response
    return [e for e in response["result"] if e.get("domain") == DOMAIN]


async def test_the_logbook_tells_a_session_in_words(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    hass_ws_client: WebSocketGenerator,
    openai_at_peer: LocalRealtimePeer,
    loopback_ice: None,
    audio_server: AudioServer,
    tmp_path: Path,
) -> None:
    """Started, what the terminal heard and what the assistant said, why it ended: under the
    terminal's name, its satellite entity and its device."""
    assert await async_setup_component(hass, "logbook", {})
    entry = await async_set_up_entry(hass, assistant(), terminal(audio_server.server))
    events = Events(hass)
    openai_at_peer.script.rules.append(Rule("weather", say="It is sunny."))
    openai_at_peer.script.hears.append("What is the weather")
    weather = await speech_wav("what is the weather", tmp_path / "weather.wav")
    await hass.services.async_call(
        DOMAIN, "start_session", {"entity_id": satellite(hass), "greeting": ""}, blocking=True
    )

    await audio_server.play(weather)
    await until(lambda: len(events.of(EVENT_TRANSCRIPT)) >= 2)
    await hass.services.async_call(
        DOMAIN, "end_session", {"entity_id": satellite(hass), "graceful": False}, blocking=True
    )
    await until(lambda: bool(events.of(EVENT_SESSION_ENDED)))

    entries = await activity(hass, hass_ws_client)
    assert [(e["name"], e["message"]) for e in entries] == [
        ("Kitchen terminal", "session started"),
        ("Kitchen terminal", "heard “What is the weather”"),
        ("Kitchen terminal", "said “It is sunny.”"),
        ("Kitchen terminal", "session ended: stopped by an action, a button or an automation"),
    ]
    entity_id = satellite(hass)
    assert {e.get("entity_id") for e in entries} == {entity_id}
    # The terminal's device page and its satellite's more-info dialog ask by device and entity.
    device_id = device_of(hass)
    assert await activity(hass, hass_ws_client, device_ids=[device_id]) == entries
    by_entity = await activity(hass, hass_ws_client, entity_ids=[entity_id])
    assert [e["message"] for e in by_entity] == [e["message"] for e in entries]
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_a_renamed_terminal_and_its_end_reasons_read_as_the_user_sees_them(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    hass_ws_client: WebSocketGenerator,
    openai_at_peer: LocalRealtimePeer,
    loopback_ice: None,
    audio_server: AudioServer,
) -> None:
    """A session that ends by itself says why in words, under the name the user gave the
    terminal's device (also for what was recorded before the rename)."""
    assert await async_setup_component(hass, "logbook", {})
    entry = await async_set_up_entry(
        hass, assistant(), terminal(audio_server.server, idle_timeout=1)
    )
    events = Events(hass)
    await hass.services.async_call(
        DOMAIN, "start_session", {"entity_id": satellite(hass), "greeting": ""}, blocking=True
    )
    await until(lambda: bool(events.of(EVENT_SESSION_ENDED)))
    dr.async_get(hass).async_update_device(device_of(hass), name_by_user="Pantry speaker")

    entries = await activity(hass, hass_ws_client)
    assert [(e["name"], e["message"]) for e in entries] == [
        ("Pantry speaker", "session started"),
        ("Pantry speaker", "session ended: nobody spoke"),
    ]
    assert await hass.config_entries.async_unload(entry.entry_id)
