"""What every entity of an agent shares: its config entry, its subentry, its device."""

from __future__ import annotations

from homeassistant.config_entries import ConfigSubentry
from homeassistant.helpers.device_registry import DeviceEntryType, DeviceInfo
from homeassistant.helpers.entity import Entity

from . import AiyRealtimeConfigEntry
from .const import CONF_MODEL, DEFAULT_MODEL, DOMAIN


class AiyRealtimeEntity(Entity):
    """An entity of one agent (a `conversation` subentry), on the agent's device."""

    _attr_has_entity_name = True

    def __init__(self, entry: AiyRealtimeConfigEntry, subentry: ConfigSubentry) -> None:
        self.entry = entry
        self.subentry = subentry
        self._attr_device_info = DeviceInfo(
            identifiers={(DOMAIN, subentry.subentry_id)},
            name=subentry.title,
            manufacturer="OpenAI",
            model=subentry.data.get(CONF_MODEL, DEFAULT_MODEL),
            entry_type=DeviceEntryType.SERVICE,
        )
