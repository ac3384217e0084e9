"""Token usage of an agent's responses, and what it costs at the user's prices."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from homeassistant.core import callback

from .realtime.responses import Usage

type Prices = Mapping[str, Mapping[str, float]]
"""Model name → price key → USD per 1M tokens."""
type UsageListener = Callable[[Usage, float | None], None]


def usage_cost(usage: Usage, price: Mapping[str, float]) -> float:
    """USD for one response's tokens; cached input is billed at the cached rates."""
    cached_audio = usage.input_cached_audio_tokens
    cached_text = max(0, usage.input_cached_tokens - cached_audio)
    per_million = (
        max(0, usage.input_text_tokens - cached_text) * price.get("text_input", 0.0)
        + cached_text * price.get("cached_text_input", 0.0)
        + max(0, usage.input_audio_tokens - cached_audio) * price.get("audio_input", 0.0)
        + cached_audio * price.get("cached_audio_input", 0.0)
        + usage.output_text_tokens * price.get("text_output", 0.0)
        + usage.output_audio_tokens * price.get("audio_output", 0.0)
    )
    return per_million / 1_000_000


@dataclass(slots=True)
class UsageMeter:
    """One agent's meter: every response's usage goes through `record`."""

    model: str
    prices: Prices
    total: Usage = field(default_factory=Usage)
    _listeners: list[UsageListener] = field(default_factory=list)

    @property
    def price(self) -> Mapping[str, float] | None:
        return self.prices.get(self.model)

    @callback
    def record(self, usage: Usage) -> None:
        if not usage.total_tokens:
            return
        self.total = self.total + usage
        price = self.price
        cost = usage_cost(usage, price) if price is not None else None
        for listener in list(self._listeners):
            listener(usage, cost)

    @callback
    def subscribe(self, listener: UsageListener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)
