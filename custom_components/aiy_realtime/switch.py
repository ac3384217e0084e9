"""Each voice terminal's half duplex and echo cancellation, as switches: for the next session."""

from __future__ import annotations

from typing import Any

from homeassistant.components.switch import SwitchEntity
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from . import AiyRealtimeConfigEntry
from .const import CONF_ECHO_CANCELLATION, CONF_HALF_DUPLEX
from .entity import TerminalSettingEntity
from .terminal.device import TerminalSettings

PARALLEL_UPDATES = 0


async def async_setup_entry(
    hass: HomeAssistant,
    entry: AiyRealtimeConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Both for each voice terminal."""
    for terminal_id, terminal in entry.runtime_data.terminals.items():
        async_add_entities(
            [
                TerminalSettingSwitch(terminal, CONF_HALF_DUPLEX),
                TerminalSettingSwitch(terminal, CONF_ECHO_CANCELLATION),
            ],
            config_subentry_id=terminal_id,
        )


class TerminalSettingSwitch(TerminalSettingEntity, SwitchEntity):
    """A terminal's yes/no setting: `half_duplex` or `echo_cancellation`, by its key."""

    @property
    def is_on(self) -> bool:
        settings: TerminalSettings = self.terminal.settings
        key = self._attr_translation_key
        return settings.half_duplex if key == CONF_HALF_DUPLEX else settings.echo_cancellation

    async def async_turn_on(self, **kwargs: Any) -> None:
        self._change(str(self._attr_translation_key), True)

    async def async_turn_off(self, **kwargs: Any) -> None:
        self._change(str(self._attr_translation_key), False)
