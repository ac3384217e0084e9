"""The Realtime client against the local GA peer, through real WebRTC on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import json
from pathlib import Path
from typing import Any
import wave

import pytest

from custom_components.aiy_realtime.realtime.audio import WavSink
from custom_components.aiy_realtime.realtime.config import FunctionTool, SessionConfig
from custom_components.aiy_realtime.realtime.errors import (
    RealtimeAuthError,
    RealtimeBadRequestError,
    RealtimeConnectError,
    RealtimeRateLimitError,
)
from custom_components.aiy_realtime.realtime.session import (
    CloseReason,
    RealtimeSession,
    SessionEvent,
    SessionState,
)
from custom_components.aiy_realtime.realtime.signaling import EphemeralSignaling
from custom_components.aiy_realtime.realtime.tools import UnknownToolError
from tests.peer import HttpFault, LocalRealtimePeer
from tests.peer.script import Rule

type Factory = Callable[..., RealtimeSession]

AUDIO = SessionConfig(model="gpt-realtime", output_modality="audio", voice="marin")


async def test_connect_and_configure(make_session: Factory, peer: LocalRealtimePeer) -> None:
    states: list[SessionState] = []
    session = make_session(SessionConfig(model="gpt-realtime", instructions="Be brief."))
    session.subscribe(lambda e: states.append(e.data) if e.kind == "state" else None)
    await session.start()

    assert session.state is SessionState.READY
    assert session.call_id is not None
    call = peer.call()
    assert call.session["instructions"] == "Be brief."
    # The multipart session part carried the config: nothing needs sending after it.
    assert [event["type"] for event in call.received] == []
    assert peer.session_configs[0]["model"] == "gpt-realtime"
    assert peer.session_configs[0]["instructions"] == "Be brief."
    assert states == [SessionState.READY]


async def test_text_turn_streams(make_session: Factory) -> None:
    session = make_session()
    await session.start()
    session.send_text("turn on the kitchen light")
    turn = session.create_response()
    deltas = [delta async for delta in turn.deltas()]
    result = await turn.result()

    assert result.status == "completed"
    assert result.text == "You said: turn on the kitchen light"
    assert len(deltas) > 1
    assert "".join(deltas) == result.text
    assert result.usage.input_tokens == 40
    assert result.usage.output_text_tokens > 0
    assert session.usage.total_tokens == result.usage.total_tokens
    assert session.state is SessionState.READY


async def test_responses_are_queued_never_overlapping(
    make_session: Factory, peer: LocalRealtimePeer
) -> None:
    peer.script.delay_per_delta = 0.01
    session = make_session()
    await session.start()
    session.send_text("one")
    first = session.create_response()
    second = session.create_response(instructions="Second answer")
    results = await asyncio.gather(first.result(), second.result())
    assert [r.status for r in results] == ["completed", "completed"]
    assert results[1].text == "Second answer"
    errors = [e for e in peer.call().sent if e["type"] == "error"]
    assert errors == []


async def test_text_session_drops_the_answerers_audio(
    make_session: Factory, peer: LocalRealtimePeer
) -> None:
    """No speaker, no decoding: the peer's RTP still arrives, but is discarded on arrival."""
    session = make_session()
    await session.start()
    assert peer.call().speech.playing is False  # the peer sends silence all the time
    await asyncio.sleep(0.3)

    assert session.audio_pump is None
    pc = session._transport._pc
    assert pc is not None
    (receiver,) = [t.receiver for t in pc.getTransceivers() if t.kind == "audio"]
    stats = await receiver.getStats()
    inbound = [s for s in stats.values() if s.type == "inbound-rtp"]
    # Packets were counted by nobody: the receiver dropped them before its statistics.
    assert sum(s.packetsReceived for s in inbound) == 0
    assert (await session.ask("hello")).text == "You said: hello"


async def test_audio_response_reaches_the_sink(
    make_session: Factory, peer: LocalRealtimePeer, tmp_path: Path
) -> None:
    out = tmp_path / "reply.wav"
    states: list[SessionState] = []
    session = make_session(AUDIO, speaker=WavSink(out, rate=24000))
    session.subscribe(lambda e: states.append(e.data) if e.kind == "state" else None)
    await session.start()
    result = await session.ask("tell me a short story about a lamp")
    assert result.status == "completed"
    assert result.text.startswith("You said:")
    assert result.usage.output_audio_tokens > 0
    assert await session.wait_audio_done(5)
    await session.close()

    assert SessionState.SPEAKING in states
    kinds = [e["type"] for e in peer.all_calls[0].sent]
    assert kinds.index("output_audio_buffer.started") < kinds.index("output_audio_buffer.stopped")
    with wave.open(str(out)) as wav:
        assert wav.getframerate() == 24000
        pcm = wav.readframes(wav.getnframes())
    samples = memoryview(pcm).cast("h")
    loud = sum(1 for s in samples if abs(s) > 3000)
    # About 0.4 s of 440 Hz tone at 0.3 amplitude made it through Opus and the resampler.
    assert loud > 24000 * 0.1


