"""The config flow through HA's real config-entries machinery, against the local peer."""

from __future__ import annotations

import logging

import pytest

from homeassistant import config_entries
from homeassistant.const import CONF_API_KEY, CONF_LLM_HASS_API
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import llm

from custom_components.aiy_realtime.const import (
    CONF_ADVANCED,
    CONF_ENDPOINT,
    CONF_ENDPOINT_URL,
    CONF_MODEL,
    DEFAULT_MODEL,
    DOMAIN,
)
from tests.peer import HttpFault, LocalRealtimePeer
from tests.peer.http import VALID_KEY

pytestmark = pytest.mark.usefixtures("openai_at_peer")


async def _start(hass: HomeAssistant) -> str:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": config_entries.SOURCE_USER}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    assert result["errors"] == {}
    return result["flow_id"]


async def test_user_creates_entry_with_default_agent(
    hass: HomeAssistant, peer: LocalRealtimePeer
) -> None:
    flow_id = await _start(hass)
    result = await hass.config_entries.flow.async_configure(flow_id, {CONF_API_KEY: VALID_KEY})
    await hass.async_block_till_done()

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"] == {CONF_API_KEY: VALID_KEY, CONF_ENDPOINT: "openai"}
    entry = result["result"]
    (agent,) = entry.subentries.values()
    assert agent.subentry_type == "conversation"
    assert agent.data[CONF_MODEL] == DEFAULT_MODEL == "gpt-realtime-2.1"
    assert agent.data[CONF_LLM_HASS_API] == [llm.LLM_API_ASSIST]
    # Checked once by the flow, once more by setup (test-before-setup).
    assert peer.requests["models"] == 2
    assert entry.state is config_entries.ConfigEntryState.LOADED


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (HttpFault(401, "invalid_api_key"), "invalid_auth"),
        (HttpFault(403, "forbidden"), "invalid_auth"),
        (HttpFault(404, "not_found"), "endpoint_not_found"),
        (HttpFault(503, "overloaded"), "cannot_connect"),
        pytest.param(
            HttpFault(418, "teapot"),
            "unknown",
            marks=pytest.mark.allow_logged_errors("Unexpected error while checking the API key"),
        ),
    ],
)
async def test_user_errors_then_recovers(
    hass: HomeAssistant,
    peer: LocalRealtimePeer,
    caplog: pytest.LogCaptureFixture,
    fault: HttpFault,
    error: str,
) -> None:
    caplog.set_level(logging.DEBUG, logger="custom_components.aiy_realtime")
    peer.faults.add("models", fault)
    flow_id = await _start(hass)
    result = await hass.config_entries.flow.async_configure(flow_id, {CONF_API_KEY: VALID_KEY})
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": error}
    # With debug logging on, the log says why the key check failed (and never the key).
    logged = [r.getMessage() for r in caplog.records if r.name.startswith("custom_components")]
    assert any(str(fault.status) in text for text in logged), logged
    assert not any(VALID_KEY in text for text in logged)

    # The same form, fixed input: nothing was lost, the entry is created.
    result = await hass.config_entries.flow.async_configure(flow_id, {CONF_API_KEY: VALID_KEY})
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_wrong_key_is_invalid_auth(hass: HomeAssistant, peer: LocalRealtimePeer) -> None:
    flow_id = await _start(hass)
    result = await hass.config_entries.flow.async_configure(flow_id, {CONF_API_KEY: "sk-wrong"})
    assert result["errors"] == {"base": "invalid_auth"}
    assert peer.requests["models"] == 1


async def test_unreachable_is_cannot_connect(
    hass: HomeAssistant, peer: LocalRealtimePeer, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = peer.port
    await peer.close()
    monkeypatch.setenv("OPENAI_BASE_URL", f"http://127.0.0.1:{port}/v1")
    flow_id = await _start(hass)
    result = await hass.config_entries.flow.async_configure(flow_id, {CONF_API_KEY: VALID_KEY})
    assert result["errors"] == {"base": "cannot_connect"}


@pytest.mark.allow_logged_errors("Unexpected error while checking the API key")
async def test_unexpected_error_is_unknown_and_logged(
    hass: HomeAssistant, peer: LocalRealtimePeer, caplog: pytest.LogCaptureFixture
) -> None:
    peer.faults.add("models", HttpFault(418, "teapot", "I am a teapot"))
    flow_id = await _start(hass)
    result = await hass.config_entries.flow.async_configure(flow_id, {CONF_API_KEY: VALID_KEY})
    assert result["errors"] == {"base": "unknown"}
    assert "Unexpected error while checking the API key" in caplog.text


async def test_azure_endpoint(hass: HomeAssistant, peer: LocalRealtimePeer) -> None:
    flow_id = await _start(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id,
        {
            CONF_API_KEY: VALID_KEY,
            CONF_ADVANCED: {CONF_ENDPOINT: "azure", CONF_ENDPOINT_URL: f"{peer.url}/"},
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"] == {
        CONF_API_KEY: VALID_KEY,
        CONF_ENDPOINT: "azure",
        CONF_ENDPOINT_URL: f"{peer.url}/",
    }
    # Azure authenticates with the api-key header, at /openai/v1.
    assert peer.last_headers["models"]["api-key"] == VALID_KEY


async def test_custom_endpoint(hass: HomeAssistant, peer: LocalRealtimePeer) -> None:
    flow_id = await _start(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id,
        {
            CONF_API_KEY: VALID_KEY,
            CONF_ADVANCED: {CONF_ENDPOINT: "custom", CONF_ENDPOINT_URL: peer.base_url},
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_ENDPOINT_URL] == peer.base_url


@pytest.mark.parametrize("url", ["", "ftp://example.org", "not a url", "http://"])
async def test_custom_endpoint_needs_a_url(
    hass: HomeAssistant, peer: LocalRealtimePeer, url: str
) -> None:
    flow_id = await _start(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id,
        {CONF_API_KEY: VALID_KEY, CONF_ADVANCED: {CONF_ENDPOINT: "custom", CONF_ENDPOINT_URL: url}},
    )
    assert result["errors"] == {"base": "invalid_url"}
    assert peer.requests["models"] == 0


async def test_same_key_and_endpoint_once(hass: HomeAssistant, peer: LocalRealtimePeer) -> None:
    flow_id = await _start(hass)
    await hass.config_entries.flow.async_configure(flow_id, {CONF_API_KEY: VALID_KEY})
    await hass.async_block_till_done()

    flow_id = await _start(hass)
    result = await hass.config_entries.flow.async_configure(flow_id, {CONF_API_KEY: VALID_KEY})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"

    # The same key at another endpoint is another entry.
    flow_id = await _start(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id,
        {
            CONF_API_KEY: VALID_KEY,
            CONF_ADVANCED: {CONF_ENDPOINT: "custom", CONF_ENDPOINT_URL: peer.base_url},
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert len(hass.config_entries.async_entries(DOMAIN)) == 2
