"""A conversation's Realtime session and the turn running on it, shared by agent and terminal.

What a session has been told of Home Assistant's chat log, and what our own tools change in the
turn that runs them: the typed agent (agent/) and the voice terminal (terminal/) both keep their
sessions in step with a chat log this way, and our own tools (llm.py, the `llm` platform) reach
the running turn here.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field

from homeassistant.components import conversation

from ..realtime.session import RealtimeSession
from .toolset import ToolSet

type SessionKey = tuple[str, str]
"""(agent, conversation id): two agents in one conversation never share a session."""


@dataclass(slots=True)
class RealtimeConversation:
    """One conversation's session, and how much of its chat log the session has seen."""

    key: SessionKey
    session: RealtimeSession
    toolset: ToolSet
    seen: dict[int, conversation.Content] = field(default_factory=dict)
    """Chat log entries the session has (by identity: each turn works on a copy of the log's list,
    and two turns' copies may differ, but they share the entries)."""
    context: str | None = None
    """The volatile context (the time) the session was last told, as a conversation item."""

    def unseen(self, chat_log: conversation.ChatLog) -> list[conversation.Content]:
        """What the session has not been told yet (the system prompt is the instructions)."""
        return [c for c in chat_log.content if c.role != "system" and id(c) not in self.seen]

    def mark_seen(self, content: conversation.Content) -> None:
        self.seen[id(content)] = content

    @property
    def alive(self) -> bool:
        return self.session.alive


@dataclass(slots=True)
class TurnState:
    """What our own tools change in the turn that runs them (whichever session answers it)."""

    end_requested: bool = False
    """Set by the `end_session` tool: close once the model has said its last words."""


current_turn: ContextVar[TurnState | None] = ContextVar("aiy_realtime_turn", default=None)
"""The running turn of one of our agents (HA runs tools in tasks that inherit it)."""
