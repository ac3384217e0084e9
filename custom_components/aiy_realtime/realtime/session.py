"""A Realtime session: one connection, one state machine, one active response at a time."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterable, Sequence
import contextlib
import json
import logging
from typing import Any, Literal

from aiortc import MediaStreamTrack, RTCIceServer

from . import client_events
from .audio import AudioEnd, AudioPump, AudioSink, PcmSourceTrack
from .client_events import ClientEvent
from .config import OutputModality, SessionConfig
from .errors import (
    RealtimeConnectError,
    RealtimeError,
    RealtimeMessageTooLarge,
    RealtimeSessionClosed,
)
from .items import ConversationItem, FunctionOutput, UserText
from .lifecycle import (
    GONE,
    CloseReason,
    Listener,
    PendingUpdate,
    SessionEvent,
    SessionState,
)
from .playback import Playback
from .response_queue import ResponseQueue
from .responses import Turn, TurnResult, Usage
from .session_events import ServerEventHandling
from .signaling import Signaling
from .tools import ToolHandler
from .transport import WebRTCTransport

__all__ = ["CloseReason", "RealtimeSession", "SessionEvent", "SessionState"]

_LOGGER = logging.getLogger(__name__)


class RealtimeSession(ServerEventHandling):
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
        if isinstance(microphone, PcmSourceTrack):
            microphone.ended.add_done_callback(self._on_audio_end)
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
        self._update: PendingUpdate | None = None
        self._configuring = asyncio.Lock()
        self._responses = ResponseQueue(self._send)
        self._responses.server_starts_responses = config.turn_detection is not None
        self._responses.server_turns_run_tools = tool_handler is not None
        self.playback = Playback()
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
        return self._state not in GONE and self._transport.is_open

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
        # A close that began wins: after CLOSING only CLOSED may follow.
        if self._state in GONE and state not in GONE:
            return
        if state is not self._state:
            self._state = state
            self._emit("state", state)

    def _idle_state(self) -> SessionState:
        return SessionState.LISTENING if self.config.turn_detection else SessionState.READY

    def _settle_state(self) -> None:
        if self._state in GONE or self._state is SessionState.CONNECTING:
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

        Raises RealtimeSessionClosed when a close began before that (it is not undone).

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
        if self._state in GONE:
            # Closed between session.created and here (an error right behind it, the peer
            # gone, the owner hanging up): the session did not start, whatever created it.
            await self.close()
            raise RealtimeSessionClosed(self.close_detail or "the session closed as it started")
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
            pending = PendingUpdate(event["event_id"], asyncio.get_running_loop().create_future())
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
        self.playback.close()
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
        if self._state in GONE:
            raise RealtimeSessionClosed(self.close_detail or "the session is closed")
        try:
            self._transport.send(json.dumps(event))
        except RealtimeSessionClosed:
            self._begin_close(CloseReason.PEER_GONE, "the events channel closed")
            raise

    def _on_message(self, message: str) -> None:
        # Once closing, what still arrives could only start what nobody would finish (a
        # response's turn after every turn was ended).
        if self._state not in GONE:
            self._route(message, self._routes)

    def _on_remote_audio(self, track: MediaStreamTrack) -> None:
        # The transport hands audio over only when there is a speaker to play it.
        if self._pump is None and self._speaker is not None:
            self._pump = AudioPump(track, self._speaker)
            self._pump.ended.add_done_callback(self._on_audio_end)

    def _on_audio_end(self, ended: asyncio.Future[AudioEnd]) -> None:
        """A recorder or player that failed ends the session, with what went wrong."""
        end = ended.result()
        if end.failed and self._state not in GONE:
            _LOGGER.warning("the session's audio failed: %s", end.detail)
            self._begin_close(CloseReason.DEVICE_LOST, end.detail)

    def _flush_speaker(self) -> None:
        """Stop what the player still holds at once (the server cleared the answer)."""
        if self._pump is not None:
            self._spawn(self._pump.flush())

    # -- what callers do -----------------------------------------------------------------------

    def send_text(self, text: str) -> None:
        """Add a user message to the conversation (no response yet)."""
        self.add_items([UserText(text)])

    def add_items(self, items: Iterable[ConversationItem]) -> None:
        """Append items to the conversation, in order.

        A function output the data channel cannot carry is replaced by an error the model can
        read (it waits for an output to every call); any other item that large raises
        RealtimeMessageTooLarge, as a closed session raises RealtimeSessionClosed.
        """
        for item in items:
            try:
                self._send(client_events.item_create(item))
            except RealtimeMessageTooLarge as err:
                if not isinstance(item, FunctionOutput):
                    raise
                _LOGGER.debug("the output of call %s is too large to send: %s", item.call_id, err)
                error = {"error": f"the result was too large to send ({err.size // 1024} kB)"}
                self._send(
                    client_events.item_create(FunctionOutput(item.call_id, json.dumps(error)))
                )

    def create_response(
        self,
        *,
        instructions: str | None = None,
        output_modality: OutputModality | None = None,
        max_output_tokens: int | Literal["inf"] | None = None,
        tool_choice: Literal["none", "auto", "required"] | None = None,
        run_tools: bool = True,
    ) -> Turn:
        """Ask for a response; queued while another is active.

        With `run_tools` the turn follows tool rounds through the session's tool handler;
        without, it ends at the first response and the caller answers its tool calls
        (`send_tool_output`, then a new response).
        """
        if self._state in GONE:
            raise RealtimeSessionClosed(self.close_detail or "the session is closed")
        turn = Turn(run_tools=run_tools)
        self._responses.ask(
            turn,
            instructions=instructions,
            output_modality=output_modality,
            max_output_tokens=max_output_tokens,
            tool_choice=tool_choice,
        )
        self._settle_state()
        return turn

    def send_tool_output(self, call_id: str, output: str) -> None:
        """Answer a function call the caller ran itself."""
        self.add_items([FunctionOutput(call_id, output)])

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
        if self._state in GONE:
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
