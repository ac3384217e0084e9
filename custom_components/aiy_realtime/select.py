"""Each voice terminal's assistant, as a select: switched without a reload, for the next session."""

from __future__ import annotations

from homeassistant.components.select import SelectEntity
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from . import AiyRealtimeConfigEntry
from .const import CONF_ASSISTANT, SUBENTRY_ASSISTANT
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
        async_add_entities([AssistantSelect(terminal)], config_subentry_id=terminal_id)


class AssistantSelect(TerminalSettingEntity, SelectEntity):
    """Which of the entry's assistants the terminal speaks with, by the assistants' titles."""

    def __init__(self, terminal: VoiceTerminal) -> None:
        super().__init__(terminal, CONF_ASSISTANT)

    def _assistants(self) -> dict[str, str]:
        """Option → assistant id. Titles need not differ: a repeated one gets a number, so
        each option still picks one assistant. Added, removed or renamed assistants reload
        the entry, which makes this entity again."""
        assistants: dict[str, str] = {}
        for subentry_id, subentry in self.terminal.entry.subentries.items():
            if subentry.subentry_type != SUBENTRY_ASSISTANT:
                continue
            option, number = subentry.title, 1
            while option in assistants:
                number += 1
                option = f"{subentry.title} ({number})"
            assistants[option] = subentry_id
        return assistants

    @property
    def options(self) -> list[str]:
        return list(self._assistants())

    @property
    def current_option(self) -> str | None:
        """None for an assistant removed under the terminal (its sessions cannot start)."""
        chosen = self.terminal.settings.assistant_id
        return next((o for o, i in self._assistants().items() if i == chosen), None)

    async def async_select_option(self, option: str) -> None:
        self._change(CONF_ASSISTANT, self._assistants()[option])