async def test_tool_call_round_trip(make_session: Factory, peer: LocalRealtimePeer) -> None:
    peer.script.rules.append(
        Rule("kitchen", tool="light_on", arguments={"area": "kitchen"}, then="Light: {output}")
    )
    calls: list[tuple[str, dict[str, Any]]] = []

    async def handler(name: str, arguments: dict[str, Any]) -> Any:
        calls.append((name, arguments))
        return {"state": "on"}

    config = SessionConfig(
        model="gpt-realtime",
        output_modality="text",
        tools=[FunctionTool("light_on", "Turn on a light")],
    )
    session = make_session(config, tool_handler=handler)
    await session.start()
    result = await session.ask("turn on the kitchen light")

    assert calls == [("light_on", {"area": "kitchen"})]
    assert result.status == "completed"
    assert result.text == 'Light: {"state": "on"}'
    assert [c.name for c in result.tool_calls] == ["light_on"]
    assert len(result.responses) == 2
    outputs = [e["item"] for e in peer.call().received if e["type"] == "conversation.item.create"]
    assert outputs[-1]["type"] == "function_call_output"
    assert json.loads(outputs[-1]["output"]) == {"state": "on"}


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        (Rule("x", tool="no_such_tool", then="{output}"), {"error": "unknown tool: no_such_tool"}),
        (Rule("x", tool="light_on", arguments="{not json", then="{output}"), None),
        (Rule("x", tool="broken", then="{output}"), {"error": "RuntimeError: boom"}),
    ],
)
async def test_tool_errors_go_back_to_the_model(
    make_session: Factory, peer: LocalRealtimePeer, rule: Rule, expected: Any
) -> None:
    peer.script.rules.append(rule)
    called: list[str] = []

    async def handler(name: str, arguments: dict[str, Any]) -> Any:
        called.append(name)
        if name == "broken":
            raise RuntimeError("boom")
        if name != "light_on":
            raise UnknownToolError(name)
        return "ok"

    session = make_session(tool_handler=handler)
    await session.start()
    result = await session.ask("x")
    output = json.loads(result.text)
    if expected is None:
        assert output["error"].startswith("arguments are not valid JSON")
        assert called == []
    else:
        assert output == expected
    assert result.status == "completed"


async def test_tool_rounds_are_bounded(make_session: Factory, peer: LocalRealtimePeer) -> None:
    # A model that calls the tool again after every output.
    peer.script.rules.append(Rule("loop", tool="again", repeat=True))

    async def handler(name: str, arguments: dict[str, Any]) -> Any:
        return "again"

    session = make_session(tool_handler=handler, max_tool_rounds=3)
    await session.start()
    result = await session.ask("loop")
    assert result.status == "tool_limit"
    assert len(result.tool_calls) == 3
    assert session.state is SessionState.READY


async def test_cancel_while_speaking(make_session: Factory, peer: LocalRealtimePeer) -> None:
    peer.script.delay_per_delta = 0.05
    session = make_session(AUDIO)
    await session.start()
    speaking = asyncio.Event()
    session.subscribe(
        lambda e: speaking.set() if e.kind == "state" and e.data is SessionState.SPEAKING else None
    )
    session.send_text("a long answer " * 20)
    turn = session.create_response()
    await asyncio.wait_for(speaking.wait(), 5)
    session.interrupt()
    result = await turn.result()
    assert result.status == "cancelled"
    assert await session.wait_audio_done(2)
    kinds = [e["type"] for e in peer.call().sent]
    assert "output_audio_buffer.cleared" in kinds
    assert session.state is SessionState.READY


async def test_greeting_then_graceful_end(make_session: Factory, peer: LocalRealtimePeer) -> None:
    session = make_session(AUDIO)
    await session.start()
    greeting = await session.create_response(instructions="Hello, how can I help?").result()
    assert greeting.text == "Hello, how can I help?"
    assert await session.wait_audio_done(5)

    await session.end(goodbye="Goodbye!", reason=CloseReason.MODEL_ENDED)

    assert session.state is SessionState.CLOSED
    assert session.close_reason is CloseReason.MODEL_ENDED
    sent = [e["type"] for e in peer.all_calls[0].sent]
    # The goodbye played to its end before the call was hung up.
    assert sent.count("output_audio_buffer.stopped") == 2
    assert peer.hangups == [peer.all_calls[0].call_id]
    assert peer.active_calls == 0


