"""One voice session of a terminal: the microphone to the model, its speech to the speaker, from
the start to whichever end comes (the conversation itself is turns.py's)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
import contextlib
from dataclasses import dataclass
from enum import StrEnum
import logging
import time
from typing import Protocol

from homeassistant.components import conversation
from homeassistant.core import Context, HomeAssistant
from homeassistant.helpers import llm

from ..assistant.problems import TurnProblem
from ..assistant.settings import Assistant
from ..assistant.usage import UsageMeter
from ..chat.bridge import ChatBridge
from ..chat.conversation import RealtimeConversation
from ..chat.instructions import split_prompt
from ..chat.prompts import GOODBYE, TIME_IS_UP, say_exactly
from ..chat.sessions import async_get_chat_session
from ..chat.tool_guard import guard_tools
from ..chat.toolset import ToolSet
from ..const import DOMAIN, MAX_TOOL_ROUNDS
from ..realtime.audio import AudioSink, PcmReader, PcmSourceTrack
from ..realtime.config import NoiseReduction
from ..realtime.errors import RealtimeError, RealtimeSessionClosed
from ..realtime.lifecycle import GONE
from ..realtime.responses import ResponseResult, Turn
from ..realtime.session import CloseReason, RealtimeSession, SessionEvent, SessionState
from ..realtime.signaling import Signaling
from .states import SESSION_STATES, VoiceState
from .turns import VoiceTurns

_LOGGER = logging.getLogger(__name__)

AUDIO_END_WAIT = 30.0
"""Seconds a goodbye may take to play; an announcement gets this much more than its text takes
to say (at the voice's speech rate, twice over)."""
RESPONSE_WAIT = 30.0
"""Seconds the model may take to generate an announcement in full (`response.done`), beyond
what its text takes to say (the server may pace its audio as it plays); the audio may play on
after that."""
IDLE_GRACE = 5.0
"""How much longer than the server's own idle timeout the client waits, listening, before it
ends the session itself (semantic VAD has no idle timeout of its own)."""
SESSION_LIMIT = 60 * 60.0
"""Seconds OpenAI lets a Realtime session last; then it ends it (`session_expired`)."""
EXPIRY_NOTICE = 45.0
"""Seconds before that limit the assistant says so and ends the session itself."""
ECHO_TAIL = 0.3
"""Seconds a half-duplex microphone stays muted after the local player emptied its queue: what
the player itself still holds (its latency) plus the room's echo."""
STOP_WAIT = 5.0
"""Seconds an ending session waits for the turn in hand to reach the chat log."""


class AudioRoute(Protocol):
    """Where a terminal's sound comes from and goes to (see hardware/)."""

    async def open_microphone(self) -> PcmReader:
        """The microphone, recording; AudioUnavailable (from hardware/) when it cannot open."""

    async def open_speaker(self) -> AudioSink: ...

    @property
    def rate(self) -> int: ...

    @property
    def learning(self) -> bool:
        """An echo canceller still learning the room: the mic is deaf while the assistant
        speaks, as in half duplex."""

    def spoke(self, seconds: float) -> None:
        """The assistant spoke for `seconds` (what a learning canceller learns from)."""


class VoiceListener(Protocol):
    """Who is told what a session does: the terminal, its entities, its events."""

    def on_state(self, state: VoiceState) -> None: ...

    def on_transcript(self, role: str, text: str) -> None: ...

    def on_problem(self, problem: TurnProblem, detail: str) -> None:
        """OpenAI gave a turn no answer; `detail` is the server's words."""


class Said(StrEnum):
    """What became of words a session was asked to say."""

    PLAYED = "played"
    CUT_OFF = "cut_off"
    """Begun, not finished: spoken over, or the session ended."""
    NOT_TAKEN = "not_taken"
    """The session was ending: nothing was said."""


class VoiceSessionEnded(Exception):
    """The session was ended before it had started."""


@dataclass(frozen=True, slots=True)
class VoiceRequest:
    """What a start asked for."""

    instructions: str | None = None
    """Said to the model for this session only (an automation's context)."""
    first_words: str | None = None
    """Instructions for the first response: the greeting, or what to say exactly."""
    listen_only: bool = False
    """Hear and transcribe the user, never answer by itself (a question an automation asks, an
    announcement): the microphone is muted while the session speaks, so nobody cuts it off."""


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
    noise_reduction: NoiseReduction | None = None


class GatedReader:
    """A microphone that can be muted: it keeps reading the device (whose clock paces the
    track) and hands on silence while closed.

    It mutes by when the sound was captured, not by when it is read: a microphone read late
    (a busy machine, the device's own buffer) still holds what it heard while the speaker
    talked, and that echo must stay silent when the gate opens again."""

    def __init__(self, reader: PcmReader, rate: int, channels: int = 1) -> None:
        self.reader = reader
        self.open = True
        self._bytes_per_second = rate * channels * 2
        self._read = 0
        self._clock: float | None = None
        """When the first byte was captured (monotonic): the least of each read's time
        minus the audio read so far."""
        self._hears_from = 0.0

    @property
    def live(self) -> bool:
        """A sound card's reader stays paced by the card, muted or not."""
        return getattr(self.reader, "live", False) is True

    def hear_from(self, at: float) -> None:
        """Open: what was captured from `at` (monotonic seconds) on is handed on."""
        self.open = True
        self._hears_from = at

    async def read(self, size: int) -> bytes:
        pcm = await self.reader.read(size)
        start = self._read
        self._read += len(pcm)
        clock = time.monotonic() - self._read / self._bytes_per_second
        if self._clock is None or clock < self._clock:
            self._clock = clock
        if not pcm:
            return pcm
        if not self.open:
            return bytes(len(pcm))
        # A read is muted whole if it began before the gate opened: the clock is no finer
        # than a read, and a few ms more of deafness just after the assistant spoke is
        # nothing beside the echo it keeps out.
        if self._clock + start / self._bytes_per_second < self._hears_from:
            return bytes(len(pcm))
        return pcm

    async def close(self) -> None:
        await self.reader.close()


class VoiceSession:
    """Runs from `start` until it ends, for whatever reason; `ended` says which."""

    def __init__(self, setup: VoiceSetup, request: VoiceRequest, listener: VoiceListener) -> None:
        self._setup = setup
        self._request = request
        self._listener = listener
        self.conversation_id: str | None = None
        self.ended: asyncio.Future[CloseReason] = asyncio.get_running_loop().create_future()
        self._session: RealtimeSession | None = None
        self._turns: VoiceTurns | None = None
        self._mic: PcmSourceTrack | None = None
        self._speaker: AudioSink | None = None
        self._gate: GatedReader | None = None
        self._gate_closed_at: float | None = None
        """When the mic went deaf for the assistant's voice (monotonic); None while it hears."""
        self._worker: asyncio.Task[None] | None = None
        self._finishing: asyncio.Task[None] | None = None
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._unmuting: asyncio.Task[None] | None = None
        self._first: Turn | None = None
        self._ending = False
        self._end_reason = CloseReason.USER_ENDED
        """Why `end` was called: the user, or the terminal closing (the entry unloading, HA
        stopping), which automations must be able to tell apart."""
        self._started = False
        self._instructions = ""

    @property
    def session(self) -> RealtimeSession | None:
        return self._session

    @property
    def turns(self) -> VoiceTurns | None:
        return self._turns

    @property
    def accepting(self) -> bool:
        """Connected and not ending: what is asked now will be said."""
        return not self._ending and self._session is not None and self._session.alive

    # -- start ---------------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect with the microphone live; the first words (if any) are on their way.

        Raises VoiceSessionEnded when `end` came first, and whatever connecting raised.
        """
        self._listener.on_state(VoiceState.CONNECTING)
        try:
            await self._start()
        except BaseException as err:
            ending = self._ending  # before anything awaited can make it true
            await self._release()
            self._listener.on_state(VoiceState.IDLE if ending else VoiceState.ERROR)
            if not self.ended.done():
                self.ended.set_result(self._end_reason if ending else CloseReason.ERROR)
            if ending and isinstance(err, Exception) and not isinstance(err, VoiceSessionEnded):
                # Whatever connecting ran into, it was because the session was being ended.
                raise VoiceSessionEnded from err
            raise

        self._started = True
        turns = self._turns
        assert turns is not None
        self._worker = self._setup.hass.async_create_background_task(
            self._work(turns), f"aiy_realtime voice {self.conversation_id}"
        )
        if self._request.first_words:
            self._first = self.speak(self._request.first_words)
        self._timer("expiry", SESSION_LIMIT - EXPIRY_NOTICE, self._time_is_up)

    async def _start(self) -> None:
        setup = self._setup
        route = setup.route
        # Both open before the call is placed: a missing device costs no paid call.
        self._gate = GatedReader(await route.open_microphone(), rate=route.rate)
        self._mic = PcmSourceTrack(self._gate, rate=route.rate)
        self._speaker = speaker = await route.open_speaker()
        with (
            async_get_chat_session(setup.hass, None, None) as chat,
            conversation.async_get_chat_log(setup.hass, chat) as chat_log,
        ):
            self.conversation_id = chat.conversation_id
            await self._provide_llm_data(chat_log)
            instructions, context = split_prompt(_system_prompt(chat_log))
            self._instructions = instructions
            toolset = ToolSet.from_api(chat_log.llm_api)
            session = RealtimeSession(
                setup.signaling(),
                setup.assistant.voice_config(
                    instructions or None,
                    toolset,
                    idle_timeout=setup.idle_timeout,
                    answer=not self._request.listen_only,
                    noise_reduction=setup.noise_reduction,
                ),
                microphone=self._mic,
                speaker=speaker,
                connect_timeout=setup.connect_timeout,
            )
            self._session = session
            if self._ending:
                raise VoiceSessionEnded
            session.subscribe(self._on_event)
            await session.start()
            if self._ending:
                raise VoiceSessionEnded
            realtime = RealtimeConversation(
                (setup.assistant_id, chat.conversation_id), session, toolset
            )
            bridge = ChatBridge(
                realtime,
                setup.agent_id,
                on_usage=setup.meter.record,
                max_tool_rounds=MAX_TOOL_ROUNDS,
            )
            self._turns = VoiceTurns(
                setup.hass,
                session,
                bridge,
                conversation_id=chat.conversation_id,
                provide_llm_data=self._provide_llm_data,
                on_transcript=self._listener.on_transcript,
                on_failed=self._turn_failed,
            )
            bridge.spoken = self._turns.spoken
            bridge.tell(chat_log, context)

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
        guard_tools(chat_log)

    # -- what callers do -----------------------------------------------------------------------

    def speak(self, instructions: str) -> Turn:
        """A spoken response to these instructions, on top of the assistant's own (its persona
        and language stay); it may not act (`tool_choice: none`). Raises
        RealtimeSessionClosed when the session no longer takes requests."""
        session, turns = self._session, self._turns
        if session is None or turns is None or not session.alive:
            raise RealtimeSessionClosed("the voice session is not running")
        turn = session.create_response(
            instructions=f"{self._instructions}\n\n{instructions}".strip(),
            tool_choice="none",
            run_tools=False,
        )
        turns.asked(turn)
        return turn

    async def say(self, text: str) -> Said:
        """Say `text` word for word; returns once it has played (or was cut off), or at once
        when the session cannot take it (it is ending)."""
        if not self.accepting:
            return Said.NOT_TAKEN
        session = self._session
        speaking = len(text) / session.playback.chars_per_second if session is not None else 0.0
        within = RESPONSE_WAIT + speaking
        try:
            turn = self.speak(say_exactly(text))
            async with asyncio.timeout(within):
                result = await turn.result()
        except RealtimeError:
            return Said.NOT_TAKEN
        except TimeoutError:
            _LOGGER.warning("The model did not finish saying %r within %.0f s", text, within)
            self._stop_talking()
            return Said.CUT_OFF
        heard = await self._played_out(result.responses, text)
        return Said.PLAYED if result.status == "completed" and heard else Said.CUT_OFF

    async def _played_out(self, responses: Sequence[ResponseResult], text: str) -> bool:
        """Whether the responses' audio played to its end, on the server's word and through
        the terminal's own speaker. Generated in full is not heard in full: the audio plays on
        after response.done, for about as long as the text takes to say; waited for with room
        to spare, then cut off (a stuck player would hold the terminal for ever)."""
        session = self._session
        if session is None:
            return False
        playback = session.playback
        ids = [response.response_id for response in responses]
        within = AUDIO_END_WAIT + 2 * len(text) / playback.chars_per_second
        played_here = True
        try:
            async with asyncio.timeout(within):
                # Its audio may start just after response.done: none at all is not heard.
                for response_id in ids:
                    await playback.began(response_id)
                    await playback.finished(response_id, within)
                if (pump := session.audio_pump) is not None:
                    played_here = await pump.played_out()
        except TimeoutError:
            _LOGGER.warning("Saying %r took over %.0f s: cut off", text, within)
            self._stop_talking()
            return False
        return played_here and not any(playback.cut_off(response_id) for response_id in ids)

    def _stop_talking(self) -> None:
        """Stop the model mid-word (its response and the audio it sent), if it still listens."""
        if (session := self._session) is not None:
            with contextlib.suppress(RealtimeError):
                session.interrupt()

    async def first_words_played(self) -> float:
        """Wait until the first words (a greeting, a question) have played; when that was."""
        if self._first is not None:
            await self._played(self._first)
        return time.monotonic()

    async def next_words(self, after: float, timeout: float) -> str | None:
        """The user's words begun at `after` or later; None after `timeout` or at the end."""
        turns = self._turns
        if turns is None:
            return None
        try:
            async with asyncio.timeout(timeout):
                return await turns.next_words(after)
        except TimeoutError:
            return None

    async def end(self, *, graceful: bool, reason: CloseReason = CloseReason.USER_ENDED) -> None:
        """End the session: after a goodbye that plays to its end, or at once; also while it
        is still connecting. Returns once it has ended."""
        was_ending, self._ending = self._ending, True
        if not was_ending:
            self._end_reason = reason
        session = self._session
        if session is not None and session.state not in GONE and not was_ending:
            if graceful and session.alive:
                await self._say_goodbye(GOODBYE, reason)
            else:
                self._stop_talking()
                await session.close(reason)
        await asyncio.shield(self.ended)

    async def _say_goodbye(self, instructions: str, reason: CloseReason) -> None:
        session = self._session
        if session is None or not session.alive:
            return
        with contextlib.suppress(RealtimeError):
            await self._played(self.speak(instructions))
        await session.close(reason)

    async def _played(self, turn: Turn) -> None:
        """Wait until the turn has been answered and its audio has stopped playing."""
        session = self._session
        assert session is not None
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(AUDIO_END_WAIT):
                await turn.result()
                await session.wait_audio_done(AUDIO_END_WAIT)
                if (pump := session.audio_pump) is not None:
                    await pump.played_out()

    # -- what the session says -----------------------------------------------------------------

    def _on_event(self, event: SessionEvent) -> None:
        turns = self._turns
        match event.kind:
            case "state":
                self._on_state(event.data)
            case _ if turns is None:
                return
            case "input_committed":
                turns.committed(event.data.item_id)
            case "speech_started":
                turns.speech_started(event.data.item_id, time.monotonic())
                self._cancel("idle")
            case "speech_stopped":
                self._count_idle()
            case "user_transcript" if event.data.type.endswith(".completed"):
                turns.transcribed(event.data.item_id, event.data.transcript.strip())
            case "user_transcript_failed":
                turns.transcribed(event.data.item_id, None)
            case "server_turn":
                turns.server_turn(event.data)
            case "input_timeout":
                self._end_at_once(CloseReason.IDLE_TIMEOUT)

    def _turn_failed(self, problem: TurnProblem, detail: str) -> None:
        """A turn OpenAI refused. Told to the user: the LED blinks its error and the state
        sensor names it; a problem every later turn would have too ends the session."""
        self._listener.on_problem(problem, detail)
        session = self._session
        if (
            session is None
            or self._ending
            or session.state in GONE
            or (now := SESSION_STATES.get(session.state)) is None
        ):
            return  # the session is ending anyway: its end shows
        # The error's three blinks play to their end before the state after it shows.
        self._listener.on_state(VoiceState.ERROR)
        if problem.lasting:
            self._end_at_once(CloseReason.ERROR)
        else:
            self._listener.on_state(now)

    def _on_state(self, state: SessionState) -> None:
        if state is SessionState.CLOSED:
            # A session that closes while it starts is start()'s to clean up.
            if self._finishing is None and self._started:
                self._finishing = self._setup.hass.async_create_background_task(
                    self._finish(), f"aiy_realtime voice end {self.conversation_id}"
                )
            return
        if (
            self._setup.half_duplex
            # A question is heard once asked: its echo must not count as the answer, and the
            # server's positions in our audio cannot tell it apart (they count from a start
            # of its own, not from our first sample).
            or self._request.listen_only
            or self._gate_closed_at is not None
            or self._setup.route.learning
        ):
            self._gate_mic(state)
        if state is SessionState.LISTENING:
            self._count_idle()
        else:
            self._cancel("idle")
        if (voice := SESSION_STATES.get(state)) is not None:
            self._listener.on_state(voice)

    def _gate_mic(self, state: SessionState) -> None:
        """Half duplex: without echo cancellation a kit hears itself, so the microphone is
        deaf while it speaks, and until the player has played what it still holds."""
        gate = self._gate
        if gate is None:
            return
        if state is SessionState.SPEAKING:
            self._stop_unmuting()
            gate.open = False
            if self._gate_closed_at is None:
                self._gate_closed_at = time.monotonic()
            return
        if gate.open or self._unmuting is not None:
            return
        self._unmuting = self._setup.hass.async_create_background_task(
            self._unmute_when_played(), f"aiy_realtime unmute {self.conversation_id}"
        )

    async def _unmute_when_played(self) -> None:
        """Open the mic ECHO_TAIL after the player has handed the answer to the sink: on a
        busy machine what it queued when the answer ended may take longer than it lasts."""
        try:
            if self._session is not None and (pump := self._session.audio_pump) is not None:
                await pump.played_out()
            await asyncio.sleep(ECHO_TAIL)
        finally:
            if self._unmuting is asyncio.current_task():
                self._unmuting = None
        self._unmute()

    def _stop_unmuting(self) -> None:
        unmuting, self._unmuting = self._unmuting, None
        if unmuting is not None:
            unmuting.cancel()

    def _unmute(self) -> None:
        if self._gate is not None:
            self._gate.hear_from(time.monotonic())
        if (closed_at := self._gate_closed_at) is not None:
            self._gate_closed_at = None
            self._setup.route.spoke(time.monotonic() - closed_at)

    # -- timers and ends -----------------------------------------------------------------------

    def _timer(self, name: str, seconds: float, action: Callable[[], None]) -> None:
        self._cancel(name)

        def fire() -> None:
            self._timers.pop(name, None)
            action()

        self._timers[name] = asyncio.get_running_loop().call_later(seconds, fire)

    def _cancel(self, name: str) -> None:
        if (timer := self._timers.pop(name, None)) is not None:
            timer.cancel()

    def _count_idle(self) -> None:
        """Nobody speaks and nothing is said: after the idle timeout the session ends. Where
        the server times the silence too (`idle_timeout_ms`), a grace lets its timeout come
        first."""
        session = self._session
        if session is not None and session.state is SessionState.LISTENING:
            timeout = self._setup.idle_timeout
            if "idle_timeout_ms" in (session.config.turn_detection or {}):
                timeout += IDLE_GRACE
            self._timer("idle", timeout, lambda: self._end_at_once(CloseReason.IDLE_TIMEOUT))

    def _end_at_once(self, reason: CloseReason) -> None:
        session = self._session
        if session is None or session.state in GONE:
            return
        self._ending = True
        self._stop_talking()
        self._setup.hass.async_create_background_task(
            session.close(reason), f"aiy_realtime voice close {self.conversation_id}"
        )

    def _time_is_up(self) -> None:
        """Say so before OpenAI ends the session mid-word, then end it."""
        self._ending = True
        self._setup.hass.async_create_background_task(
            self._say_goodbye(TIME_IS_UP, CloseReason.EXPIRED),
            f"aiy_realtime voice expiry {self.conversation_id}",
        )

    async def _work(self, turns: VoiceTurns) -> None:
        """The session's turns, until it ends; a goodbye of the model's own ends it too."""
        ended = asyncio.ensure_future(turns.end_requested.wait())
        running = asyncio.ensure_future(turns.run())
        try:
            await asyncio.wait({ended, running}, return_when=asyncio.FIRST_COMPLETED)
            if turns.end_requested.is_set() and (session := self._session) is not None:
                self._ending = True
                await session.wait_audio_done(AUDIO_END_WAIT)
                await session.close(CloseReason.MODEL_ENDED)
            await running
        finally:
            ended.cancel()
            if not running.done():
                running.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await running

    async def _finish(self) -> None:
        session = self._session
        reason = (session.close_reason if session else None) or CloseReason.ERROR
        self._ending = True
        for name in list(self._timers):
            self._cancel(name)
        self._stop_unmuting()
        if self._turns is not None:
            self._turns.stop()
        worker, self._worker = self._worker, None
        if worker is not None:
            # The turn in hand reaches the chat log (its session closed under it); then it stops.
            try:
                await asyncio.wait_for(asyncio.shield(worker), STOP_WAIT)
            except TimeoutError:
                worker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await worker
        await self._release()
        self._listener.on_state(VoiceState.IDLE)
        if not self.ended.done():
            self.ended.set_result(reason)

    async def _release(self) -> None:
        """Free the microphone (awaited: the next session finds the device free)."""
        if self._session is not None:
            await self._session.close(CloseReason.ERROR)
        mic, self._mic = self._mic, None
        gate, self._gate = self._gate, None
        if mic is not None:
            await mic.close()  # the recorder is gone when this returns
        elif gate is not None:
            await gate.close()
        speaker, self._speaker = self._speaker, None
        if speaker is not None:
            await speaker.close()  # closed by the session's pump already, if it ran


def _system_prompt(chat_log: conversation.ChatLog) -> str:
    system = chat_log.content[0]
    return system.content or "" if isinstance(system, conversation.SystemContent) else ""
