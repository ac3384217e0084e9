"""What the user sees when the Realtime side fails: a clear answer, never a stack trace."""

from __future__ import annotations

from pytest_homeassistant_custom_component.common import MockConfigEntry

from homeassistant.components import conversation
from homeassistant.components.conversation.agent_manager import async_get_agent
from homeassistant.config_entries import SOURCE_REAUTH
from homeassistant.core import HomeAssistant
from homeassistant.helpers import intent, issue_registry as ir

from custom_components.aiy_realtime.agent.turn import RealtimeAgent
from custom_components.aiy_realtime.const import DOMAIN, ISSUE_INSUFFICIENT_QUOTA
from custom_components.aiy_realtime.conversation import (
    AiyRealtimeConversationEntity,
    async_translated,
)
from tests.peer import LocalRealtimePeer
from tests.peer.http import HttpFault
from tests.peer.script import Rule
from tests.test_conversation import agent_id, converse, open_session, speech


def agent(hass: HomeAssistant, entry: MockConfigEntry) -> RealtimeAgent:
    entity = async_get_agent(hass, agent_id(hass, entry))
    assert isinstance(entity, AiyRealtimeConversationEntity)
    return entity.agent


def assert_error(result: conversation.ConversationResult, text: str) -> None:
    assert result.response.response_type is intent.IntentResponseType.ERROR
    assert text in speech(result), speech(result)


async def test_refused_key_starts_reauth(
    hass: HomeAssistant, agent_entry: MockConfigEntry, peer: LocalRealtimePeer
) -> None:
    peer.faults.add("calls", HttpFault(401, "invalid_api_key", "Incorrect API key provided."))

    result = await converse(hass, agent_entry, "Hello")
    await hass.async_block_till_done()

    assert_error(result, "The Realtime API refused the API key")
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [flow["context"]["source"] for flow in flows] == [SOURCE_REAUTH]


async def test_rate_limit_is_a_clear_message(
    hass: HomeAssistant, agent_entry: MockConfigEntry, peer: LocalRealtimePeer
) -> None:
    peer.faults.add("calls", HttpFault(429, "rate_limit_exceeded", "Slow down."))

    result = await converse(hass, agent_entry, "Hello")

    assert_error(result, "rate limiting this key")
    assert ir.async_get(hass).async_get_issue(DOMAIN, ISSUE_INSUFFICIENT_QUOTA) is None


async def test_no_quota_raises_a_repair_issue_until_an_answer_works(
    hass: HomeAssistant, agent_entry: MockConfigEntry, peer: LocalRealtimePeer
) -> None:
    peer.faults.add("calls", HttpFault(429, "insufficient_quota", "You exceeded your quota."))
    issues = ir.async_get(hass)

    result = await converse(hass, agent_entry, "Hello")

    assert_error(result, "no quota left")
    issue = issues.async_get_issue(DOMAIN, ISSUE_INSUFFICIENT_QUOTA)
    assert issue is not None
    assert issue.severity is ir.IssueSeverity.ERROR

    result = await converse(hass, agent_entry, "Hello")
    assert speech(result) == "You said: Hello"
    assert issues.async_get_issue(DOMAIN, ISSUE_INSUFFICIENT_QUOTA) is None


async def test_a_key_refused_mid_session_starts_reauth(
    hass: HomeAssistant, agent_entry: MockConfigEntry, peer: LocalRealtimePeer
) -> None:
    """As a spoken turn does: a response failed for the key asks for a new one."""
    first = await converse(hass, agent_entry, "Hello")
    peer.call().fail_responses.append(("invalid_request_error", "invalid_api_key"))

    result = await converse(hass, agent_entry, "Hello again", first.conversation_id)
    await hass.async_block_till_done()

    assert_error(result, "The Realtime API refused the API key")
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [flow["context"]["source"] for flow in flows] == [SOURCE_REAUTH]


