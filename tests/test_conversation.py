"""The Assist agent through real Home Assistant, on real WebRTC to the local peer."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from homeassistant.components import conversation
from homeassistant.components.conversation.chat_log import async_get_chat_log
from homeassistant.components.conversation.trace import async_get_traces
from homeassistant.const import EVENT_HOMEASSISTANT_STOP
from homeassistant.core import Context, HomeAssistant
from homeassistant.helpers import entity_registry as er

from custom_components.aiy_realtime.chat.sessions import async_get_chat_session
from custom_components.aiy_realtime.const import DOMAIN
from tests.helpers import HA_REFUSES_CONCURRENT_TURNS, agent, async_set_up_entry
from tests.peer import LocalRealtimePeer
from tests.peer.script import Rule


def agent_id(hass: HomeAssistant, entry: MockConfigEntry) -> str:
    (subentry_id,) = entry.subentries
    entity_id = er.async_get(hass).async_get_entity_id("conversation", DOMAIN, subentry_id)
    assert entity_id is not None
    return entity_id


async def converse(
    hass: HomeAssistant, entry: MockConfigEntry, text: str, conversation_id: str | None = None
) -> conversation.ConversationResult:
    return await conversation.async_converse(
        hass, text, conversation_id, Context(), agent_id=agent_id(hass, entry)
    )


def speech(result: conversation.ConversationResult) -> str:
    return str(result.response.speech["plain"]["speech"])


def sessions(entry: MockConfigEntry) -> Any:
    return entry.runtime_data.sessions


def open_session(entry: MockConfigEntry, conversation_id: str) -> Any:
    """The warm session of the entry's one agent in a conversation, or None."""
    (subentry_id,) = entry.subentries
    return sessions(entry).get((subentry_id, conversation_id))


async def test_plain_turn(
    hass: HomeAssistant, agent_entry: MockConfigEntry, peer: LocalRealtimePeer
) -> None:
    result = await converse(hass, agent_entry, "What is the capital of France?")

    assert result.response.response_type.value == "action_done"
    assert speech(result) == "You said: What is the capital of France?"
    call = peer.call()
    # A text agent asks for text, with HA's prompt as instructions and HA's tools.
    assert call.session["output_modalities"] == ["text"]
    assert "Home Assistant" in call.session["instructions"]
    tool_names = {tool["name"] for tool in call.session["tools"]}
    assert {"intent__HassTurnOn", "aiy_realtime__end_session"} <= tool_names
    state = hass.states.get(agent_id(hass, agent_entry))
    assert state is not None
    assert state.attributes["supported_features"] == conversation.ConversationEntityFeature.CONTROL


async def test_reply_streams_into_the_chat_log(
    hass: HomeAssistant, agent_entry: MockConfigEntry, peer: LocalRealtimePeer
) -> None:
    """The way a pipeline listens: deltas arrive while the model is still talking."""
    peer.script.rules.append(Rule("story", say="Once upon a time there was a light"))
    peer.script.delay_per_delta = 0.02
    deltas: list[tuple[dict[str, Any], list[str]]] = []

    def listener(chat_log: conversation.ChatLog, delta: dict[str, Any]) -> None:
        # What the peer had sent when this delta reached the chat log.
        deltas.append((delta, [event["type"] for event in peer.call().sent]))

    with (
        async_get_chat_session(hass, None, None) as session,
        async_get_chat_log(hass, session, None, chat_log_delta_listener=listener),
    ):
        result = await converse(hass, agent_entry, "Tell me a story", session.conversation_id)

    texts = [delta["content"] for delta, _ in deltas if "content" in delta]
    assert "".join(texts) == "Once upon a time there was a light"
    assert len(texts) == 8
    assert deltas[0][0] == {"role": "assistant"}
    # The first words were in the log while the model was still writing the rest.
    sent_then = next(sent for delta, sent in deltas if "content" in delta)
    assert sent_then.count("response.output_text.delta") < 8
    assert "response.done" not in sent_then[sent_then.index("response.created") :]
    assert speech(result) == "Once upon a time there was a light"


