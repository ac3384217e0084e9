"""An assistant (a `conversation` subentry) as session settings: for typed turns and for voice."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypedDict

from homeassistant.const import CONF_LLM_HASS_API, CONF_PROMPT

from ..chat.toolset import ToolSet
from ..const import (
    CONF_GREETING,
    CONF_MODEL,
    CONF_REASONING_EFFORT,
    CONF_TRANSCRIPTION_MODEL,
    CONF_TURN_DETECTION,
    CONF_VOICE,
    DEFAULT_GREETING,
    DEFAULT_MODEL,
    DEFAULT_REASONING_EFFORT,
    DEFAULT_TRANSCRIPTION_MODEL,
    DEFAULT_TURN_DETECTION,
    DEFAULT_VOICE,
)
from ..realtime.config import (
    NoiseReduction,
    ReasoningEffort,
    SessionConfig,
    semantic_vad,
    server_idle_timeout_ms,
    server_vad,
)
from .models import is_reasoning_model


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
    reasoning_effort: ReasoningEffort

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
            reasoning_effort=options.get(CONF_REASONING_EFFORT, DEFAULT_REASONING_EFFORT),
        )

    @property
    def reasons(self) -> bool:
        return is_reasoning_model(self.model)

    def text_config(self, instructions: str | None, toolset: ToolSet) -> SessionConfig:
        """A typed conversation: text out, no audio settings."""
        return SessionConfig(
            model=self.model,
            instructions=instructions,
            output_modality="text",
            tools=toolset.tools,
            **self._reasoning(toolset),
        )

    def voice_config(
        self,
        instructions: str | None,
        toolset: ToolSet,
        *,
        idle_timeout: float | None,
        answer: bool = True,
        noise_reduction: NoiseReduction | None = None,
    ) -> SessionConfig:
        """A voice session: speech out, the user's words transcribed, turns by voice activity
        (which also ends the wait for a user who says nothing, `idle_timeout` seconds).

        Without `answer` the model hears and transcribes, and speaks only when asked;
        `noise_reduction` says how far the microphone is from the speaker (None: off).
        """
        # Outside the API's range the call would be refused: the terminal's own timer
        # (terminal/session.py) then ends a silent session alone.
        idle_ms = server_idle_timeout_ms(idle_timeout)
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
            noise_reduction=noise_reduction,
            tools=toolset.tools,
            **self._reasoning(toolset),
        )

    def _reasoning(self, toolset: ToolSet) -> _ReasoningFields:
        """What a reasoning model is told on top: how hard to think, and that it may call its
        tools together (the bridge runs one response's calls at once)."""
        if not self.reasons:
            return {}
        fields: _ReasoningFields = {"reasoning_effort": self.reasoning_effort}
        if toolset.tools:
            fields["parallel_tool_calls"] = True
        return fields


class _ReasoningFields(TypedDict, total=False):
    reasoning_effort: ReasoningEffort
    parallel_tool_calls: bool
