"""OpenAI's models as this integration offers them: the current ones, the retiring ones with their
shutdown dates and successors, and which take reasoning settings.

The dates and names are the deprecation notes of the `openai` SDK's types (3.57:
`RealtimeSessionCreateRequestParam.model`, `AudioTranscriptionParam.model`) and OpenAI's
deprecations page; kept here, not asked of the API, because a refused call says nothing of when or
why.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Final, Literal

type ModelKind = Literal["realtime", "transcription"]

REALTIME_MODELS: Final = ("gpt-realtime-2.1", "gpt-realtime-2.1-mini", "gpt-realtime-2")
"""Offered in the model field, best first; any other name may be typed (a deployment's)."""
TRANSCRIPTION_MODELS: Final = ("gpt-live-transcribe", "gpt-transcribe")
"""Offered for a voice session's transcription: OpenAI starts realtime sessions with the first."""


@dataclass(frozen=True, slots=True)
class Retirement:
    """When a model stops working, and what to take instead (the direct successor first)."""

    shutdown: date
    successors: tuple[str, ...]

    @property
    def successor(self) -> str:
        return self.successors[0]

    def passed(self, today: date) -> bool:
        return today >= self.shutdown


_REALTIME_SHUTDOWN = date(2027, 1, 20)
_TRANSCRIPTION_SHUTDOWN = date(2027, 2, 26)
# Both successors are offered for either: they differ in price by about 6x, so the user picks.
_TO_FULL = Retirement(_REALTIME_SHUTDOWN, ("gpt-realtime-2.1", "gpt-realtime-2.1-mini"))
_TO_MINI = Retirement(_REALTIME_SHUTDOWN, ("gpt-realtime-2.1-mini", "gpt-realtime-2.1"))
_TO_LIVE = Retirement(_TRANSCRIPTION_SHUTDOWN, TRANSCRIPTION_MODELS)

RETIRING: Final[Mapping[ModelKind, Mapping[str, Retirement]]] = {
    "realtime": {
        "gpt-realtime": _TO_FULL,
        "gpt-realtime-2025-08-28": _TO_FULL,
        "gpt-realtime-mini": _TO_MINI,
        "gpt-realtime-mini-2025-12-15": _TO_MINI,
    },
    "transcription": {
        "whisper-1": _TO_LIVE,
        "gpt-4o-transcribe": _TO_LIVE,
        "gpt-4o-mini-transcribe": _TO_LIVE,
        "gpt-4o-mini-transcribe-2025-12-15": _TO_LIVE,
    },
}


def retirement_of(kind: ModelKind, model: str | None) -> Retirement | None:
    """The announced shutdown of `model`, if any (names compare as OpenAI's are: exactly)."""
    return RETIRING[kind].get(model) if model else None


def is_reasoning_model(model: str | None) -> bool:
    """The gpt-realtime-2 family (2, 2.1, 2.1-mini and their snapshots), the Realtime models that
    take `reasoning` and `parallel_tool_calls`.

    A deployment under a name of its own is not recognised: older models refuse both fields, so
    they are sent only to names known to take them.
    """
    if not model:
        return False
    return model == "gpt-realtime-2" or model.startswith(("gpt-realtime-2-", "gpt-realtime-2."))
