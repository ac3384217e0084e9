"""Fix flows for the repair issues of retiring models: the user picks the successor.

Nothing is switched without asking: the two successors of a Realtime model differ about 6x in
price, and a deployment may need a name of its own.
"""

from __future__ import annotations

from typing import Any, cast

import probatio

from homeassistant.components.repairs import RepairsFlow, RepairsFlowResult
from homeassistant.core import HomeAssistant

from .assistant.models import ModelKind, Retirement, retirement_of
from .assistant.retirements import SETTING, model_of, placeholders
from .assistant.usage import Prices, price_of
from .const import CONF_PRICES, DEFAULT_PRICES, DOMAIN
from .flows.form import models


class RetiringModelFlow(RepairsFlow):
    """Switch one assistant from a retiring model to one the user picks."""

    def __init__(self, entry_id: str, subentry_id: str, kind: ModelKind) -> None:
        self.entry_id = entry_id
        self.subentry_id = subentry_id
        self.kind = kind

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> RepairsFlowResult:
        """The flow manager starts here with the issue's id as the input: no choice yet."""
        return await self.async_step_switch()

    async def async_step_switch(
        self, user_input: dict[str, Any] | None = None
    ) -> RepairsFlowResult:
        entry = self.hass.config_entries.async_get_entry(self.entry_id)
        subentry = entry.subentries.get(self.subentry_id) if entry is not None else None
        retirement = retirement_of(self.kind, model_of(self.kind, subentry)) if subentry else None
        if entry is None or subentry is None or retirement is None:
            # Changed or removed meanwhile: nothing left to fix (the reload removed the issue).
            return self.async_abort(reason="already_changed")
        key = SETTING[self.kind][0]
        if user_input is not None:
            self.hass.config_entries.async_update_subentry(
                entry, subentry, data={**subentry.data, key: user_input[key]}
            )
            return self.async_create_entry(data={})
        prices = cast(Prices, {**DEFAULT_PRICES, **entry.options.get(CONF_PRICES, {})})
        return self.async_show_form(
            step_id="switch",
            data_schema=probatio.Schema(
                {
                    probatio.Required(key, default=retirement.successor): models(
                        retirement.successors
                    )
                }
            ),
            description_placeholders={
                **placeholders(self.kind, subentry, retirement),
                "prices": _price_lines(retirement, prices),
            },
        )


def _price_lines(retirement: Retirement, prices: Prices) -> str:
    """Each successor's audio price per 1M tokens (in / out), where the price table has one."""
    lines = []
    for model in retirement.successors:
        if (price := price_of(model, prices)) is not None and price.get("audio_output"):
            lines.append(f"- {model}: ${price['audio_input']:g} in, ${price['audio_output']:g} out")
        else:
            lines.append(f"- {model}")
    return "\n".join(lines)


async def async_create_fix_flow(
    hass: HomeAssistant, issue_id: str, data: dict[str, str | int | float | None] | None
) -> RepairsFlow:
    """The flow for one of our issues; only the retiring-model issues are fixable."""
    assert data is not None, f"{DOMAIN} issue {issue_id} has no data"
    kind = cast(ModelKind, data["kind"])
    return RetiringModelFlow(str(data["entry_id"]), str(data["subentry_id"]), kind)
