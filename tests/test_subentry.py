"""Agents as `conversation` subentries: create and reconfigure through the real flow manager."""

from __future__ import annotations

import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from homeassistant.config_entries import SOURCE_USER
from homeassistant.const import CONF_LLM_HASS_API, CONF_NAME, CONF_PROMPT
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import issue_registry as ir, llm

from custom_components.aiy_realtime.const import (
    CONF_GREETING,
    CONF_MODEL,
    CONF_REASONING_EFFORT,
    CONF_TRANSCRIPTION_MODEL,
    CONF_TURN_DETECTION,
    CONF_VOICE,
    DOMAIN,
)

VOICE = "voice_settings"

pytestmark = pytest.mark.usefixtures("openai_at_peer")


@pytest.fixture
async def loaded_entry(hass: HomeAssistant, mock_config_entry: MockConfigEntry) -> MockConfigEntry:
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    return mock_config_entry


async def test_create_second_agent(hass: HomeAssistant, loaded_entry: MockConfigEntry) -> None:
    result = await hass.config_entries.subentries.async_init(
        (loaded_entry.entry_id, "conversation"), context={"source": SOURCE_USER}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "init"
    schema_keys = {str(key) for key in result["data_schema"].schema}
    assert {CONF_NAME, CONF_MODEL, CONF_PROMPT, CONF_LLM_HASS_API, VOICE} <= schema_keys

    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"],
        {
            CONF_NAME: "Kitchen helper",
            CONF_PROMPT: "Answer in one sentence.",
            CONF_LLM_HASS_API: [llm.LLM_API_ASSIST],
            CONF_MODEL: "my-azure-deployment",
            CONF_REASONING_EFFORT: "high",
            VOICE: {
                CONF_VOICE: "cedar",
                CONF_TRANSCRIPTION_MODEL: "gpt-transcribe",
                CONF_TURN_DETECTION: "semantic_vad",
                CONF_GREETING: "Say hi.",
            },
        },
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Kitchen helper"
    (created,) = [s for s in loaded_entry.subentries.values() if s.title == "Kitchen helper"]
    assert created.data[CONF_MODEL] == "my-azure-deployment"  # a custom value
    assert created.data[CONF_REASONING_EFFORT] == "high"
    assert created.data[CONF_PROMPT] == "Answer in one sentence."
    # The voice section is stored flat, like every other setting.
    assert created.data[CONF_VOICE] == "cedar"
    assert created.data[CONF_TURN_DETECTION] == "semantic_vad"
    assert created.data[CONF_GREETING] == "Say hi."
    assert VOICE not in created.data
    assert CONF_NAME not in created.data
    assert len(loaded_entry.subentries) == 2


async def test_a_fresh_assistant_gets_the_current_models(
    hass: HomeAssistant, loaded_entry: MockConfigEntry
) -> None:
    result = await hass.config_entries.subentries.async_init(
        (loaded_entry.entry_id, "conversation"), context={"source": SOURCE_USER}
    )
    schema = result["data_schema"].schema
    model = next(key for key in schema if str(key) == CONF_MODEL)
    # OpenAI's current models to pick from, and any other name (a deployment's) may be typed.
    assert schema[model].config["options"] == [
        "gpt-realtime-2.1",
        "gpt-realtime-2.1-mini",
        "gpt-realtime-2",
    ]
    assert schema[model].config["custom_value"] is True

    # Only a name given: everything else as the form's defaults leave it.
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {CONF_NAME: "Fresh", VOICE: {}}
    )
    await hass.async_block_till_done()

    assert result["type"] is FlowResultType.CREATE_ENTRY
    (created,) = [s for s in loaded_entry.subentries.values() if s.title == "Fresh"]
    assert created.data[CONF_MODEL] == "gpt-realtime-2.1"
    assert created.data[CONF_TRANSCRIPTION_MODEL] == "gpt-live-transcribe"
    assert created.data[CONF_REASONING_EFFORT] == "low"
    assert not [i for (domain, i) in ir.async_get(hass).issues if domain == DOMAIN]


async def test_reconfigure_agent_drops_llm_api(
    hass: HomeAssistant, loaded_entry: MockConfigEntry
) -> None:
    (agent,) = loaded_entry.subentries.values()
    result = await loaded_entry.start_subentry_reconfigure_flow(hass, agent.subentry_id)
    assert result["type"] is FlowResultType.FORM
    # A rename happens in HA's UI, not here: no name field when reconfiguring.
    assert CONF_NAME not in {str(key) for key in result["data_schema"].schema}

    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"],
        {
            CONF_PROMPT: "Be brief.",
            CONF_LLM_HASS_API: [],
            CONF_MODEL: "gpt-realtime-2",
            VOICE: {
                CONF_VOICE: "marin",
                CONF_TRANSCRIPTION_MODEL: "gpt-live-transcribe",
                CONF_TURN_DETECTION: "server_vad",
            },
        },
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    agent = loaded_entry.subentries[agent.subentry_id]
    assert agent.data[CONF_MODEL] == "gpt-realtime-2"
    assert CONF_LLM_HASS_API not in agent.data
    assert agent.data[CONF_PROMPT] == "Be brief."
    # No greeting given: none (rather than the default coming back).
    assert agent.data[CONF_GREETING] == ""


async def test_unknown_llm_api_is_dropped_from_suggestions(
    hass: HomeAssistant, loaded_entry: MockConfigEntry
) -> None:
    (agent,) = loaded_entry.subentries.values()
    hass.config_entries.async_update_subentry(
        loaded_entry, agent, data={**agent.data, CONF_LLM_HASS_API: ["gone", llm.LLM_API_ASSIST]}
    )
    await hass.async_block_till_done()
    result = await loaded_entry.start_subentry_reconfigure_flow(hass, agent.subentry_id)
    llm_key = next(k for k in result["data_schema"].schema if str(k) == CONF_LLM_HASS_API)
    assert llm_key.description["suggested_value"] == [llm.LLM_API_ASSIST]
