"""The agent's device names who runs the model: the endpoint's operator, not always OpenAI."""

from __future__ import annotations

from pytest_homeassistant_custom_component.common import MockConfigEntry

from homeassistant.const import CONF_API_KEY
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr

from custom_components.aiy_realtime.const import CONF_ENDPOINT, CONF_ENDPOINT_URL, DOMAIN
from custom_components.aiy_realtime.flows.assistant import recommended_agent
from tests.peer import LocalRealtimePeer
from tests.peer.http import VALID_KEY


async def agent_device(
    hass: HomeAssistant, entry: MockConfigEntry
) -> tuple[str | None, str | None]:
    """Set the entry up and return its agent's device (manufacturer, model); unload again."""
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    (subentry_id,) = entry.subentries
    device = dr.async_get(hass).async_get_device_by_identifier(
        (DOMAIN, subentry_id), entry.entry_id
    )
    assert device is not None
    assert await hass.config_entries.async_unload(entry.entry_id)
    return device.manufacturer, device.model


def entry_at(hass: HomeAssistant, endpoint: str, url: str) -> MockConfigEntry:
    entry = MockConfigEntry(
        domain=DOMAIN,
        data={CONF_API_KEY: VALID_KEY, CONF_ENDPOINT: endpoint, CONF_ENDPOINT_URL: url},
        subentries_data=[recommended_agent()],
    )
    entry.add_to_hass(hass)
    return entry


async def test_openai_runs_the_model(
    hass: HomeAssistant, openai_at_peer: LocalRealtimePeer, mock_config_entry: MockConfigEntry
) -> None:
    assert await agent_device(hass, mock_config_entry) == ("OpenAI", "gpt-realtime-2.1")


async def test_azure_runs_the_model_for_microsoft(
    hass: HomeAssistant, peer: LocalRealtimePeer
) -> None:
    entry = entry_at(hass, "azure", peer.url)
    assert await agent_device(hass, entry) == ("Microsoft", "gpt-realtime-2.1")


async def test_a_custom_server_is_named_by_its_host(
    hass: HomeAssistant, peer: LocalRealtimePeer
) -> None:
    # The offline demo's server is no OpenAI: "gpt-realtime by OpenAI" would be untrue.
    entry = entry_at(hass, "custom", peer.base_url)
    assert await agent_device(hass, entry) == ("127.0.0.1", "gpt-realtime-2.1")
