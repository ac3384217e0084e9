"""Why a terminal's sound cannot work, shared by the PulseAudio and ALSA layers."""

from __future__ import annotations

from typing import Literal

type UnavailableReason = Literal[
    "library_missing", "server_unreachable", "device_missing", "device_busy", "failed"
]
"""`library_missing`: libpulse or libasound cannot be loaded where Home Assistant runs."""


class AudioUnavailable(Exception):
    """The terminal's sound cannot work: `reason` for code, `detail` (also `str()`) for people."""

    def __init__(self, reason: UnavailableReason, detail: str) -> None:
        super().__init__(detail)
        self.reason: UnavailableReason = reason
        self.detail = detail
