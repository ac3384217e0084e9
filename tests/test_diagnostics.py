"""Diagnostics show the setup and never the key."""

from __future__ import annotations

from importlib import metadata
import json
import threading

import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from homeassistant.core import HomeAssistant
from homeassistant.helpers import llm
from homeassistant.setup import async_setup_component

from tests.peer.http import VALID_KEY
from tests.test_conversation import converse

LIBRARIES = ("homeassistant", "openai", "aiortc", "aioice", "av", "pydantic")


async def test_diagnostics_redact_the_key(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    agent_entry: MockConfigEntry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    mock_config_entry = agent_entry
    assert await async_setup_component(hass, "diagnostics", {})
    await converse(hass, agent_entry, "Hello")
    read_on: set[int] = set()
    read_version = metadata.version

    def version(name: str) -> str:
        read_on.add(threading.get_ident())
        return read_version(name)

    monkeypatch.setattr(metadata, "version", version)

    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, mock_config_entry)

    assert VALID_KEY not in json.dumps(diagnostics)
    assert diagnostics["entry"]["data"]["api_key"] == "**REDACTED**"
    assert diagnostics["endpoint"] == {"kind": "openai", "base_url": None}
    (agent,) = diagnostics["subentries"].values()
    assert agent["data"]["model"] == "gpt-realtime-2.1"
    # The prompt may name the household: redacted like the key.
    assert agent["data"]["prompt"] == "**REDACTED**"
    assert llm.DEFAULT_INSTRUCTIONS_PROMPT not in json.dumps(diagnostics)
    assert agent["usage"]["input_text_tokens"] == 40
    (session,) = diagnostics["sessions"]["open"]
    assert session["state"] == "ready"
    assert session["told_entries"] == 2  # the user's message and the reply

    libraries = diagnostics["libraries"]
    assert {name: libraries[name] for name in LIBRARIES} == {
        name: read_version(name) for name in LIBRARIES
    }
    # Package metadata is read from disk: in the executor, not on the event loop.
    assert read_on
    assert hass.loop_thread_id not in read_on
