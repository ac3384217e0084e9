"""Voice sessions through real Home Assistant, real loopback WebRTC to the local peer, and real
sound through the test's PulseAudio server: what is spoken into `kit_mic` reaches the model,
what the model says reaches `kit_speaker`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
import json
from pathlib import Path

import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from homeassistant.components.conversation.chat_log import DATA_CHAT_LOGS
from homeassistant.core import HomeAssistant

from custom_components.aiy_realtime.const import (
    DOMAIN,
    EVENT_SESSION_ENDED,
    EVENT_SESSION_STARTED,
    EVENT_TRANSCRIPT,
)
from tests.audio_server import AudioServer, speech_wav
from tests.helpers import TERMINAL_ID, assistant, async_set_up_entry, terminal
from tests.peer import HttpFault, LocalRealtimePeer
from tests.peer.script import Rule
from tests.voice_helpers import (
    TIMEOUT,
    Events,
    ended_reasons,
    our_streams,
    satellite,
    terminal_of,
    until,
)


async def test_start_session_plays_the_greeting(
    hass: HomeAssistant,
    voice_entry: MockConfigEntry,
    peer: LocalRealtimePeer,
    audio_server: AudioServer,
) -> None:
    events = Events(hass)
    entity_id = satellite(hass)
    assert hass.states.get(entity_id).state == "idle"

    async with audio_server.recorder() as speaker:
        await hass.services.async_call(
            DOMAIN,
            "start_session",
            {"entity_id": entity_id, "greeting": "Hello there, how can I help you today?"},
            blocking=True,
        )
        await asyncio.wait_for(speaker.wait_for_sound(windows=10), TIMEOUT)

    call = peer.call()
    # The greeting's audio came out of the kit's speaker, sent by the peer over WebRTC.
    assert speaker.loud_windows() >= 10
    assert call.session["output_modalities"] == ["audio"]
    assert call.session["audio"]["input"]["transcription"]["model"] == "gpt-live-transcribe"
    # A terminal's default: the kit's microphone is across the room from the user.
    assert call.session["audio"]["input"]["noise_reduction"] == {"type": "far_field"}
    assert call.session["reasoning"] == {"effort": "low"}
    assert call.mic_frames > 0
    (started,) = events.of(EVENT_SESSION_STARTED)
    assert started["terminal_id"] == TERMINAL_ID
    await until(lambda: bool(events.of(EVENT_TRANSCRIPT)))
    assert events.of(EVENT_TRANSCRIPT)[0]["role"] == "assistant"

    await hass.services.async_call(
        DOMAIN, "end_session", {"entity_id": entity_id, "graceful": False}, blocking=True
    )
    await until(lambda: bool(events.of(EVENT_SESSION_ENDED)))

    assert events.of(EVENT_SESSION_ENDED)[0]["reason"] == "user_ended"
    assert peer.active_calls == 0
    assert hass.states.get(entity_id).state == "idle"
    assert terminal_of(voice_entry).session is None


async def start(hass: HomeAssistant, greeting: str = "") -> None:
    await hass.services.async_call(
        DOMAIN, "start_session", {"entity_id": satellite(hass), "greeting": greeting}, blocking=True
    )


async def end(hass: HomeAssistant, *, graceful: bool = False) -> None:
    await hass.services.async_call(
        DOMAIN, "end_session", {"entity_id": satellite(hass), "graceful": graceful}, blocking=True
    )


def chat_log_of(hass: HomeAssistant, entry: MockConfigEntry) -> list[tuple[str, str | None]]:
    """The voice session's conversation as HA keeps it: (role, text) of each entry."""
    session = terminal_of(entry).session
    conversation_id = session.conversation_id if session else None
    log = hass.data[DATA_CHAT_LOGS][conversation_id]
    return [(c.role, getattr(c, "content", None)) for c in log.content if c.role != "system"]


