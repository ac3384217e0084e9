"""Voice turns against the local peer: it hears the caller's microphone (an energy VAD), answers
with the GA event sequence of a voice turn, and is interrupted by speech (barge-in).

The "speech" is made here: bursts of a buzzing tone at a speech-like level between silences.
What the peer understands of it is scripted (`Script.hears`). Nothing here measures time: every
wait is on an event, with generous timeouts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import functools
import math
from pathlib import Path
import random
from typing import Any
import wave

import pytest

from custom_components.aiy_realtime.realtime.audio import CallbackSink, PcmSourceTrack, WavReader
from custom_components.aiy_realtime.realtime.config import (
    FunctionTool,
    SessionConfig,
    semantic_vad,
    server_vad,
)
from custom_components.aiy_realtime.realtime.responses import ResponseResult
from custom_components.aiy_realtime.realtime.session import (
    RealtimeSession,
    SessionEvent,
    SessionState,
)
from tests.peer import LocalRealtimePeer
from tests.peer.call import PeerCall
from tests.peer.script import Rule

type Factory = Callable[..., RealtimeSession]

RATE = 24000
COMPLETED = "conversation.item.input_audio_transcription.completed"
TRANSCRIBE = "gpt-4o-mini-transcribe"


def voice(**changes: Any) -> SessionConfig:
    """A voice terminal's session: audio out, server VAD, input transcription."""
    settings: dict[str, Any] = {
        "model": "gpt-realtime",
        "output_modality": "audio",
        "voice": "marin",
        "transcription_model": TRANSCRIBE,
        "turn_detection": server_vad(silence_duration_ms=400),
    }
    settings.update(changes)
    return SessionConfig(**settings)


# -- speech made at test time --------------------------------------------------------------------


def silence(seconds: float) -> bytes:
    return bytes(int(seconds * RATE) * 2)


@functools.cache
def speech(seconds: float, seed: int = 1) -> bytes:
    """A voice-like burst: a buzz with syllables (4 Hz) and a little noise, never near silence."""
    noise = random.Random(seed)
    samples = []
    for n in range(int(seconds * RATE)):
        t = n / RATE
        envelope = 0.18 + 0.1 * math.sin(2 * math.pi * 4 * t)
        buzz = 0.7 * math.sin(2 * math.pi * 180 * t) + 0.3 * math.sin(2 * math.pi * 720 * t)
        value = envelope * (buzz + 0.2 * (noise.random() - 0.5))
        samples.append(int(32767 * max(-1.0, min(1.0, value))))
    return b"".join(s.to_bytes(2, "little", signed=True) for s in samples)


def wav(path: Path, *parts: bytes) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(b"".join(parts))
    return path


def microphone(path: Path) -> PcmSourceTrack:
    return PcmSourceTrack(WavReader(path), rate=RATE)


class CuedReader:
    """A microphone that is silent until told to speak (for speech at a chosen moment)."""

    def __init__(self) -> None:
        self._queued = bytearray()

    def say(self, pcm: bytes) -> None:
        self._queued.extend(pcm)

    async def read(self, size: int) -> bytes:
        chunk = bytes(self._queued[:size])
        del self._queued[:size]
        return chunk + bytes(size - len(chunk))

    async def close(self) -> None:
        return None


class LoudSink(CallbackSink):
    """Counts the samples of the assistant's voice (the peer's tone) that reach the speaker."""

    def __init__(self) -> None:
        super().__init__(self._count, rate=RATE)
        self.loud = 0
        self.heard = asyncio.Event()

    def _count(self, pcm: bytes) -> None:
        samples = memoryview(pcm).cast("h")
        self.loud += sum(1 for s in samples if abs(s) > 3000)
        if self.loud > RATE // 10:
            self.heard.set()


# -- what the client and the peer say ------------------------------------------------------------


