"""A voice terminal's states, and what each one shows, in one table.

The Realtime session's state becomes the terminal's (`SESSION_STATES`); the terminal's state is
shown, row by row, on the satellite, the state sensor (its own value) and the kit's LED
(`SHOWN`). The kit's amplifier follows the LED's state (`hardware.kit.AMPLIFIED_STATES`): it is
on while a session may play audio. Adding a state is adding a row here; a test checks that every
state has one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Final

from homeassistant.components.assist_satellite.entity import AssistSatelliteState

from ..hardware.led import LedState
from ..realtime.session import SessionState


class VoiceState(StrEnum):
    """What a terminal is doing, as its state sensor says it."""

    IDLE = "idle"
    CONNECTING = "connecting"
    LISTENING = "listening"
    THINKING = "thinking"
    SPEAKING = "speaking"
    ENDING = "ending"
    """The session hangs up (it may take seconds): nothing is heard or said any more."""
    ERROR = "error"


SESSION_STATES: Final[Mapping[SessionState, VoiceState]] = MappingProxyType(
    {
        SessionState.CONNECTING: VoiceState.CONNECTING,
        SessionState.READY: VoiceState.LISTENING,
        SessionState.LISTENING: VoiceState.LISTENING,
        SessionState.THINKING: VoiceState.THINKING,
        SessionState.SPEAKING: VoiceState.SPEAKING,
        SessionState.CLOSING: VoiceState.ENDING,
    }
)
"""The session's state as the terminal's. CLOSED has no row: the terminal is idle (or in error)
once the session's end has been handled, not when its transport closes."""


@dataclass(frozen=True, slots=True)
class Shown:
    """What one terminal state looks like."""

    satellite: AssistSatelliteState
    led: LedState


SHOWN: Final[Mapping[VoiceState, Shown]] = MappingProxyType(
    {
        VoiceState.IDLE: Shown(AssistSatelliteState.IDLE, LedState.IDLE),
        VoiceState.CONNECTING: Shown(AssistSatelliteState.PROCESSING, LedState.CONNECTING),
        VoiceState.LISTENING: Shown(AssistSatelliteState.LISTENING, LedState.LISTENING),
        VoiceState.THINKING: Shown(AssistSatelliteState.PROCESSING, LedState.THINKING),
        VoiceState.SPEAKING: Shown(AssistSatelliteState.RESPONDING, LedState.SPEAKING),
        # Busy, not idle: a start now would be refused until the call is down.
        VoiceState.ENDING: Shown(AssistSatelliteState.PROCESSING, LedState.ENDING),
        VoiceState.ERROR: Shown(AssistSatelliteState.IDLE, LedState.ERROR),
    }
)
