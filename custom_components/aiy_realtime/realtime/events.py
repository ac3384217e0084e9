"""Realtime GA events: builders for what the client sends, names of what the server sends.

Only GA names and fields are ever built here (no `modalities`, `temperature`, top-level `voice`,
`input_audio_transcription`): the beta shape is shut down.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
import itertools
from typing import Any, Literal

type Event = dict[str, Any]
type OutputModality = Literal["text", "audio"]

_event_ids = itertools.count(1)


def _event(kind: str, **fields: Any) -> Event:
    """A client event with an id, so a server `error` can name the event it refers to."""
    return {"type": kind, "event_id": f"evt_aiy_{next(_event_ids)}", **fields}


class ServerEvent(StrEnum):
    """Server event types the client acts on."""

    ERROR = "error"
    SESSION_CREATED = "session.created"
    SESSION_UPDATED = "session.updated"
    CONVERSATION_ITEM_ADDED = "conversation.item.added"
    CONVERSATION_ITEM_DONE = "conversation.item.done"
    SPEECH_STARTED = "input_audio_buffer.speech_started"
    SPEECH_STOPPED = "input_audio_buffer.speech_stopped"
    INPUT_TRANSCRIPT_DELTA = "conversation.item.input_audio_transcription.delta"
    INPUT_TRANSCRIPT_COMPLETED = "conversation.item.input_audio_transcription.completed"
    INPUT_TRANSCRIPT_FAILED = "conversation.item.input_audio_transcription.failed"
    RESPONSE_CREATED = "response.created"
    RESPONSE_DONE = "response.done"
    OUTPUT_TEXT_DELTA = "response.output_text.delta"
    OUTPUT_TEXT_DONE = "response.output_text.done"
    OUTPUT_TRANSCRIPT_DELTA = "response.output_audio_transcript.delta"
    OUTPUT_TRANSCRIPT_DONE = "response.output_audio_transcript.done"
    FUNCTION_ARGUMENTS_DELTA = "response.function_call_arguments.delta"
    FUNCTION_ARGUMENTS_DONE = "response.function_call_arguments.done"
    AUDIO_STARTED = "output_audio_buffer.started"
    AUDIO_STOPPED = "output_audio_buffer.stopped"
    AUDIO_CLEARED = "output_audio_buffer.cleared"
    RATE_LIMITS_UPDATED = "rate_limits.updated"


@dataclass(slots=True)
class FunctionTool:
    """A function the model may call, with its arguments as JSON Schema."""

    name: str
    description: str = ""
    parameters: dict[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})

    def as_event_field(self) -> dict[str, Any]:
        return {
            "type": "function",
            "name": self.name,
            "description": self.description,
            "parameters": self.parameters,
        }


@dataclass(slots=True)
class SessionConfig:
    """What `session.update` sets, in our terms; `to_session()` gives the GA wire shape."""

    model: str | None = None
    instructions: str | None = None
    output_modality: OutputModality = "audio"
    voice: str | None = None
    speed: float | None = None
    transcription_model: str | None = None
    transcription_language: str | None = None
    turn_detection: dict[str, Any] | None = None
    noise_reduction: Literal["near_field", "far_field"] | None = None
    tools: list[FunctionTool] = field(default_factory=list)
    tool_choice: str = "auto"
    max_output_tokens: int | Literal["inf"] | None = None

    def to_session(self) -> dict[str, Any]:
        session: dict[str, Any] = {
            "type": "realtime",
            "output_modalities": [self.output_modality],
        }
        if self.model:
            session["model"] = self.model
        if self.instructions is not None:
            session["instructions"] = self.instructions
        audio_input: dict[str, Any] = {"turn_detection": self.turn_detection}
        if self.transcription_model:
            transcription: dict[str, Any] = {"model": self.transcription_model}
            if self.transcription_language:
                transcription["language"] = self.transcription_language
            audio_input["transcription"] = transcription
        audio_input["noise_reduction"] = (
            {"type": self.noise_reduction} if self.noise_reduction else None
        )
        audio_output: dict[str, Any] = {}
        if self.voice:
            audio_output["voice"] = self.voice
        if self.speed is not None:
            audio_output["speed"] = self.speed
        session["audio"] = {"input": audio_input, "output": audio_output}
        session["tools"] = [tool.as_event_field() for tool in self.tools]
        session["tool_choice"] = self.tool_choice
        if self.max_output_tokens is not None:
            session["max_output_tokens"] = self.max_output_tokens
        return session


def server_vad(
    threshold: float = 0.5,
    prefix_padding_ms: int = 300,
    silence_duration_ms: int = 500,
    idle_timeout_ms: int | None = None,
) -> dict[str, Any]:
    """Turn detection by voice activity; the server creates and interrupts responses."""
    detection: dict[str, Any] = {
        "type": "server_vad",
        "threshold": threshold,
        "prefix_padding_ms": prefix_padding_ms,
        "silence_duration_ms": silence_duration_ms,
        "create_response": True,
        "interrupt_response": True,
    }
    if idle_timeout_ms is not None:
        detection["idle_timeout_ms"] = idle_timeout_ms
    return detection


def semantic_vad(eagerness: Literal["low", "medium", "high", "auto"] = "auto") -> dict[str, Any]:
    """Turn detection by what the user says, not only by silence."""
    return {
        "type": "semantic_vad",
        "eagerness": eagerness,
        "create_response": True,
        "interrupt_response": True,
    }


def session_update(config: SessionConfig) -> Event:
    return _event("session.update", session=config.to_session())


def user_text(text: str) -> Event:
    return _event(
        "conversation.item.create",
        item={"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]},
    )


def assistant_text(text: str) -> Event:
    """Earlier assistant turns, re-sent when a conversation moves to a new session."""
    return _event(
        "conversation.item.create",
        item={
            "type": "message",
            "role": "assistant",
            "content": [{"type": "output_text", "text": text}],
        },
    )


def function_call(call_id: str, name: str, arguments: str) -> Event:
    """An earlier function call of the model, re-sent when a conversation moves to a new session."""
    return _event(
        "conversation.item.create",
        item={"type": "function_call", "call_id": call_id, "name": name, "arguments": arguments},
    )


def function_call_output(call_id: str, output: str) -> Event:
    return _event(
        "conversation.item.create",
        item={"type": "function_call_output", "call_id": call_id, "output": output},
    )


def response_create(
    *,
    instructions: str | None = None,
    output_modality: OutputModality | None = None,
    max_output_tokens: int | Literal["inf"] | None = None,
    out_of_band: bool = False,
    metadata: dict[str, str] | None = None,
) -> Event:
    response: dict[str, Any] = {}
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
    return _event("response.create", response=response)


def response_cancel(response_id: str | None = None) -> Event:
    if response_id:
        return _event("response.cancel", response_id=response_id)
    return _event("response.cancel")


def output_audio_buffer_clear() -> Event:
    return _event("output_audio_buffer.clear")


def input_audio_buffer_commit() -> Event:
    return _event("input_audio_buffer.commit")


def input_audio_buffer_clear() -> Event:
    return _event("input_audio_buffer.clear")
