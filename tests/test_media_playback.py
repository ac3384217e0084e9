"""HA's satellite contract for media: `media_id` and the pre-announce chime play on the terminal's
speaker (decoded by HA's ffmpeg, no call placed for a file), and `assist_satellite/test_connection`
succeeds as for a device that fetches HA's test sound. Real HA, its media source and ffmpeg, the
test's PulseAudio server and the local Realtime peer."""

from __future__ import annotations

from collections.abc import AsyncGenerator
import math
from pathlib import Path
import struct
from typing import Any
import wave

import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import (
    ClientSessionGenerator,
    WebSocketGenerator,
)

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError

from custom_components.aiy_realtime.const import DOMAIN, EVENT_TRANSCRIPT
from custom_components.aiy_realtime.terminal.states import VoiceState
from tests.audio_server import AudioServer, speech_wav
from tests.helpers import assistant, async_set_up_entry, terminal
from tests.peer import LocalRealtimePeer
from tests.voice_helpers import Events, ended_reasons, our_streams, satellite, terminal_of, until

TONE_SECONDS = 0.8


def tone_wav(path: Path, seconds: float = TONE_SECONDS, rate: int = 16000) -> Path:
    """A 1 kHz tone at half of full scale."""
    frames = b"".join(
        struct.pack("<h", int(16000 * math.sin(2 * math.pi * 1000 * n / rate)))
        for n in range(int(seconds * rate))
    )
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(frames)
    return path


@pytest.fixture
async def media_dir(hass: HomeAssistant, tmp_path: Path) -> Path:
    """HA's local media folder (media-source://media_source/local/...)."""
    folder = tmp_path / "media"
    folder.mkdir()
    hass.config.media_dirs = {"local": str(folder)}
    return folder


@pytest.fixture
async def voice_entry(
    hass: HomeAssistant,
    media_dir: Path,
    openai_at_peer: LocalRealtimePeer,
    loopback_ice: None,
    audio_server: AudioServer,
) -> AsyncGenerator[MockConfigEntry]:
    entry = await async_set_up_entry(hass, assistant(), terminal(audio_server.server))
    yield entry
    await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    assert openai_at_peer.active_calls == 0
    assert openai_at_peer.all_violations() == []
    assert await our_streams(audio_server) == (0, 0)


async def announce(hass: HomeAssistant, **data: Any) -> None:
    await hass.services.async_call(
        "assist_satellite", "announce", {"entity_id": satellite(hass), **data}, blocking=True
    )


async def test_a_media_id_plays_on_the_speaker_without_a_call(
    hass: HomeAssistant,
    voice_entry: MockConfigEntry,
    media_dir: Path,
    openai_at_peer: LocalRealtimePeer,
    audio_server: AudioServer,
) -> None:
    """Before, an announcement with only a media_id failed (`text_needed`)."""
    tone_wav(media_dir / "doorbell.wav")
    async with audio_server.recorder() as recording:
        await announce(
            hass, media_id="media-source://media_source/local/doorbell.wav", preannounce=False
        )
        await recording.wait_for_quiet()
    # 20 ms windows: most of the tone's 40 reached the speaker, at the tone's loudness.
    assert recording.loud_windows(0.2) >= 30
    assert openai_at_peer.all_calls == []
    assert hass.states.get(satellite(hass)).state == "idle"  # type: ignore[union-attr]


async def test_the_chime_plays_before_the_words_and_not_when_turned_off(
    hass: HomeAssistant,
    voice_entry: MockConfigEntry,
    openai_at_peer: LocalRealtimePeer,
    audio_server: AudioServer,
) -> None:
    """HA's default chime (its preannounce.mp3) is heard before the call that says the words is
    placed; with `preannounce: false` the first sound is the words, in the call."""
    events = Events(hass)
    heard_before_call: list[bool] = []
    for preannounce in (True, False):
        calls = len(openai_at_peer.all_calls)
        async with audio_server.recorder() as recording:
            announcing = hass.async_create_task(
                announce(hass, message="The washing is done.", preannounce=preannounce)
            )
            await recording.wait_for_sound(3, threshold=0.01)
            heard_before_call.append(len(openai_at_peer.all_calls) == calls)
            await announcing
    assert heard_before_call == [True, False]
    assert len(openai_at_peer.all_calls) == 2
    said = [(e["role"], e["text"]) for e in events.of(EVENT_TRANSCRIPT)]
    assert said == [("assistant", "The washing is done.")] * 2


async def test_test_connection_succeeds(
    hass: HomeAssistant,
    voice_entry: MockConfigEntry,
    hass_ws_client: WebSocketGenerator,
    hass_client_no_auth: ClientSessionGenerator,
    openai_at_peer: LocalRealtimePeer,
    audio_server: AudioServer,
) -> None:
    """HA's test sends a media-only announcement of a URL it serves and waits for the device to
    fetch it; before, the announcement failed with `text_needed` and the test timed out."""
    client = await hass_ws_client(hass)
    server = await hass_client_no_auth()  # HA's HTTP server, at the URL HA knows itself by
    await hass.config.async_update(internal_url=str(server.make_url("/")).rstrip("/"))
    async with audio_server.recorder() as recording:
        await client.send_json_auto_id(
            {"type": "assist_satellite/test_connection", "entity_id": satellite(hass)}
        )
        response = await client.receive_json()
        await until(lambda: hass.states.get(satellite(hass)).state == "idle")  # type: ignore[union-attr]
    assert recording.loud_windows(0.01) >= 5
    assert response["success"], response
    assert response["result"] == {"status": "success"}
    assert openai_at_peer.all_calls == []


