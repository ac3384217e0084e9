"""What the client sends: GA client events, built as the SDK's typed params so mypy checks them.

Every event carries an `event_id`, so a server `error` can name the event it refers to.
"""

from __future__ import annotations

import itertools
from typing import Literal

from openai.types.realtime import (
    ConversationItemCreateEventParam,
    InputAudioBufferClearEventParam,
    InputAudioBufferCommitEventParam,
    OutputAudioBufferClearEventParam,
    RealtimeClientEventParam,
    RealtimeResponseCreateParamsParam,
    RealtimeSessionCreateRequestParam,
    ResponseCancelEventParam,
    ResponseCreateEventParam,
    SessionUpdateEventParam,
)

from .config import OutputModality

type ClientEvent = RealtimeClientEventParam
type ItemEvent = ConversationItemCreateEventParam

_event_ids = itertools.count(1)


def new_event_id() -> str:
    return f"evt_aiy_{next(_event_ids)}"


def session_update(session: RealtimeSessionCreateRequestParam) -> SessionUpdateEventParam:
    return {"type": "session.update", "event_id": new_event_id(), "session": session}


def user_text(text: str) -> ItemEvent:
    return {
        "type": "conversation.item.create",
        "event_id": new_event_id(),
        "item": {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": text}],
        },
    }


def system_text(text: str) -> ItemEvent:
    """Context for the model at this point of the conversation (not the session's instructions)."""
    return {
        "type": "conversation.item.create",
        "event_id": new_event_id(),
        "item": {
            "type": "message",
            "role": "system",
            "content": [{"type": "input_text", "text": text}],
        },
    }


def assistant_text(text: str) -> ItemEvent:
    """Earlier assistant turns, re-sent when a conversation moves to a new session."""
    return {
        "type": "conversation.item.create",
        "event_id": new_event_id(),
        "item": {
            "type": "message",
            "role": "assistant",
            "content": [{"type": "output_text", "text": text}],
        },
    }


def function_call(call_id: str, name: str, arguments: str) -> ItemEvent:
    """An earlier function call of the model, re-sent when a conversation moves to a new session."""
    return {
        "type": "conversation.item.create",
        "event_id": new_event_id(),
        "item": {"type": "function_call", "call_id": call_id, "name": name, "arguments": arguments},
    }


def function_call_output(call_id: str, output: str) -> ItemEvent:
    return {
        "type": "conversation.item.create",
        "event_id": new_event_id(),
        "item": {"type": "function_call_output", "call_id": call_id, "output": output},
    }


def response_create(
    *,
    instructions: str | None = None,
    output_modality: OutputModality | None = None,
    max_output_tokens: int | Literal["inf"] | None = None,
    out_of_band: bool = False,
    metadata: dict[str, str] | None = None,
) -> ResponseCreateEventParam:
    response: RealtimeResponseCreateParamsParam = {}
    if instructions is not None:
        response["instructions"] = instructions
    if output_modality is not None:
        response["output_modalities"] = [output_modality]
    if max_output_tokens is not None:
        response["max_output_tokens"] = max_output_tokens
    if out_of_band:
        response["conversation"] = "none"
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


def input_audio_buffer_commit() -> InputAudioBufferCommitEventParam:
    return {"type": "input_audio_buffer.commit", "event_id": new_event_id()}


def input_audio_buffer_clear() -> InputAudioBufferClearEventParam:
    return {"type": "input_audio_buffer.clear", "event_id": new_event_id()}
