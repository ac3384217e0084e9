"""Announcements (`assist_satellite.announce`, `aiy_realtime.say`) on a full-duplex terminal: in
a session of their own nothing the microphone hears cuts them off or starts a turn; spoken over
in a running session, the action says it was cut off. Real HA, real loopback WebRTC to the local
peer, real speech through the test's PulseAudio server."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError

from custom_components.aiy_realtime.const import DOMAIN, EVENT_TRANSCRIPT
from custom_components.aiy_realtime.terminal.states import VoiceState
from tests.audio_server import AudioServer, speech_wav
from tests.peer import LocalRealtimePeer
from tests.voice_helpers import Events, satellite, terminal_of, until

NEWS = " ".join(f"Item {n}: the washing machine in the cellar is done." for n in range(1, 7))


async def announce(hass: HomeAssistant, message: str) -> None:
    await hass.services.async_call(
        "assist_satellite",
        "announce",
        {"entity_id": satellite(hass), "message": message},
        blocking=True,
    )


async def talk_over(entry: MockConfigEntry, audio_server: AudioServer, words: Path) -> None:
    """Someone (or a television) speaks once the terminal does."""
    await until(lambda: terminal_of(entry).state is VoiceState.SPEAKING)
    await audio_server.play(words)


async def test_an_announcement_s_own_session_hears_nothing_that_cuts_it_off(
    hass: HomeAssistant,
    voice_entry: MockConfigEntry,
    openai_at_peer: LocalRealtimePeer,
    audio_server: AudioServer,
    tmp_path: Path,
) -> None:
    """Before, its session detected turns and created responses: the television interrupted
    the announcement, the model answered it with tools, and the action still succeeded."""
    events = Events(hass)
    openai_at_peer.script.hears.append("Turn on the kitchen light")
    television = await speech_wav("turn on the kitchen light, now", tmp_path / "tv.wav")
    speaking_over = hass.async_create_task(talk_over(voice_entry, audio_server, television))

    await announce(hass, NEWS)
    await speaking_over

    call = openai_at_peer.all_calls[0]
    detection = call.session["audio"]["input"]["turn_detection"]
    assert detection["create_response"] is False
    assert detection["interrupt_response"] is False
    sent = [e["type"] for e in call.sent]
    assert sent.count("response.created") == 1  # the announcement's, and no answer
    assert "output_audio_buffer.cleared" not in sent
    assert [(e["role"], e["text"]) for e in events.of(EVENT_TRANSCRIPT)] == [("assistant", NEWS)]


async def test_an_announcement_spoken_over_in_a_session_says_it_was_cut_off(
    hass: HomeAssistant,
    voice_entry: MockConfigEntry,
    openai_at_peer: LocalRealtimePeer,
    audio_server: AudioServer,
    tmp_path: Path,
) -> None:
    """In a running full-duplex session the user may speak over it (barge-in): the action
    reports it, so an automation does not take the announcement as heard."""
    openai_at_peer.script.hears.append("Stop")
    stop = await speech_wav("stop, please stop", tmp_path / "stop.wav")
    await hass.services.async_call(
        DOMAIN, "start_session", {"entity_id": satellite(hass), "greeting": ""}, blocking=True
    )
    speaking_over = hass.async_create_task(talk_over(voice_entry, audio_server, stop))

    with pytest.raises(HomeAssistantError) as raised:
        await announce(hass, NEWS)
    await speaking_over

    assert raised.value.translation_key == "announcement_cut_off"
    assert "output_audio_buffer.cleared" in [e["type"] for e in openai_at_peer.call().sent]
    await hass.services.async_call(
        DOMAIN, "end_session", {"entity_id": satellite(hass), "graceful": False}, blocking=True
    )
    await asyncio.sleep(0)


async def test_a_long_announcement_is_reported_heard_only_once_its_audio_has_played_out(
    hass: HomeAssistant,
    voice_entry: MockConfigEntry,
    openai_at_peer: LocalRealtimePeer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Its audio plays on long after the text was generated. Before, the wait for it was one
    fixed cap (30 s, here 1 s): a longer announcement was reported heard while still playing."""
    from custom_components.aiy_realtime.terminal import session as voice_session

    monkeypatch.setattr(voice_session, "AUDIO_END_WAIT", 1.0)
    openai_at_peer.script.seconds_per_word = 0.1  # NEWS: about 5 s of speech

    await announce(hass, NEWS)

    sent = [e["type"] for e in openai_at_peer.all_calls[0].sent]
    assert "output_audio_buffer.stopped" in sent, "reported heard before its audio ended"
    assert "output_audio_buffer.cleared" not in sent


async def test_an_announcement_the_model_never_finishes_fails_within_a_bound(
    hass: HomeAssistant,
    voice_entry: MockConfigEntry,
    openai_at_peer: LocalRealtimePeer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Before, once the playing wait's cap passed, the action waited on the response for ever."""
    from custom_components.aiy_realtime.terminal import session as voice_session

    monkeypatch.setattr(voice_session, "AUDIO_END_WAIT", 1.0)
    monkeypatch.setattr(voice_session, "RESPONSE_WAIT", 1.0, raising=False)
    openai_at_peer.script.delay_before_response = 600

    with pytest.raises(HomeAssistantError) as raised:
        async with asyncio.timeout(20):
            await announce(hass, "The washing machine is done.")
    assert raised.value.translation_key == "announcement_cut_off"
    await until(lambda: terminal_of(voice_entry).session is None)
