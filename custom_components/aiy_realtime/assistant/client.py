"""The OpenAI SDK client on Home Assistant's shared HTTP client, and the API key check."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from openai import AsyncOpenAI

from homeassistant.const import CONF_API_KEY
from homeassistant.core import HomeAssistant
from homeassistant.helpers.httpx_client import get_async_client

from ..const import CONF_ENDPOINT, CONF_ENDPOINT_URL, KEY_CHECK_TIMEOUT
from ..realtime.endpoint import Endpoint, EndpointKind


def endpoint_from_data(data: Mapping[str, Any]) -> Endpoint:
    """The endpoint stored in a config entry's data."""
    return Endpoint.create(
        data.get(CONF_ENDPOINT, EndpointKind.OPENAI),
        data[CONF_API_KEY],
        data.get(CONF_ENDPOINT_URL),
    )


async def async_create_client(hass: HomeAssistant, endpoint: Endpoint) -> AsyncOpenAI:
    """Create an SDK client that shares Home Assistant's connection pool."""
    # The SDK accepts the httpx client HA shares, though its types name its own fork.
    client = endpoint.client(http_client=cast(Any, get_async_client(hass)))
    # platform_headers reads /etc files once and caches them: keep that off the event loop.
    await hass.async_add_executor_job(client.platform_headers)
    return client


async def async_check_key(client: AsyncOpenAI) -> None:
    """Raise the SDK's error if the key is not accepted by the endpoint."""
    await client.models.list(timeout=KEY_CHECK_TIMEOUT)
