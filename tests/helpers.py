"""Entries with agents of a test's choosing, set up against the local peer."""

from __future__ import annotations

from typing import Any

from pytest_homeassistant_custom_component.common import MockConfigEntry

from homeassistant.components import conversation
from homeassistant.config_entries import ConfigSubentryData, ConfigSubentryDataWithId
from homeassistant.const import CONF_API_KEY
from homeassistant.core import HomeAssistant

from custom_components.aiy_realtime.const import (
    BACKEND_PULSEAUDIO,
    CONF_ASSISTANT,
    CONF_AUDIO_BACKEND,
    CONF_ECHO_CANCELLATION,
    CONF_ENDPOINT,
    CONF_HALF_DUPLEX,
    CONF_IDLE_TIMEOUT,
    CONF_PULSE_SERVER,
    CONF_PULSE_SINK,
    CONF_PULSE_SOURCE,
    DEFAULT_CONVERSATION_NAME,
    DOMAIN,
    SUBENTRY_TERMINAL,
)
from custom_components.aiy_realtime.flows.assistant import RECOMMENDED_CONVERSATION_OPTIONS
from tests.peer.http import VALID_KEY

ASSISTANT_ID = "assistant0000000000000000001"
TERMINAL_ID = "terminal00000000000000000001"


HA_REFUSES_CONCURRENT_TURNS = hasattr(conversation, "ConversationBusyError")
"""From 2026.11, Home Assistant refuses a message in a conversation while another is answered
(before, our agent answered them in turn)."""


def agent(title: str = DEFAULT_CONVERSATION_NAME, **options: Any) -> ConfigSubentryData:
    """The recommended agent with `options` laid over it (None removes an option)."""
    data = {**RECOMMENDED_CONVERSATION_OPTIONS, **options}
    return ConfigSubentryData(
        data={key: value for key, value in data.items() if value is not None},
        subentry_type="conversation",
        title=title,
        unique_id=None,
    )


def assistant(**options: Any) -> ConfigSubentryDataWithId:
    """The recommended agent under a known id, for a terminal to speak with."""
    return ConfigSubentryDataWithId(**agent(**options), subentry_id=ASSISTANT_ID)


def terminal(
    server: str, *, title: str = "Kitchen terminal", **options: Any
) -> ConfigSubentryDataWithId:
    """A voice terminal on the test's PulseAudio server (kit_mic's monitor, kit_speaker),
    speaking with `assistant()`."""
    data = {
        CONF_ASSISTANT: ASSISTANT_ID,
        CONF_AUDIO_BACKEND: BACKEND_PULSEAUDIO,
        CONF_PULSE_SERVER: server,
        CONF_PULSE_SOURCE: "kit_mic.monitor",
        CONF_PULSE_SINK: "kit_speaker",
        CONF_IDLE_TIMEOUT: 60,
        CONF_HALF_DUPLEX: False,
        # The suite's own echo-path tests turn it on: elsewhere the test's speech must reach
        # the model as it was played, not through a canceller's processing.
        CONF_ECHO_CANCELLATION: False,
        **options,
    }
    return ConfigSubentryDataWithId(
        data=data,
        subentry_type=SUBENTRY_TERMINAL,
        title=title,
        unique_id=None,
        subentry_id=TERMINAL_ID,
    )


async def async_set_up_entry(
    hass: HomeAssistant, *agents: ConfigSubentryData, options: dict[str, Any] | None = None
) -> MockConfigEntry:
    """An entry for the default endpoint (the peer, with `openai_at_peer`), set up."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        data={CONF_API_KEY: VALID_KEY, CONF_ENDPOINT: "openai"},
        options=options or {},
        subentries_data=list(agents) or [agent()],
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry
