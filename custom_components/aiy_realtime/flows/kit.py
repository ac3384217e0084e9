"""The kit steps of a voice terminal's form: which AIY board (or custom pins, or none), then for
a kit only, where its pins are (this machine, or a Pi running pigpiod), what a long press does
and how the LED rests, and for a Pi running pigpiod only, its address.

Home Assistant's forms cannot hide a field by what another says, so each answer that makes
fields pointless is its own step: `kit` (the board) leads to `custom_pins` (a home-made kit's
GPIO), `kit_pins` (where, long press, LED) and `kit_remote` (pigpiod's host and port), each only
where it applies. What is saved is the same as when one step asked it all.

The choice is checked before it is saved: pins that make no board, a pigpiod that does not
answer, a machine without GPIO are said on the step that asks what is wrong, with what to check.
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

from ..const import (
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
from ..hardware.boards import CUSTOM_DEFAULTS, BoardError, BoardId
from ..hardware.pins import DEFAULT_PIGPIO_PORT, GpioUnavailable, RemotePins, open_pins
from ..terminal.kit import KitSettings, location_of
from .form import select

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
        """Which kit, if any. Only the choice: a form cannot hide fields, so each kit's details
        are the next steps' and a terminal without a kit goes straight on to its sound."""
        if user_input is not None:
            self.options.update(user_input)
            if self.options[CONF_BOARD] == BoardId.NONE:
                return await self._after_kit()
            if self.options[CONF_BOARD] == BoardId.CUSTOM:
                return await self.async_step_custom_pins()
            return await self.async_step_kit_pins()
        # Saved whatever the kit, as the single kit step saved them: a terminal keeps the keys
        # it always had, and one changed back to a kit starts from what it had before.
        for key, value in KIT_DEFAULTS.items():
            self.options.setdefault(key, value)
        return self.async_show_form(
            step_id="kit",
            data_schema=self.add_suggested_values_to_schema(
                probatio.Schema({probatio.Required(CONF_BOARD): select(BOARD_CHOICES, CONF_BOARD)}),
                self.options,
            ),
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
            # Only whether the pins make a board: where they are is asked next, and checked
            # on the step that asks it.
            errors, problem = _board_problem(self.options)
            if not errors:
                return await self.async_step_kit_pins()
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

    async def async_step_kit_pins(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Where the kit's pins are, the button's long press, the LED at rest."""
        errors: dict[str, str] = {}
        problem = ""
        if user_input is not None:
            self.options.update(user_input)
            if self.options[CONF_PINS] == PINS_REMOTE:
                return await self.async_step_kit_remote()
            # A kit on this machine has no pigpiod: an address kept from a remote kit would be
            # saved for nothing (the single kit step dropped it too, once its field was empty).
            self.options.pop(CONF_PIGPIO_HOST, None)
            errors, problem = await self._check_kit()
            if not errors:
                return await self._after_kit()
        fields = {
            probatio.Required(CONF_PINS): select(PIN_LOCATIONS, CONF_PINS),
            probatio.Required(CONF_LONG_PRESS): select(LONG_PRESS_ACTIONS, CONF_LONG_PRESS),
            probatio.Required(CONF_LED_IDLE): select(LED_IDLE_CHOICES, CONF_LED_IDLE),
        }
        return self.async_show_form(
            step_id="kit_pins",
            data_schema=self.add_suggested_values_to_schema(probatio.Schema(fields), self.options),
            errors=errors,
            description_placeholders={"problem": problem},
        )

    async def async_step_kit_remote(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """The Raspberry Pi whose pigpiod gives Home Assistant the kit's pins."""
        errors: dict[str, str] = {}
        problem = ""
        if user_input is not None:
            self.options[CONF_PIGPIO_HOST] = str(user_input.get(CONF_PIGPIO_HOST) or "").strip()
            # The number field gives a float; the port is saved as the whole number it is.
            port = user_input.get(CONF_PIGPIO_PORT)
            self.options[CONF_PIGPIO_PORT] = DEFAULT_PIGPIO_PORT if port is None else int(port)
            errors, problem = await self._check_kit()
            if not errors:
                return await self._after_kit()
        fields = {
            probatio.Required(CONF_PIGPIO_HOST): TextSelector(),
            probatio.Optional(CONF_PIGPIO_PORT): NumberSelector(
                NumberSelectorConfig(min=1, max=65535, step=1, mode=NumberSelectorMode.BOX)
            ),
        }
        suggested = {k: v for k, v in self.options.items() if v}
        return self.async_show_form(
            step_id="kit_remote",
            data_schema=self.add_suggested_values_to_schema(probatio.Schema(fields), suggested),
            errors=errors,
            description_placeholders={"problem": problem},
        )

    async def _check_kit(self) -> tuple[dict[str, str], str]:
        """The form's errors and what went wrong ({} and "" when the kit can be used)."""
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


def _board_problem(options: dict[str, Any]) -> tuple[dict[str, str], str]:
    """Whether the options' pins make a board: the form's errors and what is wrong."""
    try:
        KitSettings.from_options(options)
    except BoardError as err:
        return {"base": f"board_{err.reason}"}, err.detail
    return {}, ""
