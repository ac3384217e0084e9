"""The AIY kit's arcade button as an event entity: `press` and `long_press`, for automations."""

from __future__ import annotations

from homeassistant.components.event import EventDeviceClass, EventEntity
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from . import AiyRealtimeConfigEntry
from .entity import KitEntity, remove_stale_entity
from .hardware.button import ButtonEvent
from .terminal.device import VoiceTerminal
from .terminal.kit import TerminalKit

PARALLEL_UPDATES = 0


async def async_setup_entry(
    hass: HomeAssistant,
    entry: AiyRealtimeConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """The button of every terminal whose kit has one."""
    for terminal_id, terminal in entry.runtime_data.terminals.items():
        if (kit := terminal.kit) is not None and kit.settings.board.button_pin is not None:
            async_add_entities([KitButtonEvent(terminal, kit)], config_subentry_id=terminal_id)
        else:
            remove_stale_entity(hass, "event", button_id(terminal_id))


def button_id(terminal_id: str) -> str:
    return f"{terminal_id}_button"


class KitButtonEvent(KitEntity, EventEntity):
    """Fires for each press of the kit's button (whatever the press also did to a session)."""

    _attr_device_class = EventDeviceClass.BUTTON
    _attr_translation_key = "button"

    def __init__(self, terminal: VoiceTerminal, kit: TerminalKit) -> None:
        super().__init__(terminal, kit)
        self._attr_event_types = [event.value for event in ButtonEvent]
        self._attr_unique_id = button_id(terminal.terminal_id)

    async def async_added_to_hass(self) -> None:
        await super().async_added_to_hass()
        self.async_on_remove(self.kit.subscribe_button(self._pressed))

    @callback
    def _pressed(self, event: ButtonEvent) -> None:
        self._trigger_event(event.value)
        self.async_write_ha_state()