async def test_response_failed_for_quota_mid_session(
    hass: HomeAssistant, agent_entry: MockConfigEntry, peer: LocalRealtimePeer
) -> None:
    first = await converse(hass, agent_entry, "Hello")
    peer.call().fail_responses.append(("insufficient_quota", "insufficient_quota"))

    result = await converse(hass, agent_entry, "Hello again", first.conversation_id)

    assert_error(result, "no quota left")
    assert ir.async_get(hass).async_get_issue(DOMAIN, ISSUE_INSUFFICIENT_QUOTA) is not None
    # The session itself is fine: the next turn goes through on it.
    again = await converse(hass, agent_entry, "And now?", first.conversation_id)
    assert speech(again) == "You said: And now?"
    assert peer.requests["calls"] == 1


async def test_other_failed_response_names_the_cause(
    hass: HomeAssistant, agent_entry: MockConfigEntry, peer: LocalRealtimePeer
) -> None:
    first = await converse(hass, agent_entry, "Hello")
    peer.call().fail_responses.append(("server_error", "server_error"))

    result = await converse(hass, agent_entry, "Hello again", first.conversation_id)

    assert_error(result, "could not answer: server_error")


async def test_refused_request_names_the_cause(
    hass: HomeAssistant, agent_entry: MockConfigEntry, peer: LocalRealtimePeer
) -> None:
    peer.faults.add("calls", HttpFault(400, "invalid_model", "The model does not exist."))

    result = await converse(hass, agent_entry, "Hello")

    assert_error(result, "refused the request: The model does not exist")


async def test_unreachable_endpoint_is_an_answer_not_an_exception(
    hass: HomeAssistant, agent_entry: MockConfigEntry, peer: LocalRealtimePeer
) -> None:
    peer.faults.add("calls", HttpFault(503, "overloaded", "Try later."))

    result = await converse(hass, agent_entry, "Hello")

    assert_error(result, "could not reach the assistant")
    assert open_session(agent_entry, result.conversation_id) is None


async def test_slow_model_times_out_with_an_answer(
    hass: HomeAssistant, agent_entry: MockConfigEntry, peer: LocalRealtimePeer
) -> None:
    agent(hass, agent_entry).turn_timeout = 0.5
    first = await converse(hass, agent_entry, "Hello")
    peer.script.delay_before_response = 3

    result = await converse(hass, agent_entry, "Are you there?", first.conversation_id)

    assert_error(result, "could not reach the assistant")
    # The stuck session is closed; the next turn gets a fresh one.
    assert open_session(agent_entry, first.conversation_id) is None
    peer.script.delay_before_response = 0
    again = await converse(hass, agent_entry, "Now?", first.conversation_id)
    assert speech(again) == "You said: Now?"


async def test_tool_rounds_are_bounded(
    hass: HomeAssistant, agent_entry: MockConfigEntry, peer: LocalRealtimePeer
) -> None:
    agent(hass, agent_entry).max_tool_rounds = 3
    peer.script.rules.append(Rule("loop", tool="GetDateTime", repeat=True))

    result = await converse(hass, agent_entry, "loop forever")

    assert "stopped after 3 rounds of actions" in speech(result)
    calls = [i for i in peer.call().items if i["type"] == "function_call"]
    assert len(calls) == 3
    assert peer.call().responses == 3


async def test_bad_tool_calls_go_back_to_the_model_as_errors(
    hass: HomeAssistant, agent_entry: MockConfigEntry, peer: LocalRealtimePeer
) -> None:
    peer.script.rules += [
        Rule("broken", tool="GetDateTime", arguments="{oops", then="{output}"),
        Rule("ghost", tool="no_such_tool", then="{output}"),
    ]

    broken = await converse(hass, agent_entry, "broken call")
    ghost = await converse(hass, agent_entry, "ghost call")

    assert "arguments are not valid JSON" in speech(broken)
    assert 'Tool \\"no_such_tool\\" not found' in speech(ghost)


async def test_a_language_without_our_texts_gets_english(
    hass: HomeAssistant, agent_entry: MockConfigEntry
) -> None:
    text = await async_translated(hass, "de", "tool_limit", rounds="3")

    assert text.startswith("I stopped after 3 rounds of actions")
