"""Token usage of an agent's responses, the price tables, and what usage costs at them."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
import json
import math
from pathlib import Path
import re
from typing import Any

from homeassistant.core import callback

from ..realtime.responses import Usage

type Prices = Mapping[str, Mapping[str, float]]
"""Model name → price key → USD per 1M tokens."""
type UsageListener = Callable[[Usage, float | None], None]

PRICE_KEYS = (
    "text_input",
    "cached_text_input",
    "text_output",
    "audio_input",
    "cached_audio_input",
    "audio_output",
)
_SNAPSHOT = re.compile(r"(?P<family>.+)-\d{4}-\d{2}-\d{2}")
"""A dated snapshot's name: its family's, then the date (`gpt-realtime-mini-2025-10-06`)."""


def validate_prices(value: Any) -> dict[str, dict[str, float]]:
    """Model → {price key: USD per 1M tokens}; every key known, every price a number ≥ 0."""
    if not isinstance(value, Mapping) or not value:
        raise ValueError("not a table of models")
    prices: dict[str, dict[str, float]] = {}
    for model, table in value.items():
        if not isinstance(model, str) or not model.strip() or not isinstance(table, Mapping):
            raise ValueError(f"bad entry for {model!r}")
        unknown = set(table) - set(PRICE_KEYS)
        if unknown:
            raise ValueError(f"unknown keys {sorted(unknown)} for {model}")
        row: dict[str, float] = {}
        for key in PRICE_KEYS:
            price = table.get(key, 0.0)
            if isinstance(price, bool) or not isinstance(price, (int, float)):
                raise ValueError(f"{model}.{key} is not a number")
            if price < 0 or not math.isfinite(price):
                raise ValueError(f"{model}.{key} must be 0 or more")
            row[key] = float(price)
        prices[model.strip()] = row
    return prices


def load_prices(path: Path) -> dict[str, dict[str, float]]:
    """A price table from a JSON file; blocking I/O, so only at import or in an executor."""
    try:
        return validate_prices(json.loads(path.read_text(encoding="utf-8")))
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from err


def price_of(model: str, prices: Prices) -> Mapping[str, float] | None:
    """The model's row, else its family's if it is a dated snapshot of a priced model.

    Only a date may follow the family's name: neither `gpt-realtime-3` nor
    `gpt-realtime-mini-2025-10-06` is a `gpt-realtime`, and no price (an unavailable cost) beats a
    wrong one.
    """
    if (exact := prices.get(model)) is not None:
        return exact
    if (snapshot := _SNAPSHOT.fullmatch(model)) is not None:
        return prices.get(snapshot["family"])
    return None


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
        return price_of(self.model, self.prices)

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
