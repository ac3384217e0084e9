"""The sound steps of a voice terminal's form, after its kit.

PulseAudio: first the server (empty: Home Assistant's default, as libpulse's own configuration
names it), connected to on submit; then that server's microphones and speakers, listed from it.
ALSA: this machine's devices, each opened briefly on submit.

Nothing is checked before the user submits: a step opens with what there is, and a problem is
one translated sentence on the field it is about (or the form, when it is about no one field).
"""

from __future__ import annotations

from collections.abc import Iterable
import os
from typing import Any

import probatio

from homeassistant.config_entries import SubentryFlowResult
from homeassistant.helpers.selector import (
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
)

from ..const import (
    BACKEND_ALSA,
    CONF_ALSA_CAPTURE,
    CONF_ALSA_PLAYBACK,
    CONF_AUDIO_BACKEND,
    CONF_BOARD,
    CONF_PULSE_SERVER,
    CONF_PULSE_SINK,
    CONF_PULSE_SOURCE,
)
from ..hardware.audio_devices import (
    AlsaBackend,
    AudioUnavailable,
    Devices,
    PulseListing,
    alsa_problems,
    list_devices,
    pulse_listing,
)
from ..hardware.boards import BOARDS, AudioDefaults, BoardId
from ..hardware.device_listings import AudioDevice
from ..hardware.pins import RemotePins
from ..terminal.kit import location_of
from .kit import KitSteps

ALSA_FIELD_ERRORS = {
    "device_missing": "audio_device_missing",
    "device_busy": "audio_device_busy",
    "server_unreachable": "audio_device_server_unreachable",
    "failed": "audio_failed",
}
"""A device that does not open, said on its own field."""


