"""A Realtime session: one connection, one state machine, one active response at a time."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Sequence
import contextlib
from dataclasses import dataclass
from enum import StrEnum
import json
import logging
from typing import Any

from aiortc import MediaStreamTrack, RTCIceServer

from . import events
from .audio import AudioPump, AudioSink
from .errors import RealtimeConnectError, RealtimeError, RealtimeSessionClosed
from .events import Event, OutputModality, ServerEvent, SessionConfig
from .responses import ResponseResult, ToolCall, Turn, TurnResult, Usage
from .signaling import Signaling
from .tools import ToolHandler, run_tool_call
from .transport import WebRTCTransport

_LOGGER = logging.getLogger(__name__)


class SessionState(StrEnum):
    CONNECTING = "connecting"
    READY = "ready"
    LISTENING = "listening"
    THINKING = "thinking"
    SPEAKING = "speaking"
    CLOSING = "closing"
    CLOSED = "closed"


class CloseReason(StrEnum):
    USER_ENDED = "user_ended"
    MODEL_ENDED = "model_ended"
    IDLE_TIMEOUT = "idle_timeout"
    EXPIRED = "expired"
    PEER_GONE = "peer_gone"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class SessionEvent:
    """What listeners are told. `kind` is one of: state, text_delta, user_transcript, tool_call,
    response_done, error, rate_limits, protocol_warning."""

    kind: str
    data: Any = None


type Listener = Callable[[SessionEvent], None]


@dataclass(slots=True)
class _ResponseRequest:
    event: Event
    turn: Turn


@dataclass(slots=True)
class _ActiveResponse:
    response_id: str
    turn: Turn
    text: str = ""
    transcript: str = ""


class RealtimeSession:
    """Owns a WebRTC connection to a Realtime model and offers what the layers above need.

    Without a `speaker` the answerer's audio is dropped on arrival (a text session hears nothing).
    """

    def __init__(
        self,
        signaling: Signaling,
        config: SessionConfig,
        *,
        tool_handler: ToolHandler | None = None,
        microphone: MediaStreamTrack | None = None,
        speaker: AudioSink | None = None,
        ice_servers: Sequence[RTCIceServer] = (),
        connect_timeout: float = 15.0,
        max_tool_rounds: int = 5,
    ) -> None:
        self.config = config
        self.tool_handler = tool_handler
        self.max_tool_rounds = max_tool_rounds
        self._connect_timeout = connect_timeout
        self._microphone = microphone
        self._speaker = speaker
        self._transport = WebRTCTransport(
            signaling,
            microphone=microphone,
            receive_audio=speaker is not None,
            ice_servers=ice_servers,
            on_message=self._on_message,
            on_remote_audio=self._on_remote_audio,
            on_lost=self._on_lost,
        )
        self._listeners: list[Listener] = []
        self._pump: AudioPump | None = None
        self._state = SessionState.CONNECTING
        self.close_reason: CloseReason | None = None
        self.close_detail: str | None = None
        self._closed = asyncio.Event()
        self._close_task: asyncio.Task[None] | None = None
        self._updated: asyncio.Future[dict[str, Any]] | None = None
        self._pending: deque[_ResponseRequest] = deque()
        self._requested: _ResponseRequest | None = None
        self._active: _ActiveResponse | None = None
        self._speaking = False
        self._audio_idle = asyncio.Event()
        self._audio_idle.set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._tool_calls: dict[str, list[ToolCall]] = {}
        self.usage = Usage()
        self.rate_limits: list[dict[str, Any]] = []
        self.session_id: str | None = None

    # -- observation ---------------------------------------------------------------------------

    @property
    def state(self) -> SessionState:
        return self._state

    @property
    def call_id(self) -> str | None:
        return self._transport.call_id

    @property
    def audio_pump(self) -> AudioPump | None:
        return self._pump

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call `listener` for every session event; returns the unsubscribe function."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def _emit(self, kind: str, data: Any = None) -> None:
        event = SessionEvent(kind, data)
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                _LOGGER.exception("session listener failed on %s", kind)

    def _set_state(self, state: SessionState) -> None:
        if state is not self._state:
            self._state = state
            self._emit("state", state)

    def _idle_state(self) -> SessionState:
        return SessionState.LISTENING if self.config.turn_detection else SessionState.READY

    def _settle_state(self) -> None:
        if self._state in (SessionState.CLOSING, SessionState.CLOSED):
            return
        if self._speaking:
            self._set_state(SessionState.SPEAKING)
        elif self._active is not None or self._requested is not None:
            self._set_state(SessionState.THINKING)
        else:
            self._set_state(self._idle_state())

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect and configure; returns when `session.updated` confirmed the config."""
        try:
            await self._transport.open(self.config.to_session(), self._connect_timeout)
            await self.configure(self.config, timeout=self._connect_timeout)
        except BaseException as err:
            await self.close(CloseReason.ERROR, detail=str(err) or type(err).__name__)
            raise
        self._settle_state()

    async def configure(self, config: SessionConfig, timeout: float = 10.0) -> None:
        """Send `session.update` and wait for the server to confirm it."""
        self._check_open()
        self.config = config
        self._updated = asyncio.get_running_loop().create_future()
        self._send(events.session_update(config))
        try:
            async with asyncio.timeout(timeout):
                await asyncio.shield(self._updated)
        except TimeoutError as err:
            raise RealtimeConnectError("the session was not confirmed in time") from err

    async def wait_closed(self) -> None:
        await self._closed.wait()

    async def close(
        self, reason: CloseReason = CloseReason.USER_ENDED, detail: str | None = None
    ) -> None:
        """Stop everything: pending turns, audio, the peer connection, the call. Idempotent."""
        if self._close_task is None:
            self._close_task = asyncio.get_running_loop().create_task(self._close(reason, detail))
        await asyncio.shield(self._close_task)

    async def _close(self, reason: CloseReason, detail: str | None) -> None:
        self.close_reason = reason
        self.close_detail = detail
        self._set_state(SessionState.CLOSING)
        error = detail or reason.value
        for request in (*self._pending, self._requested):
            if request is not None:
                request.turn.finish("closed", error, reason.value)
        self._pending.clear()
        self._requested = None
        if self._active is not None:
            self._active.turn.finish("closed", error, reason.value)
            self._active = None
        if self._updated is not None and not self._updated.done():
            self._updated.set_exception(RealtimeSessionClosed(error))
            self._updated.exception()  # retrieved: nobody may be waiting
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._microphone is not None:
            self._microphone.stop()
        await self._transport.close()
        if self._pump is not None:
            await self._pump.close()
            self._pump = None
        self._audio_idle.set()
        self._speaking = False
        self._set_state(SessionState.CLOSED)
        self._closed.set()
        _LOGGER.debug("session closed: %s %s", reason, detail or "")

    def _on_lost(self, why: str) -> None:
        self._spawn(self.close(CloseReason.PEER_GONE, why))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _check_open(self) -> None:
        if self._state in (SessionState.CLOSING, SessionState.CLOSED):
            raise RealtimeSessionClosed(self.close_detail or "the session is closed")

    def _send(self, event: Event) -> None:
        self._transport.send(json.dumps(event))

    def _on_remote_audio(self, track: MediaStreamTrack) -> None:
        # The transport hands audio over only when there is a speaker to play it.
        if self._pump is None and self._speaker is not None:
            self._pump = AudioPump(track, self._speaker)

    # -- what callers do -----------------------------------------------------------------------

    def send_text(self, text: str) -> None:
        """Add a user message to the conversation (no response yet)."""
        self._check_open()
        self._send(events.user_text(text))

    def add_item(self, event: Event) -> None:
        """Send a prepared `conversation.item.create` (history re-sent to a new session)."""
        self._check_open()
        self._send(event)

    def create_response(
        self,
        *,
        instructions: str | None = None,
        output_modality: OutputModality | None = None,
        max_output_tokens: int | None = None,
        run_tools: bool = True,
    ) -> Turn:
        """Ask for a response; queued while another is active.

        With `run_tools` the turn follows tool rounds through the session's tool handler;
        without, it ends at the first response and the caller answers its tool calls
        (`send_tool_output`, then a new response).
        """
        self._check_open()
        turn = Turn(run_tools=run_tools)
        event = events.response_create(
            instructions=instructions,
            output_modality=output_modality,
            max_output_tokens=max_output_tokens,
        )
        self._pending.append(_ResponseRequest(event, turn))
        self._pump_requests()
        return turn

    def send_tool_output(self, call_id: str, output: str) -> None:
        """Answer a function call the caller ran itself."""
        self._check_open()
        self._send(events.function_call_output(call_id, output))

    async def ask(self, text: str, **response: Any) -> TurnResult:
        """A text in, the turn's result out."""
        self.send_text(text)
        return await self.create_response(**response).result()

    def cancel(self) -> None:
        """Cancel the active response, if any (queued ones stay queued)."""
        if self._active is not None or self._requested is not None:
            self._send(events.response_cancel())

    def clear_output_audio(self) -> None:
        """Stop the assistant's audio now (WebRTC only)."""
        if self._speaking:
            self._send(events.output_audio_buffer_clear())

    def interrupt(self) -> None:
        """Stop talking now: cancel the response and drop the audio already sent."""
        self._check_open()
        self.cancel()
        self.clear_output_audio()

    async def wait_audio_done(self, timeout: float) -> bool:
        """Wait until no audio plays; False on timeout."""
        try:
            async with asyncio.timeout(timeout):
                await self._audio_idle.wait()
        except TimeoutError:
            return False
        return True

    async def end(
        self,
        goodbye: str | None = None,
        reason: CloseReason = CloseReason.USER_ENDED,
        timeout: float = 20.0,
    ) -> None:
        """End gracefully: say goodbye, let the audio finish, then close."""
        if self._state in (SessionState.CLOSING, SessionState.CLOSED):
            return
        if goodbye:
            try:
                async with asyncio.timeout(timeout):
                    await self.create_response(instructions=goodbye).result()
                    await self._audio_idle.wait()
            except TimeoutError:
                _LOGGER.debug("goodbye did not finish within %s s", timeout)
            except RealtimeError:
                pass
        await self.close(reason)

    # -- responses ------------------------------------------------------------------------------

    def _pump_requests(self) -> None:
        if self._active is not None or self._requested is not None or not self._pending:
            return
        if self._state in (SessionState.CLOSING, SessionState.CLOSED):
            return
        self._requested = self._pending.popleft()
        self._send(self._requested.event)
        self._settle_state()

    def _on_message(self, message: str) -> None:
        try:
            event = json.loads(message)
            kind = event["type"]
            if not isinstance(kind, str):
                raise TypeError(kind)
        except ValueError, KeyError, TypeError:
            _LOGGER.warning("ignoring a malformed event from the server: %.200s", message)
            self._emit("protocol_warning", message[:200])
            return
        try:
            self._dispatch(kind, event)
        except Exception:
            _LOGGER.exception("failed to handle server event %s", kind)
            self._emit("protocol_warning", kind)

    def _dispatch(self, kind: str, event: Event) -> None:
        match kind:
            case ServerEvent.SESSION_CREATED:
                self.session_id = event.get("session", {}).get("id")
            case ServerEvent.SESSION_UPDATED:
                if self._updated is not None and not self._updated.done():
                    self._updated.set_result(event.get("session", {}))
            case ServerEvent.RESPONSE_CREATED:
                response_id = event["response"]["id"]
                request, self._requested = self._requested, None
                turn = request.turn if request is not None else self._server_turn()
                self._active = _ActiveResponse(response_id, turn)
                self._settle_state()
            case ServerEvent.OUTPUT_TEXT_DELTA | ServerEvent.OUTPUT_TRANSCRIPT_DELTA:
                active = self._active
                if active is not None and active.response_id == event.get("response_id"):
                    delta = event.get("delta", "")
                    if kind == ServerEvent.OUTPUT_TEXT_DELTA:
                        active.text += delta
                    else:
                        active.transcript += delta
                    active.turn.add_delta(delta)
                self._emit("text_delta", event)
            case ServerEvent.FUNCTION_ARGUMENTS_DONE:
                call = ToolCall(event["call_id"], event.get("name", ""), event.get("arguments", ""))
                self._tool_calls.setdefault(event.get("response_id", ""), []).append(call)
                self._emit("tool_call", call)
            case ServerEvent.RESPONSE_DONE:
                self._response_done(event["response"])
            case ServerEvent.AUDIO_STARTED:
                self._speaking = True
                self._audio_idle.clear()
                self._settle_state()
            case ServerEvent.AUDIO_STOPPED | ServerEvent.AUDIO_CLEARED:
                self._speaking = False
                self._audio_idle.set()
                self._settle_state()
            case ServerEvent.INPUT_TRANSCRIPT_DELTA | ServerEvent.INPUT_TRANSCRIPT_COMPLETED:
                self._emit("user_transcript", event)
            case ServerEvent.RATE_LIMITS_UPDATED:
                self.rate_limits = event.get("rate_limits", [])
                self._emit("rate_limits", self.rate_limits)
            case ServerEvent.ERROR:
                self._server_error(event.get("error") or {})
            case _:
                pass

    def _server_turn(self) -> Turn:
        """A turn the server started (voice activity); it has no caller waiting on it."""
        return Turn(origin="server")

    def _response_done(self, response: dict[str, Any]) -> None:
        response_id = response.get("id", "")
        active = self._active
        if active is None or active.response_id != response_id:
            _LOGGER.debug("response.done for unknown response %s", response_id)
            return
        self._active = None
        usage = Usage.from_event(response.get("usage"))
        self.usage = self.usage + usage
        calls = self._tool_calls.pop(response_id, [])
        result = ResponseResult(
            response_id=response_id,
            status=response.get("status", "completed"),
            status_details=response.get("status_details"),
            text=active.text,
            transcript=active.transcript,
            usage=usage,
            tool_calls=calls,
        )
        turn = active.turn
        turn.responses.append(result)
        self._emit("response_done", result)
        if result.status == "completed" and calls and turn.run_tools:
            # Side effects only for a completed response: a cancelled one may be retried.
            self._spawn(self._answer_tool_calls(turn, calls))
        elif result.status == "failed":
            error = (result.status_details or {}).get("error") or {}
            code = error.get("code") or error.get("type")
            turn.finish("failed", error.get("message") or code or "failed", code)
        else:
            turn.finish(result.status)
        self._pump_requests()
        self._settle_state()

    async def _answer_tool_calls(self, turn: Turn, calls: list[ToolCall]) -> None:
        outputs = [await run_tool_call(self.tool_handler, call) for call in calls]
        if self._state in (SessionState.CLOSING, SessionState.CLOSED):
            return
        for call, output in zip(calls, outputs, strict=True):
            self._send(events.function_call_output(call.call_id, output))
        turn.tool_rounds += 1
        if turn.tool_rounds >= self.max_tool_rounds:
            turn.finish("tool_limit", f"stopped after {turn.tool_rounds} rounds of tool calls")
            return
        # Ahead of anything queued: the model is mid-answer.
        self._pending.appendleft(_ResponseRequest(events.response_create(), turn))
        self._pump_requests()

    def _server_error(self, error: dict[str, Any]) -> None:
        code = error.get("code")
        message = error.get("message", "")
        _LOGGER.debug("server error %s: %s", code, message)
        self._emit("error", error)
        if code == "session_expired":
            self._spawn(self.close(CloseReason.EXPIRED, message or code))
            return
        request = self._requested
        if request is None or error.get("event_id") != request.event.get("event_id"):
            return
        self._requested = None
        if code == "conversation_already_has_active_response":
            # A server-started response won the race: ours goes first in line again.
            self._pending.appendleft(request)
        else:
            request.turn.finish("failed", message or code, code)
            self._pump_requests()
        self._settle_state()