async def test_ephemeral_key_variant(
    make_session: Factory, peer: LocalRealtimePeer, openai_client: Any
) -> None:
    session = make_session(signaling=EphemeralSignaling(openai_client))
    await session.start()
    result = await session.ask("hello")
    assert result.text == "You said: hello"
    assert peer.requests["client_secrets"] == 1
    assert peer.last_headers["calls"]["Authorization"].startswith("Bearer ek_")


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (HttpFault(401, "invalid_api_key"), RealtimeAuthError),
        (HttpFault(429, "insufficient_quota"), RealtimeRateLimitError),
        (HttpFault(400, "invalid_value"), RealtimeBadRequestError),
        (HttpFault(503, "overloaded"), RealtimeConnectError),
    ],
)
async def test_http_errors_at_connect(
    make_session: Factory, peer: LocalRealtimePeer, fault: HttpFault, error: type[Exception]
) -> None:
    peer.faults.add("calls", fault)
    session = make_session()
    with pytest.raises(error) as raised:
        await session.start()
    assert session.state is SessionState.CLOSED
    assert session.close_reason is CloseReason.ERROR
    if fault.status == 429:
        assert raised.value.quota  # type: ignore[attr-defined]


async def test_connect_timeout(make_session: Factory, peer: LocalRealtimePeer) -> None:
    peer.faults.add("calls", HttpFault(503, delay=2))
    session = make_session(connect_timeout=0.3)
    with pytest.raises(RealtimeConnectError, match="no connection within"):
        await session.start()
    assert session.state is SessionState.CLOSED


async def test_malformed_and_unknown_events_are_survived(
    make_session: Factory, peer: LocalRealtimePeer
) -> None:
    warnings: list[SessionEvent] = []
    session = make_session()
    session.subscribe(lambda e: warnings.append(e) if e.kind == "protocol_warning" else None)
    await session.start()
    call = peer.call()
    call.inject_raw("this is not json")
    call.inject_raw(json.dumps({"no": "type"}))
    call.inject_raw(json.dumps({"type": "response.something_new", "x": 1}))
    result = await session.ask("still there?")
    assert result.text == "You said: still there?"
    # Not JSON, no type, and a type the protocol does not have: each reported, none fatal.
    assert len(warnings) == 3


async def test_error_event_is_surfaced_session_stays(
    make_session: Factory, peer: LocalRealtimePeer
) -> None:
    errors: list[Any] = []
    session = make_session()
    session.subscribe(lambda e: errors.append(e.data) if e.kind == "error" else None)
    await session.start()
    peer.call().inject(
        {"type": "error", "error": {"type": "invalid_request_error", "code": "x", "message": "m"}}
    )
    result = await session.ask("ok?")
    assert result.status == "completed"
    assert errors[0].code == "x"


async def test_session_expired_ends_cleanly(make_session: Factory, peer: LocalRealtimePeer) -> None:
    session = make_session()
    await session.start()
    await peer.call().expire()
    await asyncio.wait_for(session.wait_closed(), 5)
    assert session.close_reason is CloseReason.EXPIRED
    with pytest.raises(Exception, match="60 minutes"):
        session.send_text("hello?")


async def test_vanished_peer_ends_cleanly(make_session: Factory, peer: LocalRealtimePeer) -> None:
    session = make_session()
    await session.start()
    peer.script.delay_per_delta = 0.2
    session.send_text("a b c d e f g")
    turn = session.create_response()
    await asyncio.sleep(0.1)
    await peer.call().vanish()
    await asyncio.wait_for(session.wait_closed(), 10)
    assert session.close_reason is CloseReason.PEER_GONE
    result = await turn.result()
    assert result.status == "closed"


async def test_slow_response_still_streams(make_session: Factory, peer: LocalRealtimePeer) -> None:
    peer.script.delay_before_response = 0.3
    peer.script.delay_per_delta = 0.02
    session = make_session()
    await session.start()
    result = await session.ask("slowly now")
    assert result.text == "You said: slowly now"


async def test_close_is_idempotent(make_session: Factory, peer: LocalRealtimePeer) -> None:
    session = make_session()
    await session.start()
    await asyncio.gather(session.close(), session.close())
    await session.close()
    assert session.state is SessionState.CLOSED
    assert peer.hangups == [peer.all_calls[0].call_id]
