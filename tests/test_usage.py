"""Cost at the user's prices, the price options, and the usage sensors' life across restarts."""

from __future__ import annotations

from datetime import timedelta
import json
from pathlib import Path

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

from custom_components.aiy_realtime.assistant.usage import UsageMeter, load_prices, usage_cost
from custom_components.aiy_realtime.const import (
    CONF_PRICES,
    DEFAULT_PRICES,
)
from custom_components.aiy_realtime.realtime.responses import Usage
from tests.helpers import agent, async_set_up_entry
from tests.peer import LocalRealtimePeer
from tests.test_conversation import converse, open_session

COST = "sensor.aiy_realtime_assistant_estimated_cost"
SHIPPED_PRICES = Path(__file__).resolve().parent.parent / (
    "custom_components/aiy_realtime/prices.json"
)
MINI = {
    "text_input": 0.6,
    "cached_text_input": 0.06,
    "text_output": 2.4,
    "audio_input": 10.0,
    "cached_audio_input": 0.3,
    "audio_output": 20.0,
}


def test_default_prices_are_the_shipped_file() -> None:
    assert load_prices(SHIPPED_PRICES) == DEFAULT_PRICES
    # The README's example model has a price.
    assert DEFAULT_PRICES["gpt-realtime-mini"] == MINI
    assert DEFAULT_PRICES["gpt-realtime-2.1-mini"] == MINI
    assert DEFAULT_PRICES["gpt-realtime-2"]["text_output"] == 24
    assert DEFAULT_PRICES["gpt-realtime-1.5"] == DEFAULT_PRICES["gpt-realtime"]


@pytest.mark.parametrize(
    "text",
    [
        "{not json",
        '{"gpt-realtime": {"text_input": "4"}}',
        '{"gpt-realtime": {"text_inptu": 4}}',
        "[]",
    ],
)
def test_a_broken_price_file_fails_loudly(tmp_path: Path, text: str) -> None:
    broken = tmp_path / "prices.json"
    broken.write_text(text)
    with pytest.raises(ValueError, match=r"prices\.json"):
        load_prices(broken)


@pytest.mark.parametrize(
    ("model", "row"),
    [
        ("gpt-realtime", "gpt-realtime"),
        ("gpt-realtime-2.1-mini", "gpt-realtime-2.1-mini"),
        ("gpt-realtime-2025-08-28", "gpt-realtime"),
        ("gpt-realtime-mini-2025-10-06", "gpt-realtime-mini"),
        ("gpt-realtime-2-2026-05-01", "gpt-realtime-2"),
        ("gpt-realtime-2.1-mini-2026-09-30", "gpt-realtime-2.1-mini"),
    ],
)
def test_a_dated_snapshot_costs_what_its_family_costs(model: str, row: str) -> None:
    assert UsageMeter(model, DEFAULT_PRICES).price == DEFAULT_PRICES[row]


@pytest.mark.parametrize(
    "model",
    [
        "gpt-realtime-mini-2025-10-06",  # a mini is not priced like its big sibling
        "gpt-realtime-3",  # a new model is not a snapshot of an old one
        "gpt-realtime-preview-2025-06-03",
        "gpt-realtime-20250828",
        "my-gpt-realtime",
    ],
)
def test_no_price_rather_than_another_familys(model: str) -> None:
    only_the_big_one = {"gpt-realtime": DEFAULT_PRICES["gpt-realtime"]}
    assert UsageMeter(model, only_the_big_one).price is None


def test_the_users_table_is_looked_up_the_same_way() -> None:
    mine = {"gpt-realtime-mini": {"text_input": 1.0}, "gpt-realtime-mini-2025-10-06": {}}
    assert UsageMeter("gpt-realtime-mini-2025-12-15", mine).price == {"text_input": 1.0}
    # An exact row wins over the family's.
    assert UsageMeter("gpt-realtime-mini-2025-10-06", mine).price == {}


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

    mine = {"gpt-realtime-2.1": {"text_input": 1000000, "text_output": 0}}
    done = await hass.config_entries.options.async_configure(bad["flow_id"], {CONF_PRICES: mine})
    assert done["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert agent_entry.options[CONF_PRICES]["gpt-realtime-2.1"]["text_input"] == 1000000

    await converse(hass, agent_entry, "Hello")
    await hass.async_block_till_done()
    # 40 input text tokens at $1 each: the edited table is what the sensor uses.
    assert float(hass.states.get(COST).state) == pytest.approx(40)


async def test_cost_of_a_2_1_mini_turn_is_priced_from_prices_json(
    hass: HomeAssistant, openai_at_peer: LocalRealtimePeer, loopback_ice: None
) -> None:
    entry = await async_set_up_entry(hass, agent(model="gpt-realtime-2.1-mini"))

    await converse(hass, entry, "Hello there, how are you today?")
    await hass.async_block_till_done()

    prefix = "sensor.aiy_realtime_assistant_"
    text_in = int(hass.states.get(prefix + "input_text_tokens").state)
    text_out = int(hass.states.get(prefix + "output_text_tokens").state)
    assert text_in == 40  # what the peer bills per response
    assert text_out > 0
    # The shipped file's own figures, read here apart from the integration's loader.
    row = json.loads(SHIPPED_PRICES.read_text())["gpt-realtime-2.1-mini"]
    assert (row["text_input"], row["text_output"]) == (0.6, 2.4)
    expected = (text_in * row["text_input"] + text_out * row["text_output"]) / 1_000_000
    assert float(hass.states.get(COST).state) == pytest.approx(expected)
    await hass.config_entries.async_unload(entry.entry_id)


async def test_cost_is_unavailable_for_a_model_without_a_price(
    hass: HomeAssistant, openai_at_peer: LocalRealtimePeer
) -> None:
    entry = await async_set_up_entry(hass, agent(model="my-own-realtime-model"))

    assert hass.states.get(COST).state == STATE_UNAVAILABLE
    assert hass.states.get("sensor.aiy_realtime_assistant_input_text_tokens").state == "0"
    await hass.config_entries.async_unload(entry.entry_id)


async def test_a_saved_price_table_keeps_the_shipped_rows_it_lacks(
    hass: HomeAssistant, openai_at_peer: LocalRealtimePeer
) -> None:
    """A table saved before a model was priced (then the integration updated) still prices it."""
    entry = await async_set_up_entry(
        hass,
        agent(model="gpt-realtime-mini"),
        options={CONF_PRICES: {"gpt-realtime": {"text_input": 1.0}}},
    )

    assert hass.states.get(COST).state == "0"
    meter = next(iter(entry.runtime_data.meters.values()))
    assert meter.price == DEFAULT_PRICES["gpt-realtime-mini"]
    assert meter.prices["gpt-realtime"]["text_input"] == 1.0
    await hass.config_entries.async_unload(entry.entry_id)


async def test_cost_of_a_dated_mini_snapshot_is_available(
    hass: HomeAssistant, openai_at_peer: LocalRealtimePeer
) -> None:
    entry = await async_set_up_entry(hass, agent(model="gpt-realtime-mini-2025-10-06"))

    assert hass.states.get(COST).state == "0"
    await hass.config_entries.async_unload(entry.entry_id)


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
    session = open_session(agent_entry, result.conversation_id).session
    call_id = session.call_id

    # HA forgets a conversation after 5 idle minutes (no frozen clock: WebRTC needs real time).
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(minutes=6))
    await hass.async_block_till_done()
    await session.wait_closed()

    assert open_session(agent_entry, result.conversation_id) is None
    assert peer.hangups == [call_id]
