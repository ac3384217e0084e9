"""Warm Realtime sessions, one per conversation, for the lifetime of HA's chat session."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from homeassistant.components import conversation
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import chat_session

from .const import CONNECT_TIMEOUT, LOGGER
from .realtime.events import SessionConfig
from .realtime.session import CloseReason, RealtimeSession, SessionState
from .realtime.signaling import Signaling
from .toolset import ToolSet


@dataclass(slots=True)
class RealtimeConversation:
    """One conversation's session, and how much of its chat log the session has seen."""

    conversation_id: str
    session: RealtimeSession
    toolset: ToolSet
    seen: dict[int, conversation.Content] = field(default_factory=dict)
    """Chat log entries the session has (by identity: each turn works on a copy of the log's list,
    and two turns' copies may differ, but they share the entries)."""
    end_requested: bool = False
    """Set by the `end_session` tool: close once the model has said its last words."""

    def unseen(self, chat_log: conversation.ChatLog) -> list[conversation.Content]:
        """What the session has not been told yet (the system prompt is the instructions)."""
        return [c for c in chat_log.content if c.role != "system" and id(c) not in self.seen]

    def mark_seen(self, chat_log: conversation.ChatLog) -> None:
        self.seen.update((id(c), c) for c in chat_log.content if c.role != "system")

    @property
    def alive(self) -> bool:
        return self.session.state not in (SessionState.CLOSING, SessionState.CLOSED)


@dataclass(slots=True)
class ConversationSessions:
    """The open conversations of one config entry."""

    hass: HomeAssistant
    signaling: Callable[[], Signaling]
    connect_timeout: float = CONNECT_TIMEOUT
    opened: int = 0
    """Sessions opened so far (a follow-up turn should not add one)."""
    _conversations: dict[str, RealtimeConversation] = field(default_factory=dict)
    _locks: dict[str, asyncio.Lock] = field(default_factory=dict)
    _watched: set[str] = field(default_factory=set)

    def conversations(self) -> list[RealtimeConversation]:
        return list(self._conversations.values())

    def get(self, conversation_id: str) -> RealtimeConversation | None:
        return self._conversations.get(conversation_id)

    def lock(self, conversation_id: str) -> asyncio.Lock:
        """Turns of one conversation run one after another."""
        return self._locks.setdefault(conversation_id, asyncio.Lock())

    async def async_open(
        self, conversation_id: str, config: SessionConfig, toolset: ToolSet
    ) -> RealtimeConversation:
        """A new session for the conversation, replacing (and closing) any old one."""
        if (old := self._conversations.pop(conversation_id, None)) is not None:
            await old.session.close()
        session = RealtimeSession(self.signaling(), config, connect_timeout=self.connect_timeout)
        self.opened += 1
        await session.start()
        started = RealtimeConversation(conversation_id, session, toolset)
        self._conversations[conversation_id] = started
        self._close_with_chat_session(conversation_id)
        return started

    @callback
    def _close_with_chat_session(self, conversation_id: str) -> None:
        """Close the session when HA forgets the conversation (5 minutes idle)."""
        current = chat_session.current_session.get()
        if current is None or current.conversation_id != conversation_id:
            return
        if conversation_id in self._watched:
            return
        self._watched.add(conversation_id)

        @callback
        def forget() -> None:
            self._watched.discard(conversation_id)
            self.hass.async_create_background_task(
                self.async_close(conversation_id), f"aiy_realtime close {conversation_id}"
            )

        current.async_on_cleanup(forget)

    async def async_close(
        self, conversation_id: str, reason: CloseReason = CloseReason.USER_ENDED
    ) -> None:
        self._locks.pop(conversation_id, None)
        if (closing := self._conversations.pop(conversation_id, None)) is not None:
            LOGGER.debug("Closing the session of conversation %s: %s", conversation_id, reason)
            await closing.session.close(reason)

    async def async_close_all(self) -> None:
        conversations = list(self._conversations.values())
        self._conversations.clear()
        self._locks.clear()
        await asyncio.gather(*(c.session.close() for c in conversations))