async def test_tool_call_turns_on_an_exposed_light(
    hass: HomeAssistant, lights: None, agent_entry: MockConfigEntry, peer: LocalRealtimePeer
) -> None:
    peer.script.rules.append(
        Rule(
            "kitchen",
            tool="HassTurnOn",
            arguments={"name": "Kitchen light"},
            then="The kitchen light is on.",
        )
    )
    assert hass.states.get("light.kitchen_light").state == "off"

    result = await converse(hass, agent_entry, "Turn on the kitchen light")
    await hass.async_block_till_done()

    assert hass.states.get("light.kitchen_light").state == "on"
    assert speech(result) == "The kitchen light is on."
    # The intent's own response backs the result (a pipeline shows what was done).
    assert [t.id for t in result.response.success_results] == ["light.kitchen_light"]
    output = next(i for i in peer.call().items if i["type"] == "function_call_output")
    assert '"success"' in output["output"]


async def test_tool_call_is_refused_for_an_unexposed_light(
    hass: HomeAssistant, lights: None, agent_entry: MockConfigEntry, peer: LocalRealtimePeer
) -> None:
    peer.script.rules.append(
        Rule("bedroom", tool="HassTurnOn", arguments={"name": "Bedroom light"}, then="{output}")
    )

    result = await converse(hass, agent_entry, "Turn on the bedroom light")
    await hass.async_block_till_done()

    assert hass.states.get("light.bedroom_light").state == "off"
    # The model got HA's refusal as the call's output, and said so.
    assert "MatchFailedError" in speech(result)
    assert "Bedroom light" in speech(result)


async def test_follow_up_turns_reuse_one_session(
    hass: HomeAssistant, agent_entry: MockConfigEntry, peer: LocalRealtimePeer
) -> None:
    first = await converse(hass, agent_entry, "My name is Ada")
    second = await converse(hass, agent_entry, "What is my name?", first.conversation_id)
    third = await converse(hass, agent_entry, "Thanks", first.conversation_id)

    assert first.conversation_id == second.conversation_id == third.conversation_id
    assert peer.requests["calls"] == 1
    assert sessions(agent_entry).opened == 1
    users = [i for i in peer.call().items if i.get("role") == "user"]
    assert [u["content"][0]["text"] for u in users] == [
        "My name is Ada",
        "What is my name?",
        "Thanks",
    ]
    # The conversation's trace says which call answered, and that it was reused.
    details = [
        event["data"]["realtime"]
        for trace in async_get_traces()
        for event in trace.as_dict()["events"]
        if event["event_type"] == "agent_detail" and "realtime" in event["data"]
    ]
    assert [d["reused_session"] for d in details] == [False, True, True]
    assert {d["call_id"] for d in details} == {peer.call().call_id}
    # Another conversation is another session.
    await converse(hass, agent_entry, "Hello")
    assert peer.requests["calls"] == 2


async def test_session_dropped_between_turns_is_replaced_with_the_context(
    hass: HomeAssistant, agent_entry: MockConfigEntry, peer: LocalRealtimePeer
) -> None:
    first = await converse(hass, agent_entry, "My name is Ada")
    session = open_session(agent_entry, first.conversation_id).session
    await peer.call().vanish()
    await asyncio.wait_for(session.wait_closed(), 5)

    second = await converse(hass, agent_entry, "What is my name?", first.conversation_id)

    assert speech(second) == "You said: What is my name?"
    assert peer.requests["calls"] == 2
    texts = [
        (item.get("role"), item["content"][0].get("text"))
        for item in peer.call().items
        if item.get("type") == "message"
    ]
    # The new session was told the whole conversation before it answered.
    assert texts == [
        ("user", "My name is Ada"),
        ("assistant", "You said: My name is Ada"),
        ("user", "What is my name?"),
        ("assistant", "You said: What is my name?"),
    ]


async def test_session_dropping_as_the_turn_starts_is_retried_once(
    hass: HomeAssistant, agent_entry: MockConfigEntry, peer: LocalRealtimePeer
) -> None:
    """The drop shows only when the next turn asks: that turn goes to a fresh session."""
    first = await converse(hass, agent_entry, "My name is Ada")
    peer.call().vanish_on_response = True

    second = await converse(hass, agent_entry, "What is my name?", first.conversation_id)

    assert speech(second) == "You said: What is my name?"
    assert peer.requests["calls"] == 2
    assert peer.call().user_texts() == ["My name is Ada", "What is my name?"]


async def test_session_expired_between_turns_is_replaced(
    hass: HomeAssistant, agent_entry: MockConfigEntry, peer: LocalRealtimePeer
) -> None:
    first = await converse(hass, agent_entry, "Hello")
    await peer.call().expire()

    second = await converse(hass, agent_entry, "Still there?", first.conversation_id)

    assert speech(second) == "You said: Still there?"
    assert peer.requests["calls"] == 2


