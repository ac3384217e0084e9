"""The states a session goes through, why it ends, and what its listeners are told."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class SessionState(StrEnum):
    CONNECTING = "connecting"
    READY = "ready"
    LISTENING = "listening"
    THINKING = "thinking"
    SPEAKING = "speaking"
    CLOSING = "closing"
    CLOSED = "closed"


GONE = (SessionState.CLOSING, SessionState.CLOSED)


class CloseReason(StrEnum):
    USER_ENDED = "user_ended"
    MODEL_ENDED = "model_ended"
    IDLE_TIMEOUT = "idle_timeout"
    EXPIRED = "expired"
    PEER_GONE = "peer_gone"
    SHUTDOWN = "shutdown"
    """Its owner went away (the integration unloaded, Home Assistant stopped)."""
    DEVICE_LOST = "device_lost"
    """The microphone's recorder or the speaker's player failed (exited, unplugged, refused)."""

    ERROR = "error"


@dataclass(frozen=True, slots=True)
class SessionEvent:
    """What listeners are told. `kind` is one of: state, text_delta, user_transcript,
    user_transcript_failed, input_committed, speech_started, speech_stopped, input_timeout,
    server_turn (a Turn the server started), tool_call, response_done, error, rate_limits,
    protocol_warning."""

    kind: str
    data: Any = None


type Listener = Callable[[SessionEvent], None]


@dataclass(slots=True)
class PendingUpdate:
    """A `session.update` sent and not yet confirmed (or refused) by the server."""

    event_id: str
    confirmed: asyncio.Future[None]
