"""A chat log's content as Realtime conversation items, to bring a new session up to date."""

from __future__ import annotations

from collections.abc import Iterable
import json

from homeassistant.components import conversation

from .realtime import client_events as events
from .realtime.client_events import ItemEvent
from .toolset import wire_name


def tool_output(result: conversation.ToolResultContent) -> str:
    """The `function_call_output` text for a tool result (errors included, the model reads them)."""
    return json.dumps(result.result.data, default=str)


def content_to_items(content: Iterable[conversation.Content]) -> list[ItemEvent]:
    """User and assistant messages, function calls and their outputs; the system prompt is not an
    item (it goes in the session's instructions)."""
    items: list[ItemEvent] = []
    for part in content:
        match part:
            case conversation.UserContent(content=text) if text:
                items.append(events.user_text(text))
            case conversation.AssistantContent():
                if part.content:
                    items.append(events.assistant_text(part.content))
                for call in part.tool_calls or ():
                    items.append(
                        events.function_call(
                            call.id, wire_name(call.tool_name), json.dumps(call.tool_args)
                        )
                    )
            case conversation.ToolResultContent():
                items.append(events.function_call_output(part.tool_call_id, tool_output(part)))
            case _:
                pass
    return items
