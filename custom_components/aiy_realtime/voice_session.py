"""One voice session of a terminal: the microphone to the model, its speech to the speaker, and
the conversation into Home Assistant's chat log, where its tools run as a typed turn's do."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import contextlib
from dataclasses import dataclass
from enum import StrEnum
import logging
from typing import Protocol

from homeassistant.components import conversation
from homeassistant.core import Context, HomeAssistant
from homeassistant.helpers import chat_session, llm

from .assistant import Assistant
from .bridge import ChatBridge, TurnFailed, TurnProgress
from .const import DOMAIN, MAX_TOOL_ROUNDS
from .conversations import RealtimeConversation, TurnState, current_turn
from .instructions import split_prompt
from .realtime.audio import AudioSink, PcmReader, PcmSourceTrack
from .realtime.errors import RealtimeError
from .realtime.responses import ResponseResult, Turn
from .realtime.session import CloseReason, RealtimeSession, SessionEvent, SessionState
from .realtime.signaling import Signaling
from .toolset import ToolSet
from .usage import UsageMeter

_LOGGER = logging.getLogger(__name__)

TRANSCRIPT_WAIT = 5.0
"""Seconds an answer waits for the words it answers before it goes into the log without them."""
GOODBYE = "The user is leaving: say a short goodbye."
SAY_EXACTLY = "Say exactly the following to the user, word for word, and nothing else: {text}"
AUDIO_END_WAIT = 30.0
"""Seconds a goodbye or an announcement may take to play."""
IDLE_GRACE = 5.0
"""How much longer than the server's own idle timeout the client waits before it ends."""
SESSION_LIMIT = 60 * 60.0
"""Seconds OpenAI lets a Realtime session last; then it ends it (`session_expired`)."""
EXPIRY_NOTICE = 45.0
"""Seconds before that limit the assistant says so and ends the session itself."""
TIME_IS_UP = (
    "This conversation has reached its time limit: tell the user so in one short sentence, "
    "and say goodbye."
)


class VoiceState(StrEnum):
    IDLE = "idle"
    CONNECTING = "connecting"
    LISTENING = "listening"
    THINKING = "thinking"
    SPEAKING = "speaking"
    ERROR = "error"


_STATES = {
    SessionState.CONNECTING: VoiceState.CONNECTING,
    SessionState.READY: VoiceState.LISTENING,
    SessionState.LISTENING: VoiceState.LISTENING,
    SessionState.THINKING: VoiceState.THINKING,
    SessionState.SPEAKING: VoiceState.SPEAKING,
}


class AudioRoute(Protocol):
    """Where a terminal's sound comes from and goes to (see hardware/)."""

    def microphone(self) -> PcmReader: ...

    def speaker(self) -> AudioSink: ...

    @property
    def rate(self) -> int: ...


class VoiceListener(Protocol):
    """Who is told what a session does: the terminal, its entities, its events."""

    def on_state(self, state: VoiceState) -> None: ...

    def on_transcript(self, role: str, text: str) -> None: ...


@dataclass(frozen=True, slots=True)
class VoiceRequest:
    """What a start asked for."""

    instructions: str | None = None
    """Said to the model for this session only (an automation's context)."""
    first_words: str | None = None
    """Instructions for the first response: the greeting, or what to say exactly."""
    conversation_id: str | None = None
    """Continue this conversation (its chat log) rather than start a new one."""
    listen_only: bool = False
    """Hear and transcribe the user, never answer by itself (a question an automation asks)."""


@dataclass(frozen=True, slots=True)
class VoiceSetup:
    """What a session needs from around it."""

    hass: HomeAssistant
    signaling: Callable[[], Signaling]
    assistant: Assistant
    assistant_id: str
    """The assistant's subentry id (its usage meter, the session's key)."""
    agent_id: str
    """The assistant's conversation entity: whose answers they are in the chat log."""
    meter: UsageMeter
    route: AudioRoute
    device_id: str | None
    idle_timeout: float
    half_duplex: bool
    connect_timeout: float