class Events:
    """A session's listener events, waited on by kind."""

    def __init__(self, session: RealtimeSession) -> None:
        self.all: list[SessionEvent] = []
        self._new = asyncio.Event()
        session.subscribe(self._take)

    def _take(self, event: SessionEvent) -> None:
        self.all.append(event)
        self._new.set()

    def of(self, kind: str) -> list[Any]:
        return [e.data for e in self.all if e.kind == kind]

    def transcripts(self) -> list[Any]:
        return [e for e in self.of("user_transcript") if e.type == COMPLETED]

    async def wait(self, kind: str, count: int = 1, timeout: float = 20) -> list[Any]:
        return await self._until(lambda: self.of(kind), count, timeout)

    async def responses(self, count: int, timeout: float = 20) -> list[ResponseResult]:
        return await self.wait("response_done", count, timeout)

    async def transcribed(self, count: int = 1) -> list[Any]:
        """The user's transcripts, once `count` are complete."""
        return await self._until(self.transcripts, count, 20)

    async def _until(self, found: Callable[[], list[Any]], count: int, timeout: float) -> list[Any]:
        async with asyncio.timeout(timeout):
            while len(found()) < count:
                self._new.clear()
                await self._new.wait()
        return found()


async def until(condition: Callable[[], bool], timeout: float = 20) -> None:
    async with asyncio.timeout(timeout):
        while not condition():  # noqa: ASYNC110 - the peer's records have no event to await
            await asyncio.sleep(0.02)


async def sent(call: PeerCall, kind: str, count: int = 1) -> list[Any]:
    """The peer's events of a kind, once it has sent `count` of them."""
    await until(lambda: kinds(call).count(kind) >= count)
    return [e for e in call.sent if e["type"] == kind]


def kinds(call: PeerCall) -> list[str]:
    return [e["type"] for e in call.sent]


def first(call: PeerCall, kind: str) -> dict[str, Any]:
    return next(e for e in call.sent if e["type"] == kind)


# -- the tests -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "detection",
    [server_vad(silence_duration_ms=400), semantic_vad("high")],
    ids=["server", "semantic"],
)
async def test_a_spoken_request_is_heard_transcribed_and_answered(
    make_session: Factory, peer: LocalRealtimePeer, tmp_path: Path, detection: Any
) -> None:
    peer.script.hears.append("what is the weather like")
    sink = LoudSink()
    mic = microphone(wav(tmp_path / "ask.wav", silence(0.4), speech(1.0), silence(0.2)))
    session = make_session(voice(turn_detection=detection), microphone=mic, speaker=sink)
    events = Events(session)
    await session.start()
    assert session.state is SessionState.LISTENING

    (answer,) = await events.responses(1)
    await asyncio.wait_for(sink.heard.wait(), 20)
    assert await session.wait_audio_done(20)

    call = peer.call()
    assert answer.status == "completed"
    assert answer.transcript == "You said: what is the weather like"
    (started,) = events.of("speech_started")
    (stopped,) = events.of("speech_stopped")
    (transcript,) = events.transcripts()
    assert started.item_id == stopped.item_id == transcript.item_id
    assert 0 <= started.audio_start_ms < stopped.audio_end_ms
    assert transcript.transcript == "what is the weather like"
    assert transcript.content_index == 0
    assert transcript.usage.type == "tokens"

    # The GA sequence of a voice turn, in order, then the server's own response.
    sequence = [
        "input_audio_buffer.speech_started",
        "input_audio_buffer.speech_stopped",
        "input_audio_buffer.committed",
        "conversation.item.added",
        "conversation.item.done",
        COMPLETED,
        "response.created",
        "output_audio_buffer.started",
        "response.output_audio.done",
        "response.output_audio_transcript.done",
        "response.done",
        "output_audio_buffer.stopped",
    ]
    happened = kinds(call)
    assert [happened.index(kind) for kind in sequence] == sorted(
        happened.index(kind) for kind in sequence
    )
    committed = first(call, "input_audio_buffer.committed")
    assert committed["item_id"] == started.item_id
    assert committed["previous_item_id"] is None
    added = first(call, "conversation.item.added")["item"]
    assert added["id"] == started.item_id
    assert added["role"] == "user"
    assert added["content"] == [{"type": "input_audio", "transcript": None}]
    # Voice activity started it: it carries no request of the client's.
    assert first(call, "response.created")["response"]["metadata"] is None
    assert [e["type"] for e in call.received] == []
    assert call.user_texts() == ["what is the weather like"]

    states = events.of("state")
    assert states[0] is SessionState.LISTENING
    assert SessionState.THINKING in states
    assert SessionState.SPEAKING in states
    assert session.state is SessionState.LISTENING


