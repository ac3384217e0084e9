"""Diagnostics: what the entry is set to and how it runs, with the key redacted."""

from __future__ import annotations

from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.const import CONF_API_KEY
from homeassistant.core import HomeAssistant

from . import AiyRealtimeConfigEntry

TO_REDACT = {CONF_API_KEY, "api-key", "authorization"}


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: AiyRealtimeConfigEntry
) -> dict[str, Any]:
    """Return diagnostics for a config entry."""
    endpoint = entry.runtime_data.endpoint
    return {
        "entry": async_redact_data(
            {"title": entry.title, "data": dict(entry.data), "options": dict(entry.options)},
            TO_REDACT,
        ),
        "endpoint": {"kind": endpoint.kind.value, "base_url": endpoint.base_url},
        "subentries": {
            subentry_id: {
                "type": subentry.subentry_type,
                "title": subentry.title,
                "data": async_redact_data(dict(subentry.data), TO_REDACT),
            }
            for subentry_id, subentry in entry.subentries.items()
        },
    }
