"""Each voice terminal as an Assist satellite: HA's announce, start_conversation and
ask_question actions, spoken by the Realtime model itself (no text-to-speech engine involved)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, override

from homeassistant.components.assist_pipeline import PipelineEvent
from homeassistant.components.assist_satellite import (
    AssistSatelliteAnswer,
    AssistSatelliteConfiguration,
    AssistSatelliteEntity,
    AssistSatelliteEntityDescription,
    AssistSatelliteEntityFeature,
    SatelliteBusyError,
)
from homeassistant.components.assist_satellite.const import PREANNOUNCE_URL
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from . import AiyRealtimeConfigEntry
from .chat.prompts import say_exactly, you_asked
from .const import DOMAIN
from .entity import TerminalEntity
from .terminal.device import VoiceTerminal
from .terminal.media import Media, async_resolve
from .terminal.session import VoiceRequest
from .terminal.states import SHOWN

PARALLEL_UPDATES = 0
ANSWER_WAIT = 60.0
"""Seconds a question waits for the user's answer."""


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
        self._set_state(SHOWN[self.terminal.state].satellite)
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
    # speaks the text itself (no TTS engine), so they take the text as it is. Media (`media_id`,
    # the pre-announce chime) the terminal plays itself, as a device fetches a URL HA gives it
    # (terminal/media.py). As in HA, media given is played instead of speaking the message: the
    # message is the text a satellite with a screen shows, and this one has none.

    @override
    async def async_internal_announce(
        self,
        message: str | None = None,
        media_id: str | None = None,
        preannounce: bool = True,
        preannounce_media_id: str = PREANNOUNCE_URL,
    ) -> None:
        """Play `media_id`, or say `message`: in the running session, or in a short session of
        its own; after the chime (`preannounce`) unless said in a running session. Returns once
        it has played."""
        text = None if media_id else self._text(message)
        media = await self._media(media_id)
        chime = await self._media(preannounce_media_id if preannounce else None)
        async with self._announcing():
            if media is not None:
                # HA cancels a running pipeline before an announcement: so does a file, which
                # plays on the speaker on its own, not through the call.
                await self.terminal.async_end(graceful=False)
                await self._play(chime, media)
                return
            assert text is not None
            # A spoken announcement is said in a running session instead of ending it (HA's
            # cancel): the user's conversation goes on, and the model knows what was said. No
            # chime there: the user is already listening to the terminal.
            if self.terminal.session is None:
                await self._play(chime)
            await self.terminal.async_say(text)

    @override
    async def async_internal_start_conversation(
        self,
        start_message: str | None = None,
        start_media_id: str | None = None,
        extra_system_prompt: str | None = None,
        preannounce: bool = True,
        preannounce_media_id: str = PREANNOUNCE_URL,
    ) -> None:
        """Start a session whose first words are `start_message`, or that listens once
        `start_media_id` played (a running one ends first, as HA's satellites cancel what runs);
        returns once they played, the session listening."""
        text = (start_message or "").strip() if start_media_id else self._text(start_message)
        media = await self._media(start_media_id)
        chime = await self._media(preannounce_media_id if preannounce else None)
        async with self._announcing():
            await self.terminal.async_end(graceful=False)
            await self._play(chime, media)
            session = await self.terminal.async_start(
                VoiceRequest(
                    instructions=extra_system_prompt or text or None,
                    first_words=None if media else say_exactly(text),
                )
            )
            await session.first_words_played()

    @override
    async def async_internal_ask_question(
        self,
        question: str | None = None,
        question_media_id: str | None = None,
        preannounce: bool = True,
        preannounce_media_id: str = PREANNOUNCE_URL,
        answers: list[dict[str, Any]] | None = None,
    ) -> AssistSatelliteAnswer | None:
        """Ask (say `question`, or play `question_media_id`), listen for what the user says once
        the question has played (not its echo), and match it to `answers`; the session only
        listens, and ends once answered."""
        text = (question or "").strip() if question_media_id else self._text(question)
        media = await self._media(question_media_id)
        chime = await self._media(preannounce_media_id if preannounce else None)
        async with self._announcing():
            await self.terminal.async_end(graceful=False)
            await self._play(chime, media)
            session = await self.terminal.async_start(
                VoiceRequest(
                    instructions=you_asked(text) if text else None,
                    first_words=None if media else say_exactly(text),
                    listen_only=True,
                )
            )
            try:
                asked = await session.first_words_played()
                heard = await session.next_words(after=asked, timeout=ANSWER_WAIT)
            finally:
                await self.terminal.async_end(graceful=False)
        if heard is None:
            raise HomeAssistantError(translation_domain=DOMAIN, translation_key="no_answer")
        if not answers:
            return AssistSatelliteAnswer(id=None, sentence=heard)
        return self._question_response_to_answer(heard, answers)

    async def _media(self, media_id: str | None) -> Media | None:
        """Resolved before anything plays or ends, so a bad one changes nothing (as in HA)."""
        return await async_resolve(self.hass, media_id) if media_id else None

    async def _play(self, *media: Media | None) -> None:
        """Play each on the speaker (the terminal shows speaking meanwhile)."""
        await self.terminal.async_play_media(*media)

    # The integration's own actions (services.py).

    async def async_start_session(
        self, instructions: str | None = None, greeting: str | None = None
    ) -> None:
        """Start a voice session; `greeting` None: the assistant's own, empty: none."""
        await self.terminal.async_start_session(instructions, greeting)

    async def async_end_session(self, graceful: bool = True) -> None:
        """End the running session, if any: after a goodbye, or at once."""
        await self.terminal.async_end(graceful=graceful)

    async def async_say(self, text: str) -> None:
        """Say `text` word for word (in the running session, or in one of its own)."""
        await self.terminal.async_say(self._text(text))

    @asynccontextmanager
    async def _announcing(self) -> AsyncIterator[None]:
        """One announcement at a time, as HA's satellites do (SatelliteBusyError otherwise)."""
        if self._is_announcing:
            raise SatelliteBusyError
        self._is_announcing = True
        try:
            yield
        finally:
            self._is_announcing = False

    @staticmethod
    def _text(message: str | None) -> str:
        """What to say; a blank one is a mistake in the action's data."""
        if not message or not message.strip():
            raise ServiceValidationError(translation_domain=DOMAIN, translation_key="text_needed")
        return message.strip()
