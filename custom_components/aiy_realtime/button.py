"""Start and End conversation buttons of every voice terminal: a talk button for a dashboard."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from homeassistant.components.button import ButtonEntity, ButtonEntityDescription
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from . import AiyRealtimeConfigEntry
from .entity import TerminalEntity
from .terminal.device import VoiceTerminal

PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class TerminalButtonDescription(ButtonEntityDescription):
    """What a press does to the terminal."""

    press: Callable[[VoiceTerminal], Awaitable[Any]]


BUTTONS: tuple[TerminalButtonDescription, ...] = (
    # As the start_session action without fields: the assistant's greeting, no instructions.
    TerminalButtonDescription(
        key="start_conversation",
        translation_key="start_conversation",
        press=lambda terminal: terminal.async_start_session(),
    ),
    # As the end_session action's default: a goodbye first, so a press does not cut a sentence.
    TerminalButtonDescription(
        key="end_conversation",
        translation_key="end_conversation",
        press=lambda terminal: terminal.async_end(graceful=True),
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: AiyRealtimeConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Both buttons for every voice terminal."""
    for terminal_id, terminal in entry.runtime_data.terminals.items():
        async_add_entities(
            [TerminalButton(terminal, description) for description in BUTTONS],
            config_subentry_id=terminal_id,
        )


class TerminalButton(TerminalEntity, ButtonEntity):
    """Unavailable while the terminal's sound does not work, as its other entities; a press
    that fails (busy, no sound, no call) raises the terminal's translated error."""

    entity_description: TerminalButtonDescription

    def __init__(self, terminal: VoiceTerminal, description: TerminalButtonDescription) -> None:
        super().__init__(terminal)
        self.entity_description = description
        self._attr_unique_id = f"{terminal.terminal_id}-{description.key}"

    def _shown(self) -> tuple[object, ...]:
        return (self.available,)

    async def async_press(self) -> None:
        await self.entity_description.press(self.terminal)
