"""A chat log's content as Realtime conversation items, to bring a session up to date."""

from __future__ import annotations

import json

from homeassistant.components import conversation

from ..realtime.items import (
    AssistantText,
    ConversationItem,
    FunctionCall,
    FunctionOutput,
    UserText,
)
from .toolset import wire_name


def tool_output(result: conversation.ToolResultContent) -> str:
    """The `function_call_output` text for a tool result (errors included, the model reads them)."""
    return json.dumps(result.result.data, default=str)


def content_items(part: conversation.Content) -> list[ConversationItem]:
    """One chat log entry as items: a message, the calls an answer made, a call's output.

    The system prompt is no item (it is the session's instructions).
    """
    match part:
        case conversation.UserContent(content=text) if text:
            return [UserText(text)]
        case conversation.AssistantContent():
            items: list[ConversationItem] = []
            if part.content:
                items.append(AssistantText(part.content))
            items.extend(
                FunctionCall(call.id, wire_name(call.tool_name), json.dumps(call.tool_args))
                for call in part.tool_calls or ()
            )
            return items
        case conversation.ToolResultContent():
            return [FunctionOutput(part.tool_call_id, tool_output(part))]
        case _:
            return []
