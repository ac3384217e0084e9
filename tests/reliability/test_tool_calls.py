"""Bad tool calls from the model: each goes back to it as an error it can read, and the turn ends
in its answer.

The model (the peer) calls what a rule says and then says the call's output word for word, so the
answer shows what the model was given; the peer's own record of the `function_call_output` items
says the same.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from dataclasses import dataclass
import json
from typing import Any

import probatio
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import intent, llm

from tests.helpers import agent, async_set_up_entry
from tests.peer import LocalRealtimePeer
from tests.peer.script import Rule
from tests.reliability.tally import TALLY
from tests.test_conversation import converse, speech

API_ID = "reliability"
ROUNDS = 4
"""Each bad call, this many times, in one conversation."""
TOOL_TIMEOUT = 0.5


class _Tool(llm.Tool):
    integration = "reliability"

    def __init__(self, name: str, parameters: dict[Any, Any] | None = None) -> None:
        self.name = name
        self.description = f"The {name} tool"
        self.parameters = probatio.Schema(parameters or {})


class Raises(_Tool):
    async def async_call(
        self, hass: HomeAssistant, tool_input: llm.ToolInput, llm_context: llm.LLMContext
    ) -> llm.ToolResult:
        raise RuntimeError("the tool broke")


class RaisesHomeAssistantError(_Tool):
    async def async_call(
        self, hass: HomeAssistant, tool_input: llm.ToolInput, llm_context: llm.LLMContext
    ) -> llm.ToolResult:
        raise HomeAssistantError("the device is offline")


class Hangs(_Tool):
    async def async_call(
        self, hass: HomeAssistant, tool_input: llm.ToolInput, llm_context: llm.LLMContext
    ) -> llm.ToolResult:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


class Typed(_Tool):
    """Validates its arguments, the way HA's intent tools do."""

    async def async_call(
        self, hass: HomeAssistant, tool_input: llm.ToolInput, llm_context: llm.LLMContext
    ) -> llm.ToolResult:
        arguments = self.parameters(tool_input.tool_args)
        return llm.ToolResult(data={"counted_to": arguments["n"]})


class ReliabilityAPI(llm.API):
    def __init__(self, hass: HomeAssistant) -> None:
        super().__init__(hass=hass, id=API_ID, name="Reliability tools")

    async def async_get_api_instance(self, llm_context: llm.LLMContext) -> llm.APIInstance:
        return llm.APIInstance(
            api=self,
            api_prompt="Tools that misbehave.",
            llm_context=llm_context,
            tools=[
                Raises("raises"),
                RaisesHomeAssistantError("offline"),
                Hangs("hangs"),
                Typed("count_to", {probatio.Required("n"): int}),
            ],
        )


@dataclass(frozen=True, slots=True)
class BadCall:
    case: str
    rule: Rule
    says: str
    """What the error the model gets says (part of it)."""


BAD_CALLS = [
    BadCall("unknown tool name", Rule("ghost", tool="no_such_tool"), "no_such_tool"),
    BadCall(
        "arguments not JSON", Rule("broken", tool="count_to", arguments="{n: 3"), "not valid JSON"
    ),
    BadCall(
        "arguments not an object",
        Rule("listed", tool="count_to", arguments="[3]"),
        "must be a JSON object",
    ),
    BadCall(
        "argument of the wrong type",
        Rule("typed", tool="count_to", arguments={"n": "many"}),
        "expected int",
    ),
    BadCall("tool raises HomeAssistantError", Rule("offline", tool="offline"), "offline"),
    BadCall("tool raises another exception", Rule("raises", tool="raises"), "the tool broke"),
    BadCall("tool hangs", Rule("hangs", tool="hangs"), "did not finish"),
]


@pytest.fixture
async def tools_entry(
    hass: HomeAssistant, openai_at_peer: LocalRealtimePeer, loopback_ice: None
) -> AsyncGenerator[MockConfigEntry]:
    unregister = llm.async_register_api(hass, ReliabilityAPI(hass))
    entry = await async_set_up_entry(hass, agent(llm_hass_api=[API_ID]))
    yield entry
    if entry.state is ConfigEntryState.LOADED:
        await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    unregister()
    assert openai_at_peer.active_calls == 0
    assert openai_at_peer.all_violations() == []


async def test_bad_tool_calls_go_back_to_the_model_and_the_turn_ends(
    hass: HomeAssistant,
    tools_entry: MockConfigEntry,
    peer: LocalRealtimePeer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from custom_components.aiy_realtime.chat import tool_guard

    monkeypatch.setattr(tool_guard, "TOOL_TIMEOUT", TOOL_TIMEOUT)
    peer.script.rules += [
        *(
            Rule(bad.rule.when, tool=bad.rule.tool, arguments=bad.rule.arguments, then="{output}")
            for bad in BAD_CALLS
        ),
        Rule("fine", tool="count_to", arguments={"n": 3}, then="{output}"),
    ]
    cid = (await converse(hass, tools_entry, "Hello")).conversation_id

    for number in range(ROUNDS):
        for bad in BAD_CALLS:
            outputs_before = _outputs(peer)
            async with asyncio.timeout(10):
                result = await converse(hass, tools_entry, f"{bad.rule.when} {number}", cid)
            answer = speech(result)
            assert result.response.response_type is not intent.IntentResponseType.ERROR, answer
            (output,) = _outputs(peer)[len(outputs_before) :]
            error = json.loads(output)
            assert "error" in error, output
            assert bad.says in output, output
            assert bad.says in answer, answer  # the model read the error and answered with it
            fine = await converse(hass, tools_entry, f"fine {number}", cid)
            assert json.loads(speech(fine)) == {"counted_to": 3}, speech(fine)
            TALLY.count(
                f"bad tool call: {bad.case}",
                "error to the model, turn answered, next call works",
            )
    assert peer.requests["calls"] == 1, "every bad call was answered on the same session"


def _outputs(peer: LocalRealtimePeer) -> list[str]:
    return [
        str(item["output"])
        for call in peer.all_calls
        for item in call.items
        if item["type"] == "function_call_output"
    ]
