"""What a conversation holds, in the caller's terms; the session turns them into wire events."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class UserText:
    text: str


@dataclass(frozen=True, slots=True)
class AssistantText:
    """An earlier answer, told to a session that did not give it."""

    text: str


@dataclass(frozen=True, slots=True)
class SystemText:
    """Context for the model at this point of the conversation (not the session's instructions)."""

    text: str


@dataclass(frozen=True, slots=True)
class FunctionCall:
    """An earlier call of the model, told to a session that did not make it."""

    call_id: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class FunctionOutput:
    call_id: str
    output: str


type ConversationItem = UserText | AssistantText | SystemText | FunctionCall | FunctionOutput
