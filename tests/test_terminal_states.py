"""One table says what each terminal state shows; a call that hangs up slowly shows it is ending
(before, everything stayed on its last state, e.g. "speaking", until the call was down)."""

from __future__ import annotations

from homeassistant.components.assist_satellite.entity import AssistSatelliteState
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.helpers.event import async_track_state_change_event

from custom_components.aiy_realtime.const import DOMAIN
from custom_components.aiy_realtime.hardware.led import SESSION_PATTERNS, LedState
from custom_components.aiy_realtime.realtime.session import SessionState
from custom_components.aiy_realtime.terminal.states import SESSION_STATES, SHOWN, VoiceState
from tests.audio_server import AudioServer
from tests.helpers import assistant, async_set_up_entry, terminal
from tests.peer import HttpFault, LocalRealtimePeer
from tests.voice_helpers import satellite, terminal_of, until

SENSOR = "sensor.kitchen_terminal_session"


def test_every_state_has_its_row() -> None:
    assert set(SHOWN) == set(VoiceState)
    assert set(SESSION_STATES) == set(SessionState) - {SessionState.CLOSED}
    # Every LED state a terminal shows has its pattern (idle: the session lets go of it).
    assert {shown.led for shown in SHOWN.values()} - {LedState.IDLE} <= set(SESSION_PATTERNS)


async def test_a_slow_hang_up_shows_the_terminal_ending(
    hass: HomeAssistant,
    openai_at_peer: LocalRealtimePeer,
    loopback_ice: None,
    audio_server: AudioServer,
) -> None:
    entry = await async_set_up_entry(hass, assistant(), terminal(audio_server.server))
    seen: list[tuple[str, str]] = []

    @callback
    def changed(event: Event) -> None:
        if (state := event.data["new_state"]) is not None:
            seen.append((state.entity_id, state.state))

    async_track_state_change_event(hass, [SENSOR, satellite(hass)], changed)
    await hass.services.async_call(
        DOMAIN, "start_session", {"entity_id": satellite(hass), "greeting": ""}, blocking=True
    )
    openai_at_peer.faults.add("hangup", HttpFault(500, delay=1.0))

    ending = hass.async_create_task(
        hass.services.async_call(
            DOMAIN, "end_session", {"entity_id": satellite(hass), "graceful": False}, blocking=True
        )
    )
    await until(lambda: terminal_of(entry).state is VoiceState.ENDING)
    state = hass.states.get(SENSOR)
    assert state is not None
    assert state.state == "ending"
    assert hass.states.get(satellite(hass)).state == AssistSatelliteState.PROCESSING
    await ending
    await until(lambda: terminal_of(entry).session is None)

    sensor_states = [value for entity, value in seen if entity == SENSOR]
    assert sensor_states.index("ending") < len(sensor_states) - 1
    assert set(sensor_states[sensor_states.index("ending") + 1 :]) == {"idle"}
    assert await hass.config_entries.async_unload(entry.entry_id)
