"""What a session does with what the server says: one table of every GA server event type, and
the handlers. `RealtimeSession` is built on this; the state the handlers work on is its own."""

from __future__ import annotations

from abc import ABC, abstractmethod
import asyncio
from collections.abc import Coroutine, Iterable
import logging
from typing import Any

from openai.types.realtime import (
    ConversationItemInputAudioTranscriptionCompletedEvent,
    ConversationItemInputAudioTranscriptionDeltaEvent,
    ConversationItemInputAudioTranscriptionFailedEvent,
    InputAudioBufferCommittedEvent,
    InputAudioBufferSpeechStartedEvent,
    InputAudioBufferSpeechStoppedEvent,
    InputAudioBufferTimeoutTriggered,
    RateLimitsUpdatedEvent,
    RealtimeErrorEvent,
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

from .config import SessionConfig
from .errors import RealtimeBadRequestError, RealtimeError, RealtimeSessionClosed
from .items import ConversationItem, FunctionOutput
from .lifecycle import CloseReason, PendingUpdate
from .playback import Playback
from .response_queue import ResponseQueue
from .responses import ResponseResult, ToolCall, Turn, Usage
from .server_events import (
    Fields,
    Handled,
    Ignored,
    MalformedEvent,
    Route,
    decode,
    handle,
    response_as_far_as_readable,
)
from .tools import ToolHandler, run_tool_call

_LOGGER = logging.getLogger(__name__)

_NO_MCP = Ignored("no MCP servers are offered to the model")


class ServerEventHandling(ABC):
    """The server's side of a session: every event routed, read and acted on."""

    config: SessionConfig
    tool_handler: ToolHandler | None
    max_tool_rounds: int
    usage: Usage
    rate_limits: list[dict[str, Any]]
    session_id: str | None
    _responses: ResponseQueue
    _created: asyncio.Future[None]
    _update: PendingUpdate | None
    _speaking: bool
    playback: Playback
    _audio_idle: asyncio.Event
    _unknown_types: set[str]

    @abstractmethod
    def _emit(self, kind: str, data: Any = None) -> None: ...

    @abstractmethod
    def _settle_state(self) -> None: ...

    @abstractmethod
    def _begin_close(self, reason: CloseReason, detail: str | None) -> asyncio.Task[None]: ...

    @abstractmethod
    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None: ...

    @abstractmethod
    def add_items(self, items: Iterable[ConversationItem]) -> None: ...

    @abstractmethod
    def _flush_speaker(self) -> None: ...

    def _server_events(self) -> dict[str, Route]:
        """Every server event type of the GA protocol and what this session does with it.

        A test holds this table against the SDK's union of server events: a type the SDK adds
        fails it until it is placed here.
        """
        whole_in_done = Ignored("read whole from response.done")
        return {
            # The session itself
            "session.created": handle(
                SessionCreatedEvent, self._on_session_created, unreadable=self._created_anyway
            ),
            "session.updated": handle(
                SessionUpdatedEvent, self._on_session_updated, unreadable=self._updated_anyway
            ),
            "error": handle(RealtimeErrorEvent, self._on_error),
            "rate_limits.updated": handle(RateLimitsUpdatedEvent, self._on_rate_limits),
            "conversation.created": Ignored("one conversation per session, nothing to keep"),
            # Responses
            "response.created": handle(
                ResponseCreatedEvent, self._on_response_created, unreadable=self._odd_created
            ),
            "response.output_text.delta": handle(ResponseTextDeltaEvent, self._on_text_delta),
            "response.output_audio_transcript.delta": handle(
                ResponseAudioTranscriptDeltaEvent, self._on_transcript_delta
            ),
            "response.function_call_arguments.done": handle(
                ResponseFunctionCallArgumentsDoneEvent, self._on_call_arguments_done
            ),
            "response.done": handle(
                ResponseDoneEvent, self._on_response_done, unreadable=self._odd_done
            ),
            "response.output_text.done": Ignored("the text is the deltas', sum and all"),
            "response.output_audio_transcript.done": Ignored("the transcript is the deltas'"),
            "response.output_audio.delta": Ignored("audio comes as RTP on WebRTC, not as events"),
            "response.output_audio.done": Ignored(
                "playback ends at output_audio_buffer.stopped, not when the model is done"
            ),
            "response.content_part.added": whole_in_done,
            "response.content_part.done": whole_in_done,
            "response.output_item.added": whole_in_done,
            "response.output_item.done": whole_in_done,
            "response.function_call_arguments.delta": Ignored(
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
            "input_audio_buffer.committed": handle(
                InputAudioBufferCommittedEvent, self._on_input_committed
            ),
            "input_audio_buffer.cleared": Ignored("only ever follows a clear of our own"),
            "input_audio_buffer.dtmf_event_received": Ignored("keypad tones come from SIP calls"),
            "conversation.item.input_audio_transcription.delta": handle(
                ConversationItemInputAudioTranscriptionDeltaEvent, self._on_user_transcript
            ),
            "conversation.item.input_audio_transcription.completed": handle(
                ConversationItemInputAudioTranscriptionCompletedEvent, self._on_user_transcript
            ),
            "conversation.item.input_audio_transcription.failed": handle(
                ConversationItemInputAudioTranscriptionFailedEvent, self._on_transcript_failed
            ),
            "conversation.item.input_audio_transcription.segment": Ignored(
                "speaker segments come from diarizing models, which are never asked for"
            ),
            # The conversation's items
            "conversation.item.added": Ignored("the caller keeps the history (HA's chat log)"),
            "conversation.item.done": Ignored("the caller keeps the history (HA's chat log)"),
            "conversation.item.created": Ignored("the pre-GA name of conversation.item.added"),
            "conversation.item.deleted": Ignored("items are never deleted"),
            "conversation.item.retrieved": Ignored("items are never retrieved"),
            "conversation.item.truncated": Ignored(
                "what was heard is measured by the output_audio_buffer events (playback.py)"
            ),
            # MCP
            "mcp_list_tools.in_progress": _NO_MCP,
            "mcp_list_tools.completed": _NO_MCP,
            "mcp_list_tools.failed": _NO_MCP,
            "response.mcp_call_arguments.delta": _NO_MCP,
            "response.mcp_call_arguments.done": _NO_MCP,
            "response.mcp_call.in_progress": _NO_MCP,
            "response.mcp_call.completed": _NO_MCP,
            "response.mcp_call.failed": _NO_MCP,
        }

    def _route(self, message: str, routes: dict[str, Route]) -> None:
        """Read one message from the events channel and act on it; never raises."""
        try:
            kind, data = decode(message)
        except MalformedEvent as err:
            self._warn(f"ignoring a malformed event ({err}): {message:.200}")
            return
        match routes.get(kind):
            case None:
                if kind not in self._unknown_types:
                    self._unknown_types.add(kind)
                    _LOGGER.debug("ignoring server events of an unknown type: %s", kind)
                self._emit("protocol_warning", kind)
            case Ignored():
                pass
            case Handled(model, handler, unreadable):
                try:
                    event = model.model_validate(data)
                except pydantic.ValidationError as err:
                    self._warn(f"a {kind} event does not match the protocol: {err}")
                    if unreadable is not None:
                        self._guarded(kind, unreadable, data)
                    return
                self._guarded(kind, handler, event)

    @staticmethod
    def _guarded(kind: str, handler: Any, argument: Any) -> None:
        try:
            handler(argument)
        except Exception:
            _LOGGER.exception("failed to handle server event %s", kind)

    def _warn(self, text: str) -> None:
        _LOGGER.warning("%.500s", text)
        self._emit("protocol_warning", text[:200])

    # -- the session ---------------------------------------------------------------------------

    def _on_session_created(self, event: SessionCreatedEvent) -> None:
        self.session_id = (event.session.model_extra or {}).get("id")
        self._created_anyway({})

    def _created_anyway(self, fields: Fields) -> None:
        if not self._created.done():
            self._created.set_result(None)

    def _on_session_updated(self, event: SessionUpdatedEvent) -> None:
        self._updated_anyway({})

    def _updated_anyway(self, fields: Fields) -> None:
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

    # -- responses -----------------------------------------------------------------------------

    def _on_response_created(self, event: ResponseCreatedEvent) -> None:
        created = self._responses.on_created(event.response)
        if created is None:
            return
        turn, asked = created
        if not asked:
            self._emit("server_turn", turn)
        self._settle_state()

    def _odd_created(self, fields: Fields) -> None:
        """A response.created that does not read: the response still starts (else its turn, and
        every one after it, would wait on a response that never began)."""
        if (response := response_as_far_as_readable(fields)) is not None:
            self._on_response_created(
                ResponseCreatedEvent(type="response.created", event_id="", response=response)
            )

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

    def _odd_done(self, fields: Fields) -> None:
        """A response.done that does not read: finished with what reads of it (items of a newer
        kind left out), and as failed when its status does not read, rather than left waiting."""
        response = response_as_far_as_readable(fields)
        if response is None:
            return
        if response.status is None:
            response.status = "failed"
            response.status_details = RealtimeResponseStatus(
                type="failed", error=Error(type="client_error", code="unreadable_response")
            )
        self._on_response_done(
            ResponseDoneEvent(type="response.done", event_id="", response=response)
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
            self.add_items(
                FunctionOutput(call.call_id, output)
                for call, output in zip(calls, outputs, strict=True)
            )
        except RealtimeError as err:
            turn.finish("closed" if isinstance(err, RealtimeSessionClosed) else "failed", str(err))
            return
        turn.tool_rounds += 1
        if turn.tool_rounds >= self.max_tool_rounds:
            turn.finish("tool_limit", f"stopped after {turn.tool_rounds} rounds of tool calls")
            return
        self._responses.ask(turn, first=True)
        self._settle_state()

    # -- audio ---------------------------------------------------------------------------------

    def _on_audio_started(self, event: OutputAudioBufferStarted) -> None:
        self.playback.started(event.response_id)
        self._speaking = True
        self._audio_idle.clear()
        self._settle_state()

    def _on_audio_ended(self, event: OutputAudioBufferStopped | OutputAudioBufferCleared) -> None:
        whole = event.type == "output_audio_buffer.stopped"
        self.playback.ended(event.response_id, whole=whole)
        if not whole:
            # Cleared by the server (barge-in): what the local player still holds goes too.
            self._flush_speaker()

        self._speaking = False
        self._audio_idle.set()
        self._settle_state()

    def _on_input_committed(self, event: InputAudioBufferCommittedEvent) -> None:
        self._emit("input_committed", event)

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