async def test_a_late_transcript_belongs_to_its_item_not_to_its_arrival(
    make_session: Factory, peer: LocalRealtimePeer, tmp_path: Path
) -> None:
    """The transcription finishes after the answer has begun, as it often does at OpenAI."""
    peer.script.hears.append("is the door locked")
    peer.script.transcript_delay = 0.5
    mic = microphone(wav(tmp_path / "ask.wav", silence(0.4), speech(0.8)))
    session = make_session(voice(), microphone=mic, speaker=LoudSink())
    events = Events(session)
    await session.start()

    (transcript,) = await events.transcribed()
    (answer,) = await events.responses(1)

    call = peer.call()
    happened = kinds(call)
    assert happened.index("response.created") < happened.index(COMPLETED)
    assert answer.transcript == "You said: is the door locked"
    user_item = first(call, "input_audio_buffer.committed")["item_id"]
    assert transcript.item_id == user_item
    # Only the item ids tell the order: the answer's item follows the user's.
    assistant = next(
        e
        for e in call.sent
        if e["type"] == "conversation.item.added" and e["item"]["role"] == "assistant"
    )
    assert assistant["previous_item_id"] == user_item


async def test_a_spoken_request_runs_a_tool_and_the_follow_up_is_spoken(
    make_session: Factory, peer: LocalRealtimePeer, tmp_path: Path
) -> None:
    peer.script.hears.append("turn on the kitchen light")
    peer.script.rules.append(
        Rule("kitchen", tool="light_on", arguments={"area": "kitchen"}, then="Light: {output}")
    )
    ran: list[tuple[str, dict[str, Any]]] = []

    async def handler(name: str, arguments: dict[str, Any]) -> Any:
        ran.append((name, arguments))
        return {"state": "on"}

    sink = LoudSink()
    config = voice(tools=[FunctionTool("light_on", "Turn on a light")])
    mic = microphone(wav(tmp_path / "ask.wav", silence(0.4), speech(1.0)))
    session = make_session(config, microphone=mic, speaker=sink, tool_handler=handler)
    events = Events(session)
    await session.start()

    call_response, follow_up = await events.responses(2)
    await asyncio.wait_for(sink.heard.wait(), 20)
    assert await session.wait_audio_done(20)

    assert ran == [("light_on", {"area": "kitchen"})]
    assert [c.name for c in call_response.tool_calls] == ["light_on"]
    assert follow_up.status == "completed"
    assert follow_up.transcript == 'Light: {"state": "on"}'
    call = peer.call()
    created = [e["response"]["metadata"] for e in call.sent if e["type"] == "response.created"]
    # The server started the turn; the client asked for the follow-up (tagged as its own).
    assert created[0] is None
    assert created[1] is not None
    outputs = [e["item"] for e in call.received if e["type"] == "conversation.item.create"]
    assert [o["type"] for o in outputs] == ["function_call_output"]
    assert session.state is SessionState.LISTENING


