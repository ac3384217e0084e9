"""How much of each answer was played: what a user heard before speaking over it.

Transcripts arrive ahead of the audio they describe; after a barge-in, a history that kept the
whole transcript would claim the user heard what was never played. The server tells when each
response's audio started and stopped playing (`output_audio_buffer.*`); the speech rate of the
voice, learned from answers played to their end, turns the seconds played into characters.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
import time

DEFAULT_CHARS_PER_SECOND = 15.0
"""About 150 words a minute, until answers played to the end say otherwise."""
_KEPT = 32


@dataclass(slots=True)
class _Span:
    started: float
    ended: float | None = None


class Playback:
    """Playback spans per response, and the voice's speech rate."""

    def __init__(self) -> None:
        self._spans: OrderedDict[str, _Span] = OrderedDict()
        self.chars_per_second = DEFAULT_CHARS_PER_SECOND

    def started(self, response_id: str, now: float | None = None) -> None:
        self._spans[response_id] = _Span(time.monotonic() if now is None else now)
        while len(self._spans) > _KEPT:
            self._spans.popitem(last=False)

    def ended(self, response_id: str, now: float | None = None) -> None:
        span = self._spans.get(response_id)
        if span is not None and span.ended is None:
            span.ended = time.monotonic() if now is None else now

    def played_seconds(self, response_id: str) -> float | None:
        """How long the response's audio played (so far); None if it never started."""
        span = self._spans.get(response_id)
        if span is None:
            return None
        return (span.ended if span.ended is not None else time.monotonic()) - span.started

    def learn(self, response_id: str, text: str) -> None:
        """A response whose audio played to its end: how fast this voice speaks."""
        seconds = self.played_seconds(response_id)
        if seconds is not None and seconds > 1.0 and len(text) > 20:
            # Smoothed: one odd answer (a long pause, a spelled-out number) moves it little.
            self.chars_per_second += 0.3 * (len(text) / seconds - self.chars_per_second)

    def heard(self, response_id: str, text: str) -> str:
        """The part of `text` that was played, cut at a word, with an ellipsis when cut."""
        seconds = self.played_seconds(response_id)
        if seconds is None:
            return ""
        keep = int(seconds * self.chars_per_second)
        if keep >= len(text):
            return text
        cut = text.rfind(" ", 0, keep + 1)
        return (text[:cut] if cut > 0 else text[:keep]).rstrip(" ,;:") + "…" if keep else ""
