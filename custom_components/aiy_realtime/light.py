"""The AIY kit's LED as a light: the user's between sessions; a running session shows its state
on it, and the user's light comes back when the session ends."""

from __future__ import annotations

from typing import Any

from homeassistant.components.light import LightEntity
from homeassistant.components.light.const import ATTR_BRIGHTNESS, ATTR_RGB_COLOR, ColorMode
from homeassistant.const import STATE_ON
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.restore_state import RestoreEntity

from . import AiyRealtimeConfigEntry
from .entity import KitEntity, remove_stale_entity
from .hardware.led import LightKind, Rgb, UserLight
from .terminal.device import VoiceTerminal
from .terminal.kit import TerminalKit

PARALLEL_UPDATES = 0

_COLOR_MODES = {
    LightKind.ONOFF: ColorMode.ONOFF,
    LightKind.BRIGHTNESS: ColorMode.BRIGHTNESS,
    LightKind.RGB: ColorMode.RGB,
}


async def async_setup_entry(
    hass: HomeAssistant,
    entry: AiyRealtimeConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """The LED of every terminal whose kit has one it can drive."""
    for terminal_id, terminal in entry.runtime_data.terminals.items():
        if (kit := terminal.kit) is not None and kit.light_kind is not LightKind.NONE:
            async_add_entities([KitLight(terminal, kit)], config_subentry_id=terminal_id)
        else:
            remove_stale_entity(hass, "light", led_id(terminal_id))


def led_id(terminal_id: str) -> str:
    return f"{terminal_id}_led"


class KitLight(KitEntity, LightEntity, RestoreEntity):
    """The button's LED as the user sets it."""

    _attr_translation_key = "led"

    def __init__(self, terminal: VoiceTerminal, kit: TerminalKit) -> None:
        super().__init__(terminal, kit)
        self._attr_unique_id = led_id(terminal.terminal_id)

    @property
    def color_mode(self) -> ColorMode:
        return _COLOR_MODES.get(self.kit.light_kind, ColorMode.ONOFF)

    @property
    def supported_color_modes(self) -> set[ColorMode]:
        return {self.color_mode}

    @property
    def is_on(self) -> bool:
        return self.kit.user_light.on

    @property
    def brightness(self) -> int | None:
        if self.color_mode is ColorMode.ONOFF:
            return None
        return self.kit.user_light.brightness

    @property
    def rgb_color(self) -> tuple[int, int, int] | None:
        if self.color_mode is not ColorMode.RGB:
            return None
        return self.kit.user_light.rgb

    async def async_added_to_hass(self) -> None:
        await super().async_added_to_hass()
        if (last := await self.async_get_last_state()) is not None:
            light = self.kit.user_light
            brightness = last.attributes.get(ATTR_BRIGHTNESS)
            rgb = last.attributes.get(ATTR_RGB_COLOR)
            self.kit.set_user_light(
                UserLight(
                    on=last.state == STATE_ON,
                    brightness=int(brightness) if brightness is not None else light.brightness,
                    rgb=_rgb(rgb) if rgb is not None else light.rgb,
                )
            )

    async def async_turn_on(self, **kwargs: Any) -> None:
        light = self.kit.user_light
        brightness = kwargs.get(ATTR_BRIGHTNESS, light.brightness)
        rgb = kwargs.get(ATTR_RGB_COLOR, light.rgb)
        self.kit.set_user_light(UserLight(on=True, brightness=int(brightness), rgb=_rgb(rgb)))

    async def async_turn_off(self, **kwargs: Any) -> None:
        light = self.kit.user_light
        self.kit.set_user_light(UserLight(on=False, brightness=light.brightness, rgb=light.rgb))


def _rgb(value: Any) -> Rgb:
    red, green, blue = (int(c) for c in value)
    return red, green, blue
