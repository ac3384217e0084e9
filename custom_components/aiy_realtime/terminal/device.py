"""A voice terminal (a `voice_terminal` subentry): its sound, its running session, its events."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
import logging
from typing import TYPE_CHECKING, Any, Protocol

from homeassistant.config_entries import ConfigEntry, ConfigSubentry
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError, TemplateError
from homeassistant.helpers import entity_registry as er, issue_registry as ir, template

from ..assistant.problems import TurnProblem, async_create_quota_issue
from ..assistant.retirements import retired_error
from ..assistant.settings import Assistant
from ..const import (
    AUDIO_RATE,
    CONNECT_TIMEOUT,
    DOMAIN,
    EVENT_SESSION_ENDED,
    EVENT_SESSION_STARTED,
    EVENT_TRANSCRIPT,
    ISSUE_AUDIO_UNAVAILABLE,
    LOGGER,
    LONG_PRESS_END,
    LONG_PRESS_NOTHING,
)
from ..hardware.audio_devices import AudioUnavailable
from ..hardware.boards import BoardError
from ..hardware.button import ButtonEvent
from ..hardware.terminal_sound import TerminalSound
from ..realtime.audio import AudioSink, PcmReader
from ..realtime.errors import RealtimeAuthError, RealtimeBadRequestError, RealtimeRateLimitError
from ..realtime.session import CloseReason
from ..realtime.signaling import UnifiedSignaling
from .kit import KitSettings, TerminalKit
from .media import Media, async_play
from .session import (
    Said,
    VoiceRequest,
    VoiceSession,
    VoiceSessionEnded,
    VoiceSetup,
)
from .settings import TerminalSettings
from .states import VoiceState

if TYPE_CHECKING:
    import openai

    from ..assistant.usage import UsageMeter

type TerminalListener = Callable[[], None]


class TerminalHost(Protocol):
    """What a terminal needs of its loaded entry (its runtime data): a Protocol, not the
    entry's own type, so that this module does not import the package that owns terminals."""

    @property
    def client(self) -> openai.AsyncOpenAI: ...

    @property
    def meters(self) -> Mapping[str, UsageMeter]: ...


@dataclass(frozen=True, slots=True)
class SoundRoute:
    """A terminal's sound as the voice session opens it."""

    sound: TerminalSound

    @property
    def rate(self) -> int:
        return self.sound.rate

    async def open_microphone(self) -> PcmReader:
        return await self.sound.open_microphone()

    async def open_speaker(self) -> AudioSink:
        return await self.sound.open_speaker()

    @property
    def learning(self) -> bool:
        return self.sound.learning

    def spoke(self, seconds: float) -> None:
        self.sound.spoke(seconds)


