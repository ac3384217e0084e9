"""Token usage and estimated cost of each agent, kept across restarts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from homeassistant.components.sensor import (
    RestoreSensor,
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.config_entries import ConfigSubentry
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from . import AiyRealtimeConfigEntry
from .assistant.usage import UsageMeter
from .entity import AiyRealtimeEntity, TerminalEntity
from .hardware.terminal_sound import ECHO_STATES
from .realtime.responses import Usage
from .terminal.device import VoiceTerminal
from .terminal.states import VoiceState

PARALLEL_UPDATES = 0
TOKENS = "tokens"


@dataclass(frozen=True, kw_only=True)
class UsageSensorDescription(SensorEntityDescription):
    """What one sensor adds up from each response."""

    increment: Callable[[Usage, float | None], float | int | None]


def _tokens(key: str, count: Callable[[Usage], int]) -> UsageSensorDescription:
    return UsageSensorDescription(
        key=key,
        translation_key=key,
        native_unit_of_measurement=TOKENS,
        state_class=SensorStateClass.TOTAL_INCREASING,
        entity_category=EntityCategory.DIAGNOSTIC,
        increment=lambda usage, _: count(usage),
    )


SENSORS: tuple[UsageSensorDescription, ...] = (
    _tokens("input_text_tokens", lambda usage: usage.input_text_tokens),
    _tokens("input_audio_tokens", lambda usage: usage.input_audio_tokens),
    _tokens("output_text_tokens", lambda usage: usage.output_text_tokens),
    _tokens("output_audio_tokens", lambda usage: usage.output_audio_tokens),
    UsageSensorDescription(
        key="estimated_cost",
        translation_key="estimated_cost",
        native_unit_of_measurement="USD",
        device_class=SensorDeviceClass.MONETARY,
        state_class=SensorStateClass.TOTAL,
        suggested_display_precision=4,
        increment=lambda _, cost: cost,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: AiyRealtimeConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """The usage sensors of every assistant, the session state of every voice terminal."""
    data = entry.runtime_data
    for subentry_id, subentry in entry.subentries.items():
        if (meter := data.meters.get(subentry_id)) is not None:
            async_add_entities(
                [UsageSensor(entry, subentry, meter, description) for description in SENSORS],
                config_subentry_id=subentry_id,
            )
        elif (terminal := data.terminals.get(subentry_id)) is not None:
            async_add_entities(
                [SessionStateSensor(terminal), EchoCancellationSensor(terminal)],
                config_subentry_id=subentry_id,
            )


class UsageSensor(AiyRealtimeEntity, RestoreSensor):
    """A running total over the agent's responses."""

    entity_description: UsageSensorDescription

    def __init__(
        self,
        entry: AiyRealtimeConfigEntry,
        subentry: ConfigSubentry,
        meter: UsageMeter,
        description: UsageSensorDescription,
    ) -> None:
        super().__init__(entry, subentry)
        self.entity_description = description
        self._attr_unique_id = f"{subentry.subentry_id}-{description.key}"
        self._meter = meter
        self._total: Decimal = Decimal(0)
        self._attr_native_value = 0

    async def async_added_to_hass(self) -> None:
        await super().async_added_to_hass()
        if (last := await self.async_get_last_sensor_data()) is not None:
            try:
                self._total = Decimal(str(last.native_value or 0))
            except ArithmeticError:
                self._total = Decimal(0)
        self._publish()
        self.async_on_remove(self._meter.subscribe(self._on_usage))

    @callback
    def _on_usage(self, usage: Usage, cost: float | None) -> None:
        increment = self.entity_description.increment(usage, cost)
        if increment:
            self._total += Decimal(str(increment))
            self._publish()
            self.async_write_ha_state()

    @property
    def available(self) -> bool:
        """A cost needs the model's price: without one, unavailable rather than wrong."""
        if self.entity_description.device_class is SensorDeviceClass.MONETARY:
            return self._meter.price is not None
        return True

    def _publish(self) -> None:
        if self.entity_description.device_class is SensorDeviceClass.MONETARY:
            self._attr_native_value = self._total
        else:
            self._attr_native_value = int(self._total)


class SessionStateSensor(TerminalEntity, SensorEntity):
    """What the terminal's session is doing; why the last one ended, as an attribute."""

    TRANSLATION_KEY = "session_state"
    _attr_translation_key = TRANSLATION_KEY
    _attr_device_class = SensorDeviceClass.ENUM

    def __init__(self, terminal: VoiceTerminal) -> None:
        super().__init__(terminal)
        self._attr_unique_id = f"{terminal.terminal_id}-session_state"
        self._attr_options = [state.value for state in VoiceState]

    @property
    def native_value(self) -> str:
        return self.terminal.state.value

    @property
    def extra_state_attributes(self) -> dict[str, Any]:
        session = self.terminal.session
        return {
            "last_end_reason": self.terminal.last_end_reason,
            "last_error": self.terminal.last_error,
            "conversation_id": session.conversation_id if session is not None else None,
        }


class EchoCancellationSensor(TerminalEntity, SensorEntity):
    """Which echo canceller the terminal's sound runs through (webrtc, speex), or why none:
    the one thing that decides whether a person can talk over the assistant."""

    TRANSLATION_KEY = "echo_cancellation"
    _attr_translation_key = TRANSLATION_KEY
    _attr_device_class = SensorDeviceClass.ENUM
    _attr_entity_category = EntityCategory.DIAGNOSTIC

    def __init__(self, terminal: VoiceTerminal) -> None:
        super().__init__(terminal)
        self._attr_unique_id = f"{terminal.terminal_id}-echo_cancellation"
        self._attr_options = list(ECHO_STATES)

    @property
    def native_value(self) -> str:
        return self.terminal.sound.echo

    @property
    def extra_state_attributes(self) -> dict[str, Any]:
        return {"full_duplex": self.terminal.full_duplex}
