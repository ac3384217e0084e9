"""Warm sessions under stress: unloads, stops, goodbyes and drops in the middle of a turn.

Each test here reproduces a way a call could leak, a turn could run twice, or a user could be
told the wrong thing; the peer counts the calls still open after every test (see agent_entry).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from homeassistant.components import conversation
from homeassistant.components.conversation.chat_log import async_get_chat_log
from homeassistant.const import EVENT_HOMEASSISTANT_STOP
from homeassistant.core import Context, HomeAssistant
from homeassistant.helpers import entity_registry as er, intent, llm

from custom_components.aiy_realtime.chat.sessions import async_get_chat_session
from custom_components.aiy_realtime.const import DOMAIN
from tests.helpers import HA_REFUSES_CONCURRENT_TURNS, agent, async_set_up_entry
from tests.peer import LocalRealtimePeer
from tests.peer.script import Rule
from tests.test_conversation import agent_id, converse, open_session, speech


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():  # noqa: ASYNC110 - the peer's counters have no event to await
            await asyncio.sleep(0.01)


STOPPED = "stopped or reloaded"


def is_error(result: conversation.ConversationResult) -> bool:
    return result.response.response_type is intent.IntentResponseType.ERROR


# The stop case: HA's chat-session cleanup timer is re-armed by a conversation that ends after
# the stop event, which the harness would report as lingering.
@pytest.mark.parametrize(("ends", "expected_lingering_timers"), [("unload", False), ("stop", True)])
async def test_unload_or_stop_during_a_turn_leaves_no_call(
    hass: HomeAssistant,
    agent_entry: MockConfigEntry,
    peer: LocalRealtimePeer,
    ends: str,
    expected_lingering_timers: bool,
) -> None:
    first = await converse(hass, agent_entry, "Hello")
    call = peer.call()
    peer.script.delay_before_response = 1.0
    turn = hass.async_create_task(
        converse(hass, agent_entry, "Still there?", first.conversation_id)
    )
    await until(lambda: call.responses == 2)

    if ends == "unload":
        assert await hass.config_entries.async_unload(agent_entry.entry_id)
    else:
        hass.bus.async_fire(EVENT_HOMEASSISTANT_STOP)
    result = await turn
    await hass.async_block_till_done()

    assert STOPPED in speech(result)
    assert peer.active_calls == 0
    # What went away opened nothing afterwards.
    assert peer.requests["calls"] == 1


async def test_unload_while_settings_are_confirmed_says_so(
    hass: HomeAssistant, agent_entry: MockConfigEntry, peer: LocalRealtimePeer
) -> None:
    first = await converse(hass, agent_entry, "Hello")
    call = peer.call()
    call.update_delay = 1.0
    updates = lambda: sum(e["type"] == "session.update" for e in call.received)  # noqa: E731
    turn = hass.async_create_task(
        conversation.async_converse(
            hass,
            "Now?",
            first.conversation_id,
            Context(),
            agent_id=agent_id(hass, agent_entry),
            extra_system_prompt="Speak like a pirate.",
        )
    )
    await until(lambda: updates() == 1)

    assert await hass.config_entries.async_unload(agent_entry.entry_id)
    result = await turn

    assert STOPPED in speech(result)
    assert peer.active_calls == 0


async def test_unload_while_connecting_leaves_no_call(
    hass: HomeAssistant, agent_entry: MockConfigEntry, peer: LocalRealtimePeer
) -> None:
    peer.connect_delay = 0.5
    turn = hass.async_create_task(converse(hass, agent_entry, "Hello"))
    await until(lambda: peer.requests["calls"] == 1)

    assert await hass.config_entries.async_unload(agent_entry.entry_id)
    result = await turn
    await hass.async_block_till_done()

    assert STOPPED in speech(result)
    assert peer.active_calls == 0


async def test_turns_stay_in_line_when_a_goodbye_closes_the_session(
    hass: HomeAssistant, agent_entry: MockConfigEntry, peer: LocalRealtimePeer
) -> None:
    """One turn waits while another says goodbye; a third arrives as the goodbye ends.

    The session closes under the second turn's feet: the two later turns must still take
    turns, on one new session, not open one each (the loser's would be left open).
    """
    peer.script.rules.append(Rule("goodbye", tool="end_session", then="Goodbye!"))
    first = await converse(hass, agent_entry, "Hello")
    cid = first.conversation_id
    peer.connect_delay = 0.3

    goodbye = hass.async_create_task(converse(hass, agent_entry, "Goodbye", cid))
    await until(lambda: peer.call().responses >= 2)
    waiting = hass.async_create_task(converse(hass, agent_entry, "first question", cid))
    await goodbye
    late = hass.async_create_task(converse(hass, agent_entry, "second question", cid))
    one, two = await asyncio.gather(waiting, late)

    if HA_REFUSES_CONCURRENT_TURNS:  # 2026.11: Home Assistant refuses a message meanwhile
        assert speech(one) == "This conversation is busy with another message"
    else:
        assert speech(one) == "You said: first question"
    assert speech(two) == "You said: second question"
    assert peer.requests["calls"] == 2
    assert peer.active_calls == 1


async def test_two_agents_in_one_conversation_have_their_own_sessions(
    hass: HomeAssistant, openai_at_peer: LocalRealtimePeer, loopback_ice: None
) -> None:
    peer = openai_at_peer
    entry = await async_set_up_entry(
        hass,
        agent("Big", model="gpt-realtime"),
        agent("Small", model="gpt-realtime-mini"),
    )
    registry = er.async_get(hass)
    big, small = (
        registry.async_get_entity_id("conversation", DOMAIN, subentry_id)
        for subentry_id in entry.subentries
    )

    first = await conversation.async_converse(hass, "Hello", None, Context(), agent_id=big)
    cid = first.conversation_id
    await conversation.async_converse(hass, "Hi there", cid, Context(), agent_id=small)
    await conversation.async_converse(hass, "And you?", cid, Context(), agent_id=big)

    assert peer.requests["calls"] == 2
    models = sorted(call.session["model"] for call in peer.calls.values())
    assert models == ["gpt-realtime", "gpt-realtime-mini"]
    big_call = next(c for c in peer.calls.values() if c.session["model"] == "gpt-realtime")
    # One conversation, one history: each agent is told what the other said.
    assert big_call.user_texts() == ["Hello", "Hi there", "And you?"]
    await hass.config_entries.async_unload(entry.entry_id)
    assert peer.active_calls == 0


async def test_drop_after_streaming_does_not_stream_again(
    hass: HomeAssistant, agent_entry: MockConfigEntry, peer: LocalRealtimePeer
) -> None:
    """What reached the chat log (and the pipeline listening to it) is never sent twice."""
    first = await converse(hass, agent_entry, "Hello")
    cid = first.conversation_id
    peer.script.delay_per_delta = 0.05
    streamed: list[str] = []
    started = asyncio.Event()

    def listener(chat_log: conversation.ChatLog, delta: dict[str, Any]) -> None:
        if "content" in delta:
            streamed.append(delta["content"])
            started.set()

    async def turn() -> conversation.ConversationResult:
        with (
            async_get_chat_session(hass, cid, None) as session,
            async_get_chat_log(hass, session, None, chat_log_delta_listener=listener),
        ):
            return await converse(hass, agent_entry, "Once upon a time there was", cid)

    task = hass.async_create_task(turn())
    await asyncio.wait_for(started.wait(), 5)
    await peer.call().vanish()
    result = await task

    assert is_error(result)
    said = "".join(streamed)
    assert said
    assert "You said: Once upon a time there was".startswith(said), said
    assert peer.requests["calls"] == 1


@pytest.mark.parametrize("ends", ["incomplete", "cancelled"])
async def test_calls_of_unfinished_responses_are_not_run(
    hass: HomeAssistant,
    lights: None,
    agent_entry: MockConfigEntry,
    peer: LocalRealtimePeer,
    ends: str,
) -> None:
    peer.script.rules.append(
        Rule("kitchen", tool="HassTurnOn", arguments={"name": "Kitchen light"}, ends=ends)
    )

    result = await converse(hass, agent_entry, "Turn on the kitchen light")
    await hass.async_block_till_done()

    assert hass.states.get("light.kitchen_light").state == "off"
    assert is_error(result)
    # The session is still good for the next turn.
    again = await converse(hass, agent_entry, "Hello", result.conversation_id)
    assert speech(again) == "You said: Hello"
    assert peer.requests["calls"] == 1


async def test_rejected_session_update_answers_with_the_servers_message(
    hass: HomeAssistant, agent_entry: MockConfigEntry, peer: LocalRealtimePeer
) -> None:
    from tests.test_conversation_errors import agent

    agent(hass, agent_entry).turn_timeout = 5
    first = await conversation.async_converse(
        hass, "Hello", None, Context(), agent_id=agent_id(hass, agent_entry)
    )
    cid = first.conversation_id
    call = peer.call()
    call.reject_updates.append(("invalid_value", "Instructions are too long for this model."))

    refused = await conversation.async_converse(
        hass,
        "Now?",
        cid,
        Context(),
        agent_id=agent_id(hass, agent_entry),
        extra_system_prompt="Speak like a pirate.",
    )

    assert is_error(refused)
    assert "Instructions are too long for this model." in speech(refused)
    # Nothing was taken as applied: the next turn sends the settings again, and they hold.
    again = await conversation.async_converse(
        hass,
        "And now?",
        cid,
        Context(),
        agent_id=agent_id(hass, agent_entry),
        extra_system_prompt="Speak like a pirate.",
    )
    assert speech(again) == "You said: And now?"
    assert "pirate" in call.session["instructions"]
    assert peer.requests["calls"] == 1


async def test_message_over_the_channel_limit_is_a_clear_error(
    hass: HomeAssistant, agent_entry: MockConfigEntry, peer: LocalRealtimePeer
) -> None:
    first = await converse(hass, agent_entry, "Hello")

    result = await converse(hass, agent_entry, "x" * 300_000, first.conversation_id)

    assert is_error(result)
    assert "too long to send to the assistant (293 kB)" in speech(result)
    # Nothing broke: the conversation goes on, on the same call.
    again = await converse(hass, agent_entry, "Shorter then", first.conversation_id)
    assert speech(again) == "You said: Shorter then"
    assert peer.requests["calls"] == 1


async def test_connect_sends_no_second_configuration(
    hass: HomeAssistant, agent_entry: MockConfigEntry, peer: LocalRealtimePeer
) -> None:
    """The call request carries the session config; a `session.update` after it is waste."""
    first = await converse(hass, agent_entry, "Hello")
    await converse(hass, agent_entry, "Again", first.conversation_id)

    kinds = [event["type"] for event in peer.call().received]
    assert "session.update" not in kinds
    assert "Home Assistant" in peer.session_configs[0]["instructions"]


async def test_time_in_the_prompt_costs_no_update_per_turn(
    hass: HomeAssistant,
    openai_at_peer: LocalRealtimePeer,
    loopback_ice: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without the Assist API, HA's prompt tells the time to the second: it goes in an item."""
    from datetime import timedelta

    from homeassistant.util import dt as dt_util

    peer = openai_at_peer
    entry = await async_set_up_entry(hass, agent("Chatty", llm_hass_api=None))
    real_now = dt_util.now
    first = await converse(hass, entry, "Hello")
    later = real_now() + timedelta(hours=2, minutes=3, seconds=4)
    monkeypatch.setattr(dt_util, "now", lambda time_zone=None: later)

    await converse(hass, entry, "What time is it?", first.conversation_id)

    call = peer.call()
    assert [e for e in call.received if e["type"] == "session.update"] == []
    assert "Current time is" not in call.session["instructions"]
    told = [
        part["text"]
        for item in call.items
        if item.get("type") == "message" and item.get("role") == "system"
        for part in item["content"]
    ]
    assert any(later.strftime("%H:%M:%S") in text for text in told), told
    await hass.config_entries.async_unload(entry.entry_id)
    assert peer.active_calls == 0


async def test_goodbye_still_ends_the_session_when_the_turn_moved_to_a_new_one(
    hass: HomeAssistant, agent_entry: MockConfigEntry, peer: LocalRealtimePeer
) -> None:
    """end_session ran on the first session, which then dropped before the goodbye: the turn's
    new session says it, and is the one that closes."""
    peer.script.rules.append(Rule("goodbye", tool="end_session", then="Goodbye!"))
    first = await converse(hass, agent_entry, "Hello")
    peer.call().vanish_after_tool_output = True

    result = await converse(hass, agent_entry, "Goodbye", first.conversation_id)
    await hass.async_block_till_done()

    assert speech(result) == "Goodbye!"
    assert result.continue_conversation is False
    assert peer.requests["calls"] == 2
    assert peer.active_calls == 0
    assert open_session(agent_entry, first.conversation_id) is None


async def test_a_tool_result_too_large_to_send_goes_back_as_an_error(
    hass: HomeAssistant, openai_at_peer: LocalRealtimePeer, loopback_ice: None
) -> None:
    """The model hears that the result was too large; the conversation goes on."""
    peer = openai_at_peer
    unregister = llm.async_register_api(hass, _DumpAPI(hass))
    entry = await async_set_up_entry(hass, agent("Dumper", llm_hass_api=["dump"]))
    peer.script.rules.append(Rule("dump", tool="dump_everything", then="Tool said: {output}"))

    result = await converse(hass, entry, "dump it all")
    again = await converse(hass, entry, "Hello", result.conversation_id)

    assert "too large to send" in speech(result)
    assert speech(again) == "You said: Hello"
    assert peer.requests["calls"] == 1
    await hass.config_entries.async_unload(entry.entry_id)
    unregister()


class _DumpTool(llm.Tool):
    name = "dump_everything"
    description = "Returns far more than a data channel message can hold."

    async def async_call(
        self, hass: HomeAssistant, tool_input: llm.ToolInput, llm_context: llm.LLMContext
    ) -> llm.ToolResult:
        return llm.ToolResult(data={"dump": "x" * 300_000})


class _DumpAPI(llm.API):
    def __init__(self, hass: HomeAssistant) -> None:
        super().__init__(hass=hass, id="dump", name="Dump")

    async def async_get_api_instance(self, llm_context: llm.LLMContext) -> llm.APIInstance:
        return llm.APIInstance(
            api=self, api_prompt="", llm_context=llm_context, tools=[_DumpTool()]
        )
