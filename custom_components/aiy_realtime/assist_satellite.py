"""Each voice terminal as an Assist satellite: HA's announce, start_conversation and
ask_question actions, spoken by the Realtime model itself (no text-to-speech engine involved)."""

from __future__ import annotations

import asyncio
from typing import Any, override

from homeassistant.components.assist_pipeline import PipelineEvent
from homeassistant.components.assist_satellite import (
    AssistSatelliteAnnouncement,
    AssistSatelliteAnswer,
    AssistSatelliteConfiguration,
    AssistSatelliteEntity,
    AssistSatelliteEntityDescription,
    AssistSatelliteEntityFeature,
    SatelliteBusyError,
)
from homeassistant.components.assist_satellite.entity import AssistSatelliteState
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from . import AiyRealtimeConfigEntry
from .const import DOMAIN
from .entity import TerminalEntity
from .terminal import VoiceTerminal
from .voice_session import SAY_EXACTLY, VoiceRequest, VoiceState

PARALLEL_UPDATES = 0
ANSWER_WAIT = 60.0
"""Seconds a question waits for the user's answer."""

_STATES = {
    VoiceState.IDLE: AssistSatelliteState.IDLE,
    VoiceState.CONNECTING: AssistSatelliteState.PROCESSING,
    VoiceState.LISTENING: AssistSatelliteState.LISTENING,
    VoiceState.THINKING: AssistSatelliteState.PROCESSING,
    VoiceState.SPEAKING: AssistSatelliteState.RESPONDING,
    VoiceState.ERROR: AssistSatelliteState.IDLE,
}


