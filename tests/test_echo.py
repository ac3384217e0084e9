"""The echo path: the terminal's speaker heard by its own microphone, as on an AIY kit where
the two sit centimetres apart. With echo cancellation off, the assistant interrupts itself;
with it on (PulseAudio's module-echo-cancel), it does not, and a person still can."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import entity_registry as er

from custom_components.aiy_realtime.const import DOMAIN, EVENT_TRANSCRIPT
from tests.audio_server import AudioServer, speech_wav
from tests.helpers import TERMINAL_ID, assistant, async_set_up_entry, terminal
from tests.peer import LocalRealtimePeer
from tests.peer.script import Rule
from tests.voice_helpers import Events, satellite, terminal_of, until

ANSWERS = 20
SENTENCES = [f"Here is answer number {n}, said out loud." for n in range(1, ANSWERS + 1)]
PAUSE = 0.8
"""Seconds of quiet after each answer (the local peer's VAD ends speech after 0.5 s)."""
STORY = " ".join(f"Once upon a time there was a lamp number {n}." for n in range(1, 9))


@pytest.fixture(params=["webrtc", "speex"])
def method(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The canceller's method: webrtc where the server has it, speex where it has not (as a
    report says of Home Assistant OS's audio server)."""
    from custom_components.aiy_realtime.hardware.pulse import echo_cancel

    monkeypatch.setattr(echo_cancel, "METHODS", (request.param,))
    return str(request.param)


@pytest.fixture
async def terminal_entry(
    hass: HomeAssistant,
    openai_at_peer: LocalRealtimePeer,
    loopback_ice: None,
    audio_server: AudioServer,
    request: pytest.FixtureRequest,
) -> AsyncGenerator[MockConfigEntry]:
    entry = await async_set_up_entry(
        hass,
        assistant(),
        terminal(audio_server.server, echo_cancellation=request.param),
    )
    yield entry
    await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    assert openai_at_peer.active_calls == 0
    assert openai_at_peer.all_violations() == []


@pytest.fixture
async def speaker_heard_by_mic(audio_server: AudioServer) -> AsyncGenerator[None]:
    """The speaker's sound fed back into the microphone, 30 ms late and at 70 %: a kit's
    speaker a few centimetres from its microphones."""
    module = (
        await audio_server.pactl(
            "load-module",
            "module-loopback",
            f"source={audio_server.speaker_monitor}",
            f"sink={audio_server.mic_sink}",
            "latency_msec=30",
            "source_dont_move=true",
            "sink_dont_move=true",
        )
    ).strip()
    inputs = await audio_server.pactl("list", "short", "sink-inputs")
    for line in inputs.splitlines():
        index, owner = line.split("\t")[:2]
        if owner == module:
            await audio_server.pactl("set-sink-input-volume", index, "70%")
    yield
    await audio_server.pactl("unload-module", module)


async def _say(hass: HomeAssistant, text: str) -> None:
    """Say it; an answer cut off by its own echo (what cancellation off shows) says so, and
    is counted by the server's speech_started, not here."""
    try:
        await hass.services.async_call(
            DOMAIN, "say", {"entity_id": satellite(hass), "text": text}, blocking=True
        )
    except HomeAssistantError as err:
        if err.translation_key != "announcement_cut_off":
            raise


async def _start(hass: HomeAssistant) -> None:
    await hass.services.async_call(
        DOMAIN, "start_session", {"entity_id": satellite(hass), "greeting": ""}, blocking=True
    )


async def _end(hass: HomeAssistant) -> None:
    await hass.services.async_call(
        DOMAIN, "end_session", {"entity_id": satellite(hass), "graceful": False}, blocking=True
    )


def _echo_sensor(hass: HomeAssistant) -> tuple[str, bool]:
    """The terminal's Echo cancellation sensor: its state and whether it is full duplex."""
    entity_id = er.async_get(hass).async_get_entity_id(
        "sensor", DOMAIN, f"{TERMINAL_ID}-echo_cancellation"
    )
    assert entity_id is not None
    state = hass.states.get(entity_id)
    assert state is not None
    return state.state, state.attributes["full_duplex"]


def _self_interruptions(sent: list[dict[str, Any]]) -> int:
    """Speech the server heard while nobody spoke: the assistant's own voice."""
    return sum(1 for event in sent if event["type"] == "input_audio_buffer.speech_started")


PROOF_ANSWERS = 6
"""Enough answers to show the test's echo is real (most of them interrupt themselves)."""


async def _twenty_answers(
    hass: HomeAssistant, peer: LocalRealtimePeer, answers: int = ANSWERS
) -> int:
    """The assistant says 20 answers (or `answers`), with pauses between; how often it
    interrupted itself."""
    await _start(hass)
    call = peer.call()
    after: list[int] = []
    for sentence in SENTENCES[:answers]:
        await _say(hass, sentence)
        # A pause between answers longer than the server's silence_duration_ms, as between a
        # question and its answer: each answer's echo is a new utterance to the server.
        await until(lambda: not call.busy, timeout=30)
        await asyncio.sleep(PAUSE)
        after.append(_self_interruptions(call.sent))
    await _end(hass)
    print(f"self-interruptions after each answer: {after}")
    return after[-1]


@pytest.mark.parametrize("terminal_entry", [False], indirect=True, ids=["cancellation_off"])
async def test_without_cancellation_the_assistant_interrupts_itself(
    hass: HomeAssistant,
    terminal_entry: MockConfigEntry,
    peer: LocalRealtimePeer,
    speaker_heard_by_mic: None,
) -> None:
    """What the echo path does with nothing against it: the proof the test's echo is real."""
    assert terminal_of(terminal_entry).sound.echo == "off"
    assert _echo_sensor(hass) == ("off", True)
    count = await _twenty_answers(hass, peer, PROOF_ANSWERS)
    print(f"self-interruptions over {PROOF_ANSWERS} answers, cancellation off: {count}")
    assert count >= PROOF_ANSWERS // 2


@pytest.mark.parametrize("terminal_entry", [True], indirect=True, ids=["cancellation_on"])
async def test_with_cancellation_twenty_answers_do_not_interrupt_themselves(
    hass: HomeAssistant,
    method: str,
    terminal_entry: MockConfigEntry,
    peer: LocalRealtimePeer,
    speaker_heard_by_mic: None,
) -> None:
    assert terminal_of(terminal_entry).sound.echo == method
    assert _echo_sensor(hass) == (method, method == "webrtc")
    count = await _twenty_answers(hass, peer)
    print(f"self-interruptions over {ANSWERS} answers, cancellation {method}: {count}")
    assert count == 0


@pytest.mark.parametrize("terminal_entry", [True], indirect=True, ids=["cancellation_on"])
async def test_a_person_still_interrupts_through_webrtc_not_through_speex(
    hass: HomeAssistant,
    method: str,
    terminal_entry: MockConfigEntry,
    peer: LocalRealtimePeer,
    audio_server: AudioServer,
    speaker_heard_by_mic: None,
    tmp_path: Path,
) -> None:
    """webrtc: full duplex, a person talks over the story and it stops. speex leaves too much of
    the echo, so the terminal is half duplex: the story plays to its end."""
    from custom_components.aiy_realtime.terminal.states import VoiceState

    interrupts = method == "webrtc"
    events = Events(hass)
    peer.script.rules.append(Rule("story", say=STORY))
    peer.script.hears.extend(["Tell me a story", "Stop"])
    ask = await speech_wav("tell me a story", tmp_path / "ask.wav")
    stop = await speech_wav("stop, please stop", tmp_path / "stop.wav")
    sound = terminal_of(terminal_entry).sound
    assert sound.echo == method
    await _start(hass)
    # A new canceller learns the room first: while it does, the mic is deaf to the assistant.
    assert sound.learning is interrupts
    said = 0
    while sound.learning or not said:
        await _say(hass, SENTENCES[said])
        await asyncio.sleep(PAUSE)
        said += 1
    await audio_server.play(ask)
    await until(lambda: terminal_of(terminal_entry).state is VoiceState.SPEAKING)
    await asyncio.sleep(1.0)  # well into the story, its echo in the microphone

    await audio_server.play(stop)
    await until(
        lambda: len(events.of(EVENT_TRANSCRIPT)) >= said + (3 if interrupts else 2), timeout=40
    )

    call = peer.call()
    told = [e["text"] for e in events.of(EVENT_TRANSCRIPT) if e["role"] == "assistant"][said:]
    if interrupts:
        assert "output_audio_buffer.cleared" in [e["type"] for e in call.sent]
        assert told[0].endswith("…")
        # The person's two utterances only: neither the story's echo nor the answers' began one.
        assert _self_interruptions(call.sent) == 2
    else:
        assert "output_audio_buffer.cleared" not in [e["type"] for e in call.sent]
        assert told == [STORY]
    await _end(hass)
