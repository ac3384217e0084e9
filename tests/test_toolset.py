"""HA tools as Realtime function tools, and chat history as Realtime items."""

from __future__ import annotations

import re
from typing import Any

import probatio

from homeassistant.components import conversation
from homeassistant.core import HomeAssistant
from homeassistant.helpers import llm

from custom_components.aiy_realtime.chat.history import content_items
from custom_components.aiy_realtime.chat.toolset import ToolSet, wire_name
from custom_components.aiy_realtime.llm import async_get_tools
from custom_components.aiy_realtime.realtime import client_events
from custom_components.aiy_realtime.realtime.items import (
    AssistantText,
    FunctionCall,
    FunctionOutput,
    UserText,
)

ALLOWED = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


class FakeTool(llm.Tool):
    def __init__(self, name: str, parameters: probatio.Schema | None = None) -> None:
        self.name = name
        self.description = f"does {name}"
        self.parameters = parameters or probatio.Schema({})
        self.integration = "test"

    async def async_call(
        self, hass: HomeAssistant, tool_input: llm.ToolInput, llm_context: llm.LLMContext
    ) -> llm.ToolResult:
        return llm.ToolResult(data={})


def api_with(hass: HomeAssistant, *tools: llm.Tool) -> llm.APIInstance:
    class TestAPI(llm.API):
        async def async_get_api_instance(self, llm_context: llm.LLMContext) -> llm.APIInstance:
            raise NotImplementedError

    context = llm.LLMContext("test", None, "en", "conversation", None)
    return llm.APIInstance(
        TestAPI(hass=hass, id="t", name="T"), "", context, list(tools), llm.selector_serializer
    )


def test_names_openai_accepts_map_back(hass: HomeAssistant) -> None:
    long_name = "script__" + "turn_on_everything_in_the_house_" * 3
    odd_name = "assist__script.morning routine"
    toolset = ToolSet.from_api(
        api_with(hass, FakeTool("intent__HassTurnOn"), FakeTool(long_name), FakeTool(odd_name))
    )

    names = [tool.name for tool in toolset.tools]
    assert names[0] == "intent__HassTurnOn"  # valid names are kept as they are
    assert all(ALLOWED.match(name) for name in names)
    assert [toolset.ha_name(name) for name in names] == [
        "intent__HassTurnOn",
        long_name,
        odd_name,
    ]
    assert wire_name(long_name) == names[1]  # stable, so re-sent history matches
    assert toolset.ha_name("made_up") == "made_up"


def test_parameters_become_json_schema(hass: HomeAssistant) -> None:
    schema = probatio.Schema(
        {probatio.Required("name"): str, probatio.Optional("brightness"): probatio.Coerce(int)}
    )
    (tool,) = ToolSet.from_api(api_with(hass, FakeTool("set", schema))).tools

    event: dict[str, Any] = tool.as_param()
    assert event["type"] == "function"
    assert event["parameters"]["type"] == "object"
    assert event["parameters"]["required"] == ["name"]
    assert set(event["parameters"]["properties"]) == {"name", "brightness"}


def test_no_api_means_no_tools() -> None:
    assert ToolSet.from_api(None).tools == []


def test_history_becomes_items() -> None:
    call = llm.ToolInput("intent__HassTurnOn", {"name": "Kitchen"}, id="call_1")
    history = [
        conversation.SystemContent("You are helpful."),
        conversation.UserContent("Turn on the kitchen"),
        conversation.AssistantContent("agent", "On it.", tool_calls=[call]),
        conversation.ToolResultContent(
            "agent", "call_1", "intent__HassTurnOn", llm.ToolResult({"success": True})
        ),
        conversation.AssistantContent("agent", "Done."),
    ]
    items = [item for part in history for item in content_items(part)]

    assert items == [
        UserText("Turn on the kitchen"),
        AssistantText("On it."),
        FunctionCall("call_1", "intent__HassTurnOn", '{"name": "Kitchen"}'),
        FunctionOutput("call_1", '{"success": true}'),
        AssistantText("Done."),
    ]
    # On the wire, as the GA protocol has them.
    assert client_events.item_create(items[2])["item"] == {
        "type": "function_call",
        "call_id": "call_1",
        "name": "intent__HassTurnOn",
        "arguments": '{"name": "Kitchen"}',
    }


def test_end_session_is_offered_to_our_agents_only(hass: HomeAssistant) -> None:
    ours = llm.LLMContext("aiy_realtime", None, "en", "conversation", None)
    theirs = llm.LLMContext("openai_conversation", None, "en", "conversation", None)

    tools = async_get_tools(hass, ours, "assist")
    assert tools is not None
    assert [tool.name for tool in tools.tools] == ["aiy_realtime__end_session"]
    assert async_get_tools(hass, theirs, "assist") is None