async def test_a_spoken_request_acts_on_exposed_entities_only(
    hass: HomeAssistant,
    lights: None,
    voice_entry: MockConfigEntry,
    peer: LocalRealtimePeer,
    audio_server: AudioServer,
    tmp_path: Path,
) -> None:
    """Speech into the kit's microphone, heard by the model as the test scripts it."""
    events = Events(hass)
    peer.script.rules += [
        Rule("kitchen", tool="HassTurnOn", arguments={"name": "Kitchen light"}, then="Done."),
        Rule("bedroom", tool="HassTurnOn", arguments={"name": "Bedroom light"}, then="{output}"),
    ]
    peer.script.hears.extend(["Turn on the kitchen light", "Turn on the bedroom light"])
    kitchen = await speech_wav("turn on the kitchen light", tmp_path / "kitchen.wav")
    bedroom = await speech_wav("turn on the bedroom light", tmp_path / "bedroom.wav")
    await start(hass)

    await audio_server.play(kitchen)
    await until(lambda: hass.states.get("light.kitchen_light").state == "on")
    await until(lambda: len(events.of(EVENT_TRANSCRIPT)) >= 2)
    await audio_server.play(bedroom)
    await until(lambda: len(events.of(EVENT_TRANSCRIPT)) >= 4)

    assert hass.states.get("light.bedroom_light").state == "off"
    transcripts = [(e["role"], e["text"]) for e in events.of(EVENT_TRANSCRIPT)]
    assert transcripts[0] == ("user", "Turn on the kitchen light")
    assert transcripts[1] == ("assistant", "Done.")
    assert transcripts[2] == ("user", "Turn on the bedroom light")
    assert "MatchFailedError" in transcripts[3][1]
    # The chat log holds the conversation in its order, tool calls and results included.
    log = chat_log_of(hass, voice_entry)
    roles = [role for role, _ in log]
    assert roles == [
        "user",
        "assistant",
        "tool_result",
        "assistant",
        "user",
        "assistant",
        "tool_result",
        "assistant",
    ]
    assert log[0] == ("user", "Turn on the kitchen light")
    assert log[3] == ("assistant", "Done.")
    await end(hass)


STORY = " ".join(f"Once upon a time there was a lamp number {n}." for n in range(1, 9))


@pytest.mark.parametrize(
    ("voice_entry", "interrupted"),
    [({}, True), ({"terminal": {"half_duplex": True}}, False)],
    indirect=["voice_entry"],
    ids=["barge_in", "half_duplex"],
)
async def test_speaking_over_an_answer(
    hass: HomeAssistant,
    voice_entry: MockConfigEntry,
    peer: LocalRealtimePeer,
    audio_server: AudioServer,
    tmp_path: Path,
    interrupted: bool,
) -> None:
    """Full duplex: the answer stops on the server's word, and the log keeps what was heard.
    Half duplex: the microphone is deaf while the assistant speaks, so nothing interrupts."""
    from custom_components.aiy_realtime.terminal.states import VoiceState

    events = Events(hass)
    peer.script.rules.append(Rule("story", say=STORY))
    peer.script.hears.extend(["Tell me a story", "Stop"])
    ask = await speech_wav("tell me a story", tmp_path / "ask.wav")
    stop = await speech_wav("stop, please stop", tmp_path / "stop.wav")
    await start(hass)
    await audio_server.play(ask)
    await until(lambda: terminal_of(voice_entry).state is VoiceState.SPEAKING)

    await audio_server.play(stop)
    await until(lambda: len(events.of(EVENT_TRANSCRIPT)) >= (3 if interrupted else 2), timeout=40)

    call = peer.call()
    kinds = [e["type"] for e in call.sent]
    told = [e["text"] for e in events.of(EVENT_TRANSCRIPT) if e["role"] == "assistant"]
    if interrupted:
        assert "output_audio_buffer.cleared" in kinds
        # What the user heard of the story, not the whole story.
        assert told[0].endswith("…")
        assert len(told[0]) < len(STORY)
        assert STORY.startswith(told[0].removesuffix("…"))
        await until(lambda: terminal_of(voice_entry).state is VoiceState.LISTENING)
        # The log holds what was heard, so the model's next answer knows where it was cut off.
        assert chat_log_of(hass, voice_entry)[:2] == [
            ("user", "Tell me a story"),
            ("assistant", told[0]),
        ]
    else:
        assert "output_audio_buffer.cleared" not in kinds
        assert told == [STORY]
        assert [e["text"] for e in events.of(EVENT_TRANSCRIPT) if e["role"] == "user"] == [
            "Tell me a story"
        ]
    await end(hass)


async def test_a_graceful_end_says_goodbye_and_lets_it_play_out(
    hass: HomeAssistant, voice_entry: MockConfigEntry, peer: LocalRealtimePeer
) -> None:
    events = Events(hass)
    await start(hass)
    call = peer.call()

    await end(hass, graceful=True)

    assert ended_reasons(events) == ["user_ended"]
    # The goodbye was asked for, played to its end, and only then was the call hung up.
    goodbye = next(e for e in call.received if e["type"] == "response.create")
    assert "goodbye" in goodbye["response"]["instructions"]
    kinds = [e["type"] for e in call.sent]
    assert "output_audio_buffer.stopped" in kinds
    assert "output_audio_buffer.cleared" not in kinds
    assert peer.hangups == [call.call_id]
    assert [e["role"] for e in events.of(EVENT_TRANSCRIPT)] == ["assistant"]


