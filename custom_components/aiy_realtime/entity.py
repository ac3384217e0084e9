"""What every entity of an agent shares: its config entry, its subentry, its device."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from homeassistant.config_entries import ConfigSubentry
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.device_registry import DeviceEntryType, DeviceInfo
from homeassistant.helpers.entity import Entity

from . import AiyRealtimeConfigEntry
from .const import CONF_MODEL, DEFAULT_MODEL, DOMAIN
from .realtime.endpoint import Endpoint, EndpointKind

if TYPE_CHECKING:
    from .terminal.device import VoiceTerminal
    from .terminal.kit import TerminalKit


def _model_operator(endpoint: Endpoint) -> str:
    """Who runs the model behind the endpoint, as the device's manufacturer."""
    if endpoint.kind is EndpointKind.OPENAI:
        return "OpenAI"
    if endpoint.kind is EndpointKind.AZURE:
        return "Microsoft"
    # Any server may speak the API; its host is all we know of it, and claiming OpenAI is untrue.
    return urlsplit(endpoint.url or "").hostname or "Custom endpoint"


class AiyRealtimeEntity(Entity):
    """An entity of one agent (a `conversation` subentry), on the agent's device."""

    _attr_has_entity_name = True

    def __init__(self, entry: AiyRealtimeConfigEntry, subentry: ConfigSubentry) -> None:
        self.entry = entry
        self.subentry = subentry
        self._attr_device_info = DeviceInfo(
            identifiers={(DOMAIN, subentry.subentry_id)},
            name=subentry.title,
            manufacturer=_model_operator(entry.runtime_data.endpoint),
            model=subentry.data.get(CONF_MODEL, DEFAULT_MODEL),
            entry_type=DeviceEntryType.SERVICE,
        )


class TerminalEntity(Entity):
    """An entity of one voice terminal, on the terminal's device, following its state."""

    _attr_has_entity_name = True
    _attr_should_poll = False

    def __init__(self, terminal: VoiceTerminal) -> None:
        self.terminal = terminal
        subentry = terminal.subentry
        self._attr_device_info = DeviceInfo(
            identifiers={(DOMAIN, subentry.subentry_id)},
            name=subentry.title,
            model="Voice terminal",
        )

    @property
    def available(self) -> bool:
        return self.terminal.available

    async def async_added_to_hass(self) -> None:
        await super().async_added_to_hass()
        if self.registry_entry is not None:
            self.terminal.device_id = self.registry_entry.device_id
        self.async_on_remove(self.terminal.subscribe(self._on_terminal_changed))
        self._on_terminal_changed()

    @callback
    def _on_terminal_changed(self) -> None:
        """The terminal's state or availability changed."""
        shown = self._shown()
        if shown is not None and shown == self._last_shown:
            return
        if self.hass is not None and self.entity_id is not None:
            self._last_shown = shown
            self.async_write_ha_state()

    _last_shown: tuple[object, ...] | None = None

    def _shown(self) -> tuple[object, ...] | None:
        """What this entity shows of the terminal, for entities that do not show its state
        (settings, buttons): written only when that changed, not at each step of a session.
        None: the terminal's state itself, written at each change."""
        return None


class TerminalSettingEntity(TerminalEntity):
    """One of a terminal's settings: read from the terminal, saved in its subentry (where the
    form finds it too) and used from the terminal's next session on."""

    _attr_entity_category = EntityCategory.CONFIG

    def __init__(self, terminal: VoiceTerminal, key: str) -> None:
        super().__init__(terminal)
        self.setting = key
        """The subentry's key this entity sets (also its translation key)."""
        self._attr_translation_key = key
        self._attr_unique_id = f"{terminal.terminal_id}-{key}"

    @property
    def available(self) -> bool:
        """A setting is changed for later: a terminal whose sound is gone can still be set."""
        return True

    def _shown(self) -> tuple[object, ...]:
        return (self.available, self.state, self.capability_attributes)

    def _change(self, key: str, value: Any) -> None:
        self.terminal.async_change_settings({key: value})


class KitEntity(TerminalEntity):
    """An entity of a terminal's AIY kit: available while the kit's pins can be used."""

    def __init__(self, terminal: VoiceTerminal, kit: TerminalKit) -> None:
        super().__init__(terminal)
        self.kit = kit

    @property
    def available(self) -> bool:
        return self.kit.available

    async def async_added_to_hass(self) -> None:
        await super().async_added_to_hass()
        self.async_on_remove(self.kit.subscribe(self._on_terminal_changed))


def remove_stale_entity(hass: HomeAssistant, domain: str, unique_id: str) -> None:
    """Forget an entity the terminal no longer has (its kit, or that part of it, was removed
    in the terminal's settings): HA keeps it, unavailable, otherwise."""
    registry = er.async_get(hass)
    if (entity_id := registry.async_get_entity_id(domain, DOMAIN, unique_id)) is not None:
        registry.async_remove(entity_id)