class GatedReader:
    """A microphone that can be muted: it keeps reading the device (whose clock paces the
    track) and hands on silence while closed."""

    def __init__(self, reader: PcmReader) -> None:
        self.reader = reader
        self.open = True

    @property
    def live(self) -> bool:
        """A sound card's reader stays paced by the card, muted or not."""
        return getattr(self.reader, "live", False) is True

    async def read(self, size: int) -> bytes:
        pcm = await self.reader.read(size)
        return pcm if self.open or not pcm else bytes(len(pcm))

    async def close(self) -> None:
        await self.reader.close()


class VoiceSession:
    """Runs until it ends, for whatever reason; `ended` says which."""

    def __init__(self, setup: VoiceSetup, request: VoiceRequest, listener: VoiceListener) -> None:
        self._setup = setup
        self._request = request
        self._listener = listener
        self.conversation_id = request.conversation_id
        self.ended: asyncio.Future[CloseReason] = asyncio.get_running_loop().create_future()
        self._session: RealtimeSession | None = None
        self._bridge: ChatBridge | None = None
        self._mic: PcmSourceTrack | None = None
        self._gate: GatedReader | None = None
        self._turns: asyncio.Queue[tuple[Turn, list[str]]] = asyncio.Queue()
        self._committed: list[str] = []
        self._heard: dict[str, asyncio.Future[str | None]] = {}
        self._worker: asyncio.Task[None] | None = None
        self._finishing: asyncio.Task[None] | None = None
        self._idle: asyncio.TimerHandle | None = None
        self._expiry: asyncio.TimerHandle | None = None
        self._first: Turn | None = None

    @property
    def session(self) -> RealtimeSession | None:
        return self._session

    # -- start ---------------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect with the microphone live; the first words (if any) are on their way."""
        self._listener.on_state(VoiceState.CONNECTING)
        try:
            await self._start()
        except BaseException:
            await self._release()
            self._listener.on_state(VoiceState.ERROR)
            if not self.ended.done():
                self.ended.set_result(CloseReason.ERROR)
            raise
        self._worker = self._setup.hass.async_create_background_task(
            self._work(), f"aiy_realtime voice {self.conversation_id}"
        )
        if self._request.first_words:
            self._first = self.speak(self._request.first_words)
        self._restart_idle_timer()
        self._expiry = asyncio.get_running_loop().call_later(
            SESSION_LIMIT - EXPIRY_NOTICE, self._time_is_up
        )

    async def _start(self) -> None:
        setup = self._setup
        route = setup.route
        self._gate = GatedReader(route.microphone())
        self._mic = PcmSourceTrack(self._gate, rate=route.rate)
        with (
            chat_session.async_get_chat_session(setup.hass, self.conversation_id) as chat,
            conversation.async_get_chat_log(setup.hass, chat) as chat_log,
        ):
            self.conversation_id = chat.conversation_id
            await self._provide_llm_data(chat_log)
            instructions, context = split_prompt(_system_prompt(chat_log))
            toolset = ToolSet.from_api(chat_log.llm_api)
            session = RealtimeSession(
                setup.signaling(),
                setup.assistant.voice_config(
                    instructions or None,
                    toolset,
                    idle_timeout=setup.idle_timeout,
                    answer=not self._request.listen_only,
                ),
                microphone=self._mic,
                speaker=route.speaker(),
                connect_timeout=setup.connect_timeout,
            )
            self._session = session
            session.subscribe(self._on_event)
            await session.start()
            realtime = RealtimeConversation(
                (setup.assistant_id, chat.conversation_id), session, toolset
            )
            self._bridge = ChatBridge(
                realtime,
                setup.agent_id,
                on_usage=setup.meter.record,
                max_tool_rounds=MAX_TOOL_ROUNDS,
                spoken=self._spoken,
            )
            # What the conversation already holds (an announcement that started it).
            self._bridge.tell(chat_log, context)

    async def _provide_llm_data(self, chat_log: conversation.ChatLog) -> None:
        setup = self._setup
        context = llm.LLMContext(
            platform=DOMAIN,
            context=Context(),
            language=setup.hass.config.language,
            assistant=conversation.DOMAIN,
            device_id=setup.device_id,
        )
        await chat_log.async_provide_llm_data(
            context,
            setup.assistant.llm_apis,
            setup.assistant.prompt,
            self._request.instructions,
        )

    # -- what callers do -----------------------------------------------------------------------

    def speak(self, instructions: str) -> Turn:
        """Ask for a spoken response with these instructions; it goes into the log as heard."""
        assert self._session is not None
        turn = self._session.create_response(instructions=instructions, run_tools=False)
        self._turns.put_nowait((turn, []))
        return turn

    async def say(self, text: str) -> None:
        """Say `text` word for word; returns once it has played (or the session ended)."""
        turn = self.speak(SAY_EXACTLY.format(text=text))
        await self._played(turn)

    async def first_words_played(self) -> None:
        """Wait until the first words (a greeting, an announcement) have played."""
        if self._first is not None:
            await self._played(self._first)

    async def end(self, *, graceful: bool) -> None:
        """End the session: after a goodbye that plays to its end, or at once."""
        session = self._session
        if session is None or not session.alive:
            await self._wait_ended()
            return
        if graceful:
            await self._say_goodbye(GOODBYE, CloseReason.USER_ENDED)
        else:
            with contextlib.suppress(RealtimeError):
                session.interrupt()
            await session.close(CloseReason.USER_ENDED)
        await self._wait_ended()

    async def _played(self, turn: Turn) -> None:
        """Wait until the turn has been answered and its audio has stopped playing."""
        session = self._session
        assert session is not None
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(AUDIO_END_WAIT):
                await turn.result()
                await session.wait_audio_done(AUDIO_END_WAIT)

    async def _wait_ended(self) -> None:
        await asyncio.shield(self.ended)

    # -- what the session says -----------------------------------------------------------------

    def _on_event(self, event: SessionEvent) -> None:
        match event.kind:
            case "state":
                self._on_state(event.data)
            case "input_committed":
                self._committed.append(event.data.item_id)
                self._heard.setdefault(event.data.item_id, _future())
            case "user_transcript" if event.data.type.endswith(".completed"):
                text = event.data.transcript.strip()
                self._transcribed(event.data.item_id, text)
                if text:
                    self._listener.on_transcript("user", text)
            case "user_transcript_failed":
                self._transcribed(event.data.item_id, None)
            case "server_turn":
                users, self._committed = self._committed, []
                self._turns.put_nowait((event.data, users))
                self._restart_idle_timer()
            case "speech_started" | "response_done":
                self._restart_idle_timer()
            case "input_timeout":
                self._end_soon(CloseReason.IDLE_TIMEOUT)

    def _on_state(self, state: SessionState) -> None:
        if self._gate is not None and self._setup.half_duplex:
            # Without echo cancellation, a kit hears itself: deaf while it speaks.
            self._gate.open = state is not SessionState.SPEAKING
        if state is SessionState.CLOSED:
            if self._finishing is None:
                self._finishing = self._setup.hass.async_create_background_task(
                    self._finish(), f"aiy_realtime voice end {self.conversation_id}"
                )
        elif (voice := _STATES.get(state)) is not None:
            self._listener.on_state(voice)

    def _transcribed(self, item_id: str, text: str | None) -> None:
        waiter = self._heard.setdefault(item_id, _future())
        if not waiter.done():
            waiter.set_result(text)

    async def _spoken(self, result: ResponseResult) -> str:
        """What the user heard of a spoken answer: all of it, or up to where they spoke.

        An answer that acts goes into the log at once, so that its actions run while it is
        said; a spoken-only one once it has played, as heard.
        """
        session = self._session
        assert session is not None
        text = result.transcript or result.text
        if not result.tool_calls:
            await session.playback.finished(result.response_id, AUDIO_END_WAIT)
            text = session.playback.heard(result.response_id, text)

        if text:
            self._listener.on_transcript("assistant", text)
        return text

    # -- turns ---------------------------------------------------------------------------------

    async def _work(self) -> None:
        """Put each turn into the chat log in the conversation's order: the user's words (once
        transcribed), then the answer, its tool calls run through the log."""
        while True:
            turn, users = await self._turns.get()
            texts = [await self._words_of(item) for item in users]
            state = TurnState()
            await self._answer(turn, texts, state)
            if state.end_requested:
                await self._played_out()
                session = self._session
                if session is not None:
                    await session.close(CloseReason.MODEL_ENDED)
                return

    async def _words_of(self, item_id: str) -> str | None:
        waiter = self._heard.setdefault(item_id, _future())
        try:
            async with asyncio.timeout(TRANSCRIPT_WAIT):
                return await asyncio.shield(waiter)
        except TimeoutError:
            _LOGGER.debug("no transcript of %s in time; the answer goes in without it", item_id)
            return None
        finally:
            self._heard.pop(item_id, None)

    async def _answer(self, turn: Turn, texts: list[str | None], state: TurnState) -> None:
        bridge = self._bridge
        assert bridge is not None
        hass = self._setup.hass
        with (
            chat_session.async_get_chat_session(hass, self.conversation_id) as chat,
            conversation.async_get_chat_log(hass, chat) as chat_log,
        ):
            self.conversation_id = chat.conversation_id
            await self._provide_llm_data(chat_log)
            for text in texts:
                if text:
                    content = conversation.UserContent(text)
                    chat_log.async_add_user_content(content)
                    bridge.realtime.mark_seen(content)
            token = current_turn.set(state)
            try:
                await bridge.answer(turn, chat_log, TurnProgress())
            except TurnFailed as err:
                # Spoken over before a word played, or the model failed: the session goes on.
                _LOGGER.debug("a voice turn ended without an answer: %s", err)
            except RealtimeError as err:
                _LOGGER.debug("a voice turn could not be answered: %s", err)
            finally:
                current_turn.reset(token)

    async def _played_out(self) -> None:
        session = self._session
        if session is not None:
            await session.wait_audio_done(AUDIO_END_WAIT)

    # -- the end -------------------------------------------------------------------------------

    def _restart_idle_timer(self) -> None:
        if self._idle is not None:
            self._idle.cancel()
        if self._setup.idle_timeout:
            self._idle = asyncio.get_running_loop().call_later(
                self._setup.idle_timeout + IDLE_GRACE, self._end_soon, CloseReason.IDLE_TIMEOUT
            )

    def _end_soon(self, reason: CloseReason) -> None:
        session = self._session
        if session is None or not session.alive:
            return
        if reason is CloseReason.IDLE_TIMEOUT and session.state is SessionState.SPEAKING:
            self._restart_idle_timer()  # never cut an answer short for being idle
            return
        with contextlib.suppress(RealtimeError):
            session.interrupt()
        self._setup.hass.async_create_background_task(
            session.close(reason), f"aiy_realtime voice close {self.conversation_id}"
        )

    def _time_is_up(self) -> None:
        """Say so before OpenAI ends the session mid-word, then end it."""
        self._setup.hass.async_create_background_task(
            self._say_goodbye(TIME_IS_UP, CloseReason.EXPIRED),
            f"aiy_realtime voice expiry {self.conversation_id}",
        )

    async def _say_goodbye(self, instructions: str, reason: CloseReason) -> None:
        session = self._session
        if session is None or not session.alive:
            return
        with contextlib.suppress(RealtimeError):
            await self._played(self.speak(instructions))
        await session.close(reason)

    async def _finish(self) -> None:
        session = self._session
        reason = (session.close_reason if session else None) or CloseReason.ERROR
        for timer in (self._idle, self._expiry):
            if timer is not None:
                timer.cancel()

        worker, self._worker = self._worker, None
        if worker is not None and worker is not asyncio.current_task():
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker
        await self._release()
        for waiter in self._heard.values():
            if not waiter.done():
                waiter.set_result(None)
        self._listener.on_state(VoiceState.IDLE)
        if not self.ended.done():
            self.ended.set_result(reason)

    async def _release(self) -> None:
        """Free the microphone (awaited: the next session finds the device free)."""
        if self._session is not None:
            await self._session.close(CloseReason.ERROR)
        mic, self._mic = self._mic, None
        self._gate = None
        if mic is not None:
            await mic.close()  # the recorder is gone when this returns


def _system_prompt(chat_log: conversation.ChatLog) -> str:
    system = chat_log.content[0]
    return system.content or "" if isinstance(system, conversation.SystemContent) else ""


def _future() -> asyncio.Future[str | None]:
    return asyncio.get_running_loop().create_future()
