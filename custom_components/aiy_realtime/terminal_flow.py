"""Voice terminals of an entry: `voice_terminal` subentries, added and changed in three steps.

First what the terminal is (name, assistant, how it sounds out), then its AIY kit (kit_flow.py),
then where its sound is: that step lists the microphones and speakers it finds (the kit's board
suggests its own), and checks the choice before saving.
"""

from __future__ import annotations

from collections.abc import Iterable
import os
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
    TextSelector,
)

from .const import (
    AUDIO_BACKENDS,
    BACKEND_ALSA,
    BACKEND_PULSEAUDIO,
    CONF_ALSA_CAPTURE,
    CONF_ALSA_PLAYBACK,
    CONF_ASSISTANT,
    CONF_AUDIO_BACKEND,
    CONF_BOARD,
    CONF_ECHO_CANCELLATION,
    CONF_HALF_DUPLEX,
    CONF_IDLE_TIMEOUT,
    CONF_NOISE_REDUCTION,
    CONF_PULSE_SERVER,
    CONF_PULSE_SINK,
    CONF_PULSE_SOURCE,
    DEFAULT_IDLE_TIMEOUT,
    DEFAULT_NOISE_REDUCTION,
    DEFAULT_TERMINAL_NAME,
    NOISE_REDUCTIONS,
    SUBENTRY_ASSISTANT,
)
from .form import select
from .hardware.audio_devices import AudioUnavailable, Devices, check, list_devices
from .hardware.boards import BOARDS, AudioDefaults, BoardId
from .hardware.device_listings import AudioDevice
from .hardware.pins import RemotePins
from .kit_flow import KitSteps
from .terminal import TerminalSettings
from .terminal_kit import location_of


class TerminalSubentryFlow(KitSteps):
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
                        min=5,
                        max=600,
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

    async def async_step_pulseaudio(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """A PulseAudio server (this machine's, Home Assistant OS's, or a kit's over the
        network) and its source and sink."""
        if user_input is not None:
            self.options.update(
                {
                    key: user_input.get(key, "")
                    for key in (CONF_PULSE_SERVER, CONF_PULSE_SOURCE, CONF_PULSE_SINK)
                }
            )
            if (failure := await self._check()) is None:
                return self._done()
        else:
            failure = None
        server = self._kit_pulse_server() or os.environ.get("PULSE_SERVER", "")
        self.options.setdefault(CONF_PULSE_SERVER, server)
        devices, problem = await self._devices()
        if devices is not None and (audio := self._board_audio()) is not None:
            for key, listed in (
                (CONF_PULSE_SOURCE, devices.sources),
                (CONF_PULSE_SINK, devices.sinks),
            ):
                if not self.options.get(key):
                    found = next((d.name for d in listed if audio.matches(d)), None)
                    if found is not None:
                        self.options[key] = found
        fields = {
            probatio.Optional(CONF_PULSE_SERVER): TextSelector(),
            probatio.Optional(CONF_PULSE_SOURCE): _devices(devices.sources if devices else ()),
            probatio.Optional(CONF_PULSE_SINK): _devices(devices.sinks if devices else ()),
        }
        return self._form("pulseaudio", fields, failure, problem)

    async def async_step_alsa(self, user_input: dict[str, Any] | None = None) -> SubentryFlowResult:
        """ALSA capture and playback devices of this machine."""
        if user_input is not None:
            self.options.update(
                {
                    key: user_input.get(key) or "default"
                    for key in (CONF_ALSA_CAPTURE, CONF_ALSA_PLAYBACK)
                }
            )
            if (failure := await self._check()) is None:
                return self._done()
        else:
            failure = None
        if (audio := self._board_audio(local=True)) is not None:
            self.options.setdefault(CONF_ALSA_CAPTURE, audio.alsa_capture)
            self.options.setdefault(CONF_ALSA_PLAYBACK, audio.alsa_playback)
        devices, problem = await self._devices()
        fields = {
            probatio.Required(CONF_ALSA_CAPTURE, default="default"): _devices(
                devices.sources if devices else ()
            ),
            probatio.Required(CONF_ALSA_PLAYBACK, default="default"): _devices(
                devices.sinks if devices else ()
            ),
        }
        return self._form("alsa", fields, failure, problem)

    async def _after_kit(self) -> SubentryFlowResult:
        if self.options[CONF_AUDIO_BACKEND] == BACKEND_ALSA:
            return await self.async_step_alsa()
        return await self.async_step_pulseaudio()

    def _board_audio(self, *, local: bool = False) -> AudioDefaults | None:
        """The sound card of the kit's board (`local`: only when the kit is this machine's)."""
        board = BOARDS.get(BoardId(self.options.get(CONF_BOARD, BoardId.NONE)))
        if board is None or (local and isinstance(location_of(self.options), RemotePins)):
            return None
        return board.audio

    async def _devices(self) -> tuple[Devices | None, str | None]:
        """What the chosen backend offers, or why it cannot tell."""
        try:
            return await list_devices(TerminalSettings.backend_of(self.options)), None
        except AudioUnavailable as err:
            return None, str(err)

    async def _check(self) -> AudioUnavailable | None:
        """None when the chosen devices work; why they do not otherwise."""
        try:
            await check(TerminalSettings.backend_of(self.options))
        except AudioUnavailable as err:
            return err
        return None

    def _form(
        self,
        step_id: str,
        fields: dict[Any, Any],
        failure: AudioUnavailable | None,
        problem: str | None,
    ) -> SubentryFlowResult:
        """A backend's form: what the check of the devices found wins over why they could
        not be listed."""
        return self.async_show_form(
            step_id=step_id,
            data_schema=self.add_suggested_values_to_schema(probatio.Schema(fields), self.options),
            errors={"base": f"audio_{failure.reason}"} if failure else {},
            description_placeholders={"problem": str(failure) if failure else problem or ""},
        )

    def _done(self) -> SubentryFlowResult:
        if self.source == SOURCE_USER:
            title = self.options.pop(CONF_NAME, None) or DEFAULT_TERMINAL_NAME
            return self.async_create_entry(title=title, data=self.options)
        return self.async_update_and_abort(
            self._get_entry(), self._get_reconfigure_subentry(), data=self.options
        )


def _devices(found: Iterable[AudioDevice]) -> SelectSelector:
    """A dropdown of what was found, which also takes a name typed in."""
    return SelectSelector(
        SelectSelectorConfig(
            options=[
                SelectOptionDict(value=device.name, label=device.description) for device in found
            ],
            custom_value=True,
            mode=SelectSelectorMode.DROPDOWN,
        )
    )