class SoundSteps(KitSteps):
    """The PulseAudio and ALSA steps; the flow that uses them says how a terminal is saved."""

    options: dict[str, Any]
    _listing: PulseListing | None = None

    def _done(self) -> SubentryFlowResult:
        """Save the terminal."""
        raise NotImplementedError

    async def _after_kit(self) -> SubentryFlowResult:
        if self.options[CONF_AUDIO_BACKEND] == BACKEND_ALSA:
            return await self.async_step_alsa()
        return await self.async_step_pulseaudio()

    # -- PulseAudio ------------------------------------------------------------------------

    async def async_step_pulseaudio(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Which PulseAudio server: Home Assistant's default, this machine's, or a kit's."""
        errors: dict[str, str] = {}
        detail = ""
        if user_input is not None:
            server = str(user_input.get(CONF_PULSE_SERVER) or "").strip()
            self.options[CONF_PULSE_SERVER] = server
            try:
                self._listing = await pulse_listing(server or None)
            except AudioUnavailable as err:
                key = _server_error(err, server)
                # A typed address that does not answer is that field's problem.
                field = CONF_PULSE_SERVER if key == "audio_server_unreachable" else "base"
                errors = {field: key}
                detail = err.detail if key == "audio_failed" else ""
            else:
                return await self.async_step_pulseaudio_devices()
        self.options.setdefault(CONF_PULSE_SERVER, self._kit_pulse_server() or "")
        server = self.options[CONF_PULSE_SERVER]
        return self.async_show_form(
            step_id="pulseaudio",
            data_schema=self.add_suggested_values_to_schema(
                probatio.Schema(
                    {probatio.Optional(CONF_PULSE_SERVER): _choices(self._known_servers())}
                ),
                self.options,
            ),
            errors=errors or None,
            description_placeholders={"server": server, "detail": detail},
        )

    async def async_step_pulseaudio_devices(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """The chosen server's source and sink, from what it has."""
        assert self._listing is not None  # the server step listed it
        server = self.options[CONF_PULSE_SERVER]
        errors: dict[str, str] = {}
        detail = ""
        if user_input is not None:
            for key in (CONF_PULSE_SOURCE, CONF_PULSE_SINK):
                self.options[key] = str(user_input.get(key) or "").strip()
            try:  # what it has now: a device may have come or gone since the list was shown
                self._listing = await pulse_listing(server or None)
            except AudioUnavailable as err:
                errors = {"base": _server_error(err, server)}
                detail = err.detail if errors["base"] == "audio_failed" else ""
            else:
                errors = _missing(self.options, self._listing.devices)
                if not errors:
                    return self._done()
        else:
            self._choose_devices(self._listing.devices)
        devices = self._listing.devices
        return self.async_show_form(
            step_id="pulseaudio_devices",
            data_schema=self.add_suggested_values_to_schema(
                probatio.Schema(
                    {
                        probatio.Optional(CONF_PULSE_SOURCE): _devices(devices.sources),
                        probatio.Optional(CONF_PULSE_SINK): _devices(devices.sinks),
                    }
                ),
                self.options,
            ),
            errors=errors or None,
            description_placeholders={
                "server": self._listing.address or server,
                "detail": detail,
            },
        )

    def _known_servers(self) -> list[str]:
        """Servers to offer: the kit's, the one Home Assistant runs with (`PULSE_SERVER`: Home
        Assistant OS's, or scripts/develop's demo server) and the terminal's own."""
        found = (
            self._kit_pulse_server(),
            os.environ.get("PULSE_SERVER"),
            self.options.get(CONF_PULSE_SERVER),
        )
        return list(dict.fromkeys(server for server in found if server))

    def _choose_devices(self, devices: Devices) -> None:
        """Start from what the terminal has where the server has it; else the kit's card,
        else the server's default."""
        audio = self._board_audio()
        for key, listed, default in (
            (CONF_PULSE_SOURCE, devices.sources, devices.default_source),
            (CONF_PULSE_SINK, devices.sinks, devices.default_sink),
        ):
            current = self.options.get(key)
            if current == "" or any(device.name == current for device in listed):
                continue  # "": the server's default, whichever it is
            card = next((d.name for d in listed if audio and audio.matches(d)), None)
            self.options[key] = card or default or ""

    # -- ALSA ------------------------------------------------------------------------------

    async def async_step_alsa(self, user_input: dict[str, Any] | None = None) -> SubentryFlowResult:
        """ALSA capture and playback devices of this machine."""
        try:
            devices = await list_devices(AlsaBackend())
        except AudioUnavailable as err:
            if err.reason == "library_missing":
                return self.async_abort(reason="alsa_library_missing")
            devices = Devices((), ())  # not listed in time: names can still be typed
        if devices.sound_cards == 0 and not devices.sources and not devices.sinks:
            return self.async_abort(reason="alsa_no_device")
        # No card and no `default`: the step says so as it opens (a form of its own words).
        no_card = devices.sound_cards == 0 and not (devices.default_source or devices.default_sink)
        errors: dict[str, str] = {}
        detail = ""
        if user_input is not None:
            for key in (CONF_ALSA_CAPTURE, CONF_ALSA_PLAYBACK):
                self.options[key] = str(user_input.get(key) or "").strip()
            backend = AlsaBackend(self.options[CONF_ALSA_CAPTURE], self.options[CONF_ALSA_PLAYBACK])
            problems = dict(
                zip(
                    (CONF_ALSA_CAPTURE, CONF_ALSA_PLAYBACK),
                    await alsa_problems(backend),
                    strict=True,
                )
            )
            failed = {key: err for key, err in problems.items() if err is not None}
            if any(err.reason == "library_missing" for err in failed.values()):
                errors = {"base": "audio_library_missing"}
            else:
                errors = {key: ALSA_FIELD_ERRORS[err.reason] for key, err in failed.items()}
                detail = "; ".join(err.detail for err in failed.values() if err.reason == "failed")
            if not errors:
                return self._done()
        else:
            self._choose_alsa(devices)
        return self.async_show_form(
            step_id="alsa_no_card" if no_card else "alsa",
            data_schema=self.add_suggested_values_to_schema(
                probatio.Schema(
                    {
                        probatio.Required(CONF_ALSA_CAPTURE): _devices(devices.sources),
                        probatio.Required(CONF_ALSA_PLAYBACK): _devices(devices.sinks),
                    }
                ),
                self.options,
            ),
            errors=errors or None,
            description_placeholders={"detail": detail},
        )

    async def async_step_alsa_no_card(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """The ALSA step where ALSA finds no sound card (its description says so)."""
        return await self.async_step_alsa(user_input)

    def _choose_alsa(self, devices: Devices) -> None:
        """Start from what the terminal has, else the kit's card (when it is this machine's),
        else ALSA's `default` where there is one."""
        audio = self._board_audio(local=True)
        for key, card, default in (
            (CONF_ALSA_CAPTURE, audio and audio.alsa_capture, devices.default_source),
            (CONF_ALSA_PLAYBACK, audio and audio.alsa_playback, devices.default_sink),
        ):
            if not self.options.get(key) and (chosen := card or default):
                self.options[key] = chosen

    def _board_audio(self, *, local: bool = False) -> AudioDefaults | None:
        """The sound card of the kit's board (`local`: only when the kit is this machine's)."""
        board = BOARDS.get(BoardId(self.options.get(CONF_BOARD, BoardId.NONE)))
        if board is None or (local and isinstance(location_of(self.options), RemotePins)):
            return None
        return board.audio


def _server_error(err: AudioUnavailable, server: str) -> str:
    """The error key for a server that could not be listed."""
    if err.reason == "server_unreachable":
        return "audio_server_unreachable" if server else "audio_default_server_unreachable"
    if err.reason == "library_missing":
        return "audio_library_missing"
    return "audio_failed"


def _missing(options: dict[str, Any], devices: Devices) -> dict[str, str]:
    """An error on each device field that names a device the server does not have."""
    return {
        key: "audio_device_missing"
        for key, listed in ((CONF_PULSE_SOURCE, devices.sources), (CONF_PULSE_SINK, devices.sinks))
        if options.get(key) and not any(device.name == options[key] for device in listed)
    }


def _choices(values: Iterable[str]) -> SelectSelector:
    """A dropdown of `values` that also takes anything typed in."""
    return SelectSelector(
        SelectSelectorConfig(
            options=[SelectOptionDict(value=value, label=value) for value in values],
            custom_value=True,
            mode=SelectSelectorMode.DROPDOWN,
        )
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