async def test_the_model_ends_the_session_after_its_goodbye_played(
    hass: HomeAssistant,
    voice_entry: MockConfigEntry,
    peer: LocalRealtimePeer,
    audio_server: AudioServer,
    tmp_path: Path,
) -> None:
    events = Events(hass)
    peer.script.rules.append(Rule("goodbye", tool="end_session", then="Goodbye, see you!"))
    peer.script.hears.append("Goodbye")
    bye = await speech_wav("goodbye", tmp_path / "bye.wav")
    await start(hass)
    call = peer.call()

    await audio_server.play(bye)
    await until(lambda: bool(events.of(EVENT_SESSION_ENDED)))

    assert ended_reasons(events) == ["model_ended"]
    kinds = [e["type"] for e in call.sent]
    assert kinds.count("output_audio_buffer.stopped") == 1
    assert "output_audio_buffer.cleared" not in kinds
    said = [e["text"] for e in events.of(EVENT_TRANSCRIPT) if e["role"] == "assistant"]
    assert said[-1] == "Goodbye, see you!"


@pytest.mark.parametrize(
    ("voice_entry", "server_timeout_ms"),
    [
        # Below the API's 5 s the terminal alone times the silence (and the call is not refused).
        ({"terminal": {"idle_timeout": 1}}, None),
        # Within the API's 5 to 30 s the server's `timeout_triggered` ends it.
        ({"terminal": {"idle_timeout": 5}}, 5000),
    ],
    indirect=["voice_entry"],
)
async def test_a_silent_session_ends_after_its_idle_timeout(
    hass: HomeAssistant,
    voice_entry: MockConfigEntry,
    peer: LocalRealtimePeer,
    server_timeout_ms: int | None,
) -> None:
    events = Events(hass)
    await start(hass, greeting="Say hello.")

    await until(lambda: bool(events.of(EVENT_SESSION_ENDED)))

    assert ended_reasons(events) == ["idle_timeout"]
    detection = peer.all_calls[-1].session["audio"]["input"]["turn_detection"]
    assert detection.get("idle_timeout_ms") == server_timeout_ms
    timed_out = "input_audio_buffer.timeout_triggered" in [
        e["type"] for e in peer.all_calls[-1].sent
    ]
    assert timed_out is (server_timeout_ms is not None)
    assert peer.active_calls == 0


async def test_an_expired_session_ends_cleanly(
    hass: HomeAssistant, voice_entry: MockConfigEntry, peer: LocalRealtimePeer
) -> None:
    from custom_components.aiy_realtime.terminal.states import VoiceState

    events = Events(hass)
    await start(hass)

    await peer.call().expire()
    await until(lambda: bool(events.of(EVENT_SESSION_ENDED)))

    assert ended_reasons(events) == ["expired"]
    assert terminal_of(voice_entry).state is VoiceState.IDLE
    assert terminal_of(voice_entry).last_end_reason == "expired"
    state = hass.states.get("sensor.kitchen_terminal_session")
    assert state is not None
    assert state.state == "idle"
    assert state.attributes["last_end_reason"] == "expired"


async def test_announce_says_the_text_in_a_session_of_its_own(
    hass: HomeAssistant,
    voice_entry: MockConfigEntry,
    peer: LocalRealtimePeer,
    audio_server: AudioServer,
) -> None:
    """What an automation does with `assist_satellite.announce`: it returns once it was said."""
    events = Events(hass)
    async with audio_server.recorder() as speaker:
        await hass.services.async_call(
            "assist_satellite",
            "announce",
            {"entity_id": satellite(hass), "message": "The washing machine is done."},
            blocking=True,
        )
        # It was played before the action returned.
        assert speaker.loud_windows() >= 5

    call = peer.all_calls[0]
    asked = [e for e in call.received if e["type"] == "response.create"]
    assert "The washing machine is done." in asked[0]["response"]["instructions"]
    assert ended_reasons(events) == ["user_ended"]
    assert peer.active_calls == 0
    assert hass.states.get(satellite(hass)).state == "idle"


