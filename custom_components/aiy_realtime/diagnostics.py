"""Diagnostics: what the entry is set to and runs on, with the key and the prompt redacted."""

from __future__ import annotations

from dataclasses import asdict
from importlib import metadata
from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.const import CONF_API_KEY, CONF_PROMPT
from homeassistant.core import HomeAssistant

from . import AiyRealtimeConfigEntry
from .terminal.device import VoiceTerminal

# The prompt is the user's own text and may name the people and rooms of the household.
TO_REDACT = {CONF_API_KEY, CONF_PROMPT, "api-key", "authorization"}
LIBRARIES = (
    "homeassistant",
    "openai",
    "aiortc",
    "aioice",
    "av",
    "pydantic",
    "gpiozero",
    "pigpio",
)
"""What a bug may depend on besides this integration: HA, our requirements and theirs."""


def _library_versions() -> dict[str, str | None]:
    """Installed versions (None: not installed); reads package metadata from disk."""
    versions: dict[str, str | None] = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


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
        "libraries": await hass.async_add_executor_job(_library_versions),
        "subentries": {
            subentry_id: {
                "type": subentry.subentry_type,
                "title": subentry.title,
                "data": async_redact_data(dict(subentry.data), TO_REDACT),
                "usage": asdict(meter.total) if (meter := data.meters.get(subentry_id)) else None,
            }
            for subentry_id, subentry in entry.subentries.items()
        },
        "terminals": {
            terminal_id: _terminal(terminal) for terminal_id, terminal in data.terminals.items()
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


def _terminal(terminal: VoiceTerminal) -> dict[str, Any]:
    """A voice terminal as it runs: its session, its sound, its kit."""
    kit = terminal.kit
    return {
        "state": terminal.state.value,
        "last_end_reason": terminal.last_end_reason,
        "audio_problem": str(terminal.audio_problem) if terminal.audio_problem else None,
        "echo_cancellation": terminal.sound.echo,
        "echo_canceller_learning": terminal.sound.learning,
        "full_duplex": terminal.full_duplex,
        "kit": None
        if kit is None
        else {
            "board": kit.settings.board.id.value,
            "pins": str(kit.settings.location),
            "available": kit.available,
            "problem": kit.problem.reason if kit.problem else None,
            "light": kit.light_kind.value,
            "notes": [note.reason for note in kit.kit.notes] if kit.kit else [],
        },
    }
