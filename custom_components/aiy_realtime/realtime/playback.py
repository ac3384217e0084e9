"""How much of each answer was played: what a user heard before speaking over it.

Transcripts arrive ahead of the audio they describe; after a barge-in, a history that kept the
whole transcript would claim the user heard what was never played. The server tells when each
response's audio started, and whether it stopped at its end or was cleared
(`output_audio_buffer.*`); the voice's speech rate, learned from answers played to their end,
turns the seconds played into characters.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from dataclasses import dataclass, field
import time

DEFAULT_CHARS_PER_SECOND = 15.0
"""About 150 words a minute, until answers played to the end say otherwise."""
_KEPT = 32


@dataclass(slots=True)
class _Span:
    started: float
    ended: float | None = None
    whole: bool = False
    """Played to its end (stopped), not cut off (cleared)."""
    finished: asyncio.Event = field(default_factory=asyncio.Event)


class Playback:
    """Playback spans per response, and the voice's speech rate."""

    def __init__(self) -> None:
        self._spans: OrderedDict[str, _Span] = OrderedDict()
        self.chars_per_second = DEFAULT_CHARS_PER_SECOND
        self._a_start = asyncio.Event()
        """Set (and replaced) each time a response's audio starts."""

    def started(self, response_id: str, now: float | None = None) -> None:
        self._spans[response_id] = _Span(time.monotonic() if now is None else now)
        while len(self._spans) > _KEPT:
            self._spans.popitem(last=False)
        started, self._a_start = self._a_start, asyncio.Event()
        started.set()

    def ended(self, response_id: str, *, whole: bool, now: float | None = None) -> None:
        span = self._spans.get(response_id)
        if span is not None and span.ended is None:
            span.ended = time.monotonic() if now is None else now
            span.whole = whole
            span.finished.set()

    def close(self) -> None:
        """The session ended: no audio will stop or clear any more, so nobody waits for it."""
        for span in self._spans.values():
            if span.ended is None:
                span.ended = time.monotonic()
            span.finished.set()

    async def finished(self, response_id: str, timeout: float) -> None:
        """Until the response's audio stopped or was cleared (at once if it never started)."""
        span = self._spans.get(response_id)
        if span is None:
            return
        try:
            async with asyncio.timeout(timeout):
                await span.finished.wait()
        except TimeoutError:
            return

    def played_seconds(self, response_id: str) -> float | None:
        """How long the response's audio played (so far); None if it never started."""
        span = self._spans.get(response_id)
        if span is None:
            return None
        return (span.ended if span.ended is not None else time.monotonic()) - span.started

    async def began(self, response_id: str) -> None:
        """Until the response's audio has started (at once if it has; it may have ended)."""
        while response_id not in self._spans:
            await self._a_start.wait()

    def cut_off(self, response_id: str) -> bool:
        """Whether the response's audio started and was cleared before its end (a barge-in,
        the session ending)."""
        span = self._spans.get(response_id)
        return span is not None and span.ended is not None and not span.whole

    def heard(self, response_id: str, text: str) -> str:
        """The part of `text` that was played: all of it when it played to its end (the speech
        rate is learned from it then), else up to a word, with an ellipsis."""
        span = self._spans.get(response_id)
        if span is None:
            return text
        seconds = self.played_seconds(response_id) or 0.0
        if span.whole:
            if seconds > 1.0 and len(text) > 20:
                # Smoothed: one odd answer (a long pause, a spelled-out number) moves it little.
                self.chars_per_second += 0.3 * (len(text) / seconds - self.chars_per_second)
            return text
        keep = int(seconds * self.chars_per_second)
        if keep >= len(text):
            return text
        if keep <= 0:
            return ""
        cut = text.rfind(" ", 0, keep + 1)
        return (text[:cut] if cut > 0 else text[:keep]).rstrip(" ,;:.") + "…"
