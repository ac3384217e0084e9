"""Voice terminals of an entry: `voice_terminal` subentries, added and changed step by step.

First what the terminal is (name, assistant, how it sounds out), then its AIY kit (kit.py),
then where its sound is (sound.py: a PulseAudio server and then its devices, or ALSA's).
"""

from __future__ import annotations

from typing import Any

import probatio

from homeassistant.config_entries import SOURCE_USER, SubentryFlowResult
from homeassistant.const import CONF_NAME
from homeassistant.helpers.selector import (
    BooleanSelector,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
)

from ..const import (
    AUDIO_BACKENDS,
    BACKEND_PULSEAUDIO,
    CONF_ASSISTANT,
    CONF_AUDIO_BACKEND,
    CONF_ECHO_CANCELLATION,
    CONF_HALF_DUPLEX,
    CONF_IDLE_TIMEOUT,
    CONF_NOISE_REDUCTION,
    DEFAULT_IDLE_TIMEOUT,
    DEFAULT_NOISE_REDUCTION,
    DEFAULT_TERMINAL_NAME,
    MAX_IDLE_TIMEOUT,
    MIN_IDLE_TIMEOUT,
    NOISE_REDUCTIONS,
    SUBENTRY_ASSISTANT,
)
from .form import select
from .sound import SoundSteps


class TerminalSubentryFlow(SoundSteps):
    """Add or change one voice terminal."""

    options: dict[str, Any]

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> SubentryFlowResult:
        """Add a terminal."""
        self.options = {
            CONF_AUDIO_BACKEND: BACKEND_PULSEAUDIO,
            CONF_IDLE_TIMEOUT: DEFAULT_IDLE_TIMEOUT,
            CONF_HALF_DUPLEX: False,
            CONF_ECHO_CANCELLATION: True,
            CONF_NOISE_REDUCTION: DEFAULT_NOISE_REDUCTION,
        }
        return await self.async_step_terminal()

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Change a terminal."""
        self.options = dict(self._get_reconfigure_subentry().data)
        if float(self.options.get(CONF_IDLE_TIMEOUT, DEFAULT_IDLE_TIMEOUT)) > MAX_IDLE_TIMEOUT:
            # Saved when the form allowed 600 s: offered as what the terminal now uses, or the
            # form would refuse its own value.
            self.options[CONF_IDLE_TIMEOUT] = MAX_IDLE_TIMEOUT
        return await self.async_step_terminal()

    async def async_step_terminal(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """What the terminal is and which assistant it speaks with."""
        assistants = [
            SelectOptionDict(value=subentry_id, label=subentry.title)
            for subentry_id, subentry in self._get_entry().subentries.items()
            if subentry.subentry_type == SUBENTRY_ASSISTANT
        ]
        if not assistants:
            return self.async_abort(reason="no_assistant")
        if user_input is not None:
            self.options.update(user_input)
            return await self.async_step_kit()

        self.options.setdefault(CONF_ASSISTANT, assistants[0]["value"])
        # A terminal saved before the setting existed runs with the default: the form shows it.
        self.options.setdefault(CONF_NOISE_REDUCTION, DEFAULT_NOISE_REDUCTION)
        fields: dict[Any, Any] = {}
        if self.source == SOURCE_USER:
            fields[probatio.Required(CONF_NAME, default=DEFAULT_TERMINAL_NAME)] = str
        fields.update(
            {
                probatio.Required(CONF_ASSISTANT): SelectSelector(
                    SelectSelectorConfig(options=assistants, mode=SelectSelectorMode.DROPDOWN)
                ),
                probatio.Required(CONF_AUDIO_BACKEND): select(AUDIO_BACKENDS, CONF_AUDIO_BACKEND),
                probatio.Required(CONF_IDLE_TIMEOUT): NumberSelector(
                    NumberSelectorConfig(
                        min=MIN_IDLE_TIMEOUT,
                        max=MAX_IDLE_TIMEOUT,
                        step=1,
                        unit_of_measurement="s",
                        mode=NumberSelectorMode.BOX,
                    )
                ),
                probatio.Required(CONF_ECHO_CANCELLATION, default=True): BooleanSelector(),
                probatio.Required(CONF_HALF_DUPLEX): BooleanSelector(),
                probatio.Required(CONF_NOISE_REDUCTION, default=DEFAULT_NOISE_REDUCTION): select(
                    NOISE_REDUCTIONS, CONF_NOISE_REDUCTION
                ),
            }
        )
        return self.async_show_form(
            step_id="terminal",
            data_schema=self.add_suggested_values_to_schema(probatio.Schema(fields), self.options),
        )

    def _done(self) -> SubentryFlowResult:
        if self.source == SOURCE_USER:
            title = self.options.pop(CONF_NAME, None) or DEFAULT_TERMINAL_NAME
            return self.async_create_entry(title=title, data=self.options)
        return self.async_update_and_abort(
            self._get_entry(), self._get_reconfigure_subentry(), data=self.options
        )