async def test_speech_during_an_answer_interrupts_it(
    make_session: Factory, peer: LocalRealtimePeer
) -> None:
    peer.script.hears.extend(["tell me a long story", "stop please"])
    peer.script.rules.append(Rule("story", say=" ".join(["once upon a time"] * 80)))
    peer.script.delay_per_delta = 0.02  # the story is still being made when the user speaks
    reader = CuedReader()
    reader.say(silence(0.3) + speech(0.8, seed=1))
    sink = LoudSink()
    session = make_session(voice(), microphone=PcmSourceTrack(reader, rate=RATE), speaker=sink)
    events = Events(session)
    await session.start()
    call = peer.call()

    await sent(call, "output_audio_buffer.started")
    reader.say(speech(0.8, seed=2))  # the user speaks over the story
    story, after = await events.responses(2, timeout=30)

    assert story.status == "cancelled"
    assert story.reason == "turn_detected"
    assert after.status == "completed"
    assert after.transcript == "You said: stop please"
    (truncated,) = await sent(call, "conversation.item.truncated")
    (cleared,) = await sent(call, "output_audio_buffer.cleared")
    story_item = next(
        e["item"]["id"]
        for e in call.sent
        if e["type"] == "conversation.item.added" and e["item"]["role"] == "assistant"
    )
    assert truncated["item_id"] == story_item
    assert truncated["content_index"] == 0
    planned_ms = 320 * peer.script.seconds_per_word * 1000
    assert 0 <= truncated["audio_end_ms"] < planned_ms
    assert cleared["response_id"] == story.response_id
    happened = kinds(call)
    second_start = [i for i, k in enumerate(happened) if k.endswith("speech_started")][1]
    cancelled_at = next(
        i
        for i, e in enumerate(call.sent)
        if e["type"] == "response.done" and e["response"]["status"] == "cancelled"
    )
    assert second_start < cancelled_at < happened.index("output_audio_buffer.cleared")
    # The story's item says what was heard of it: cut short, marked incomplete.
    done = call.sent[cancelled_at]["response"]
    assert [o["status"] for o in done["output"]] == ["incomplete"]

    assert await session.wait_audio_done(20)
    assert session.state is SessionState.LISTENING
    assert [t.transcript for t in events.transcripts()] == ["tell me a long story", "stop please"]
    assert call.user_texts() == ["tell me a long story", "stop please"]


async def test_speech_over_the_audio_of_a_finished_answer_cuts_it_off(
    make_session: Factory, peer: LocalRealtimePeer
) -> None:
    """The model was done (response.done) but its audio still played: nothing to cancel, the
    audio is cleared and its item truncated."""
    peer.script.hears.extend(["tell me a long story", "enough"])
    peer.script.rules.append(Rule("story", say=" ".join(["once upon a time"] * 80)))
    reader = CuedReader()
    reader.say(silence(0.3) + speech(0.8, seed=1))
    session = make_session(
        voice(), microphone=PcmSourceTrack(reader, rate=RATE), speaker=LoudSink()
    )
    events = Events(session)
    await session.start()
    call = peer.call()

    (story,) = await events.responses(1)
    assert story.status == "completed"
    assert session.state is SessionState.SPEAKING  # about 19 s of audio to go
    reader.say(speech(0.8, seed=2))
    (truncated,) = await sent(call, "conversation.item.truncated")
    after = (await events.responses(2))[1]

    assert after.transcript == "You said: enough"
    assert 0 <= truncated["audio_end_ms"] < 320 * peer.script.seconds_per_word * 1000
    statuses = [e["response"]["status"] for e in call.sent if e["type"] == "response.done"]
    assert statuses == ["completed", "completed"]
    (cleared,) = await sent(call, "output_audio_buffer.cleared")
    assert cleared["response_id"] == story.response_id
    assert await session.wait_audio_done(20)
    assert session.state is SessionState.LISTENING


async def test_speech_without_a_transcript_fails_its_transcription(
    make_session: Factory, peer: LocalRealtimePeer, tmp_path: Path
) -> None:
    mic = microphone(wav(tmp_path / "mumble.wav", silence(0.4), speech(0.8)))
    session = make_session(voice(), microphone=mic, speaker=LoudSink())
    events = Events(session)
    await session.start()

    (failed,) = await events.wait("user_transcript_failed")
    (answer,) = await events.responses(1)

    assert failed.item_id == first(peer.call(), "input_audio_buffer.committed")["item_id"]
    assert failed.error.code == "audio_unintelligible"
    assert events.transcripts() == []
    assert answer.transcript == peer.script.not_understood


