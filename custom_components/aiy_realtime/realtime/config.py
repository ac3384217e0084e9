"""What a session is set to, in our terms, and its GA wire shape (the SDK's typed params).

Only GA names and fields are ever built here (no `modalities`, `temperature`, top-level `voice`,
`input_audio_transcription`): the beta shape is shut down.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final, Literal

from openai.types.realtime import (
    AudioTranscriptionParam,
    RealtimeAudioConfigInputParam,
    RealtimeAudioConfigOutputParam,
    RealtimeFunctionToolParam,
    RealtimeSessionCreateRequestParam,
)
from openai.types.realtime.realtime_audio_input_turn_detection_param import (
    RealtimeAudioInputTurnDetectionParam,
    SemanticVad,
    ServerVad,
)

type OutputModality = Literal["text", "audio"]
type NoiseReduction = Literal["near_field", "far_field"]
type ReasoningEffort = Literal["minimal", "low", "medium", "high", "xhigh"]


@dataclass(slots=True)
class FunctionTool:
    """A function the model may call, with its arguments as JSON Schema."""

    name: str
    description: str = ""
    parameters: dict[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})

    def as_param(self) -> RealtimeFunctionToolParam:
        return {
            "type": "function",
            "name": self.name,
            "description": self.description,
            "parameters": self.parameters,
        }


@dataclass(slots=True)
class SessionConfig:
    """The settings of one session; `to_session()` is what the call request carries."""

    model: str | None = None
    instructions: str | None = None
    output_modality: OutputModality = "audio"
    voice: str | None = None
    speed: float | None = None
    transcription_model: str | None = None
    transcription_language: str | None = None
    turn_detection: RealtimeAudioInputTurnDetectionParam | None = None
    noise_reduction: NoiseReduction | None = None
    tools: list[FunctionTool] = field(default_factory=list)
    tool_choice: Literal["none", "auto", "required"] = "auto"
    max_output_tokens: int | Literal["inf"] | None = None
    reasoning_effort: ReasoningEffort | None = None
    """Only for reasoning models: others refuse the field."""
    parallel_tool_calls: bool | None = None
    """Only for reasoning models: the calls of one response may come together."""

    def to_session(self) -> RealtimeSessionCreateRequestParam:
        session: RealtimeSessionCreateRequestParam = {
            "type": "realtime",
            "output_modalities": [self.output_modality],
            "audio": {"input": self._audio_input(), "output": self._audio_output()},
            "tools": [tool.as_param() for tool in self.tools],
            "tool_choice": self.tool_choice,
        }
        if self.model:
            session["model"] = self.model
        if self.instructions is not None:
            session["instructions"] = self.instructions
        if self.max_output_tokens is not None:
            session["max_output_tokens"] = self.max_output_tokens
        if self.reasoning_effort is not None:
            session["reasoning"] = {"effort": self.reasoning_effort}
        if self.parallel_tool_calls is not None:
            session["parallel_tool_calls"] = self.parallel_tool_calls
        return session

    def update_to(self, wanted: SessionConfig) -> RealtimeSessionCreateRequestParam | None:
        """The session settings a `session.update` sends to go from this config to `wanted`
        (all of them but the model and voice); None when nothing changed.

        Call only when `needs_new_session(wanted)` is False.
        """
        if wanted == self:
            return None
        session = wanted.to_session()
        # Neither may change in a running session (the voice only before the first audio).
        session.pop("model", None)
        session["audio"].get("output", {}).pop("voice", None)
        # Left out, a field keeps its old value: these are cleared by the API's own words.
        if wanted.instructions is None and self.instructions is not None:
            session["instructions"] = ""
        if wanted.max_output_tokens is None and self.max_output_tokens is not None:
            session["max_output_tokens"] = "inf"
        return session

    def needs_new_session(self, wanted: SessionConfig) -> bool:
        """True when `wanted` cannot be reached with `session.update`."""
        return (
            wanted.model != self.model
            or wanted.voice != self.voice
            # The API clears these with null, which its typed params cannot express.
            or (self.noise_reduction is not None and wanted.noise_reduction is None)
            or (self.transcription_model is not None and wanted.transcription_model is None)
        )

    def _audio_input(self) -> RealtimeAudioConfigInputParam:
        audio_input: RealtimeAudioConfigInputParam = {"turn_detection": self.turn_detection}
        if self.transcription_model:
            transcription: AudioTranscriptionParam = {"model": self.transcription_model}
            if self.transcription_language:
                transcription["language"] = self.transcription_language
            audio_input["transcription"] = transcription
        if self.noise_reduction:
            audio_input["noise_reduction"] = {"type": self.noise_reduction}
        return audio_input

    def _audio_output(self) -> RealtimeAudioConfigOutputParam:
        audio_output: RealtimeAudioConfigOutputParam = {}
        if self.voice:
            audio_output["voice"] = self.voice
        if self.speed is not None:
            audio_output["speed"] = self.speed
        return audio_output


SERVER_IDLE_TIMEOUT_MS: Final = (5000, 30000)
"""The range the API takes for server VAD's `idle_timeout_ms` (`minimum`/`maximum` in OpenAI's
OpenAPI document; the SDK's types do not carry them). A call asking for more is refused."""


def server_idle_timeout_ms(seconds: float | None) -> int | None:
    """`seconds` as server VAD's `idle_timeout_ms`, or None where the API would refuse it (the
    caller then times the silence itself)."""
    if not seconds:
        return None
    low, high = SERVER_IDLE_TIMEOUT_MS
    milliseconds = int(seconds * 1000)
    return milliseconds if low <= milliseconds <= high else None


def server_vad(
    threshold: float = 0.5,
    prefix_padding_ms: int = 300,
    silence_duration_ms: int = 500,
    idle_timeout_ms: int | None = None,
    *,
    respond: bool = True,
) -> ServerVad:
    """Turn detection by voice activity; with `respond` the server creates (and interrupts)
    responses, else it only commits what the user says.

    Raises ValueError for an `idle_timeout_ms` outside `SERVER_IDLE_TIMEOUT_MS`: the server would
    refuse the whole call for it.
    """
    detection: ServerVad = {
        "type": "server_vad",
        "threshold": threshold,
        "prefix_padding_ms": prefix_padding_ms,
        "silence_duration_ms": silence_duration_ms,
        "create_response": respond,
        "interrupt_response": respond,
    }
    if idle_timeout_ms is not None:
        low, high = SERVER_IDLE_TIMEOUT_MS
        if not low <= idle_timeout_ms <= high:
            raise ValueError(f"idle_timeout_ms {idle_timeout_ms} is outside {low} to {high}")
        detection["idle_timeout_ms"] = idle_timeout_ms
    return detection


def semantic_vad(
    eagerness: Literal["low", "medium", "high", "auto"] = "auto", *, respond: bool = True
) -> SemanticVad:
    """Turn detection by what the user says, not only by silence."""
    return {
        "type": "semantic_vad",
        "eagerness": eagerness,
        "create_response": respond,
        "interrupt_response": respond,
    }
