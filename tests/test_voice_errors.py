"""OpenAI refusing a spoken turn reaches the user: the state sensor names it, the LED and the
sensor show an error, and the same repair or reauth the typed path raises appears. Real HA, real
loopback WebRTC to the local peer, real speech through the test's PulseAudio server."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.event import async_track_state_change_event

from custom_components.aiy_realtime.const import (
    DOMAIN,
    EVENT_SESSION_ENDED,
    EVENT_TRANSCRIPT,
    ISSUE_INSUFFICIENT_QUOTA,
)
from tests.audio_server import AudioServer, speech_wav
from tests.peer import HttpFault, LocalRealtimePeer
from tests.voice_helpers import Events, ended_reasons, satellite, until

SENSOR = "sensor.kitchen_terminal_session"


def sensor_states(hass: HomeAssistant) -> list[str]:
    seen: list[str] = []

    @callback
    def changed(event: Event) -> None:
        if (state := event.data["new_state"]) is not None:
            seen.append(state.state)

    async_track_state_change_event(hass, [SENSOR], changed)
    return seen


async def start(hass: HomeAssistant, events: Events | None = None) -> None:
    """A session whose greeting has been said: the next response is a spoken turn's."""
    await hass.services.async_call(
        DOMAIN,
        "start_session",
        {"entity_id": satellite(hass), "greeting": "Say hello."},
        blocking=True,
    )
    if events is not None:
        await until(lambda: any(e["role"] == "assistant" for e in events.of(EVENT_TRANSCRIPT)))


def quota_issue(hass: HomeAssistant) -> ir.IssueEntry | None:
    return ir.async_get(hass).async_get_issue(DOMAIN, ISSUE_INSUFFICIENT_QUOTA)


async def test_no_quota_mid_session_ends_it_with_the_repair(
    hass: HomeAssistant,
    voice_entry: MockConfigEntry,
    openai_at_peer: LocalRealtimePeer,
    audio_server: AudioServer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Before, the refusal was logged at debug only: the LED went back to listening and the
    user waited for an answer that would never come, in every later turn too."""
    events = Events(hass)
    states = sensor_states(hass)
    openai_at_peer.script.hears.append("What time is it")
    words = await speech_wav("what time is it", tmp_path / "words.wav")
    await start(hass, events)
    openai_at_peer.call().fail_responses.append(("insufficient_quota", "insufficient_quota"))

    with caplog.at_level(logging.WARNING):
        await audio_server.play(words)
        await until(lambda: bool(events.of(EVENT_SESSION_ENDED)))
    await hass.async_block_till_done()

    assert ended_reasons(events) == ["error"]
    assert quota_issue(hass) is not None
    state = hass.states.get(SENSOR)
    assert state is not None
    assert state.attributes["last_error"] == "insufficient_quota"
    assert "error" in states
    assert "got no answer from OpenAI (insufficient_quota)" in caplog.text


async def test_a_passing_server_error_is_shown_and_the_session_goes_on(
    hass: HomeAssistant,
    voice_entry: MockConfigEntry,
    openai_at_peer: LocalRealtimePeer,
    audio_server: AudioServer,
    tmp_path: Path,
) -> None:
    events = Events(hass)
    states = sensor_states(hass)
    openai_at_peer.script.hears.extend(["What time is it", "And now"])
    first = await speech_wav("what time is it", tmp_path / "first.wav")
    second = await speech_wav("and now", tmp_path / "second.wav")
    await start(hass, events)
    openai_at_peer.call().fail_responses.append(("server_error", "server_error"))

    await audio_server.play(first)
    await until(lambda: "error" in states)
    await until(lambda: states[-1] == "listening")
    state = hass.states.get(SENSOR)
    assert state is not None
    assert state.attributes["last_error"] == "response_failed"
    assert quota_issue(hass) is None

    # The next turn is answered in the same session.
    await audio_server.play(second)
    await until(
        lambda: (
            ("assistant", "You said: And now")
            in [(e["role"], e["text"]) for e in events.of(EVENT_TRANSCRIPT)]
        )
    )
    assert events.of(EVENT_SESSION_ENDED) == []
    assert openai_at_peer.requests["calls"] == 1


async def test_no_quota_at_the_start_raises_the_repair(
    hass: HomeAssistant, voice_entry: MockConfigEntry, openai_at_peer: LocalRealtimePeer
) -> None:
    openai_at_peer.faults.add(
        "calls", HttpFault(429, "insufficient_quota", "You exceeded your quota.")
    )

    with pytest.raises(Exception, match="quota"):
        await start(hass)

    assert quota_issue(hass) is not None


def test_every_problem_has_its_words_on_the_sensor() -> None:
    """The state sensor's `last_error` is shown in the user's words, not as a code."""
    import json

    from custom_components.aiy_realtime.assistant.problems import TurnProblem

    strings = json.loads(
        (Path(__file__).parent.parent / "custom_components/aiy_realtime/strings.json").read_text()
    )
    attribute = strings["entity"]["sensor"]["session_state"]["state_attributes"]["last_error"]
    assert set(attribute["state"]) == {problem.value for problem in TurnProblem}