async def test_bad_media_gives_a_translated_error_and_the_terminal_stays_usable(
    hass: HomeAssistant,
    voice_entry: MockConfigEntry,
    media_dir: Path,
    openai_at_peer: LocalRealtimePeer,
    audio_server: AudioServer,
) -> None:
    (media_dir / "broken.mp3").write_bytes(b"this is no sound at all" * 100)
    tone_wav(media_dir / "good.wav")
    cases = {
        "media-source://media_source/local/missing.mp3": "media_unresolvable",
        "media-source://media_source/local/broken.mp3": "media_unplayable",
        # Not for ffmpeg to open: HA's files are reached through its media source only.
        f"file://{media_dir / 'good.wav'}": "media_unresolvable",
    }
    for media_id, key in cases.items():
        with pytest.raises(HomeAssistantError) as raised:
            await announce(hass, media_id=media_id, preannounce=False)
        assert raised.value.translation_key == key
        assert media_id in str(raised.value)
    assert await our_streams(audio_server) == (0, 0)  # the speaker never opened
    async with audio_server.recorder() as recording:
        await announce(hass, media_id="media-source://media_source/local/good.wav")
        await recording.wait_for_quiet()
    assert recording.loud_windows(0.2) >= 30
    assert openai_at_peer.all_calls == []


async def test_start_conversation_plays_its_media_then_listens(
    hass: HomeAssistant,
    voice_entry: MockConfigEntry,
    media_dir: Path,
    openai_at_peer: LocalRealtimePeer,
    audio_server: AudioServer,
) -> None:
    """The media is the start of the conversation: played on the speaker before the call, which
    then listens with the start message as what the model knows, and says nothing first."""
    events = Events(hass)
    tone_wav(media_dir / "question.wav")
    async with audio_server.recorder() as recording:
        starting = hass.async_create_task(
            hass.services.async_call(
                "assist_satellite",
                "start_conversation",
                {
                    "entity_id": satellite(hass),
                    "start_media_id": "media-source://media_source/local/question.wav",
                    "start_message": "The user was asked whether to water the garden.",
                    "preannounce": False,
                },
                blocking=True,
            )
        )
        await recording.wait_for_sound(5, threshold=0.2)
        assert openai_at_peer.all_calls == []
        await starting
    assert recording.loud_windows(0.2) >= 30
    call = openai_at_peer.call()
    assert "water the garden" in call.session["instructions"]
    assert events.of(EVENT_TRANSCRIPT) == []
    assert terminal_of(voice_entry).state is VoiceState.LISTENING
    await hass.services.async_call(
        DOMAIN, "end_session", {"entity_id": satellite(hass), "graceful": False}, blocking=True
    )


async def test_ask_question_plays_its_media_and_returns_the_answer(
    hass: HomeAssistant,
    voice_entry: MockConfigEntry,
    media_dir: Path,
    openai_at_peer: LocalRealtimePeer,
    audio_server: AudioServer,
    tmp_path: Path,
) -> None:
    """A recorded question plays on the speaker; the session that listens for the answer comes
    after it, and says nothing itself."""
    events = Events(hass)
    tone_wav(media_dir / "question.wav")
    openai_at_peer.script.hears.append("Yes, go ahead")
    answer = await speech_wav("yes, go ahead", tmp_path / "answer.wav")

    async def answer_when_listening() -> None:
        await until(lambda: terminal_of(voice_entry).state is VoiceState.LISTENING)
        await audio_server.play(answer)

    answering = hass.async_create_task(answer_when_listening())
    async with audio_server.recorder() as recording:
        result = await hass.services.async_call(
            "assist_satellite",
            "ask_question",
            {
                "entity_id": satellite(hass),
                "question_media_id": "media-source://media_source/local/question.wav",
                "preannounce": False,
                "answers": [{"id": "yes", "sentences": ["yes [go ahead]"]}],
            },
            blocking=True,
            return_response=True,
        )
    await answering
    assert result == {"id": "yes", "sentence": "Yes, go ahead", "slots": {}}
    assert recording.loud_windows(0.2) >= 30
    assert [e["role"] for e in events.of(EVENT_TRANSCRIPT)] == ["user"]


async def test_a_media_announcement_ends_a_running_session_first(
    hass: HomeAssistant,
    voice_entry: MockConfigEntry,
    media_dir: Path,
    openai_at_peer: LocalRealtimePeer,
    audio_server: AudioServer,
) -> None:
    """As HA's satellites cancel a running pipeline: the sound is not mixed into a call."""
    events = Events(hass)
    tone_wav(media_dir / "doorbell.wav")
    await hass.services.async_call(
        DOMAIN, "start_session", {"entity_id": satellite(hass), "greeting": ""}, blocking=True
    )
    async with audio_server.recorder() as recording:
        await announce(
            hass, media_id="media-source://media_source/local/doorbell.wav", preannounce=False
        )
    assert terminal_of(voice_entry).session is None
    assert ended_reasons(events) == ["user_ended"]
    assert openai_at_peer.active_calls == 0
    assert recording.loud_windows(0.2) >= 30