class VoiceTerminal:
    """One terminal: at most one session at a time, started by an action, an automation, a
    satellite call or (with the kit) a button; every change told to its entities."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry[Any],
        subentry: ConfigSubentry,
        host: TerminalHost,
    ) -> None:
        self.hass = hass
        self.entry = entry
        self.host = host
        self.subentry = subentry
        self.settings = TerminalSettings.from_options(subentry.data)
        self.state = VoiceState.IDLE
        self.last_end_reason: str | None = None
        self.last_error: str | None = None
        """The last turn OpenAI refused, why (a `TurnProblem`); None until one is."""
        self.device_id: str | None = None
        self.session: VoiceSession | None = None
        self._starting: asyncio.Lock = asyncio.Lock()
        self._watching: asyncio.Task[None] | None = None
        self._closed = False
        self.sound = TerminalSound(
            self.settings.backend,
            key=subentry.subentry_id,
            title=subentry.title,
            rate=AUDIO_RATE,
            echo_cancellation=self.settings.echo_cancellation,
        )
        self._unsubscribe_sound = self.sound.subscribe(self._sound_changed)

        self._listeners: list[TerminalListener] = []
        self.kit: TerminalKit | None = None
        """The AIY kit's button, LED and amplifier (None: a terminal without a kit)."""
        try:
            if (kit := KitSettings.from_options(subentry.data)) is not None:
                self.kit = TerminalKit(
                    hass,
                    entry,
                    kit,
                    key=subentry.subentry_id,
                    title=subentry.title,
                    on_button=self._on_button,
                )
        except BoardError as err:  # the form checks the pins: only a hand-edited store
            LOGGER.error("The kit settings of %s make no board: %s", subentry.title, err)
        self._transcript_listeners: list[Callable[[str, str], None]] = []

    @property
    def terminal_id(self) -> str:
        return self.subentry.subentry_id

    @property
    def audio_problem(self) -> AudioUnavailable | None:
        return self.sound.problem

    @property
    def available(self) -> bool:
        return self.sound.problem is None

    @callback
    def subscribe(self, listener: TerminalListener) -> Callable[[], None]:
        """Call `listener` on every change of state or availability."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    @callback
    def subscribe_transcripts(self, listener: Callable[[str, str], None]) -> Callable[[], None]:
        self._transcript_listeners.append(listener)
        return lambda: self._transcript_listeners.remove(listener)

    def _changed(self) -> None:
        if self.kit is not None:  # the kit shows what it is told, and dedups it
            self.kit.show(self.state)
        for listener in list(self._listeners):
            listener()

    # -- settings ------------------------------------------------------------------------------

    @callback
    def async_change_settings(self, changes: Mapping[str, Any]) -> None:
        """Save `changes` in the terminal's subentry, where its form finds them and a restart
        keeps them; the entry's update listener then applies them (apply_settings)."""
        self.hass.config_entries.async_update_subentry(
            self.entry, self.subentry, data={**self.subentry.data, **changes}
        )

    @callback
    def apply_settings(self) -> None:
        """The subentry's settings changed (TerminalSettings.applies_live): the next session
        uses them. A running one goes on as it started; hanging up a call because someone
        picked another assistant for the next one would lose what is being said."""
        self.settings = TerminalSettings.from_options(self.subentry.data)
        if self.sound.echo_cancellation != self.settings.echo_cancellation:
            self.entry.async_create_background_task(
                self.hass, self._apply_echo(), f"aiy_realtime echo {self.terminal_id}"
            )
        self._changed()

    async def _apply_echo(self) -> None:
        """The echo setting onto the sound, between sessions: a session (or a start) holds
        the canceller's devices, and the end of that session comes back here."""
        async with self._starting:
            if self.session is None and not self._closed:
                await self.sound.set_echo_cancellation(self.settings.echo_cancellation)

    # -- sound ---------------------------------------------------------------------------------

    async def async_check_audio(self) -> bool:
        """Whether the terminal's sound works now; from here on it is watched (see
        TerminalSound) and a repair issue says what to fix while it does not."""
        works = await self.sound.start()
        self._sound_changed()
        return works

    @callback
    def _sound_changed(self) -> None:
        issue_id = f"{ISSUE_AUDIO_UNAVAILABLE}_{self.terminal_id}"
        if (problem := self.sound.problem) is not None:
            ir.async_create_issue(
                self.hass,
                DOMAIN,
                issue_id,
                is_fixable=False,
                severity=ir.IssueSeverity.ERROR,
                translation_key=ISSUE_AUDIO_UNAVAILABLE,
                translation_placeholders={"terminal": self.subentry.title, "reason": str(problem)},
            )
        else:
            ir.async_delete_issue(self.hass, DOMAIN, issue_id)
        self._changed()

    @property
    def full_duplex(self) -> bool:
        """The microphone listens while the assistant speaks (a person can talk over it):
        unless the settings say half duplex, or no good enough canceller runs, when the
        assistant would hear (and answer) itself."""
        return not (self.settings.half_duplex or self.sound.hears_itself)

    # -- sessions ------------------------------------------------------------------------------

    def greeting(self) -> str:
        """The assistant's greeting instructions, its template rendered (empty: none)."""
        subentry = self.entry.subentries.get(self.settings.assistant_id)
        if subentry is None:
            return ""
        greeting = Assistant.from_options(subentry.data).greeting
        if not greeting:
            return ""
        try:
            return str(template.Template(greeting, self.hass).async_render(parse_result=False))
        except TemplateError as err:
            LOGGER.warning("The greeting of %s does not render: %s", subentry.title, err)
            return greeting

    async def async_start_session(
        self, instructions: str | None = None, greeting: str | None = None
    ) -> VoiceSession:
        """What the start_session action and the Start conversation button do: a session with
        `instructions` (blank: none), whose first words are `greeting` (None: the assistant's
        own greeting, blank: none)."""
        first_words = self.greeting() if greeting is None else greeting
        return await self.async_start(
            VoiceRequest(
                instructions=(instructions or "").strip() or None,
                first_words=first_words.strip() or None,
            )
        )

    async def async_play_media(self, *media: Media | None) -> None:
        """Play sound files on the speaker with no session (an announcement's media, the
        chime). The terminal is busy meanwhile (a press or a start waits for the end) and shows
        speaking, so the kit's amplifier is on and the LED says so."""
        files = [each for each in media if each is not None]
        if not files:
            return
        async with self._starting:
            self._refuse_unless_free()
            self.on_state(VoiceState.SPEAKING)
            try:
                for each in files:
                    await async_play(self.hass, self.sound, each)
            finally:
                self.on_state(VoiceState.IDLE)

    async def async_start(self, request: VoiceRequest) -> VoiceSession:
        """Start a session (one at a time); raises HomeAssistantError with a translated reason.

        Whatever fails, the terminal is free again afterwards.
        """
        async with self._starting:
            self._refuse_unless_free()
            # Watched all along: looked at again here only if it was broken.
            if self.audio_problem is not None and not await self.async_check_audio():
                self._refuse_when_closed()
                raise HomeAssistantError(
                    translation_domain=DOMAIN,
                    translation_key="audio_unavailable",
                    translation_placeholders={
                        "terminal": self.subentry.title,
                        "reason": str(self.audio_problem),
                    },
                )
            # The terminal may have closed while its sound was looked at: no call after that.
            self._refuse_when_closed()
            session = VoiceSession(self._setup(), request, self)
            self.session = session
            try:
                await session.start()
            except BaseException as err:
                self.session = None
                self._failed_to_start(session, err)
                raise
        self.hass.bus.async_fire(
            EVENT_SESSION_STARTED,
            {**self._event_data(), "conversation_id": session.conversation_id},
        )
        self._watching = self.entry.async_create_background_task(
            self.hass, self._watch(session), f"aiy_realtime terminal {self.terminal_id}"
        )
        return session

    def _refuse_unless_free(self) -> None:
        """One thing at a time on the speaker: a session or a sound file; none once closed."""
        if self.session is not None:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="terminal_busy",
                translation_placeholders={"terminal": self.subentry.title},
            )
        self._refuse_when_closed()

    def _refuse_when_closed(self, cause: BaseException | None = None) -> None:
        """A terminal that closes (its entry unloads, HA stops) opens no call from then on."""
        if self._closed:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="terminal_closed",
                translation_placeholders={"terminal": self.subentry.title},
            ) from cause

    def _failed_to_start(self, session: VoiceSession, err: BaseException) -> None:
        """Say why a start failed, as a translated HomeAssistantError (raised from `err`)."""
        ended_early = isinstance(err, VoiceSessionEnded)
        ended = session.ended.result() if session.ended.done() else None
        self.last_end_reason = (ended if ended_early and ended else CloseReason.ERROR).value
        self._changed()
        if isinstance(err, HomeAssistantError) or not isinstance(err, Exception):
            return
        self._refuse_when_closed(err)  # ended by the close: that is the reason to give
        placeholders = {"terminal": self.subentry.title, "reason": str(err) or type(err).__name__}
        if ended_early:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="session_ended_early",
                translation_placeholders=placeholders,
            ) from err
        LOGGER.warning("A voice session of %s did not start: %s", self.subentry.title, err)
        if isinstance(err, RealtimeAuthError) or isinstance(err.__cause__, RealtimeAuthError):
            self.entry.async_start_reauth(self.hass)
        limited = err if isinstance(err, RealtimeRateLimitError) else err.__cause__
        if isinstance(limited, RealtimeRateLimitError) and limited.quota:
            async_create_quota_issue(self.hass)  # as a typed turn would
        refused = err if isinstance(err, RealtimeBadRequestError) else err.__cause__
        assistant = self.entry.subentries.get(self.settings.assistant_id)
        # OpenAI refuses a shut-down model like any unknown one: the date tells them apart.
        if (
            isinstance(refused, RealtimeBadRequestError)
            and assistant is not None
            and (retired := retired_error(assistant, voice=True)) is not None
        ):
            raise retired from err
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="session_failed",
            translation_placeholders=placeholders,
        ) from err

    async def _watch(self, session: VoiceSession) -> None:
        reason = await asyncio.shield(session.ended)
        if self.session is session:
            self.session = None
        self.last_end_reason = reason.value
        if reason is CloseReason.DEVICE_LOST:
            realtime = session.session
            self.sound.report_lost(
                (realtime.close_detail if realtime else None) or "the microphone or speaker failed"
            )
        self.hass.bus.async_fire(
            EVENT_SESSION_ENDED,
            {**self._event_data(), "conversation_id": session.conversation_id, "reason": reason},
        )
        self._changed()
        if self.sound.echo_cancellation != self.settings.echo_cancellation:
            await self._apply_echo()  # changed while the session ran

    async def async_end(self, *, graceful: bool) -> None:
        """End the running session, if any; returns once its end was told (event, state)."""
        if (session := self.session) is not None:
            await session.end(graceful=graceful)
            await self._told_ended()

    async def _told_ended(self) -> None:
        if (watching := self._watching) is not None:
            await asyncio.shield(watching)

    async def async_say(self, text: str) -> None:
        """Say `text` in the running session, or in a short session of its own (also when the
        running one is ending: after it has ended). Raises HomeAssistantError when it was cut
        off before its end: an automation must not take it as heard."""
        async with self._starting:  # a session still connecting is one to say it in
            session = self.session
        said = Said.NOT_TAKEN
        if session is not None:
            said = await session.say(text)
            if said is Said.NOT_TAKEN:
                await asyncio.shield(session.ended)
                await self._told_ended()
        if said is Said.NOT_TAKEN:
            # Its own session only listens (and not while it speaks): a television or a
            # passer-by cannot cut the announcement off, nor start a turn with tools.
            session = await self.async_start(VoiceRequest(listen_only=True))
            try:
                said = await session.say(text)
            finally:
                await session.end(graceful=False)
                await self._told_ended()
        if said is not Said.PLAYED:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="announcement_cut_off",
                translation_placeholders={"terminal": self.subentry.title},
            )

    async def async_close(self) -> None:
        """The entry unloads: end at once, devices, echo canceller and pins released."""
        self._closed = True
        if (session := self.session) is not None:
            await session.end(graceful=False, reason=CloseReason.SHUTDOWN)
            await self._told_ended()
        self._unsubscribe_sound()
        await self.sound.close()
        if self.kit is not None:
            await self.kit.async_close()

    # -- what the session tells (VoiceListener) ------------------------------------------------

    def on_state(self, state: VoiceState) -> None:
        self.state = state
        self._changed()

    def on_problem(self, problem: TurnProblem, detail: str) -> None:
        """Said where the user looks: the log, the state sensor, the repair or reauth the text
        path raises for the same refusal."""
        LOGGER.warning(
            "A voice turn on %s got no answer from OpenAI (%s): %s",
            self.subentry.title,
            problem.value,
            detail,
        )
        self.last_error = problem.value
        if problem is TurnProblem.QUOTA:
            async_create_quota_issue(self.hass)
        elif problem is TurnProblem.AUTH:
            self.entry.async_start_reauth(self.hass)
        self._changed()

    def on_transcript(self, role: str, text: str) -> None:
        self.hass.bus.async_fire(
            EVENT_TRANSCRIPT, {**self._event_data(), "role": role, "text": text}
        )
        for listener in list(self._transcript_listeners):
            listener(role, text)

    def _event_data(self) -> dict[str, Any]:
        # The satellite's entity id lets the logbook list an event under the terminal's entity
        # (it filters events by their data's entity_id, and by device_id for the device page).
        # Looked up at each event, so a renamed entity id is the one named.
        entity_id = er.async_get(self.hass).async_get_entity_id(
            "assist_satellite", DOMAIN, self.terminal_id
        )
        return {
            "terminal_id": self.terminal_id,
            "device_id": self.device_id,
            "entity_id": entity_id,
        }

    def _setup(self) -> VoiceSetup:
        data = self.host
        assistant_id = self.settings.assistant_id
        subentry = self.entry.subentries.get(assistant_id)
        if subentry is None:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="assistant_missing",
                translation_placeholders={"terminal": self.subentry.title},
            )
        agent_id = er.async_get(self.hass).async_get_entity_id("conversation", DOMAIN, assistant_id)
        client = data.client
        return VoiceSetup(
            hass=self.hass,
            signaling=lambda: UnifiedSignaling(client),
            assistant=Assistant.from_options(subentry.data),
            assistant_id=assistant_id,
            agent_id=agent_id or f"conversation.{assistant_id}",
            meter=data.meters[assistant_id],
            route=SoundRoute(self.sound),
            device_id=self.device_id,
            idle_timeout=self.settings.idle_timeout,
            half_duplex=not self.full_duplex,
            noise_reduction=self.settings.noise_reduction,
            connect_timeout=CONNECT_TIMEOUT,
        )

    # -- the kit's button ----------------------------------------------------------------------

    @callback
    def _on_button(self, event: ButtonEvent) -> None:
        """A press: start a session, or end the running one at once. A long press: as set."""
        assert self.kit is not None  # only the kit presses
        long_press = self.kit.settings.long_press
        if event is ButtonEvent.LONG_PRESS:
            if long_press == LONG_PRESS_NOTHING:
                return
            self.kit.announce(event)
            if long_press == LONG_PRESS_END and self.session is not None:
                self._run(self.async_end(graceful=True), "end")
            return
        self.kit.announce(event)
        if self.session is None:  # what the Start conversation button does
            self._run(self.async_start_session(), "start")
        else:
            self._run(self.async_end(graceful=False), "end")

    def _run(self, job: Coroutine[Any, Any, object], what: str) -> None:
        self.entry.async_create_background_task(
            self.hass, self._quietly(job, what), f"aiy_realtime button {what}"
        )

    async def _quietly(self, job: Coroutine[Any, Any, object], what: str) -> None:
        """A button has nobody to raise to: what goes wrong is logged (the LED shows errors)."""
        try:
            await job
        except HomeAssistantError as err:
            # Pressed again while it connected: that ended it, as the user wanted.
            ended_early = err.translation_key == "session_ended_early"
            LOGGER.log(
                logging.DEBUG if ended_early else logging.WARNING,
                "The button of %s could not %s: %s",
                self.subentry.title,
                what,
                err,
            )
