"""The peer's voice activity detector: RMS energy over 20 ms frames, set like OpenAI's VAD.

`threshold` (0 to 1, OpenAI's default 0.5) maps linearly in decibels onto an RMS level from
-60 dBFS (0) to -10 dBFS (1): 0.5 is -35 dBFS, well below speech at a normal level (-30 to
-15 dBFS) and well above a quiet room through Opus. Speech starts after `ONSET_MS` of loud
frames and is reported from `prefix_padding_ms` before that; it stops after
`silence_duration_ms` of quiet frames. Semantic VAD has no semantics here: it is energy VAD
with a silence that follows its eagerness.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import av
import numpy as np

ONSET_MS = 40
"""Loud audio this long is speech (a click is not)."""
SEMANTIC_SILENCE_MS = {"low": 1000, "medium": 600, "auto": 600, "high": 300}
"""Silence that ends a turn with semantic VAD, by eagerness."""


def level(frame: av.AudioFrame) -> float:
    """The frame's RMS level, 0 to 1 of full scale (S16 frames, any layout)."""
    samples = frame.to_ndarray().astype(np.float32)
    return float(np.sqrt(np.mean(np.square(samples)))) / 32768.0 if samples.size else 0.0


@dataclass(frozen=True, slots=True)
class VadSettings:
    threshold: float = 0.5
    prefix_padding_ms: int = 300
    silence_duration_ms: int = 500

    @property
    def rms_threshold(self) -> float:
        """The level (0 to 1 of full scale) at which a frame is loud."""
        return float(10 ** ((-60 + 50 * min(1.0, max(0.0, self.threshold))) / 20))

    @classmethod
    def of(cls, detection: dict[str, Any]) -> VadSettings:
        """From a session's `audio.input.turn_detection` (server_vad or semantic_vad)."""
        if detection.get("type") == "semantic_vad":
            eagerness = detection.get("eagerness") or "auto"
            return cls(silence_duration_ms=SEMANTIC_SILENCE_MS.get(eagerness, 600))
        default = cls()
        return cls(
            threshold=_or(detection.get("threshold"), default.threshold),
            prefix_padding_ms=_or(detection.get("prefix_padding_ms"), default.prefix_padding_ms),
            silence_duration_ms=_or(
                detection.get("silence_duration_ms"), default.silence_duration_ms
            ),
        )


def _or[T](value: T | None, default: T) -> T:
    return default if value is None else value


type Change = tuple[Literal["started", "stopped"], int]
"""Speech started (at `audio_start_ms`) or stopped (at `audio_end_ms`)."""


class EnergyVad:
    """Frame by frame: is someone speaking? Positions are ms of audio fed since the start."""

    def __init__(self, settings: VadSettings) -> None:
        self.settings = settings
        self._loud_from = settings.rms_threshold
        self.position_ms = 0
        self.speaking = False
        self.floor_ms = 0
        """Where the input buffer starts: speech never reaches back before a commit."""
        self._onset: int | None = None
        self._quiet_ms = 0

    def feed(self, rms: float, duration_ms: int) -> Change | None:
        begins = self.position_ms
        self.position_ms += duration_ms
        loud = rms >= self._loud_from
        if not self.speaking:
            if not loud:
                self._onset = None
                return None
            if self._onset is None:
                self._onset = begins
            if self.position_ms - self._onset < ONSET_MS:
                return None
            self.speaking = True
            self._quiet_ms = 0
            return "started", max(self.floor_ms, self._onset - self.settings.prefix_padding_ms)
        if loud:
            self._quiet_ms = 0
            return None
        self._quiet_ms += duration_ms
        if self._quiet_ms < self.settings.silence_duration_ms:
            return None
        self.reset()
        return "stopped", self.position_ms

    def reset(self) -> None:
        """The buffer was committed or cleared: no speech in progress, none before here."""
        self.speaking = False
        self._onset = None
        self._quiet_ms = 0
        self.floor_ms = self.position_ms
