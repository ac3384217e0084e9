"""A voice terminal's settings, as its subentry saves them (the form and the setting entities
write them there): read with the defaults filled in, and which changes a running terminal takes
without a reload (every one a session reads as it starts; not its sound or its kit, built once).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..const import (
    BACKEND_ALSA,
    CONF_ALSA_CAPTURE,
    CONF_ALSA_PLAYBACK,
    CONF_ASSISTANT,
    CONF_AUDIO_BACKEND,
    CONF_ECHO_CANCELLATION,
    CONF_HALF_DUPLEX,
    CONF_IDLE_TIMEOUT,
    CONF_NOISE_REDUCTION,
    CONF_PULSE_SERVER,
    CONF_PULSE_SINK,
    CONF_PULSE_SOURCE,
    DEFAULT_IDLE_TIMEOUT,
    DEFAULT_NOISE_REDUCTION,
    MAX_IDLE_TIMEOUT,
)
from ..hardware.audio_devices import AlsaBackend, AudioBackend, PulseAudioBackend
from ..hardware.boards import BoardError
from ..realtime.config import NoiseReduction
from .kit import KitSettings


@dataclass(frozen=True, slots=True)
class TerminalSettings:
    """What a terminal's subentry says, with the defaults filled in."""

    assistant_id: str
    backend: AudioBackend
    idle_timeout: float
    half_duplex: bool
    noise_reduction: NoiseReduction | None
    """How far the user is from the microphone, for OpenAI's filter (None: no filter)."""
    echo_cancellation: bool = True

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> TerminalSettings:
        noise = options.get(CONF_NOISE_REDUCTION, DEFAULT_NOISE_REDUCTION)
        return cls(
            assistant_id=options[CONF_ASSISTANT],
            backend=cls.backend_of(options),
            # A terminal saved when the form allowed up to 600 s gets the longest that keeps
            # one conversation id (MAX_IDLE_TIMEOUT).
            idle_timeout=min(
                float(options.get(CONF_IDLE_TIMEOUT, DEFAULT_IDLE_TIMEOUT)), MAX_IDLE_TIMEOUT
            ),
            half_duplex=bool(options.get(CONF_HALF_DUPLEX, False)),
            echo_cancellation=bool(options.get(CONF_ECHO_CANCELLATION, True)),
            noise_reduction=noise if noise in ("near_field", "far_field") else None,
        )

    @staticmethod
    def applies_live(before: Mapping[str, Any], after: Mapping[str, Any]) -> bool:
        """Whether a running terminal can take `after` in place of `before`: what it builds
        once (its sound's backend, its kit) is the same, and every other setting is one each
        session reads as it starts (from_options)."""
        return _built_from(before) == _built_from(after)

    @staticmethod
    def backend_of(options: Mapping[str, Any]) -> AudioBackend:
        """Where the terminal's sound is, by the backend chosen (PulseAudio unless ALSA)."""
        if options.get(CONF_AUDIO_BACKEND) == BACKEND_ALSA:
            return AlsaBackend(
                capture=options.get(CONF_ALSA_CAPTURE) or "default",
                playback=options.get(CONF_ALSA_PLAYBACK) or "default",
            )
        return PulseAudioBackend(
            server=options.get(CONF_PULSE_SERVER) or None,
            source=options.get(CONF_PULSE_SOURCE) or None,
            sink=options.get(CONF_PULSE_SINK) or None,
        )


@dataclass(frozen=True, slots=True)
class _NoBoard:
    """Kit settings that make no board (the terminal reports why): equal when the problem is."""

    problem: str


def _built_from(options: Mapping[str, Any]) -> tuple[AudioBackend, KitSettings | _NoBoard | None]:
    """What a terminal builds once from its settings: its sound's backend and its kit."""
    try:
        kit: KitSettings | _NoBoard | None = KitSettings.from_options(options)
    except BoardError as err:
        kit = _NoBoard(str(err))
    return TerminalSettings.backend_of(options), kit
