"""Warm Realtime sessions, one per agent and conversation, for the life of HA's chat session."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

from homeassistant.components import conversation
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import chat_session

from .const import CONNECT_TIMEOUT, LOGGER
from .realtime.config import SessionConfig
from .realtime.session import CloseReason, RealtimeSession
from .realtime.signaling import Signaling
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


class SessionsClosed(Exception):
    """The entry is unloading or Home Assistant is stopping: no session opens any more."""


@dataclass(slots=True)
class _Line:
    """The turns of one key, one after another; kept while any turn holds or waits for it."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0


@dataclass(slots=True)
class ConversationSessions:
    """The open conversations of one config entry."""

    hass: HomeAssistant
    signaling: Callable[[], Signaling]
    connect_timeout: float = CONNECT_TIMEOUT
    opened: int = 0
    """Sessions opened so far (a follow-up turn should not add one)."""
    closed: bool = False
    """Set when the entry unloads or HA stops; then nothing opens."""
    _conversations: dict[SessionKey, RealtimeConversation] = field(default_factory=dict)
    _starting: set[RealtimeSession] = field(default_factory=set)
    _lines: dict[SessionKey, _Line] = field(default_factory=dict)
    _watched: set[str] = field(default_factory=set)

    def conversations(self) -> list[RealtimeConversation]:
        return list(self._conversations.values())

    def get(self, key: SessionKey) -> RealtimeConversation | None:
        return self._conversations.get(key)

    @asynccontextmanager
    async def turn(self, key: SessionKey) -> AsyncIterator[None]:
        """Hold the line of `key`: its turns run one after another.

        The line outlives any session of the key (closing a session mid-turn must not let the
        next turn run beside one still waiting) and goes when no turn holds or awaits it.
        """
        line = self._lines.setdefault(key, _Line())
        line.users += 1
        try:
            async with line.lock:
                yield
        finally:
            line.users -= 1
            if line.users == 0:
                self._lines.pop(key, None)

    async def async_open(
        self, key: SessionKey, config: SessionConfig, toolset: ToolSet
    ) -> RealtimeConversation:
        """A new session for the key, replacing (and closing) any old one.

        Raises SessionsClosed once the entry has closed its sessions, even when that happened
        while this one was connecting (it is hung up then).
        """
        self._refuse_when_closed()
        if (old := self._conversations.pop(key, None)) is not None:
            await old.session.close()
        session = RealtimeSession(self.signaling(), config, connect_timeout=self.connect_timeout)
        self.opened += 1
        self._starting.add(session)
        try:
            await session.start()
        except Exception as err:
            self._refuse_when_closed(err)
            raise
        finally:
            self._starting.discard(session)
        if self.closed:  # while it connected: it must not outlive the entry
            await session.close()
            self._refuse_when_closed()
        started = RealtimeConversation(key, session, toolset)
        self._conversations[key] = started
        self._close_with_chat_session(key[1])
        return started

    def _refuse_when_closed(self, cause: Exception | None = None) -> None:
        if self.closed:
            raise SessionsClosed("the assistant's sessions are closed") from cause

    @callback
    def _close_with_chat_session(self, conversation_id: str) -> None:
        """Close the conversation's sessions when HA forgets it (5 minutes idle)."""
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
                self.async_close_conversation(conversation_id),
                f"aiy_realtime close {conversation_id}",
            )

        current.async_on_cleanup(forget)

    async def async_close(
        self, key: SessionKey, reason: CloseReason = CloseReason.USER_ENDED
    ) -> None:
        if (closing := self._conversations.pop(key, None)) is not None:
            LOGGER.debug("Closing the session of %s: %s", key, reason)
            await closing.session.close(reason)

    async def async_close_conversation(self, conversation_id: str) -> None:
        """Close the sessions of every agent in one conversation."""
        keys = [key for key in self._conversations if key[1] == conversation_id]
        await asyncio.gather(*(self.async_close(key) for key in keys))

    async def async_close_all(self) -> None:
        """Close every session, those still connecting too, and open none from now on."""
        self.closed = True
        sessions = [c.session for c in self._conversations.values()] + list(self._starting)
        self._conversations.clear()
        await asyncio.gather(*(session.close(CloseReason.SHUTDOWN) for session in sessions))