async def test_end_session_closes_the_conversations_session(
    hass: HomeAssistant, agent_entry: MockConfigEntry, peer: LocalRealtimePeer
) -> None:
    peer.script.rules.append(Rule("goodbye", tool="end_session", then="Goodbye!"))
    first = await converse(hass, agent_entry, "Hello")
    call_id = peer.call().call_id

    result = await converse(hass, agent_entry, "Goodbye", first.conversation_id)

    assert speech(result) == "Goodbye!"
    assert result.continue_conversation is False
    assert open_session(agent_entry, first.conversation_id) is None
    assert peer.hangups == [call_id]
    # The conversation can go on: a new session then.
    again = await converse(hass, agent_entry, "Hello again", first.conversation_id)
    assert speech(again) == "You said: Hello again"
    assert peer.requests["calls"] == 2


async def test_usage_sensors_count_each_turn(
    hass: HomeAssistant, agent_entry: MockConfigEntry, peer: LocalRealtimePeer
) -> None:
    prefix = "sensor.aiy_realtime_assistant_"
    assert hass.states.get(prefix + "output_text_tokens").state == "0"
    assert float(hass.states.get(prefix + "estimated_cost").state) == 0

    await converse(hass, agent_entry, "Hello there, how are you today?")
    await hass.async_block_till_done()

    input_text = int(hass.states.get(prefix + "input_text_tokens").state)
    output_text = int(hass.states.get(prefix + "output_text_tokens").state)
    assert input_text == 40  # what the peer bills per response
    assert output_text > 0
    assert hass.states.get(prefix + "output_audio_tokens").state == "0"
    # gpt-realtime-2.1 at the default prices: $4 / 1M text in, $24 / 1M text out.
    expected = (input_text * 4 + output_text * 24) / 1_000_000
    assert float(hass.states.get(prefix + "estimated_cost").state) == pytest.approx(expected)

    await converse(hass, agent_entry, "Again")
    await hass.async_block_till_done()
    assert int(hass.states.get(prefix + "input_text_tokens").state) == 80


async def test_turns_of_one_conversation_take_turns(
    hass: HomeAssistant, agent_entry: MockConfigEntry, peer: LocalRealtimePeer
) -> None:
    """Two messages at once in one conversation: both answered, in order, on one session (or,
    from Home Assistant 2026.11, which refuses a second message while one is answered, the
    second refused by Home Assistant and the conversation going on)."""
    peer.script.delay_per_delta = 0.01
    first = await converse(hass, agent_entry, "Hello")
    cid = first.conversation_id

    one, two = await asyncio.gather(
        converse(hass, agent_entry, "first question", cid),
        converse(hass, agent_entry, "second question", cid),
    )

    assert speech(one) == "You said: first question"
    if HA_REFUSES_CONCURRENT_TURNS:
        assert speech(two) == "This conversation is busy with another message"
        again = await converse(hass, agent_entry, "second question", cid)
        assert speech(again) == "You said: second question"
    else:
        assert speech(two) == "You said: second question"
    assert peer.requests["calls"] == 1
    assert peer.call().user_texts() == ["Hello", "first question", "second question"]


async def test_agent_without_an_llm_api_offers_no_tools(
    hass: HomeAssistant, openai_at_peer: LocalRealtimePeer, loopback_ice: None
) -> None:
    entry = await async_set_up_entry(hass, agent("Chatty", llm_hass_api=None))

    result = await converse(hass, entry, "Turn on the kitchen light")

    assert speech(result) == "You said: Turn on the kitchen light"
    assert openai_at_peer.call().session["tools"] == []
    state = hass.states.get(agent_id(hass, entry))
    assert state is not None
    assert state.attributes["supported_features"] == 0
    await hass.config_entries.async_unload(entry.entry_id)
    assert openai_at_peer.active_calls == 0


async def test_sessions_hang_up_when_home_assistant_stops(
    hass: HomeAssistant, agent_entry: MockConfigEntry, peer: LocalRealtimePeer
) -> None:
    await converse(hass, agent_entry, "Hello")
    call_id = peer.call().call_id

    hass.bus.async_fire(EVENT_HOMEASSISTANT_STOP)
    await hass.async_block_till_done()

    assert peer.hangups == [call_id]
    assert sessions(agent_entry).conversations() == []
