"""An assistant (a `conversation` subentry) as session settings: for typed turns and for voice."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from homeassistant.const import CONF_LLM_HASS_API, CONF_PROMPT

from .const import (
    CONF_GREETING,
    CONF_MODEL,
    CONF_TRANSCRIPTION_MODEL,
    CONF_TURN_DETECTION,
    CONF_VOICE,
    DEFAULT_GREETING,
    DEFAULT_MODEL,
    DEFAULT_TRANSCRIPTION_MODEL,
    DEFAULT_TURN_DETECTION,
    DEFAULT_VOICE,
)
from .realtime.config import SessionConfig, semantic_vad, server_vad
from .toolset import ToolSet


@dataclass(frozen=True, slots=True)
class Assistant:
    """What an assistant's subentry says, with the defaults filled in."""

    model: str
    prompt: str | None
    llm_apis: list[str] | str | None
    voice: str
    transcription_model: str
    turn_detection: str
    greeting: str

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> Assistant:
        return cls(
            model=options.get(CONF_MODEL, DEFAULT_MODEL),
            prompt=options.get(CONF_PROMPT),
            llm_apis=options.get(CONF_LLM_HASS_API),
            voice=options.get(CONF_VOICE, DEFAULT_VOICE),
            transcription_model=options.get(CONF_TRANSCRIPTION_MODEL, DEFAULT_TRANSCRIPTION_MODEL),
            turn_detection=options.get(CONF_TURN_DETECTION, DEFAULT_TURN_DETECTION),
            greeting=options.get(CONF_GREETING, DEFAULT_GREETING),
        )

    def text_config(self, instructions: str | None, toolset: ToolSet) -> SessionConfig:
        """A typed conversation: text out, no audio settings."""
        return SessionConfig(
            model=self.model,
            instructions=instructions,
            output_modality="text",
            tools=toolset.tools,
        )

    def voice_config(
        self,
        instructions: str | None,
        toolset: ToolSet,
        *,
        idle_timeout: float | None,
        answer: bool = True,
    ) -> SessionConfig:
        """A voice session: speech out, the user's words transcribed, turns by voice activity
        (which also ends the wait for a user who says nothing, `idle_timeout` seconds).

        Without `answer` the model hears and transcribes, and speaks only when asked.
        """
        idle_ms = int(idle_timeout * 1000) if idle_timeout else None
        detection = (
            semantic_vad(respond=answer)
            if self.turn_detection == "semantic_vad"
            else server_vad(idle_timeout_ms=idle_ms, respond=answer)
        )
        return SessionConfig(
            model=self.model,
            instructions=instructions,
            output_modality="audio",
            voice=self.voice,
            transcription_model=self.transcription_model,
            turn_detection=detection,
            tools=toolset.tools,
        )
