"""Cost at the user's prices, the price options, and the usage sensors' life across restarts."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
    mock_restore_cache_with_extra_data,
)

from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant, State
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.util import dt as dt_util

from custom_components.aiy_realtime.const import CONF_PRICES, DEFAULT_PRICES
from custom_components.aiy_realtime.realtime.responses import Usage
from custom_components.aiy_realtime.usage import usage_cost
from tests.peer import LocalRealtimePeer
from tests.test_conversation import converse, sessions

COST = "sensor.aiy_realtime_assistant_estimated_cost"


def test_cached_input_is_billed_at_the_cached_rate() -> None:
    usage = Usage(
        input_tokens=1_300_000,
        input_text_tokens=1_000_000,
        input_audio_tokens=300_000,
        input_cached_tokens=600_000,
        input_cached_audio_tokens=100_000,
        output_text_tokens=100_000,
        output_audio_tokens=200_000,
    )
    price = DEFAULT_PRICES["gpt-realtime"]
    expected = 0.5 * 4 + 0.5 * 0.4 + 0.2 * 32 + 0.1 * 0.4 + 0.1 * 16 + 0.2 * 64
    assert usage_cost(usage, price) == pytest.approx(expected)


async def test_prices_are_options_and_are_validated(
    hass: HomeAssistant, agent_entry: MockConfigEntry, peer: LocalRealtimePeer
) -> None:
    flow = await hass.config_entries.options.async_init(agent_entry.entry_id)
    assert flow["type"] is FlowResultType.FORM

    bad = await hass.config_entries.options.async_configure(
        flow["flow_id"], {CONF_PRICES: {"gpt-realtime": {"text_input": -1}}}
    )
    assert bad["errors"] == {CONF_PRICES: "invalid_prices"}
    bad = await hass.config_entries.options.async_configure(
        bad["flow_id"], {CONF_PRICES: {"gpt-realtime": {"text_inptu": 1}}}
    )
    assert bad["errors"] == {CONF_PRICES: "invalid_prices"}

    mine = {"gpt-realtime": {"text_input": 1000000, "text_output": 0}}
    done = await hass.config_entries.options.async_configure(bad["flow_id"], {CONF_PRICES: mine})
    assert done["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert agent_entry.options[CONF_PRICES]["gpt-realtime"]["text_input"] == 1000000

    await converse(hass, agent_entry, "Hello")
    await hass.async_block_till_done()
    # 40 input text tokens at $1 each: the edited table is what the sensor uses.
    assert float(hass.states.get(COST).state) == pytest.approx(40)


async def test_cost_is_unavailable_for_a_model_without_a_price(
    hass: HomeAssistant, openai_at_peer: LocalRealtimePeer, mock_config_entry: MockConfigEntry
) -> None:
    hass.config_entries.async_update_entry(mock_config_entry, options={CONF_PRICES: {"x": {}}})
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()

    assert hass.states.get(COST).state == STATE_UNAVAILABLE
    assert hass.states.get("sensor.aiy_realtime_assistant_input_text_tokens").state == "0"
    await hass.config_entries.async_unload(mock_config_entry.entry_id)


async def test_totals_survive_a_restart(
    hass: HomeAssistant, openai_at_peer: LocalRealtimePeer, mock_config_entry: MockConfigEntry
) -> None:
    tokens = "sensor.aiy_realtime_assistant_output_text_tokens"
    mock_restore_cache_with_extra_data(
        hass,
        [
            (
                State(tokens, "1200"),
                {"native_value": 1200, "native_unit_of_measurement": "tokens"},
            ),
            (
                State(COST, "0.25"),
                {
                    "native_value": {"__type": "<class 'decimal.Decimal'>", "decimal_str": "0.25"},
                    "native_unit_of_measurement": "USD",
                },
            ),
        ],
    )
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()

    assert hass.states.get(tokens).state == "1200"
    assert float(hass.states.get(COST).state) == pytest.approx(0.25)
    await hass.config_entries.async_unload(mock_config_entry.entry_id)


async def test_session_closes_when_the_conversation_expires(
    hass: HomeAssistant,
    agent_entry: MockConfigEntry,
    peer: LocalRealtimePeer,
) -> None:
    result = await converse(hass, agent_entry, "Hello")
    session = sessions(agent_entry).get(result.conversation_id).session
    call_id = session.call_id

    # HA forgets a conversation after 5 idle minutes (no frozen clock: WebRTC needs real time).
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(minutes=6))
    await hass.async_block_till_done()
    await session.wait_closed()

    assert sessions(agent_entry).get(result.conversation_id) is None
    assert peer.hangups == [call_id]