async def test_announce_during_a_session_is_said_in_it(
    hass: HomeAssistant, voice_entry: MockConfigEntry, peer: LocalRealtimePeer
) -> None:
    events = Events(hass)
    await start(hass)

    await hass.services.async_call(
        "assist_satellite",
        "announce",
        {"entity_id": satellite(hass), "message": "Dinner is ready."},
        blocking=True,
    )

    call = peer.call()
    asked = [e["response"] for e in call.received if e["type"] == "response.create"]
    # Said in the running session, as spoken words only: an announcement may not act, and the
    # assistant's own instructions (its persona, its language) stay.
    assert asked[-1]["instructions"].endswith("nothing else: Dinner is ready.")
    assert "voice assistant for Home Assistant" in asked[-1]["instructions"]
    assert asked[-1]["tool_choice"] == "none"
    assert "output_audio_buffer.stopped" in [e["type"] for e in call.sent]
    assert [e["text"] for e in events.of(EVENT_TRANSCRIPT)] == ["Dinner is ready."]
    assert peer.requests["calls"] == 1
    assert terminal_of(voice_entry).session is not None
    await end(hass)


START_MESSAGE = "It is getting dark. Shall I turn on the kitchen light?"


async def test_start_conversation_speaks_first_then_listens(
    hass: HomeAssistant,
    lights: None,
    voice_entry: MockConfigEntry,
    peer: LocalRealtimePeer,
    audio_server: AudioServer,
    tmp_path: Path,
) -> None:
    from custom_components.aiy_realtime.terminal.states import VoiceState

    peer.script.rules.append(
        Rule("yes", tool="HassTurnOn", arguments={"name": "Kitchen light"}, then="Done.")
    )
    events = Events(hass)
    peer.script.hears.append("Yes please")
    yes = await speech_wav("yes please", tmp_path / "yes.wav")

    await hass.services.async_call(
        "assist_satellite",
        "start_conversation",
        {
            "entity_id": satellite(hass),
            "start_message": START_MESSAGE,
            "extra_system_prompt": "The user was asked about the kitchen light.",
        },
        blocking=True,
    )

    call = peer.call()
    assert "asked about the kitchen light" in call.session["instructions"]
    assert terminal_of(voice_entry).state is VoiceState.LISTENING
    assert events.of(EVENT_TRANSCRIPT) == [
        {**events.of(EVENT_TRANSCRIPT)[0], "role": "assistant", "text": START_MESSAGE}
    ]
    await audio_server.play(yes)
    await until(lambda: hass.states.get("light.kitchen_light").state == "on")
    # The question is in the conversation's log before the answer to it.
    await until(lambda: len(chat_log_of(hass, voice_entry)) >= 2)
    log = chat_log_of(hass, voice_entry)
    assert log[:2] == [("assistant", START_MESSAGE), ("user", "Yes please")]
    await end(hass)


async def test_ask_question_returns_the_matched_answer(
    hass: HomeAssistant,
    voice_entry: MockConfigEntry,
    peer: LocalRealtimePeer,
    audio_server: AudioServer,
    tmp_path: Path,
) -> None:
    events = Events(hass)
    peer.script.hears.append("Yes, go ahead")
    answer = await speech_wav("yes, go ahead", tmp_path / "answer.wav")

    async def speak_when_asked() -> None:
        # As a person answers: once the question has been heard to its end.
        async with audio_server.recorder() as speaker:
            await speaker.wait_for_quiet()
        await audio_server.play(answer)

    speaking = hass.async_create_task(speak_when_asked())
    result = await hass.services.async_call(
        "assist_satellite",
        "ask_question",
        {
            "entity_id": satellite(hass),
            "question": "Shall I start the dishwasher?",
            "preannounce": False,  # the person answers once the first sound ends
            "answers": [
                {"id": "yes", "sentences": ["yes [go ahead]", "sure"]},
                {"id": "no", "sentences": ["no", "not now"]},
            ],
        },
        blocking=True,
        return_response=True,
    )
    await speaking

    assert result == {"id": "yes", "sentence": "Yes, go ahead", "slots": {}}
    # Asked, heard, and not answered: a question's session only listens.
    call = peer.all_calls[0]
    assert call.session["audio"]["input"]["turn_detection"]["create_response"] is False
    assert [e["role"] for e in events.of(EVENT_TRANSCRIPT)] == ["assistant", "user"]
    assert peer.active_calls == 0


@pytest.mark.parametrize(
    "voice_entry", [{"terminal": {"pulse_server": "unix:/nonexistent/native"}}], indirect=True
)
async def test_a_terminal_whose_sound_is_missing_says_so(
    hass: HomeAssistant, voice_entry: MockConfigEntry, peer: LocalRealtimePeer
) -> None:
    """The entry loads (its typed assistants work); the terminal is unavailable, a repair issue
    says why, and starting a session is refused with the reason."""
    from homeassistant.exceptions import HomeAssistantError
    from homeassistant.helpers import issue_registry as ir

    from custom_components.aiy_realtime.const import ISSUE_AUDIO_UNAVAILABLE
    from custom_components.aiy_realtime.terminal.session import VoiceRequest

    assert hass.states.get(satellite(hass)).state == "unavailable"
    issue = ir.async_get(hass).async_get_issue(DOMAIN, f"{ISSUE_AUDIO_UNAVAILABLE}_{TERMINAL_ID}")
    assert issue is not None
    assert "nonexistent" in issue.translation_placeholders["reason"]

    # HA does not call actions on an unavailable entity; asked directly, it says why.
    await start(hass)
    with pytest.raises(HomeAssistantError, match="does not work") as raised:
        await terminal_of(voice_entry).async_start(VoiceRequest())

    assert raised.value.translation_key == "audio_unavailable"
    assert peer.requests["calls"] == 0


