"""Each voice terminal's half duplex and echo cancellation, as switches: for the next session."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from homeassistant.components.switch import SwitchEntity
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from . import AiyRealtimeConfigEntry
from .const import CONF_ECHO_CANCELLATION, CONF_HALF_DUPLEX
from .entity import TerminalSettingEntity
from .terminal.device import VoiceTerminal
from .terminal.settings import TerminalSettings

PARALLEL_UPDATES = 0


async def async_setup_entry(
    hass: HomeAssistant,
    entry: AiyRealtimeConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Both for each voice terminal."""
    for terminal_id, terminal in entry.runtime_data.terminals.items():
        async_add_entities(
            [TerminalSettingSwitch(terminal, key) for key in SWITCHED],
            config_subentry_id=terminal_id,
        )


SWITCHED: dict[str, Callable[[TerminalSettings], bool]] = {
    CONF_HALF_DUPLEX: lambda settings: settings.half_duplex,
    CONF_ECHO_CANCELLATION: lambda settings: settings.echo_cancellation,
}
"""Each switch's setting, by its subentry key: how the terminal's settings read it."""


class TerminalSettingSwitch(TerminalSettingEntity, SwitchEntity):
    """A terminal's yes/no setting, one of SWITCHED."""

    def __init__(self, terminal: VoiceTerminal, key: str) -> None:
        super().__init__(terminal, key)
        self._read = SWITCHED[key]

    @property
    def is_on(self) -> bool:
        return self._read(self.terminal.settings)

    async def async_turn_on(self, **kwargs: Any) -> None:
        self._change(self.setting, True)

    async def async_turn_off(self, **kwargs: Any) -> None:
        self._change(self.setting, False)
