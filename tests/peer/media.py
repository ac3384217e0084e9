"""The peer's voice: a paced 48 kHz track that plays queued tones and silence in between."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from fractions import Fraction
import math
import time

from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError
import av
import numpy as np

RATE = 48000
FRAME = 960  # 20 ms


def tone(seconds: float, frequency: float = 440.0, amplitude: float = 0.3) -> bytes:
    """S16 mono PCM of a sine tone: stands in for speech, easy to detect in a sink."""
    phase = np.arange(int(seconds * RATE)) * (2 * math.pi * frequency / RATE)
    return (np.sin(phase) * int(32767 * amplitude)).astype("<i2").tobytes()


class SpeechTrack(MediaStreamTrack):
    """Sends silence until speech is queued; calls `on_drained` when queued speech has played.

    With `quiet_when_idle` it sends nothing between speech instead (like a sender with DTX), which
    keeps a peer serving many calls cheap enough to share a small machine with Home Assistant.
    """

    kind = "audio"

    def __init__(self, *, quiet_when_idle: bool = False) -> None:
        super().__init__()
        self.quiet_when_idle = quiet_when_idle
        self._wake = asyncio.Event()
        self._pending = bytearray()
        self._queued = 0
        """Samples of speech ever queued (less what was cleared before it played)."""
        self._played = 0
        """Samples of speech sent."""
        self._pts = 0
        self._start: float | None = None
        self.on_drained: Callable[[], None] | None = None

    @property
    def playing(self) -> bool:
        return bool(self._pending)

    def play(self, pcm: bytes) -> int:
        """Queue speech; returns where it starts in the track's speech (for `played_since`)."""
        start = self._queued
        self._queued += len(pcm) // 2
        self._pending.extend(pcm)
        self._wake.set()
        return start

    def played_since(self, start: int) -> int:
        """Samples sent of the speech queued at `start` (what the listener has heard of it)."""
        return max(0, self._played - start)

    def stop(self) -> None:
        super().stop()
        self._wake.set()

    def clear(self) -> None:
        self._queued -= len(self._pending) // 2
        self._pending.clear()

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self.quiet_when_idle and not self._pending:
            self._wake.clear()
            await self._wake.wait()
            if self.readyState != "live":
                raise MediaStreamError
            self._start = time.monotonic() - self._pts / RATE  # pace from now on
        if self._start is None:
            self._start = time.monotonic()
        wait = self._start + self._pts / RATE - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        was_playing = bool(self._pending)
        chunk = bytes(self._pending[: FRAME * 2])
        del self._pending[: FRAME * 2]
        self._played += len(chunk) // 2
        chunk += bytes(FRAME * 2 - len(chunk))
        if was_playing and not self._pending and self.on_drained is not None:
            self.on_drained()
        frame = av.AudioFrame(format="s16", layout="mono", samples=FRAME)
        frame.planes[0].update(chunk)
        frame.sample_rate = RATE
        frame.pts = self._pts
        frame.time_base = Fraction(1, RATE)
        self._pts += FRAME
        return frame
