"""What the client sends: GA client events, built as the SDK's typed params so mypy checks them.

Every event carries an `event_id`, so a server `error` can name the event it refers to.
"""

from __future__ import annotations

import itertools
from typing import Literal

from openai.types.realtime import (
    ConversationItemCreateEventParam,
    ConversationItemParam,
    OutputAudioBufferClearEventParam,
    RealtimeClientEventParam,
    RealtimeResponseCreateParamsParam,
    RealtimeSessionCreateRequestParam,
    ResponseCancelEventParam,
    ResponseCreateEventParam,
    SessionUpdateEventParam,
)

from .config import OutputModality
from .items import (
    AssistantText,
    ConversationItem,
    FunctionCall,
    FunctionOutput,
    SystemText,
    UserText,
)

type ClientEvent = RealtimeClientEventParam
type ItemEvent = ConversationItemCreateEventParam

_event_ids = itertools.count(1)


def new_event_id() -> str:
    return f"evt_aiy_{next(_event_ids)}"


def session_update(session: RealtimeSessionCreateRequestParam) -> SessionUpdateEventParam:
    return {"type": "session.update", "event_id": new_event_id(), "session": session}


def item_create(item: ConversationItem) -> ItemEvent:
    """`conversation.item.create` for one item, appended to the conversation."""
    return {"type": "conversation.item.create", "event_id": new_event_id(), "item": _item(item)}


def _item(item: ConversationItem) -> ConversationItemParam:
    match item:
        case UserText(text):
            return {
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": text}],
            }
        case SystemText(text):
            return {
                "type": "message",
                "role": "system",
                "content": [{"type": "input_text", "text": text}],
            }
        case AssistantText(text):
            return {
                "type": "message",
                "role": "assistant",
                "content": [{"type": "output_text", "text": text}],
            }
        case FunctionCall(call_id, name, arguments):
            return {
                "type": "function_call",
                "call_id": call_id,
                "name": name,
                "arguments": arguments,
            }
        case FunctionOutput(call_id, output):
            return {"type": "function_call_output", "call_id": call_id, "output": output}


def response_create(
    *,
    instructions: str | None = None,
    output_modality: OutputModality | None = None,
    max_output_tokens: int | Literal["inf"] | None = None,
    tool_choice: Literal["none", "auto", "required"] | None = None,
    metadata: dict[str, str] | None = None,
) -> ResponseCreateEventParam:
    response: RealtimeResponseCreateParamsParam = {}
    if instructions is not None:
        response["instructions"] = instructions
    if tool_choice is not None:
        response["tool_choice"] = tool_choice

    if output_modality is not None:
        response["output_modalities"] = [output_modality]
    if max_output_tokens is not None:
        response["max_output_tokens"] = max_output_tokens
    if metadata:
        response["metadata"] = metadata
    return {"type": "response.create", "event_id": new_event_id(), "response": response}


def response_cancel(response_id: str | None = None) -> ResponseCancelEventParam:
    event: ResponseCancelEventParam = {"type": "response.cancel", "event_id": new_event_id()}
    if response_id:
        event["response_id"] = response_id
    return event


def output_audio_buffer_clear() -> OutputAudioBufferClearEventParam:
    return {"type": "output_audio_buffer.clear", "event_id": new_event_id()}
