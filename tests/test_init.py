"""Entry setup (the key checked once), unload, reauth and reconfigure, through HA's machinery."""

from __future__ import annotations

import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from homeassistant.config_entries import SOURCE_REAUTH, ConfigEntryState
from homeassistant.const import CONF_API_KEY
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType

from custom_components.aiy_realtime.const import CONF_ADVANCED, CONF_ENDPOINT, CONF_ENDPOINT_URL
from tests.peer import HttpFault, LocalRealtimePeer
from tests.peer.http import VALID_KEY

pytestmark = pytest.mark.usefixtures("openai_at_peer")


async def test_setup_and_unload(
    hass: HomeAssistant, peer: LocalRealtimePeer, mock_config_entry: MockConfigEntry
) -> None:
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    assert mock_config_entry.state is ConfigEntryState.LOADED
    assert peer.requests["models"] == 1
    assert mock_config_entry.runtime_data.endpoint.api_key == VALID_KEY

    assert await hass.config_entries.async_unload(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    assert mock_config_entry.state is ConfigEntryState.NOT_LOADED


@pytest.mark.parametrize("status", [401, 403])
async def test_refused_key_starts_reauth(
    hass: HomeAssistant, peer: LocalRealtimePeer, mock_config_entry: MockConfigEntry, status: int
) -> None:
    """The flow and the agent take 403 for a refused key; setup must agree, not retry forever."""
    peer.faults.add("models", HttpFault(status, "invalid_api_key"))
    await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    assert mock_config_entry.state is ConfigEntryState.SETUP_ERROR

    (flow,) = hass.config_entries.flow.async_progress()
    assert flow["context"]["source"] == SOURCE_REAUTH
    assert flow["step_id"] == "reauth_confirm"

    # A wrong key is refused in the form, a good one fixes the entry and reloads it.
    result = await hass.config_entries.flow.async_configure(
        flow["flow_id"], {CONF_API_KEY: "sk-still-wrong"}
    )
    assert result["errors"] == {"base": "invalid_auth"}
    peer.api_key = "sk-new-key"
    result = await hass.config_entries.flow.async_configure(
        flow["flow_id"], {CONF_API_KEY: "sk-new-key"}
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    assert mock_config_entry.data == {CONF_API_KEY: "sk-new-key", CONF_ENDPOINT: "openai"}
    assert mock_config_entry.state is ConfigEntryState.LOADED


@pytest.mark.parametrize("status", [429, 500, 503])
async def test_temporary_failures_retry(
    hass: HomeAssistant,
    peer: LocalRealtimePeer,
    mock_config_entry: MockConfigEntry,
    status: int,
) -> None:
    peer.faults.add("models", HttpFault(status))
    await hass.config_entries.async_setup(mock_config_entry.entry_id)
    assert mock_config_entry.state is ConfigEntryState.SETUP_RETRY
    assert f"HTTP {status}" in (mock_config_entry.reason or "")
    assert not hass.config_entries.flow.async_progress()


async def test_unreachable_retries(
    hass: HomeAssistant, peer: LocalRealtimePeer, mock_config_entry: MockConfigEntry
) -> None:
    await peer.close()
    await hass.config_entries.async_setup(mock_config_entry.entry_id)
    assert mock_config_entry.state is ConfigEntryState.SETUP_RETRY
    assert (mock_config_entry.reason or "").startswith("Could not reach the Realtime API endpoint")


async def test_reconfigure_moves_to_another_endpoint(
    hass: HomeAssistant, peer: LocalRealtimePeer, mock_config_entry: MockConfigEntry
) -> None:
    await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    result = await mock_config_entry.start_reconfigure_flow(hass)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reconfigure"

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {
            CONF_API_KEY: VALID_KEY,
            CONF_ADVANCED: {CONF_ENDPOINT: "custom", CONF_ENDPOINT_URL: "nope"},
        },
    )
    assert result["errors"] == {"base": "invalid_url"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {
            CONF_API_KEY: VALID_KEY,
            CONF_ADVANCED: {CONF_ENDPOINT: "custom", CONF_ENDPOINT_URL: peer.base_url},
        },
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert mock_config_entry.data[CONF_ENDPOINT_URL] == peer.base_url
    assert mock_config_entry.state is ConfigEntryState.LOADED
    assert mock_config_entry.runtime_data.endpoint.base_url == peer.base_url
    # Subentries (the agents) survive a reconfigure.
    assert len(mock_config_entry.subentries) == 1


async def test_reconfigure_cannot_duplicate_another_entry(
    hass: HomeAssistant, peer: LocalRealtimePeer, mock_config_entry: MockConfigEntry
) -> None:
    other = MockConfigEntry(
        domain=mock_config_entry.domain,
        data={CONF_API_KEY: VALID_KEY, CONF_ENDPOINT: "custom", CONF_ENDPOINT_URL: peer.base_url},
    )
    other.add_to_hass(hass)
    result = await mock_config_entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {
            CONF_API_KEY: VALID_KEY,
            CONF_ADVANCED: {CONF_ENDPOINT: "custom", CONF_ENDPOINT_URL: peer.base_url},
        },
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert mock_config_entry.data[CONF_ENDPOINT] == "openai"
