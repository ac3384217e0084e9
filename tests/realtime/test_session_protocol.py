"""The session's side of the protocol: what the server refuses, what the channel cannot carry,
whose response is whose, and events that are not what their type says."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import json
import logging

import pytest

from custom_components.aiy_realtime.realtime.config import SessionConfig, server_vad
from custom_components.aiy_realtime.realtime.errors import (
    RealtimeBadRequestError,
    RealtimeMessageTooLarge,
    RealtimeSessionClosed,
)
from custom_components.aiy_realtime.realtime.session import (
    CloseReason,
    RealtimeSession,
    SessionEvent,
    SessionState,
)
from tests.peer import LocalRealtimePeer

type Factory = Callable[..., RealtimeSession]

TEXT = SessionConfig(model="gpt-realtime", output_modality="text", instructions="Be brief.")


async def test_rejected_update_raises_the_servers_message_at_once(
    make_session: Factory, peer: LocalRealtimePeer
) -> None:
    session = make_session(TEXT)
    await session.start()
    call = peer.call()
    call.reject_updates.append(("invalid_value", "Invalid value for 'instructions'."))
    wanted = SessionConfig(model="gpt-realtime", output_modality="text", instructions="Be long.")

    with pytest.raises(RealtimeBadRequestError, match="Invalid value for 'instructions'") as err:
        await session.configure(wanted, timeout=30)

    assert err.value.code == "invalid_value"
    # The refused settings are not taken for applied: asked again, they are sent again.
    assert session.config == TEXT
    await session.configure(wanted, timeout=5)
    assert session.config == wanted
    assert call.session["instructions"] == "Be long."
    updates = [e for e in call.received if e["type"] == "session.update"]
    assert len(updates) == 2


async def test_unchanged_config_sends_nothing(
    make_session: Factory, peer: LocalRealtimePeer
) -> None:
    session = make_session(TEXT)
    await session.start()

    await session.configure(TEXT)

    assert [e["type"] for e in peer.call().received] == []


async def test_a_channel_that_is_closing_is_not_alive(
    make_session: Factory, peer: LocalRealtimePeer
) -> None:
    """Between the channel starting to close and the session hearing of it, nothing pretends:
    a send fails as a closed session (which a caller retries), not as some other error."""
    session = make_session(TEXT)
    await session.start()
    channel = session._transport._channel
    assert channel is not None
    assert session.alive

    channel.close()  # "closing" at once; the session learns of it when it is "closed"

    assert session.state is SessionState.READY
    assert not session.alive
    with pytest.raises(RealtimeSessionClosed):
        session.send_text("anyone?")
    await asyncio.wait_for(session.wait_closed(), 10)


async def test_message_over_the_channel_limit_is_refused_clearly(
    make_session: Factory, peer: LocalRealtimePeer
) -> None:
    session = make_session(TEXT)
    await session.start()

    with pytest.raises(RealtimeMessageTooLarge, match="too large"):
        session.send_text("x" * 300_000)

    assert session.alive
    assert (await session.ask("short")).text == "You said: short"


async def test_a_response_the_server_started_does_not_take_the_clients_place(
    make_session: Factory, peer: LocalRealtimePeer
) -> None:
    """Server VAD may start a response just as the client asks for one: each gets its own."""
    server_turns: list[str] = []
    session = make_session(
        SessionConfig(model="gpt-realtime", output_modality="text", turn_detection=server_vad())
    )
    session.subscribe(
        lambda e: server_turns.append(e.data.text) if e.kind == "response_done" else None
    )
    await session.start()
    peer.call().server_response_first = "The server speaks first."

    result = await session.ask("my question")

    assert result.text == "You said: my question"
    assert server_turns == ["The server speaks first.", "You said: my question"]
    assert session.state is SessionState.LISTENING


async def test_event_of_a_known_type_with_a_wrong_shape_is_a_warning(
    make_session: Factory, peer: LocalRealtimePeer
) -> None:
    warnings: list[SessionEvent] = []
    session = make_session(TEXT)
    session.subscribe(lambda e: warnings.append(e) if e.kind == "protocol_warning" else None)
    await session.start()
    call = peer.call()
    call.inject_raw(json.dumps({"type": "response.done", "event_id": "e1", "response": 42}))
    call.inject_raw(json.dumps({"type": "response.output_text.delta", "delta": 7}))
    call.inject_raw(json.dumps({"type": "rate_limits.updated", "rate_limits": "lots"}))

    result = await session.ask("still fine?")

    assert result.text == "You said: still fine?"
    assert len(warnings) == 3


async def test_hang_up_of_a_call_already_gone_is_not_a_failure(
    make_session: Factory, peer: LocalRealtimePeer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="custom_components.aiy_realtime")
    session = make_session(TEXT)
    await session.start()
    call_id = session.call_id
    await peer.call().vanish()
    await asyncio.wait_for(session.wait_closed(), 10)

    assert peer.hangups == [call_id]
    ours = [
        r.getMessage()
        for r in caplog.records
        if r.name.startswith("custom_components") and str(call_id) in r.getMessage()
    ]
    assert any("already ended" in text for text in ours), ours
    assert not any("fail" in text for text in ours), ours


async def test_a_kind_of_item_newer_than_the_sdk_does_not_stall_the_turn(
    make_session: Factory, peer: LocalRealtimePeer
) -> None:
    session = make_session(TEXT)
    await session.start()
    call = peer.call()
    call.extra_output.append({"type": "reasoning", "id": "item_r1", "summary": []})

    result = await asyncio.wait_for(session.ask("think first"), 10)

    assert result.status == "completed"
    assert result.text == "You said: think first"
    # The peer, validating what it sends, saw its own odd item: that was the point.
    assert call.violations
    assert all("reasoning" in v for v in call.violations)
    call.violations.clear()


async def test_a_response_created_newer_than_the_sdk_does_not_stall_the_turn(
    make_session: Factory, peer: LocalRealtimePeer
) -> None:
    session = make_session(TEXT)
    await session.start()
    call = peer.call()
    call.created_extra = {"status": "queued"}

    first = await asyncio.wait_for(session.ask("first"), 10)
    second = await asyncio.wait_for(session.ask("second"), 10)

    assert (first.text, second.text) == ("You said: first", "You said: second")
    assert call.violations
    call.violations.clear()


async def test_a_session_created_newer_than_the_sdk_still_starts_the_session(
    make_session: Factory, peer: LocalRealtimePeer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.peer import call as peer_call

    original = peer_call.PeerCall.__init__

    def with_newer_fields(self: peer_call.PeerCall, *args: object, **kwargs: object) -> None:
        original(self, *args, **kwargs)  # type: ignore[arg-type]
        self.session_view_extra = {"audio": {"output": {"speed": "brisk"}}}

    monkeypatch.setattr(peer_call.PeerCall, "__init__", with_newer_fields)
    session = make_session(TEXT)

    await asyncio.wait_for(session.start(), 10)

    assert session.state is SessionState.READY
    assert (await session.ask("hello")).text == "You said: hello"
    peer.call().violations.clear()


async def test_what_arrives_while_closing_starts_nothing(
    make_session: Factory, peer: LocalRealtimePeer
) -> None:
    """A response the server starts as the session closes (after an idle timeout, say) must
    not leave a turn that nobody will ever finish."""
    started: list[object] = []
    session = make_session(
        SessionConfig(model="gpt-realtime", output_modality="text", turn_detection=server_vad())
    )
    session.subscribe(lambda e: started.append(e.data) if e.kind == "server_turn" else None)
    await session.start()
    transport = session._transport
    hang_up = transport.close

    async def slow_hang_up() -> None:  # the window in which events still arrive
        await asyncio.sleep(0.3)
        await hang_up()

    transport.close = slow_hang_up  # type: ignore[method-assign]

    closing = asyncio.ensure_future(session.close())
    await asyncio.sleep(0)
    peer.call().start_server_response(say="Are you still there?")
    await closing

    assert "response.created" in [e["type"] for e in peer.all_calls[0].sent]
    assert started == []


async def test_a_close_begun_while_starting_is_not_overwritten(
    make_session: Factory, peer: LocalRealtimePeer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The session expires right behind session.created: the close began before start() got
    back to its feet, so listeners see it close, never a listening session in between."""
    from tests.peer import call as peer_call

    original = peer_call.PeerCall.__init__

    def expiring_at_once(self: peer_call.PeerCall, *args: object, **kwargs: object) -> None:
        original(self, *args, **kwargs)  # type: ignore[arg-type]
        self.created_then = [
            {
                "type": "error",
                "error": {
                    "type": "invalid_request_error",
                    "code": "session_expired",
                    "message": "Your session hit the maximum duration of 60 minutes.",
                },
            }
        ]

    monkeypatch.setattr(peer_call.PeerCall, "__init__", expiring_at_once)
    states: list[SessionState] = []
    session = make_session(
        SessionConfig(model="gpt-realtime", output_modality="text", turn_detection=server_vad())
    )
    session.subscribe(lambda e: states.append(e.data) if e.kind == "state" else None)
    # "Right behind": both read before start() resumes, as when they come in one packet. Sent
    # one after the other, they may still come in two (a loaded machine), and start() would
    # have resumed in between: so session.created is held and handed on with the error.
    deliver = session._transport._on_message
    held: list[str] = []
    holds = 0

    def together(message: str) -> None:
        nonlocal holds
        if '"session.created"' in message and not held:
            held.append(message)
            holds += 1
            return
        for earlier in held:
            deliver(earlier)
        held.clear()
        deliver(message)

    session._transport._on_message = together

    with pytest.raises(RealtimeSessionClosed, match="60 minutes"):
        await asyncio.wait_for(session.start(), 10)
    await asyncio.wait_for(session.wait_closed(), 10)

    assert holds == 1
    assert states == [SessionState.CLOSING, SessionState.CLOSED]
    assert session.close_reason is CloseReason.EXPIRED
