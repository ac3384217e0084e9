"""Warm Realtime sessions, one per agent and conversation, for the life of HA's chat session."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import chat_session

from ..chat.conversation import RealtimeConversation, SessionKey
from ..chat.toolset import ToolSet
from ..const import CONNECT_TIMEOUT, LOGGER
from ..realtime.config import SessionConfig
from ..realtime.session import CloseReason, RealtimeSession
from ..realtime.signaling import Signaling


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