async def test_silence_after_an_answer_times_out_into_a_prompt(
    make_session: Factory, peer: LocalRealtimePeer, tmp_path: Path
) -> None:
    mic = microphone(wav(tmp_path / "quiet.wav", silence(0.2)))
    config = voice(turn_detection=server_vad(idle_timeout_ms=5000))
    session = make_session(config, microphone=mic, speaker=LoudSink())
    events = Events(session)
    await session.start()
    greeting = await session.create_response(instructions="Hello, how can I help?").result()
    assert greeting.text == "Hello, how can I help?"

    (timeout,) = await events.wait("input_timeout")
    prompt = (await events.responses(2))[1]

    assert timeout.audio_end_ms - timeout.audio_start_ms >= 5000
    assert prompt.transcript == peer.script.on_idle
    call = peer.call()
    happened = kinds(call)
    at = happened.index("input_audio_buffer.timeout_triggered")
    assert happened[at + 1 : at + 4] == [
        "input_audio_buffer.committed",
        "conversation.item.added",
        "conversation.item.done",
    ]
    assert call.sent[at + 1]["item_id"] == timeout.item_id
    assert call.sent[at + 2]["item"]["content"] == [{"type": "input_audio", "transcript": None}]
    created = [e["response"] for e in call.sent[at:] if e["type"] == "response.created"]
    assert created[0]["metadata"] is None
    # Silence is transcribed as nothing, and nobody spoke.
    assert [t.transcript for t in events.transcripts()][:1] == [""]
    assert events.of("speech_started") == []


async def test_turn_detection_without_create_response_only_commits(
    make_session: Factory, peer: LocalRealtimePeer, tmp_path: Path
) -> None:
    """`create_response: false`: the turn is committed and transcribed; the client answers."""
    peer.script.hears.append("hello there")
    detection = {**server_vad(), "create_response": False, "interrupt_response": False}
    mic = microphone(wav(tmp_path / "ask.wav", silence(0.4), speech(0.8)))
    session = make_session(voice(turn_detection=detection), microphone=mic, speaker=LoudSink())
    events = Events(session)
    await session.start()

    (transcript,) = await events.transcribed()
    result = await session.create_response().result()

    assert transcript.transcript == "hello there"
    assert result.text == "You said: hello there"
    call = peer.call()
    created = [e["response"] for e in call.sent if e["type"] == "response.created"]
    assert len(created) == 1
    assert created[0]["metadata"] is not None  # the client's own
    assert "input_audio_buffer.committed" in kinds(call)


async def test_push_to_talk_commits_only_when_the_client_does(
    make_session: Factory, peer: LocalRealtimePeer, tmp_path: Path
) -> None:
    """Turn detection off: the mic is not even decoded; the client's commit makes the item."""
    peer.script.hears.append("what time is it")
    mic = microphone(wav(tmp_path / "ptt.wav", speech(0.6), silence(1.0)))
    session = make_session(voice(turn_detection=None), microphone=mic, speaker=LoudSink())
    events = Events(session)
    await session.start()
    assert session.state is SessionState.READY
    call = peer.call()
    await until(lambda: call.mic_frames >= 40)  # 0.8 s of audio buffered

    # RealtimeSession has no commit of its own yet: the raw event, as a push-to-talk button would.
    session._send({"type": "input_audio_buffer.commit", "event_id": "evt_commit_1"})
    session._send({"type": "input_audio_buffer.commit", "event_id": "evt_commit_2"})
    (transcript,) = await events.transcribed()
    (error,) = await events.wait("error")
    result = await session.create_response().result()

    assert transcript.transcript == "what time is it"
    assert error.code == "input_audio_buffer_commit_empty"
    assert error.event_id == "evt_commit_2"
    assert result.text == "You said: what time is it"
    assert kinds(call).count("response.created") == 1
    assert "input_audio_buffer.speech_started" not in kinds(call)
    assert call.hearing.frames_heard == 0  # nothing was decoded
