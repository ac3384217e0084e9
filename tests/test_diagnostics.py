"""Diagnostics show the setup and never the key."""

from __future__ import annotations

import json

from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component

from tests.peer.http import VALID_KEY
from tests.test_conversation import converse


async def test_diagnostics_redact_the_key(
    hass: HomeAssistant, hass_client: ClientSessionGenerator, agent_entry: MockConfigEntry
) -> None:
    mock_config_entry = agent_entry
    assert await async_setup_component(hass, "diagnostics", {})
    await converse(hass, agent_entry, "Hello")

    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, mock_config_entry)

    assert VALID_KEY not in json.dumps(diagnostics)
    assert diagnostics["entry"]["data"]["api_key"] == "**REDACTED**"
    assert diagnostics["endpoint"] == {"kind": "openai", "base_url": None}
    (agent,) = diagnostics["subentries"].values()
    assert agent["data"]["model"] == "gpt-realtime"
    assert agent["usage"]["input_text_tokens"] == 40
    (session,) = diagnostics["sessions"]["open"]
    assert session["state"] == "ready"
    assert session["told_entries"] == 2  # the user's message and the reply
