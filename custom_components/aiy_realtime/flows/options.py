"""Entry options: the price table the cost sensors use (prices change; code should not)."""

from __future__ import annotations

from typing import Any

import probatio

from homeassistant.config_entries import ConfigFlowResult, OptionsFlow
from homeassistant.helpers.selector import ObjectSelector

from ..assistant.usage import validate_prices
from ..const import CONF_PRICES, DEFAULT_PRICES


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
