"""Diagnostics: what the entry is set to and how it runs, with the key redacted."""

from __future__ import annotations

from dataclasses import asdict
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
    data = entry.runtime_data
    endpoint = data.endpoint
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
                "usage": asdict(meter.total) if (meter := data.meters.get(subentry_id)) else None,
            }
            for subentry_id, subentry in entry.subentries.items()
        },
        "sessions": {
            "opened": data.sessions.opened,
            "open": [
                {
                    "state": conversation.session.state.value,
                    "told_entries": len(conversation.seen),
                    "tools": len(conversation.toolset.tools),
                    "usage": asdict(conversation.session.usage),
                }
                for conversation in data.sessions.conversations()
            ],
        },
    }
