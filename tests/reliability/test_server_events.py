"""Fuzzed and malformed server events, hundreds of them, into live text turns.

hypothesis makes the events (derandomized: the same ones each run): known event types with
fields of the wrong type, unknown types, JSON cut short, payloads near the data channel's limit,
and `response.*` events for responses that do not exist or arrive out of order. Each goes
straight onto the data channel (past the peer's own schema check), idle between turns or in the
middle of an answer; every turn must then end in the answer or a clean error, and the
conversation must go on (on the same session, or a new one).
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

from hypothesis import HealthCheck, given, settings, strategies as st
from pytest_homeassistant_custom_component.common import MockConfigEntry

from homeassistant.core import HomeAssistant
from homeassistant.helpers import intent

from tests.peer import LocalRealtimePeer
from tests.reliability.tally import TALLY
from tests.test_conversation import converse, speech
from tests.voice_helpers import until

TURN_TIMEOUT = 15.0
EVENTS = int(os.environ.get("AIY_FUZZ_EVENTS", "520"))

# Known GA server events and the fields the client reads of each.
KNOWN: dict[str, tuple[str, ...]] = {
    "response.created": ("response",),
    "response.done": ("response",),
    "response.output_text.delta": ("response_id", "item_id", "output_index", "delta"),
    "response.output_text.done": ("response_id", "item_id", "output_index", "text"),
    "response.output_item.added": ("response_id", "output_index", "item"),
    "response.output_item.done": ("response_id", "output_index", "item"),
    "response.function_call_arguments.done": ("response_id", "item_id", "call_id", "arguments"),
    "conversation.item.added": ("item", "previous_item_id"),
    "conversation.item.done": ("item", "previous_item_id"),
    "session.updated": ("session",),
    "session.created": ("session",),
    "error": ("error",),
    "rate_limits.updated": ("rate_limits",),
    "input_audio_buffer.speech_started": ("audio_start_ms", "item_id"),
    "output_audio_buffer.started": ("response_id",),
    "output_audio_buffer.stopped": ("response_id",),
}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)


@st.composite
def wrong_types(draw: st.DrawFn) -> tuple[str, str]:
    kind = draw(st.sampled_from(sorted(KNOWN)))
    event: dict[str, Any] = {"type": kind, "event_id": draw(st.text(max_size=12))}
    for name in KNOWN[kind]:
        if draw(st.booleans()):
            event[name] = draw(json_values)
    return "wrong types on a known event", json.dumps(event)


@st.composite
def unknown_types(draw: st.DrawFn) -> tuple[str, str]:
    kind = draw(st.text(min_size=1, max_size=40))
    event = {
        "type": kind,
        "event_id": "event_x",
        **draw(st.dictionaries(st.text(max_size=8), json_values, max_size=3)),
    }
    return "unknown event type", json.dumps(event)


@st.composite
def truncated(draw: st.DrawFn) -> tuple[str, str]:
    kind = draw(st.sampled_from(sorted(KNOWN)))
    text = json.dumps(
        {"type": kind, "event_id": "event_t", "response_id": "resp_t", "delta": "hello there"}
    )
    return "truncated JSON", text[: draw(st.integers(min_value=0, max_value=len(text) - 1))]


@st.composite
def huge(draw: st.DrawFn) -> tuple[str, str]:
    size = draw(st.integers(min_value=20_000, max_value=60_000))
    kind = draw(
        st.sampled_from(["response.output_text.delta", "x.huge", "conversation.item.added"])
    )
    event = {"type": kind, "event_id": "event_h", "response_id": "resp_h", "delta": "x" * size}
    return "huge payload (20-60 kB)", json.dumps(event)


@st.composite
def out_of_order(draw: st.DrawFn) -> tuple[str, str]:
    response_id = draw(st.sampled_from(["resp_nobody_asked_for", "resp_" + "0" * 8, ""]))
    kind = draw(
        st.sampled_from(
            [
                "response.done",
                "response.created",
                "response.output_text.delta",
                "response.output_item.done",
                "response.function_call_arguments.done",
            ]
        )
    )
    event: dict[str, Any] = {"type": kind, "event_id": "event_o", "response_id": response_id}
    if kind in ("response.done", "response.created"):
        event["response"] = {
            "id": response_id,
            "object": "realtime.response",
            "status": draw(st.sampled_from(["completed", "in_progress", "failed", "cancelled"])),
            "output": [],
            "metadata": draw(st.none() | st.dictionaries(st.text(max_size=6), st.text(max_size=6))),
        }
    else:
        event |= {"item_id": "item_o", "output_index": 0, "delta": "stray", "call_id": "call_o"}
        event |= {"arguments": "{}", "name": "HassTurnOn", "item": {"id": "item_o"}}
    return "response.* out of order or for no response", json.dumps(event)


def malformed_events(count: int) -> list[tuple[str, str]]:
    """`count` events, the same each run."""
    found: list[tuple[str, str]] = []

    @settings(
        max_examples=count,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.one_of(wrong_types(), unknown_types(), truncated(), huge(), out_of_order()))
    def collect(case: tuple[str, str]) -> None:
        found.append(case)

    collect()
    return found


async def test_malformed_server_events_leave_every_turn_consistent(
    hass: HomeAssistant, agent_entry: MockConfigEntry, peer: LocalRealtimePeer
) -> None:
    events = malformed_events(EVENTS)
    assert len(events) == EVENTS
    peer.script.delay_per_delta = 0.002
    cid = (await converse(hass, agent_entry, "Hello")).conversation_id

    for number, (case, text) in enumerate(events):
        try:
            async with asyncio.timeout(TURN_TIMEOUT):
                await _one(hass, agent_entry, peer, cid, number, case, text)
        except TimeoutError as err:
            raise AssertionError(f"turn {number} hung after {case}: {text[:300]!r}") from err

    assert peer.all_violations() == []


async def _one(
    hass: HomeAssistant,
    agent_entry: MockConfigEntry,
    peer: LocalRealtimePeer,
    cid: str | None,
    number: int,
    case: str,
    text: str,
) -> None:
    call = peer.call()
    during = number % 2 == 1
    if during:  # in the middle of an answer
        before = call.responses
        turn = hass.async_create_task(converse(hass, agent_entry, f"ping {number}", cid))
        await until(lambda c=call, b=before, t=turn: c.responses > b or t.done())
        call.inject_raw(text)
        result = await turn
    else:  # between turns
        call.inject_raw(text)
        result = await converse(hass, agent_entry, f"ping {number}", cid)
    where = "mid-answer" if during else "between turns"
    if speech(result) == f"You said: ping {number}":
        TALLY.count(case, f"answered ({where})")
        return
    assert result.response.response_type is intent.IntentResponseType.ERROR, speech(result)
    assert speech(result), "an error answer says what went wrong"
    again = await converse(hass, agent_entry, f"again {number}", cid)
    assert speech(again) == f"You said: again {number}", speech(again)
    TALLY.count(case, f"clean error, next message answered ({where})")
