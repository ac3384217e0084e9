"""Each voice terminal's idle timeout, as a number: for the next session."""

from __future__ import annotations

from homeassistant.components.number import NumberDeviceClass, NumberEntity, NumberMode
from homeassistant.const import UnitOfTime
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from . import AiyRealtimeConfigEntry
from .const import CONF_IDLE_TIMEOUT, MAX_IDLE_TIMEOUT, MIN_IDLE_TIMEOUT
from .entity import TerminalSettingEntity
from .terminal.device import VoiceTerminal

PARALLEL_UPDATES = 0


async def async_setup_entry(
    hass: HomeAssistant,
    entry: AiyRealtimeConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """One per voice terminal."""
    for terminal_id, terminal in entry.runtime_data.terminals.items():
        async_add_entities([IdleTimeoutNumber(terminal)], config_subentry_id=terminal_id)


class IdleTimeoutNumber(TerminalSettingEntity, NumberEntity):
    """Seconds of nobody speaking after which a session ends, within the form's bounds."""

    _attr_device_class = NumberDeviceClass.DURATION
    _attr_native_unit_of_measurement = UnitOfTime.SECONDS
    _attr_native_min_value = MIN_IDLE_TIMEOUT
    _attr_native_max_value = MAX_IDLE_TIMEOUT
    _attr_native_step = 1
    _attr_mode = NumberMode.BOX

    def __init__(self, terminal: VoiceTerminal) -> None:
        super().__init__(terminal, CONF_IDLE_TIMEOUT)

    @property
    def native_value(self) -> float:
        return self.terminal.settings.idle_timeout

    async def async_set_native_value(self, value: float) -> None:
        # Whole seconds, as the form saves them.
        self._change(CONF_IDLE_TIMEOUT, int(value))
