"""The kit steps of a voice terminal's form: which AIY board (or custom pins, or none), where its
pins are (this machine, or a Pi running pigpiod), what a long press does and how the LED rests.

The choice is checked before it is saved: pins that make no board, a pigpiod that does not
answer, a machine without GPIO are said in the form, with what to check.
"""

from __future__ import annotations

from typing import Any

import probatio

from homeassistant.config_entries import ConfigSubentryFlow, SubentryFlowResult
from homeassistant.helpers.selector import (
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    TextSelector,
)

from .const import (
    CONF_AMP_PIN,
    CONF_BOARD,
    CONF_BUTTON_PIN,
    CONF_LED_IDLE,
    CONF_LED_PIN,
    CONF_LONG_PRESS,
    CONF_PIGPIO_HOST,
    CONF_PIGPIO_PORT,
    CONF_PINS,
    LED_IDLE_CHOICES,
    LONG_PRESS_ACTIONS,
    LONG_PRESS_END,
    PIN_LOCATIONS,
    PINS_LOCAL,
    PINS_REMOTE,
)
from .form import select
from .hardware.boards import CUSTOM_DEFAULTS, BoardError, BoardId
from .hardware.pins import DEFAULT_PIGPIO_PORT, GpioUnavailable, RemotePins, open_pins
from .terminal_kit import KitSettings, location_of

BOARD_CHOICES = tuple(board.value for board in BoardId)
KIT_DEFAULTS: dict[str, Any] = {
    CONF_BOARD: BoardId.NONE.value,
    CONF_PINS: PINS_LOCAL,
    CONF_PIGPIO_PORT: DEFAULT_PIGPIO_PORT,
    CONF_LONG_PRESS: LONG_PRESS_END,
    CONF_LED_IDLE: "off",
}
_GPIO_NUMBER = NumberSelector(
    NumberSelectorConfig(min=0, max=27, step=1, mode=NumberSelectorMode.BOX)
)


class KitSteps(ConfigSubentryFlow):
    """The kit steps; the flow that uses them says where they lead (`_after_kit`)."""

    options: dict[str, Any]

    async def _after_kit(self) -> SubentryFlowResult:
        """The step after the kit's."""
        raise NotImplementedError

    async def async_step_kit(self, user_input: dict[str, Any] | None = None) -> SubentryFlowResult:
        """The board, where its pins are, the button's long press, the LED at rest."""
        errors: dict[str, str] = {}
        problem = ""
        if user_input is not None:
            self.options.update(user_input)
            if not user_input.get(CONF_PIGPIO_HOST):
                self.options.pop(CONF_PIGPIO_HOST, None)
            if self.options[CONF_BOARD] == BoardId.CUSTOM:
                return await self.async_step_custom_pins()
            errors, problem = await self._check_kit()
            if not errors:
                return await self._after_kit()
        for key, value in KIT_DEFAULTS.items():
            self.options.setdefault(key, value)
        fields = {
            probatio.Required(CONF_BOARD): select(BOARD_CHOICES, CONF_BOARD),
            probatio.Required(CONF_PINS): select(PIN_LOCATIONS, CONF_PINS),
            probatio.Optional(CONF_PIGPIO_HOST): TextSelector(),
            probatio.Optional(CONF_PIGPIO_PORT): NumberSelector(
                NumberSelectorConfig(min=1, max=65535, step=1, mode=NumberSelectorMode.BOX)
            ),
            probatio.Required(CONF_LONG_PRESS): select(LONG_PRESS_ACTIONS, CONF_LONG_PRESS),
            probatio.Required(CONF_LED_IDLE): select(LED_IDLE_CHOICES, CONF_LED_IDLE),
        }
        return self.async_show_form(
            step_id="kit",
            data_schema=self.add_suggested_values_to_schema(probatio.Schema(fields), self.options),
            errors=errors,
            description_placeholders={"problem": problem},
        )

    async def async_step_custom_pins(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """A home-made kit: the GPIO (BCM numbers) of its button, LED and amplifier enable."""
        errors: dict[str, str] = {}
        problem = ""
        if user_input is not None:
            for key in (CONF_BUTTON_PIN, CONF_LED_PIN, CONF_AMP_PIN):
                value = user_input.get(key)
                self.options[key] = None if value is None else int(value)
            errors, problem = await self._check_kit()
            if not errors:
                return await self._after_kit()
        elif CONF_BUTTON_PIN not in self.options:
            self.options.update(
                {
                    CONF_BUTTON_PIN: CUSTOM_DEFAULTS.button_pin,
                    CONF_LED_PIN: CUSTOM_DEFAULTS.led_pin,
                    CONF_AMP_PIN: CUSTOM_DEFAULTS.amp_pin,
                }
            )
        fields = {
            probatio.Optional(key): _GPIO_NUMBER
            for key in (CONF_BUTTON_PIN, CONF_LED_PIN, CONF_AMP_PIN)
        }
        suggested = {k: v for k, v in self.options.items() if v is not None}
        return self.async_show_form(
            step_id="custom_pins",
            data_schema=self.add_suggested_values_to_schema(probatio.Schema(fields), suggested),
            errors=errors,
            description_placeholders={"problem": problem},
        )

    async def _check_kit(self) -> tuple[dict[str, str], str]:
        """The form's errors and what went wrong ({} and "" when the kit can be used)."""
        if self.options.get(CONF_BOARD, BoardId.NONE) == BoardId.NONE:
            return {}, ""
        if self.options.get(CONF_PINS) == PINS_REMOTE and not self.options.get(CONF_PIGPIO_HOST):
            return {CONF_PIGPIO_HOST: "host_needed"}, ""
        try:
            settings = KitSettings.from_options(self.options)
        except BoardError as err:
            return {"base": f"board_{err.reason}"}, err.detail
        if settings is None or not settings.board.needs_gpio:
            return {}, ""
        try:
            # Whether there is a pin factory there: no pin is claimed (a running terminal
            # holds its own until the entry reloads with these settings).
            opened = await self.hass.async_add_executor_job(open_pins, settings.location)
        except GpioUnavailable as err:
            return {"base": f"gpio_{err.reason}"}, err.detail
        await self.hass.async_add_executor_job(opened.close)
        return {}, ""

    def _kit_pulse_server(self) -> str | None:
        """A remote kit's own PulseAudio server (its network module's default port)."""
        if self.options.get(CONF_BOARD, BoardId.NONE) == BoardId.NONE:
            return None
        location = location_of(self.options)
        return f"tcp:{location.host}" if isinstance(location, RemotePins) else None