async def test_alsa_through_the_same_server(
    hass: HomeAssistant,
    openai_at_peer: LocalRealtimePeer,
    loopback_ice: None,
    audio_server: AudioServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """ALSA's `pulse` device (libasound's PulseAudio plugin, as /etc/asound.conf routes
    `default` on Home Assistant OS) reaches the server client.conf names."""
    await audio_server.pactl("set-default-sink", audio_server.speaker_sink)
    await audio_server.pactl("set-default-source", audio_server.mic_source)
    entry = await async_set_up_entry(
        hass,
        assistant(),
        terminal(
            audio_server.server,
            audio_backend="alsa",
            alsa_capture="pulse",
            alsa_playback="pulse",
        ),
    )
    events = Events(hass)

    async with audio_server.recorder() as speaker:
        await start(hass, greeting="Hello from ALSA.")
        await asyncio.wait_for(speaker.wait_for_sound(windows=10), TIMEOUT)

    assert openai_at_peer.call().mic_frames > 0
    assert await alsa_streams(audio_server) == (1, 1)
    await end(hass)
    assert ended_reasons(events) == ["user_ended"]
    await hass.config_entries.async_unload(entry.entry_id)
    assert openai_at_peer.active_calls == 0
    assert await alsa_streams(audio_server) == (0, 0), "an ALSA stream outlived its entry"


async def alsa_streams(audio_server: AudioServer) -> tuple[int, int]:
    """Recorders and players of ALSA's PulseAudio plugin (arecord and aplay)."""
    counts = []
    for kind in ("source-outputs", "sink-inputs"):
        streams = json.loads(await audio_server.pactl("-f", "json", "list", kind))
        counts.append(
            sum(
                s["properties"].get("application.name", "").startswith("ALSA plug-in")
                for s in streams
            )
        )
    return counts[0], counts[1]


async def test_a_vanished_peer_ends_the_session_and_frees_the_microphone(
    hass: HomeAssistant,
    voice_entry: MockConfigEntry,
    peer: LocalRealtimePeer,
    audio_server: AudioServer,
) -> None:
    events = Events(hass)
    await start(hass)
    assert await our_recorders(audio_server) == 1, "the terminal records from kit_mic"

    await peer.call().vanish()
    await until(lambda: bool(events.of(EVENT_SESSION_ENDED)))

    assert ended_reasons(events) == ["peer_gone"]
    # Nobody of ours records any more: the next session finds the microphone free.
    assert await our_recorders(audio_server) == 0
    assert hass.states.get(satellite(hass)).state == "idle"


async def our_recorders(audio_server: AudioServer) -> int:
    return (await our_streams(audio_server))[0]


async def test_a_microphone_unplugged_and_plugged_back(
    hass: HomeAssistant,
    openai_at_peer: LocalRealtimePeer,
    loopback_ice: None,
    audio_server: AudioServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A USB microphone pulled out mid-session: the session ends as device_lost, the terminal
    is unavailable with a repair at once (no paid call from the next press), and comes back by
    itself when the device is plugged in again."""
    from homeassistant.exceptions import HomeAssistantError
    from homeassistant.helpers import issue_registry as ir

    from custom_components.aiy_realtime.hardware import terminal_sound
    from custom_components.aiy_realtime.terminal.session import VoiceRequest

    monkeypatch.setattr(terminal_sound, "RETRY", 0.3)
    usb = (await audio_server.pactl("load-module", "module-null-sink", "sink_name=usb")).strip()
    entry = await async_set_up_entry(
        hass, assistant(), terminal(audio_server.server, pulse_source="usb.monitor")
    )
    events = Events(hass)
    await start(hass)
    calls = openai_at_peer.requests["calls"]

    await audio_server.pactl("unload-module", usb)
    await until(lambda: bool(events.of(EVENT_SESSION_ENDED)))
    assert ended_reasons(events) == ["device_lost"]
    await until(lambda: hass.states.get(satellite(hass)).state == "unavailable")
    issues = ir.async_get(hass).issues
    assert (DOMAIN, f"audio_unavailable_{TERMINAL_ID}") in issues
    # Home Assistant calls no action on an unavailable entity, and the terminal itself
    # refuses before placing a call.
    await start(hass)
    with pytest.raises(HomeAssistantError, match="does not work"):
        await terminal_of(entry).async_start(VoiceRequest())
    assert openai_at_peer.requests["calls"] == calls  # no call was placed for nothing

    await audio_server.pactl("load-module", "module-null-sink", "sink_name=usb")
    await until(lambda: hass.states.get(satellite(hass)).state == "idle")
    assert (DOMAIN, f"audio_unavailable_{TERMINAL_ID}") not in ir.async_get(hass).issues
    await start(hass)
    await end(hass)
    await hass.config_entries.async_unload(entry.entry_id)


async def test_actions_refuse_bad_input_clearly(
    hass: HomeAssistant, voice_entry: MockConfigEntry, peer: LocalRealtimePeer
) -> None:
    from homeassistant.exceptions import ServiceValidationError

    with pytest.raises(ServiceValidationError, match="Give the text to say") as raised:
        await hass.services.async_call(
            DOMAIN, "say", {"entity_id": satellite(hass), "text": "   "}, blocking=True
        )

    assert raised.value.translation_key == "text_needed"
    assert peer.requests["calls"] == 0
    # Ending a session that is not running is nothing to complain about.
    await end(hass)
    assert terminal_of(voice_entry).session is None


async def test_the_assistant_says_when_the_session_is_about_to_expire(
    hass: HomeAssistant,
    voice_entry: MockConfigEntry,
    peer: LocalRealtimePeer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """OpenAI ends a session after 60 minutes, mid-word; the assistant says so before."""
    from custom_components.aiy_realtime.terminal import session as session_module

    monkeypatch.setattr(session_module, "SESSION_LIMIT", session_module.EXPIRY_NOTICE + 0.5)
    events = Events(hass)
    await start(hass)

    await until(lambda: bool(events.of(EVENT_SESSION_ENDED)))

    assert ended_reasons(events) == ["expired"]
    asked = [e for e in peer.all_calls[0].received if e["type"] == "response.create"]
    assert "time limit" in asked[0]["response"]["instructions"]
    kinds = [e["type"] for e in peer.all_calls[0].sent]
    assert "output_audio_buffer.stopped" in kinds  # said to its end


async def test_a_start_that_fails_leaves_the_terminal_free(
    hass: HomeAssistant,
    openai_at_peer: LocalRealtimePeer,
    loopback_ice: None,
    audio_server: AudioServer,
) -> None:
    """Whatever makes a start fail, the next start is not refused as busy."""
    from homeassistant.exceptions import HomeAssistantError

    peer = openai_at_peer
    entry = await async_set_up_entry(hass, assistant(), terminal(audio_server.server))
    peer.faults.add("calls", HttpFault(503, "overloaded", "Try later."))

    with pytest.raises(HomeAssistantError, match="could not start") as raised:
        await start(hass)
    assert raised.value.translation_key == "session_failed"
    assert terminal_of(entry).last_end_reason == "error"

    await start(hass)
    assert terminal_of(entry).session is not None
    await end(hass)
    await hass.config_entries.async_unload(entry.entry_id)
    assert peer.active_calls == 0


async def test_say_while_a_session_connects_is_said_in_it(
    hass: HomeAssistant, voice_entry: MockConfigEntry, peer: LocalRealtimePeer
) -> None:
    """Two actions at once: the second waits for the first's session, and speaks in it."""
    events = Events(hass)
    peer.connect_delay = 0.5
    starting = hass.async_create_task(start(hass))
    await until(lambda: peer.requests["calls"] == 1)

    await hass.services.async_call(
        DOMAIN, "say", {"entity_id": satellite(hass), "text": "Hello twice."}, blocking=True
    )
    await starting

    assert peer.requests["calls"] == 1
    assert [e["text"] for e in events.of(EVENT_TRANSCRIPT)] == ["Hello twice."]
    await end(hass)


async def test_end_while_connecting_ends_at_once(
    hass: HomeAssistant, voice_entry: MockConfigEntry, peer: LocalRealtimePeer
) -> None:
    from homeassistant.exceptions import HomeAssistantError

    peer.connect_delay = 0.5
    starting = hass.async_create_task(start(hass))
    await until(lambda: peer.requests["calls"] == 1)

    await end(hass)

    with pytest.raises(HomeAssistantError, match="ended before it had started"):
        await starting
    assert terminal_of(voice_entry).session is None
    await hass.async_block_till_done()
    assert peer.active_calls == 0


async def test_a_terminal_whose_sound_comes_back_is_available_again(
    hass: HomeAssistant,
    openai_at_peer: LocalRealtimePeer,
    loopback_ice: None,
    audio_server: AudioServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A kit's Pi that boots after Home Assistant: the terminal notices by itself."""
    from custom_components.aiy_realtime.hardware import terminal_sound

    monkeypatch.setattr(terminal_sound, "RETRY", 0.3)
    later = tmp_path / "later"
    entry = await async_set_up_entry(hass, assistant(), terminal(f"unix:{later}"))
    assert hass.states.get(satellite(hass)).state == "unavailable"

    later.symlink_to(audio_server.server.removeprefix("unix:"))
    await until(lambda: hass.states.get(satellite(hass)).state == "idle")

    await start(hass)
    await end(hass)
    await hass.config_entries.async_unload(entry.entry_id)


@pytest.fixture
async def echo(audio_server: AudioServer) -> AsyncGenerator[None]:
    """The kit's speaker heard by its microphone, as on a kit without echo cancellation."""
    module = await audio_server.pactl(
        "load-module",
        "module-loopback",
        f"source={audio_server.speaker_monitor}",
        f"sink={audio_server.mic_sink}",
        "latency_msec=30",
    )
    yield
    await audio_server.pactl("unload-module", module.strip())


@pytest.mark.parametrize("voice_entry", [{"terminal": {"half_duplex": True}}], indirect=True)
async def test_half_duplex_does_not_hear_its_own_voice(
    hass: HomeAssistant, voice_entry: MockConfigEntry, peer: LocalRealtimePeer, echo: None
) -> None:
    from custom_components.aiy_realtime.terminal.states import VoiceState

    events = Events(hass)
    await start(hass, greeting=STORY)
    await until(lambda: terminal_of(voice_entry).state is VoiceState.SPEAKING)
    await until(lambda: terminal_of(voice_entry).state is VoiceState.LISTENING, timeout=40)
    await asyncio.sleep(1.5)  # long enough for an echo to be heard, if there were one

    kinds = [e["type"] for e in peer.call().sent]
    assert "input_audio_buffer.speech_started" not in kinds
    assert [e["role"] for e in events.of(EVENT_TRANSCRIPT)] == ["assistant"]
    await end(hass)


async def test_ask_question_takes_the_answer_not_its_own_echo(
    hass: HomeAssistant,
    voice_entry: MockConfigEntry,
    peer: LocalRealtimePeer,
    audio_server: AudioServer,
    echo: None,
    tmp_path: Path,
) -> None:
    """The question, heard back through the kit's own microphone while it plays, is no answer:
    the microphone is deaf to it, so the server hears one utterance only, the person's."""
    events = Events(hass)
    peer.script.hears.append("No, not now")
    answer = await speech_wav("no, not now", tmp_path / "answer.wav")

    async def speak_when_asked() -> None:
        async with audio_server.recorder() as speaker:
            await speaker.wait_for_quiet()
        await audio_server.play(answer)

    speaking = hass.async_create_task(speak_when_asked())
    result = await hass.services.async_call(
        "assist_satellite",
        "ask_question",
        {
            "entity_id": satellite(hass),
            "question": "Shall I start the dishwasher?",
            "preannounce": False,  # the person answers once the first sound ends
            "answers": [
                {"id": "yes", "sentences": ["yes [go ahead]", "sure"]},
                {"id": "no", "sentences": ["no [not now]", "not now"]},
            ],
        },
        blocking=True,
        return_response=True,
    )
    await speaking

    kinds = [e["type"] for e in peer.all_calls[0].sent]
    assert kinds.count("input_audio_buffer.speech_started") == 1
    assert [(e["role"], e["text"]) for e in events.of(EVENT_TRANSCRIPT)] == [
        ("assistant", "Shall I start the dishwasher?"),
        ("user", "No, not now"),
    ]
    assert result == {"id": "no", "sentence": "No, not now", "slots": {}}


@pytest.mark.parametrize("voice_entry", [{"terminal": {"idle_timeout": 1}}], indirect=True)
async def test_a_question_nobody_answers_fails_when_the_session_ends(
    hass: HomeAssistant, voice_entry: MockConfigEntry, peer: LocalRealtimePeer
) -> None:
    from homeassistant.exceptions import HomeAssistantError

    with pytest.raises(HomeAssistantError, match="Nobody answered"):
        await hass.services.async_call(
            "assist_satellite",
            "ask_question",
            {"entity_id": satellite(hass), "question": "Anyone there?"},
            blocking=True,
            return_response=True,
        )

    assert terminal_of(voice_entry).last_end_reason == "idle_timeout"


@pytest.mark.parametrize(
    "voice_entry",
    [{"assistant": {"turn_detection": "semantic_vad"}, "terminal": {"idle_timeout": 1}}],
    indirect=True,
)
async def test_a_semantic_vad_session_ends_when_idle_but_not_while_it_speaks(
    hass: HomeAssistant,
    voice_entry: MockConfigEntry,
    peer: LocalRealtimePeer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Semantic VAD has no idle timeout of its own: the client's counts only while it listens,
    so a greeting far longer than the timeout plays to its end first."""
    from custom_components.aiy_realtime.terminal import session as session_module

    monkeypatch.setattr(session_module, "IDLE_GRACE", 0.0)
    events = Events(hass)
    await start(hass, greeting=STORY)
    detection = peer.call().session["audio"]["input"]["turn_detection"]

    await until(lambda: bool(events.of(EVENT_SESSION_ENDED)), timeout=40)

    assert detection["type"] == "semantic_vad"
    assert ended_reasons(events) == ["idle_timeout"]
    assert [e["text"] for e in events.of(EVENT_TRANSCRIPT)] == [STORY]


async def test_words_transcribed_after_their_answer_still_reach_the_log(
    hass: HomeAssistant,
    lights: None,
    voice_entry: MockConfigEntry,
    peer: LocalRealtimePeer,
    audio_server: AudioServer,
    tmp_path: Path,
) -> None:
    """At OpenAI a transcript may come after the answer: the action does not wait for it, and
    the words go into the log once they come."""
    events = Events(hass)
    peer.script.transcript_delay = 3.0
    peer.script.rules.append(
        Rule("kitchen", tool="HassTurnOn", arguments={"name": "Kitchen light"}, then="Done.")
    )
    peer.script.hears.append("Turn on the kitchen light")
    kitchen = await speech_wav("turn on the kitchen light", tmp_path / "kitchen.wav")
    await start(hass)

    await audio_server.play(kitchen)
    await until(lambda: hass.states.get("light.kitchen_light").state == "on")
    assert [e["role"] for e in events.of(EVENT_TRANSCRIPT)] in ([], ["assistant"])

    await until(lambda: [role for role, _ in chat_log_of(hass, voice_entry)][-1:] == ["user"])
    log = chat_log_of(hass, voice_entry)
    assert [role for role, _ in log] == ["assistant", "tool_result", "assistant", "user"]
    assert log[-1] == ("user", "Turn on the kitchen light")
    assert [(e["role"], e["text"]) for e in events.of(EVENT_TRANSCRIPT)] == [
        ("assistant", "Done."),
        ("user", "Turn on the kitchen light"),
    ]
    await end(hass)


async def test_ending_at_once_keeps_what_was_said_in_the_log(
    hass: HomeAssistant,
    voice_entry: MockConfigEntry,
    peer: LocalRealtimePeer,
    audio_server: AudioServer,
    tmp_path: Path,
) -> None:
    """The user's words and what they heard of the answer stay in the conversation's log."""
    from custom_components.aiy_realtime.terminal.states import VoiceState

    peer.script.rules.append(Rule("story", say=STORY))
    peer.script.hears.append("Tell me a story")
    ask = await speech_wav("tell me a story", tmp_path / "ask.wav")
    await start(hass)
    session = terminal_of(voice_entry).session
    await audio_server.play(ask)
    await until(lambda: terminal_of(voice_entry).state is VoiceState.SPEAKING)
    await asyncio.sleep(0.5)

    await end(hass)

    log = [
        (c.role, getattr(c, "content", None))
        for c in hass.data[DATA_CHAT_LOGS][session.conversation_id].content
        if c.role != "system"
    ]
    assert log[0] == ("user", "Tell me a story")
    assert [role for role, _ in log] == ["user", "assistant"]
    heard = log[1][1]
    assert heard
    assert heard.endswith("…")
    assert STORY.startswith(heard.removesuffix("…"))


async def test_say_right_after_an_end_speaks_in_a_session_of_its_own(
    hass: HomeAssistant, voice_entry: MockConfigEntry, peer: LocalRealtimePeer
) -> None:
    events = Events(hass)
    await start(hass)
    await end(hass)

    await hass.services.async_call(
        DOMAIN, "say", {"entity_id": satellite(hass), "text": "Hello again."}, blocking=True
    )

    assert [e["text"] for e in events.of(EVENT_TRANSCRIPT)] == ["Hello again."]
    assert peer.requests["calls"] == 2
    await until(lambda: terminal_of(voice_entry).session is None)
    assert peer.active_calls == 0
