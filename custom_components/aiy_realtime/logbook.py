"""The terminal's sessions and what was said in them, in words, in Home Assistant's Activity.

The events carry the satellite entity and device of the terminal (terminal/device.py), so the
entries show under both. The logbook integration loads this platform itself when it runs: the
manifest names no dependency on it (as core integrations with a logbook platform do), so an
installation without the recorder still loads this integration.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from homeassistant.components.logbook.const import (
    LOGBOOK_ENTRY_ENTITY_ID,
    LOGBOOK_ENTRY_MESSAGE,
    LOGBOOK_ENTRY_NAME,
)
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.helpers import device_registry as dr

from .const import (
    DEFAULT_TERMINAL_NAME,
    DOMAIN,
    EVENT_SESSION_ENDED,
    EVENT_SESSION_STARTED,
    EVENT_TRANSCRIPT,
)

# The Session sensor's texts for its `last_end_reason` (strings.json), as a sentence's end: the
# logbook's messages are English in Home Assistant, not translated.
END_REASONS = {
    "user_ended": "stopped by an action, a button or an automation",
    "model_ended": "the assistant said goodbye",
    "idle_timeout": "nobody spoke",
    "expired": "time limit reached",
    "peer_gone": "connection lost",
    "shutdown": "Home Assistant stopped or the integration reloaded",
    "device_lost": "microphone or speaker lost",
    "error": "error",
}
SAID = {"user": "heard", "assistant": "said"}


@callback
def async_describe_events(
    hass: HomeAssistant,
    async_describe_event: Callable[[str, str, Callable[[Event], dict[str, str]]], None],
) -> None:
    """Describe the session and transcript events of every terminal."""

    def describe(message: Callable[[Mapping[str, Any]], str]) -> Callable[[Event], dict[str, str]]:
        # Not a callback: the logbook calls it from the recorder's thread (it only reads).
        def described(event: Event) -> dict[str, str]:
            data = event.data
            entry = {
                LOGBOOK_ENTRY_NAME: _terminal_name(hass, data),
                LOGBOOK_ENTRY_MESSAGE: message(data),
            }
            if entity_id := data.get("entity_id"):
                entry[LOGBOOK_ENTRY_ENTITY_ID] = str(entity_id)
            return entry

        return described

    async_describe_event(DOMAIN, EVENT_SESSION_STARTED, describe(lambda _: "session started"))
    async_describe_event(DOMAIN, EVENT_SESSION_ENDED, describe(_ended))
    async_describe_event(DOMAIN, EVENT_TRANSCRIPT, describe(_transcript))


def _ended(data: Mapping[str, Any]) -> str:
    reason = str(data.get("reason") or "error")
    return f"session ended: {END_REASONS.get(reason, reason)}"


def _transcript(data: Mapping[str, Any]) -> str:
    role = str(data.get("role"))
    return f"{SAID.get(role, role)} “{data.get('text') or ''}”"


def _terminal_name(hass: HomeAssistant, data: Mapping[str, Any]) -> str:
    """The name the user sees on the terminal's device now (renamed or not), else its
    subentry's title: events recorded before a rename read with the new name, as entities'
    entries do."""
    registry = dr.async_get(hass)
    if (device := registry.async_get(str(data.get("device_id")))) is not None and (
        name := device.name_by_user or device.name
    ):
        return name
    terminal_id = str(data.get("terminal_id"))
    for entry in hass.config_entries.async_entries(DOMAIN):
        if (subentry := entry.subentries.get(terminal_id)) is not None:
            return subentry.title
    return DEFAULT_TERMINAL_NAME
