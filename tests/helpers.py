"""Entries with agents of a test's choosing, set up against the local peer."""

from __future__ import annotations

from typing import Any

from pytest_homeassistant_custom_component.common import MockConfigEntry

from homeassistant.config_entries import ConfigSubentryData
from homeassistant.const import CONF_API_KEY
from homeassistant.core import HomeAssistant

from custom_components.aiy_realtime.assistant_flow import RECOMMENDED_CONVERSATION_OPTIONS
from custom_components.aiy_realtime.const import (
    CONF_ENDPOINT,
    DEFAULT_CONVERSATION_NAME,
    DOMAIN,
)
from tests.peer.http import VALID_KEY


def agent(title: str = DEFAULT_CONVERSATION_NAME, **options: Any) -> ConfigSubentryData:
    """The recommended agent with `options` laid over it (None removes an option)."""
    data = {**RECOMMENDED_CONVERSATION_OPTIONS, **options}
    return ConfigSubentryData(
        data={key: value for key, value in data.items() if value is not None},
        subentry_type="conversation",
        title=title,
        unique_id=None,
    )


async def async_set_up_entry(
    hass: HomeAssistant, *agents: ConfigSubentryData, options: dict[str, Any] | None = None
) -> MockConfigEntry:
    """An entry for the default endpoint (the peer, with `openai_at_peer`), set up."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        data={CONF_API_KEY: VALID_KEY, CONF_ENDPOINT: "openai"},
        options=options or {},
        subentries_data=list(agents) or [agent()],
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry
