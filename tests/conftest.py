"""Shared fixtures: load this repository's integration, and serve the local Realtime peer."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from pathlib import Path

import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from homeassistant.config_entries import ConfigSubentryData
from homeassistant.const import CONF_API_KEY
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component

from tests.peer import LocalRealtimePeer
from tests.peer.http import VALID_KEY

REPO_COMPONENTS = str(Path(__file__).resolve().parent.parent / "custom_components")


def _put_this_integration_first() -> None:
    """The harness imports its own `custom_components` package, which would shadow ours."""
    import custom_components

    if REPO_COMPONENTS not in custom_components.__path__:
        custom_components.__path__.insert(0, REPO_COMPONENTS)


_put_this_integration_first()


@pytest.fixture(autouse=True)
async def load_this_integration(hass: HomeAssistant, enable_custom_integrations: None) -> None:
    """Make HA find *this* repository's integration in every test, with core set up.

    `conversation` (our dependency) needs the `homeassistant` integration's exposed entities.
    """
    _put_this_integration_first()
    assert await async_setup_component(hass, "homeassistant", {})


@pytest.fixture
async def peer(socket_enabled: None) -> AsyncGenerator[LocalRealtimePeer]:
    """The local peer on a free loopback port."""
    server = LocalRealtimePeer()
    await server.start()
    yield server
    await server.close()


@pytest.fixture
def openai_at_peer(peer: LocalRealtimePeer, monkeypatch: pytest.MonkeyPatch) -> LocalRealtimePeer:
    """Send the default OpenAI endpoint to the peer, the way the SDK allows (OPENAI_BASE_URL)."""
    monkeypatch.setenv("OPENAI_BASE_URL", peer.base_url)
    return peer


@pytest.fixture
def mock_config_entry(hass: HomeAssistant) -> MockConfigEntry:
    """An entry for the default endpoint with the recommended agent, added but not set up."""
    from custom_components.aiy_realtime.config_flow import RECOMMENDED_CONVERSATION_OPTIONS
    from custom_components.aiy_realtime.const import CONF_ENDPOINT, DOMAIN

    entry = MockConfigEntry(
        domain=DOMAIN,
        title="AIY Realtime",
        data={CONF_API_KEY: VALID_KEY, CONF_ENDPOINT: "openai"},
        subentries_data=[
            ConfigSubentryData(
                data=RECOMMENDED_CONVERSATION_OPTIONS,
                subentry_type="conversation",
                title="AIY Realtime assistant",
                unique_id=None,
            )
        ],
    )
    entry.add_to_hass(hass)
    return entry