async def async_setup_entry(
    hass: HomeAssistant,
    entry: AiyRealtimeConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """One satellite per voice terminal."""
    for terminal_id, terminal in entry.runtime_data.terminals.items():
        async_add_entities([RealtimeSatellite(terminal)], config_subentry_id=terminal_id)


class RealtimeSatellite(TerminalEntity, AssistSatelliteEntity):
    """A voice terminal as Home Assistant's satellites are, speech to speech."""

    entity_description = AssistSatelliteEntityDescription(key="assist_satellite")
    _attr_name = None
    _attr_supported_features = (
        AssistSatelliteEntityFeature.ANNOUNCE | AssistSatelliteEntityFeature.START_CONVERSATION
    )

    def __init__(self, terminal: VoiceTerminal) -> None:
        TerminalEntity.__init__(self, terminal)
        AssistSatelliteEntity.__init__(self)
        self._attr_unique_id = terminal.terminal_id

    @callback
    @override
    def _on_terminal_changed(self) -> None:
        self._set_state(_STATES[self.terminal.state])
        super()._on_terminal_changed()

    @override
    def on_pipeline_event(self, event: PipelineEvent) -> None:
        """No Assist pipeline runs here: speech goes to the Realtime model and back."""

    @callback
    @override
    def async_get_configuration(self) -> AssistSatelliteConfiguration:
        """No wake words: a session starts by a press, an action or an automation."""
        return AssistSatelliteConfiguration(
            available_wake_words=[], active_wake_words=[], max_active_wake_words=0
        )

    @override
    async def async_set_configuration(self, config: AssistSatelliteConfiguration) -> None:
        raise HomeAssistantError(translation_domain=DOMAIN, translation_key="no_wake_words")

    # HA's versions of these resolve the text to a TTS media URL first; here the Realtime model
    # speaks the text itself, so they take the text as it is.

    @override
    async def async_internal_announce(
        self,
        message: str | None = None,
        media_id: str | None = None,
        preannounce: bool = True,
        preannounce_media_id: str | None = None,
    ) -> None:
        """Say `message`: in the running session, or in a short session of its own."""
        async with self._announcing():
            await self.terminal.async_say(self._text(message))

    @override
    async def async_announce(self, announcement: AssistSatelliteAnnouncement) -> None:
        await self.terminal.async_say(announcement.message)

    @override
    async def async_internal_start_conversation(
        self,
        start_message: str | None = None,
        start_media_id: str | None = None,
        extra_system_prompt: str | None = None,
        preannounce: bool = True,
        preannounce_media_id: str | None = None,
    ) -> None:
        """Start a session whose first words are `start_message`; returns once they played."""
        text = self._text(start_message)
        async with self._announcing():
            session = await self.terminal.async_start(
                VoiceRequest(
                    instructions=extra_system_prompt or text,
                    first_words=SAY_EXACTLY.format(text=text),
                )
            )
            self._conversation_id = session.conversation_id
            self._extra_system_prompt = extra_system_prompt or text
            await session.first_words_played()

    @override
    async def async_start_conversation(
        self, start_announcement: AssistSatelliteAnnouncement
    ) -> None:
        await self.async_internal_start_conversation(start_announcement.message)

    @override
    async def async_internal_ask_question(
        self,
        question: str | None = None,
        question_media_id: str | None = None,
        preannounce: bool = True,
        preannounce_media_id: str | None = None,
        answers: list[dict[str, Any]] | None = None,
    ) -> AssistSatelliteAnswer | None:
        """Ask, listen for the user's answer (transcribed), and match it to `answers`."""
        text = self._text(question)
        heard: asyncio.Future[str] = asyncio.get_running_loop().create_future()

        def on_transcript(role: str, said: str) -> None:
            if role == "user" and not heard.done():
                heard.set_result(said)

        async with self._announcing():
            unsubscribe = self.terminal.subscribe_transcripts(on_transcript)
            try:
                session = await self.terminal.async_start(
                    VoiceRequest(
                        instructions=f"You asked the user: {text}",
                        first_words=SAY_EXACTLY.format(text=text),
                        listen_only=True,
                    )
                )
                try:
                    async with asyncio.timeout(ANSWER_WAIT):
                        response_text = await heard
                except TimeoutError:
                    response_text = None
                finally:
                    await session.end(graceful=False)
            finally:
                unsubscribe()
        if response_text is None:
            raise HomeAssistantError(translation_domain=DOMAIN, translation_key="no_answer")
        if not answers:
            return AssistSatelliteAnswer(id=None, sentence=response_text)
        return self._question_response_to_answer(response_text, answers)

    # The integration's own actions (services.py).

    async def async_start_session(
        self, instructions: str | None = None, greeting: str | None = None
    ) -> None:
        """Start a voice session; `greeting` None: the assistant's own, empty: none."""
        first_words = self.terminal.greeting() if greeting is None else greeting
        await self.terminal.async_start(
            VoiceRequest(
                instructions=(instructions or "").strip() or None,
                first_words=first_words.strip() or None,
            )
        )

    async def async_end_session(self, graceful: bool = True) -> None:
        """End the running session, if any: after a goodbye, or at once."""
        await self.terminal.async_end(graceful=graceful)

    async def async_say(self, text: str) -> None:
        """Say `text` word for word (in the running session, or in one of its own)."""
        await self.terminal.async_say(self._text(text))

    def _announcing(self) -> _Announcing:
        return _Announcing(self)

    @staticmethod
    def _text(message: str | None) -> str:
        """What to say; a blank one is a mistake in the action's data."""
        if not message or not message.strip():
            raise ServiceValidationError(translation_domain=DOMAIN, translation_key="text_needed")
        return message.strip()


class _Announcing:
    """One announcement at a time, as HA's satellites do (SatelliteBusyError otherwise)."""

    def __init__(self, satellite: RealtimeSatellite) -> None:
        self._satellite = satellite

    async def __aenter__(self) -> None:
        if self._satellite._is_announcing:
            raise SatelliteBusyError
        self._satellite._is_announcing = True

    async def __aexit__(self, *exc: object) -> None:
        self._satellite._is_announcing = False
