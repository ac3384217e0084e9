"""Entry options: the price table the cost sensors use (prices change; code should not)."""

from __future__ import annotations

from collections.abc import Mapping
import math
from typing import Any

import probatio

from homeassistant.config_entries import ConfigFlowResult, OptionsFlow
from homeassistant.helpers.selector import ObjectSelector

from .const import CONF_PRICES, DEFAULT_PRICES, PRICE_KEYS


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


class PricesOptionsFlow(OptionsFlow):
    """Edit the price table; the entry reloads with it."""

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        errors: dict[str, str] = {}
        current = self.config_entry.options.get(CONF_PRICES, DEFAULT_PRICES)
        if user_input is not None:
            try:
                prices = validate_prices(user_input.get(CONF_PRICES))
            except ValueError:
                errors[CONF_PRICES] = "invalid_prices"
                current = user_input.get(CONF_PRICES, current)
            else:
                return self.async_create_entry(
                    data={**self.config_entry.options, CONF_PRICES: prices}
                )
        return self.async_show_form(
            step_id="init",
            data_schema=probatio.Schema(
                {probatio.Required(CONF_PRICES, default=current): ObjectSelector()}
            ),
            errors=errors,
        )
