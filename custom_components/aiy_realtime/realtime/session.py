"""A Realtime session: one connection, one state machine, one active response at a time."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Sequence
import contextlib
from dataclasses import dataclass
from enum import StrEnum
import json
import logging
from typing import Any, Literal

from aiortc import MediaStreamTrack, RTCIceServer
from openai.types.realtime import (
    ConversationItemInputAudioTranscriptionCompletedEvent,
    ConversationItemInputAudioTranscriptionDeltaEvent,
    ConversationItemInputAudioTranscriptionFailedEvent,
    InputAudioBufferSpeechStartedEvent,
    InputAudioBufferSpeechStoppedEvent,
    InputAudioBufferTimeoutTriggered,
    RateLimitsUpdatedEvent,
    RealtimeErrorEvent,
    RealtimeResponse,
    ResponseAudioTranscriptDeltaEvent,
    ResponseCreatedEvent,
    ResponseDoneEvent,
    ResponseFunctionCallArgumentsDoneEvent,
    ResponseTextDeltaEvent,
    SessionCreatedEvent,
    SessionUpdatedEvent,
)
from openai.types.realtime.realtime_response_status import Error, RealtimeResponseStatus
from openai.types.realtime.realtime_server_event import (
    OutputAudioBufferCleared,
    OutputAudioBufferStarted,
    OutputAudioBufferStopped,
)
import pydantic

from . import client_events
from .audio import AudioPump, AudioSink
from .client_events import ClientEvent, ItemEvent
from .config import OutputModality, SessionConfig
from .errors import (
    RealtimeBadRequestError,
    RealtimeConnectError,
    RealtimeError,
    RealtimeSessionClosed,
)
from .response_queue import ResponseQueue
from .responses import ResponseResult, ToolCall, Turn, TurnResult, Usage
from .server_events import (
    MalformedEvent,
    Route,
    decode,
    handle,
    ignore,
    without_unknown_items,
)
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


_GONE = (SessionState.CLOSING, SessionState.CLOSED)


class CloseReason(StrEnum):
    USER_ENDED = "user_ended"
    MODEL_ENDED = "model_ended"
    IDLE_TIMEOUT = "idle_timeout"
    EXPIRED = "expired"
    PEER_GONE = "peer_gone"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class SessionEvent:
    """What listeners are told. `kind` is one of: state, text_delta, user_transcript,
    user_transcript_failed, speech_started, speech_stopped, input_timeout, tool_call,
    response_done, error, rate_limits, protocol_warning."""

    kind: str
    data: Any = None


type Listener = Callable[[SessionEvent], None]


@dataclass(slots=True)
class _PendingUpdate:
    event_id: str
    confirmed: asyncio.Future[None]


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
        """The settings the server has confirmed (or the call request carried)."""
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
        self._created: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._update: _PendingUpdate | None = None
        self._configuring = asyncio.Lock()
        self._responses = ResponseQueue(self._send)
        self._responses.server_starts_responses = config.turn_detection is not None
        self._speaking = False
        self._audio_idle = asyncio.Event()
        self._audio_idle.set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._unknown_types: set[str] = set()
        self._routes = self._server_events()
        self.usage = Usage()
        self.rate_limits: list[dict[str, Any]] = []
        self.session_id: str | None = None

    # -- observation ---------------------------------------------------------------------------

    @property
    def state(self) -> SessionState:
        return self._state

    @property
    def alive(self) -> bool:
        """Connected and not ending: what is sent now can still be answered."""
        return self._state not in _GONE and self._transport.is_open

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
        if self._state in _GONE or self._state is SessionState.CONNECTING:
            return
        if self._speaking:
            self._set_state(SessionState.SPEAKING)
        elif self._responses.busy:
            self._set_state(SessionState.THINKING)
        else:
            self._set_state(self._idle_state())

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect; returns once the server has created the session with the config.

        The call request carries the config, so no `session.update` follows it.
        """
        try:
            async with asyncio.timeout(self._connect_timeout):
                await self._transport.open(self.config.to_session(), self._connect_timeout)
                await asyncio.shield(self._created)
        except TimeoutError as err:
            await self.close(CloseReason.ERROR, "no session.created in time")
            raise RealtimeConnectError(f"no connection within {self._connect_timeout:g} s") from err
        except BaseException as err:
            await self.close(CloseReason.ERROR, detail=str(err) or type(err).__name__)
            raise
        self._set_state(self._idle_state())

    async def configure(self, config: SessionConfig, timeout: float = 10.0) -> None:
        """Bring the session to `config` with one `session.update`, if anything changed.

        Raises RealtimeBadRequestError with the server's words when it refuses; the settings
        are then not taken as applied. A model or voice change needs a new session instead
        (`SessionConfig.needs_new_session`).
        """
        async with self._configuring:
            update = self.config.update_to(config)
            if update is None:
                return
            event = client_events.session_update(update)
            pending = _PendingUpdate(event["event_id"], asyncio.get_running_loop().create_future())
            self._update = pending
            try:
                self._send(event)
                async with asyncio.timeout(timeout):
                    await asyncio.shield(pending.confirmed)
            except TimeoutError as err:
                raise RealtimeConnectError("the new session settings were not confirmed") from err
            finally:
                self._update = None
            self.config = config
            self._responses.server_starts_responses = config.turn_detection is not None

    async def wait_closed(self) -> None:
        await self._closed.wait()

    async def close(
        self, reason: CloseReason = CloseReason.USER_ENDED, detail: str | None = None
    ) -> None:
        """Stop everything: pending turns, audio, the peer connection, the call. Idempotent."""
        await asyncio.shield(self._begin_close(reason, detail))

    def _begin_close(self, reason: CloseReason, detail: str | None) -> asyncio.Task[None]:
        """Mark the session as ending now (nothing more is sent) and start closing it."""
        if self._close_task is None:
            self.close_reason = reason
            self.close_detail = detail
            self._set_state(SessionState.CLOSING)
            self._close_task = asyncio.get_running_loop().create_task(self._close())
        return self._close_task

    async def _close(self) -> None:
        reason = self.close_reason or CloseReason.USER_ENDED
        error = self.close_detail or reason.value
        self._responses.close(error, reason.value)
        for waiter in (self._created, self._update.confirmed if self._update else None):
            if waiter is not None and not waiter.done():
                waiter.set_exception(RealtimeSessionClosed(error))
                waiter.exception()  # retrieved: nobody may be waiting
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
        _LOGGER.debug("session closed: %s %s", reason, self.close_detail or "")

    def _on_lost(self, why: str) -> None:
        self._begin_close(CloseReason.PEER_GONE, why)

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _send(self, event: ClientEvent) -> None:
        """Send one client event; RealtimeSessionClosed once the session is going away."""
        if self._state in _GONE:
            raise RealtimeSessionClosed(self.close_detail or "the session is closed")
        try:
            self._transport.send(json.dumps(event))
        except RealtimeSessionClosed:
            self._begin_close(CloseReason.PEER_GONE, "the events channel closed")
            raise

    def _on_remote_audio(self, track: MediaStreamTrack) -> None:
        # The transport hands audio over only when there is a speaker to play it.
        if self._pump is None and self._speaker is not None:
            self._pump = AudioPump(track, self._speaker)

    # -- what callers do -----------------------------------------------------------------------

    def send_text(self, text: str) -> None:
        """Add a user message to the conversation (no response yet)."""
        self._send(client_events.user_text(text))

    def add_item(self, event: ItemEvent) -> None:
        """Send a prepared `conversation.item.create` (history, context)."""
        self._send(event)

    def create_response(
        self,
        *,
        instructions: str | None = None,
        output_modality: OutputModality | None = None,
        max_output_tokens: int | Literal["inf"] | None = None,
        run_tools: bool = True,
    ) -> Turn:
        """Ask for a response; queued while another is active.

        With `run_tools` the turn follows tool rounds through the session's tool handler;
        without, it ends at the first response and the caller answers its tool calls
        (`send_tool_output`, then a new response).
        """
        if self._state in _GONE:
            raise RealtimeSessionClosed(self.close_detail or "the session is closed")
        turn = Turn(run_tools=run_tools)
        self._responses.ask(
            turn,
            instructions=instructions,
            output_modality=output_modality,
            max_output_tokens=max_output_tokens,
        )
        self._settle_state()
        return turn

    def send_tool_output(self, call_id: str, output: str) -> None:
        """Answer a function call the caller ran itself."""
        self._send(client_events.function_call_output(call_id, output))

    async def ask(self, text: str, **response: Any) -> TurnResult:
        """A text in, the turn's result out."""
        self.send_text(text)
        return await self.create_response(**response).result()

    def cancel(self) -> None:
        """Cancel the active response, if any (queued ones stay queued)."""
        if self._responses.busy:
            self._send(client_events.response_cancel(self._responses.active_response_id))

    def clear_output_audio(self) -> None:
        """Stop the assistant's audio now (WebRTC only)."""
        if self._speaking:
            self._send(client_events.output_audio_buffer_clear())

    def interrupt(self) -> None:
        """Stop talking now: cancel the response and drop the audio already sent."""
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
        if self._state in _GONE:
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

    # -- what the server says ------------------------------------------------------------------

    def _server_events(self) -> dict[str, Route]:
        """Every server event type of the GA protocol and what this session does with it.

        A test holds this table against the SDK's union of server events: a type the SDK adds
        fails it until it is placed here.
        """
        return {
            # The session itself
            "session.created": handle(
                SessionCreatedEvent, self._on_session_created, unreadable=self._session_created
            ),
            "session.updated": handle(
                SessionUpdatedEvent, self._on_session_updated, unreadable=self._session_updated
            ),
            "error": handle(RealtimeErrorEvent, self._on_error),
            "rate_limits.updated": handle(RateLimitsUpdatedEvent, self._on_rate_limits),
            "conversation.created": ignore("one conversation per session, nothing to keep"),
            # Responses
            "response.created": handle(ResponseCreatedEvent, self._on_response_created),
            "response.output_text.delta": handle(ResponseTextDeltaEvent, self._on_text_delta),
            "response.output_audio_transcript.delta": handle(
                ResponseAudioTranscriptDeltaEvent, self._on_transcript_delta
            ),
            "response.function_call_arguments.done": handle(
                ResponseFunctionCallArgumentsDoneEvent, self._on_call_arguments_done
            ),
            "response.done": handle(
                ResponseDoneEvent, self._on_response_done, unreadable=self._on_odd_response_done
            ),
            "response.output_text.done": ignore("the text is the deltas', whole in response.done"),
            "response.output_audio_transcript.done": ignore(
                "the transcript is the deltas', whole in response.done"
            ),
            "response.output_audio.delta": ignore("audio comes as RTP on WebRTC, not as events"),
            "response.output_audio.done": ignore(
                "playback ends at output_audio_buffer.stopped, not when the model is done"
            ),
            "response.content_part.added": ignore("parts are read whole from response.done"),
            "response.content_part.done": ignore("parts are read whole from response.done"),
            "response.output_item.added": ignore("items are read whole from response.done"),
            "response.output_item.done": ignore("items are read whole from response.done"),
            "response.function_call_arguments.delta": ignore(
                "calls run with whole arguments, after response.done"
            ),
            # The assistant's audio (WebRTC)
            "output_audio_buffer.started": handle(OutputAudioBufferStarted, self._on_audio_started),
            "output_audio_buffer.stopped": handle(OutputAudioBufferStopped, self._on_audio_ended),
            "output_audio_buffer.cleared": handle(OutputAudioBufferCleared, self._on_audio_ended),
            # The user's audio
            "input_audio_buffer.speech_started": handle(
                InputAudioBufferSpeechStartedEvent, self._on_speech_started
            ),
            "input_audio_buffer.speech_stopped": handle(
                InputAudioBufferSpeechStoppedEvent, self._on_speech_stopped
            ),
            "input_audio_buffer.timeout_triggered": handle(
                InputAudioBufferTimeoutTriggered, self._on_input_timeout
            ),
            "input_audio_buffer.committed": ignore("its item is announced by conversation.item.*"),
            "input_audio_buffer.cleared": ignore("only ever follows a clear of our own"),
            "input_audio_buffer.dtmf_event_received": ignore("keypad tones come from SIP calls"),
            "conversation.item.input_audio_transcription.delta": handle(
                ConversationItemInputAudioTranscriptionDeltaEvent, self._on_user_transcript
            ),
            "conversation.item.input_audio_transcription.completed": handle(
                ConversationItemInputAudioTranscriptionCompletedEvent, self._on_user_transcript
            ),
            "conversation.item.input_audio_transcription.failed": handle(
                ConversationItemInputAudioTranscriptionFailedEvent, self._on_transcript_failed
            ),
            "conversation.item.input_audio_transcription.segment": ignore(
                "speaker segments come from diarizing models, which are never asked for"
            ),
            # The conversation's items
            "conversation.item.added": ignore("the caller keeps the history (HA's chat log)"),
            "conversation.item.done": ignore("the caller keeps the history (HA's chat log)"),
            "conversation.item.created": ignore("the pre-GA name of conversation.item.added"),
            "conversation.item.deleted": ignore("items are never deleted"),
            "conversation.item.retrieved": ignore("items are never retrieved"),
            "conversation.item.truncated": ignore(
                "on WebRTC the server cuts off what was not heard by itself"
            ),
            # MCP
            "mcp_list_tools.in_progress": ignore("no MCP servers are offered to the model"),
            "mcp_list_tools.completed": ignore("no MCP servers are offered to the model"),
            "mcp_list_tools.failed": ignore("no MCP servers are offered to the model"),
            "response.mcp_call_arguments.delta": ignore("no MCP servers are offered to the model"),
            "response.mcp_call_arguments.done": ignore("no MCP servers are offered to the model"),
            "response.mcp_call.in_progress": ignore("no MCP servers are offered to the model"),
            "response.mcp_call.completed": ignore("no MCP servers are offered to the model"),
            "response.mcp_call.failed": ignore("no MCP servers are offered to the model"),
        }

    def _on_message(self, message: str) -> None:
        try:
            kind, data = decode(message)
        except MalformedEvent as err:
            self._warn(f"ignoring a malformed event ({err}): {message:.200}")
            return
        route = self._routes.get(kind)
        if route is None:
            if kind not in self._unknown_types:
                self._unknown_types.add(kind)
                _LOGGER.debug("ignoring server events of an unknown type: %s", kind)
            self._emit("protocol_warning", kind)
            return
        if route.handler is None:
            return
        try:
            event = route.read(data)
        except pydantic.ValidationError as err:
            self._warn(f"a {kind} event does not match the protocol: {err}")
            if route.unreadable is not None:
                route.unreadable(data)
            return
        try:
            route.handler(event)
        except Exception:
            _LOGGER.exception("failed to handle server event %s", kind)

    def _warn(self, text: str) -> None:
        _LOGGER.warning("%.500s", text)
        self._emit("protocol_warning", text[:200])

    def _on_session_created(self, event: SessionCreatedEvent) -> None:
        self.session_id = (event.session.model_extra or {}).get("id")
        self._session_created(None)

    def _session_created(self, data: object) -> None:
        if not self._created.done():
            self._created.set_result(None)

    def _on_session_updated(self, event: SessionUpdatedEvent) -> None:
        self._session_updated(None)

    def _session_updated(self, data: object) -> None:
        if self._update is not None and not self._update.confirmed.done():
            self._update.confirmed.set_result(None)

    def _on_error(self, event: RealtimeErrorEvent) -> None:
        error = event.error
        _LOGGER.debug("server error %s: %s", error.code, error.message)
        self._emit("error", error)
        if error.code == "session_expired":
            self._begin_close(CloseReason.EXPIRED, error.message or error.code)
            return
        update = self._update
        if update is not None and error.event_id == update.event_id:
            if not update.confirmed.done():
                update.confirmed.set_exception(
                    RealtimeBadRequestError(error.message or error.type, code=error.code)
                )
            return
        if self._responses.on_error(error.event_id, error.code, error.message):
            self._settle_state()

    def _on_rate_limits(self, event: RateLimitsUpdatedEvent) -> None:
        self.rate_limits = [limit.model_dump(exclude_none=True) for limit in event.rate_limits]
        self._emit("rate_limits", self.rate_limits)

    def _on_response_created(self, event: ResponseCreatedEvent) -> None:
        self._responses.on_created(event.response)
        self._settle_state()

    def _on_text_delta(self, event: ResponseTextDeltaEvent) -> None:
        self._responses.on_delta(event.response_id, event.delta, transcript=False)
        self._emit("text_delta", event)

    def _on_transcript_delta(self, event: ResponseAudioTranscriptDeltaEvent) -> None:
        self._responses.on_delta(event.response_id, event.delta, transcript=True)
        self._emit("text_delta", event)

    def _on_call_arguments_done(self, event: ResponseFunctionCallArgumentsDoneEvent) -> None:
        # Announced only: calls run after response.done, and only a completed response's.
        self._emit("tool_call", ToolCall(event.call_id, event.name or "", event.arguments))

    def _on_response_done(self, event: ResponseDoneEvent) -> None:
        finished = self._responses.on_done(event.response)
        if finished is None:
            return
        turn, result = finished
        self.usage = self.usage + result.usage
        self._emit("response_done", result)
        self._finish_or_follow_up(turn, result)
        self._responses.pump()
        self._settle_state()

    def _on_odd_response_done(self, data: dict[str, Any]) -> None:
        """A response.done the SDK cannot read: without the items it does not know, if that
        is what it takes; else the response ends as failed, rather than leave its turn waiting."""
        if (readable := without_unknown_items(data)) is not None:
            with contextlib.suppress(pydantic.ValidationError):
                self._on_response_done(ResponseDoneEvent.model_validate(readable))
                return
        response = data.get("response")
        response_id = response.get("id") if isinstance(response, dict) else None
        if isinstance(response_id, str):
            unreadable = RealtimeResponse(
                id=response_id,
                status="failed",
                status_details=RealtimeResponseStatus(
                    type="failed", error=Error(type="client_error", code="unreadable_response")
                ),
            )
            self._on_response_done(
                ResponseDoneEvent(type="response.done", event_id="", response=unreadable)
            )

    def _finish_or_follow_up(self, turn: Turn, result: ResponseResult) -> None:
        if result.status == "completed" and result.tool_calls and turn.run_tools:
            self._spawn(self._answer_tool_calls(turn, result.tool_calls))
        elif result.status == "failed":
            turn.finish("failed", result.reason or "failed", result.error_code)
        else:
            turn.finish(result.status, result.reason)

    async def _answer_tool_calls(self, turn: Turn, calls: list[ToolCall]) -> None:
        outputs = [await run_tool_call(self.tool_handler, call) for call in calls]
        try:
            for call, output in zip(calls, outputs, strict=True):
                self._send(client_events.function_call_output(call.call_id, output))
        except RealtimeError as err:
            turn.finish("closed" if isinstance(err, RealtimeSessionClosed) else "failed", str(err))
            return
        turn.tool_rounds += 1
        if turn.tool_rounds >= self.max_tool_rounds:
            turn.finish("tool_limit", f"stopped after {turn.tool_rounds} rounds of tool calls")
            return
        self._responses.ask(turn, first=True)
        self._settle_state()

    def _on_audio_started(self, event: OutputAudioBufferStarted) -> None:
        self._speaking = True
        self._audio_idle.clear()
        self._settle_state()

    def _on_audio_ended(self, event: OutputAudioBufferStopped | OutputAudioBufferCleared) -> None:
        self._speaking = False
        self._audio_idle.set()
        self._settle_state()

    def _on_speech_started(self, event: InputAudioBufferSpeechStartedEvent) -> None:
        self._emit("speech_started", event)

    def _on_speech_stopped(self, event: InputAudioBufferSpeechStoppedEvent) -> None:
        self._emit("speech_stopped", event)

    def _on_input_timeout(self, event: InputAudioBufferTimeoutTriggered) -> None:
        self._emit("input_timeout", event)

    def _on_user_transcript(
        self,
        event: ConversationItemInputAudioTranscriptionDeltaEvent
        | ConversationItemInputAudioTranscriptionCompletedEvent,
    ) -> None:
        self._emit("user_transcript", event)

    def _on_transcript_failed(
        self, event: ConversationItemInputAudioTranscriptionFailedEvent
    ) -> None:
        _LOGGER.debug("transcription of %s failed: %s", event.item_id, event.error.message)
        self._emit("user_transcript_failed", event)
