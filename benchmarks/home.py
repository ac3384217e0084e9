"""A real Home Assistant core for a benchmark, with one AIY Realtime entry set up against the
peer (OPENAI_BASE_URL) and unloaded again at the end."""

from __future__ import annotations

from collections.abc import AsyncIterator
import contextlib
import tempfile

from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_test_home_assistant,
)

from homeassistant import loader
from homeassistant.config_entries import ConfigSubentryData
from homeassistant.const import CONF_API_KEY
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component

from custom_components.aiy_realtime.const import CONF_ENDPOINT, DOMAIN
from tests.peer.http import VALID_KEY


@contextlib.asynccontextmanager
async def home_assistant(
    *subentries: ConfigSubentryData,
) -> AsyncIterator[tuple[HomeAssistant, MockConfigEntry]]:
    with tempfile.TemporaryDirectory() as config_dir:
        async with async_test_home_assistant(config_dir=config_dir) as hass:
            # This repository's integration, not one the harness may have found elsewhere.
            hass.data.pop(loader.DATA_CUSTOM_COMPONENTS)
            assert await async_setup_component(hass, "homeassistant", {})
            entry = MockConfigEntry(
                domain=DOMAIN,
                data={CONF_API_KEY: VALID_KEY, CONF_ENDPOINT: "openai"},
                subentries_data=list(subentries),
            )
            entry.add_to_hass(hass)
            assert await hass.config_entries.async_setup(entry.entry_id)
            await hass.async_block_till_done()
            try:
                yield hass, entry
            finally:
                await hass.config_entries.async_unload(entry.entry_id)
                await hass.async_block_till_done()
                await hass.async_stop(force=True)
