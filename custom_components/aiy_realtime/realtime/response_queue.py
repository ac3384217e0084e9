"""The responses of one session: asked for one at a time, told apart from the ones the server
starts by itself, and finished into the turns that wait on them."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
import itertools
import logging
from typing import Literal

from openai.types.realtime import RealtimeResponse, ResponseCreateEventParam

from . import client_events
from .client_events import ClientEvent
from .config import OutputModality
from .errors import RealtimeError, RealtimeSessionClosed
from .responses import ResponseResult, Turn

_LOGGER = logging.getLogger(__name__)

REQUEST_KEY = "aiy_request"
"""The `metadata` key that ties a `response.created` to the `response.create` that asked."""
BUSY = "conversation_already_has_active_response"


@dataclass(slots=True)
class _Request:
    request_id: str
    event: ResponseCreateEventParam
    turn: Turn


@dataclass(slots=True)
class _Active:
    response_id: str
    turn: Turn
    guessed_for: str | None = None
    """The request this untagged response was taken to answer (a server that does not echo
    metadata); a response tagged with that request later is the real answer."""
    text: str = ""
    transcript: str = ""


class ResponseQueue:
    """One active response at a time (the API's rule); requests wait their turn in line.

    The server may start a response by itself (voice activity) while ours is on its way: each
    `response.create` carries a request id in its metadata, so the server's response becomes a
    turn of its own and ours, refused as busy, goes first in line again.
    """

    def __init__(self, send: Callable[[ClientEvent], None]) -> None:
        self._send = send
        self._ids = itertools.count(1)
        self._waiting: deque[_Request] = deque()
        self._requested: _Request | None = None
        self._active: _Active | None = None
        self.server_starts_responses = False
        """True with turn detection on: a response without our metadata is the server's."""
        self.server_turns_run_tools = True
        """Whether the session runs the tools of responses the server starts (else a listener
        of `server_turn` events does, through the chat log)."""

    @property
    def busy(self) -> bool:
        """A response is asked for or in progress."""
        return self._active is not None or self._requested is not None

    @property
    def active_response_id(self) -> str | None:
        return self._active.response_id if self._active is not None else None

    def ask(
        self,
        turn: Turn,
        *,
        instructions: str | None = None,
        output_modality: OutputModality | None = None,
        max_output_tokens: int | Literal["inf"] | None = None,
        tool_choice: Literal["none", "auto", "required"] | None = None,
        first: bool = False,
    ) -> None:
        """Queue a `response.create` for `turn`; `first` puts it ahead of the line (a tool round:
        the model is mid-answer)."""
        request_id = f"req_{next(self._ids)}"
        event = client_events.response_create(
            instructions=instructions,
            output_modality=output_modality,
            max_output_tokens=max_output_tokens,
            tool_choice=tool_choice,
            metadata={REQUEST_KEY: request_id},
        )
        request = _Request(request_id, event, turn)
        if first:
            self._waiting.appendleft(request)
        else:
            self._waiting.append(request)
        self.pump()

    def pump(self) -> None:
        """Send the next request when nothing is asked for or in progress."""
        while not self.busy and self._waiting:
            request = self._waiting.popleft()
            try:
                self._send(request.event)
            except RealtimeSessionClosed as err:
                request.turn.finish("closed", str(err))
            except RealtimeError as err:
                request.turn.finish("failed", str(err), err.code)
            else:
                self._requested = request

    def on_created(self, response: RealtimeResponse) -> tuple[Turn, bool] | None:
        """The turn a new response belongs to, and whether a caller asked for it (else the
        server started it: a turn of its own, which nobody waits on); None for a response that
        cannot be one (the server keeps one active at a time, and starts none of its own with
        turn detection off), which is ignored rather than let it stand in for the real one."""
        request = self._requested
        tag = (response.metadata or {}).get(REQUEST_KEY)
        active = self._active
        if active is not None and tag is not None and tag == active.guessed_for:
            self._active = _Active(response.id or "", active.turn)
            return active.turn, True
        # A server that does not echo metadata: with turn detection off, the server starts no
        # response of its own, so this one is ours.
        guessed = response.metadata is None and not self.server_starts_responses
        ours = request is not None and (tag == request.request_id or guessed)
        if not ours and active is not None and self.server_starts_responses and tag is None:
            # The server starts a response of its own only once the last one is over: that
            # one's response.done was lost. Holding on to it would ignore every later one.
            _LOGGER.debug("response %s supersedes %s", response.id, active.response_id)
            self._active = None
            active.turn.finish("incomplete", "superseded by a new response")
        if not ours and (self._active is not None or not self.server_starts_responses):
            _LOGGER.debug(
                "ignoring response.created for %s: %s",
                response.id,
                "another response is active" if self._active else "nobody asked for it",
            )
            return None
        if ours and request is not None:
            self._requested = None
            self._active = _Active(
                response.id or "", request.turn, request.request_id if tag is None else None
            )
            return request.turn, True
        if tag is not None:
            _LOGGER.debug("response %s answers request %s, not waited for", response.id, tag)
        turn = Turn(run_tools=self.server_turns_run_tools)
        self._active = _Active(response.id or "", turn)
        return turn, False

    def on_delta(self, response_id: str, delta: str, *, transcript: bool) -> None:
        active = self._active
        if active is None or active.response_id != response_id:
            return
        if transcript:
            active.transcript += delta
        else:
            active.text += delta
        active.turn.add_delta(delta)

    def on_done(self, response: RealtimeResponse) -> tuple[Turn, ResponseResult] | None:
        """The finished response's turn and result; None for a response we never saw start."""
        active = self._active
        if active is None or active.response_id != response.id:
            _LOGGER.debug("response.done for unknown response %s", response.id)
            return None
        self._active = None
        result = ResponseResult.from_response(response, active.text, active.transcript)
        active.turn.responses.append(result)
        return active.turn, result

    def on_error(self, event_id: str | None, code: str | None, message: str) -> bool:
        """Take a server `error` about our outstanding request; False if it is about another."""
        request = self._requested
        if request is None or event_id is None or event_id != request.event.get("event_id"):
            return False
        self._requested = None
        if code == BUSY:
            self._waiting.appendleft(request)
        else:
            request.turn.finish("failed", message or code, code)
        self.pump()
        return True

    def close(self, error: str, reason: str) -> None:
        """Finish every turn still waiting: the session is going away."""
        turns = [request.turn for request in self._waiting]
        if self._requested is not None:
            turns.append(self._requested.turn)
        if self._active is not None:
            turns.append(self._active.turn)
        self._waiting.clear()
        self._requested = None
        self._active = None
        for turn in turns:
            turn.finish("closed", error, reason)
