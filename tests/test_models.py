"""Models of today: retiring models get a repair each, a refusal after the shutdown says why, the
new session fields reach the peer in the GA shape, and one response's tool calls run together."""

from __future__ import annotations

import asyncio
from typing import Any

from aiortc.rtcdtlstransport import RTCCertificate
from freezegun import freeze_time
import pytest

from homeassistant.components.homeassistant.exposed_entities import async_expose_entity
from homeassistant.components.repairs import repairs_flow_manager
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import issue_registry as ir, llm
from homeassistant.setup import async_setup_component

from custom_components.aiy_realtime.assistant.models import is_reasoning_model
from custom_components.aiy_realtime.chat.tool_guard import GuardedAPIInstance
from custom_components.aiy_realtime.const import (
    CONF_MODEL,
    CONF_TRANSCRIPTION_MODEL,
    DOMAIN,
)
from tests.audio_server import AudioServer
from tests.conftest import logged_problems
from tests.helpers import agent, assistant, async_set_up_entry, terminal
from tests.peer import LocalRealtimePeer
from tests.peer.script import Rule
from tests.test_conversation import converse, speech
from tests.voice_helpers import our_streams, satellite

pytestmark = pytest.mark.usefixtures("loopback_ice")


def issues_of(hass: HomeAssistant) -> dict[str, ir.IssueEntry]:
    return {
        issue_id: issue
        for (domain, issue_id), issue in ir.async_get(hass).issues.items()
        if domain == DOMAIN
    }


async def fix(hass: HomeAssistant, issue_id: str, choice: dict[str, str]) -> dict[str, Any]:
    """Run the issue's fix flow as the Repairs dashboard does: show the form, submit it."""
    assert await async_setup_component(hass, "repairs", {})
    manager = repairs_flow_manager(hass)
    assert manager is not None
    form = await manager.async_init(DOMAIN, data={"issue_id": issue_id})
    assert form["type"] is FlowResultType.FORM
    done = await manager.async_configure(form["flow_id"], choice)
    await hass.async_block_till_done()
    return {"form": form, "done": done}


@pytest.mark.parametrize(
    ("model", "successors"),
    [
        ("gpt-realtime", ["gpt-realtime-2.1", "gpt-realtime-2.1-mini"]),
        ("gpt-realtime-mini", ["gpt-realtime-2.1-mini", "gpt-realtime-2.1"]),
    ],
)
async def test_a_retiring_realtime_model_gets_a_repair_that_asks_for_the_successor(
    hass: HomeAssistant, openai_at_peer: LocalRealtimePeer, model: str, successors: list[str]
) -> None:
    entry = await async_set_up_entry(hass, agent(model=model), agent("Current", model=None))
    retiring, current = entry.subentries.values()

    (issue_id,) = issues_of(hass)  # the assistant on the default model has none
    issue = issues_of(hass)[issue_id]
    assert issue.is_fixable
    assert issue.translation_key == "retiring_model_realtime"
    assert issue.translation_placeholders == {
        "assistant": retiring.title,
        "model": model,
        "date": "2027-01-20",
        "successor": successors[0],
    }

    # The form offers both successors (the direct one first) with their prices from prices.json.
    run = await fix(hass, issue_id, {CONF_MODEL: successors[1]})
    (field,) = run["form"]["data_schema"].schema
    selector = run["form"]["data_schema"].schema[field]
    assert [str(field), field.default()] == [CONF_MODEL, successors[0]]
    assert selector.config["options"] == successors
    assert (
        "- gpt-realtime-2.1-mini: $10 in, $20 out"
        in run["form"]["description_placeholders"]["prices"].splitlines()
    )
    assert run["done"]["type"] is FlowResultType.CREATE_ENTRY

    # The user's pick, not the direct successor; the other assistant is left alone.
    assert entry.subentries[retiring.subentry_id].data[CONF_MODEL] == successors[1]
    assert entry.subentries[current.subentry_id].data == current.data
    assert issues_of(hass) == {}
    await hass.config_entries.async_unload(entry.entry_id)


async def test_a_retiring_transcription_model_gets_its_own_repair(
    hass: HomeAssistant, openai_at_peer: LocalRealtimePeer
) -> None:
    entry = await async_set_up_entry(
        hass, agent(model="gpt-realtime-mini", transcription_model="gpt-4o-mini-transcribe")
    )
    (assistant,) = entry.subentries.values()
    assert set(issues_of(hass)) == {
        f"retiring_model_realtime_{assistant.subentry_id}",
        f"retiring_model_transcription_{assistant.subentry_id}",
    }
    issue_id = f"retiring_model_transcription_{assistant.subentry_id}"
    assert issues_of(hass)[issue_id].translation_placeholders == {
        "assistant": assistant.title,
        "model": "gpt-4o-mini-transcribe",
        "date": "2027-02-26",
        "successor": "gpt-live-transcribe",
    }

    run = await fix(hass, issue_id, {CONF_TRANSCRIPTION_MODEL: "gpt-live-transcribe"})

    assert run["done"]["type"] is FlowResultType.CREATE_ENTRY
    data = entry.subentries[assistant.subentry_id].data
    assert data[CONF_TRANSCRIPTION_MODEL] == "gpt-live-transcribe"
    # Each repair changes only its own model: the Realtime model still waits for its answer.
    assert data[CONF_MODEL] == "gpt-realtime-mini"
    assert set(issues_of(hass)) == {f"retiring_model_realtime_{assistant.subentry_id}"}
    await hass.config_entries.async_unload(entry.entry_id)


async def test_removing_the_entry_removes_its_repairs(
    hass: HomeAssistant, openai_at_peer: LocalRealtimePeer
) -> None:
    entry = await async_set_up_entry(hass, agent(model="gpt-realtime"))
    assert issues_of(hass)

    await hass.config_entries.async_remove(entry.entry_id)

    assert issues_of(hass) == {}


@pytest.mark.parametrize(
    ("now", "retired"),
    [
        ("2027-01-19 23:30:00+00:00", False),
        ("2027-01-20 00:00:00+00:00", True),
        ("2027-03-01 12:00:00+00:00", True),
    ],
)
async def test_a_refused_call_after_the_shutdown_gives_the_retired_reason(
    hass: HomeAssistant,
    openai_at_peer: LocalRealtimePeer,
    monkeypatch: pytest.MonkeyPatch,
    now: str,
    retired: bool,
) -> None:
    # aiortc signs a certificate for every connection, which a frozen clock's datetime breaks:
    # this one is signed before. The call is refused before DTLS would use it.
    certificate = RTCCertificate.generateCertificate()
    monkeypatch.setattr(RTCCertificate, "generateCertificate", classmethod(lambda cls: certificate))
    await hass.config.async_set_time_zone("UTC")
    peer = openai_at_peer
    peer.shut_down = {"gpt-realtime"}
    with freeze_time(now):
        entry = await async_set_up_entry(hass, agent(model="gpt-realtime"))
        result = await converse(hass, entry, "Hello")

    assert result.response.response_type.value == "error"
    if retired:
        assert speech(result) == (
            "AIY Realtime assistant uses the Realtime model gpt-realtime, which OpenAI shut down"
            " on 2027-01-20. Switch it to gpt-realtime-2.1 or another current model:"
            " Settings → Repairs has the fix."
        )
    else:
        # Before the date a refusal is not the shutdown's: the server's own words.
        assert "does not exist or you do not have access" in speech(result)
    await hass.config_entries.async_unload(entry.entry_id)


async def test_a_voice_session_refused_for_its_retired_transcription_model_says_so(
    hass: HomeAssistant,
    openai_at_peer: LocalRealtimePeer,
    audio_server: AudioServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The Realtime model is current, the transcription model is past its date: the voice start
    names the transcription model and its successor, not a generic failure."""
    certificate = RTCCertificate.generateCertificate()
    monkeypatch.setattr(RTCCertificate, "generateCertificate", classmethod(lambda cls: certificate))
    await hass.config.async_set_time_zone("UTC")
    openai_at_peer.shut_down = {"whisper-1"}
    entry = await async_set_up_entry(
        hass,
        assistant(**{CONF_MODEL: "gpt-realtime-2.1", CONF_TRANSCRIPTION_MODEL: "whisper-1"}),
        terminal(audio_server.server),
    )

    # The session waits on real timers (ICE, the sound server): only the date is frozen.
    with (
        freeze_time("2027-03-01 12:00:00+00:00", tick=True, real_asyncio=True),
        pytest.raises(HomeAssistantError) as raised,
    ):
        await hass.services.async_call(
            DOMAIN, "start_session", {"entity_id": satellite(hass)}, blocking=True
        )

    assert raised.value.translation_key == "retiring_model_transcription"
    assert str(raised.value) == (
        "AIY Realtime assistant transcribes with whisper-1, which OpenAI shut down on 2027-02-26."
        " Switch it to gpt-live-transcribe or another current model: Settings → Repairs has the"
        " fix"  # HA drops an exception message's final period
    )
    assert openai_at_peer.requests["calls"] == 1
    assert openai_at_peer.active_calls == 0
    assert await hass.config_entries.async_unload(entry.entry_id)
    assert await our_streams(audio_server) == (0, 0)


async def test_a_reasoning_model_gets_its_effort_and_parallel_tool_calls(
    hass: HomeAssistant, openai_at_peer: LocalRealtimePeer
) -> None:
    entry = await async_set_up_entry(hass, agent(reasoning_effort="medium"))

    await converse(hass, entry, "Hello")

    session = openai_at_peer.call().session
    assert session["model"] == "gpt-realtime-2.1"
    assert session["reasoning"] == {"effort": "medium"}
    assert session["parallel_tool_calls"] is True
    assert openai_at_peer.all_violations() == []
    await hass.config_entries.async_unload(entry.entry_id)


@pytest.mark.parametrize("model", ["gpt-realtime-1.5", "my-azure-deployment"])
async def test_other_models_get_neither_field(
    hass: HomeAssistant, openai_at_peer: LocalRealtimePeer, model: str
) -> None:
    entry = await async_set_up_entry(hass, agent(model=model))

    await converse(hass, entry, "Hello")

    session = openai_at_peer.call().session
    assert "reasoning" not in session
    assert "parallel_tool_calls" not in session
    await hass.config_entries.async_unload(entry.entry_id)


def test_the_reasoning_family_is_told_apart_from_dated_snapshots() -> None:
    assert all(
        is_reasoning_model(m)
        for m in ("gpt-realtime-2", "gpt-realtime-2.1", "gpt-realtime-2.1-mini")
    )
    assert not any(
        is_reasoning_model(m)
        for m in ("gpt-realtime", "gpt-realtime-2025-08-28", "gpt-realtime-mini", None)
    )


@pytest.mark.usefixtures("lights")
async def test_the_calls_of_one_response_run_together_and_each_is_answered(
    hass: HomeAssistant, openai_at_peer: LocalRealtimePeer, monkeypatch: pytest.MonkeyPatch
) -> None:
    async_expose_entity(hass, "conversation", "light.bedroom_light", True)
    peer = openai_at_peer
    peer.script.rules.append(
        Rule(
            "both",
            tool="HassTurnOn",
            arguments={"name": "Kitchen light"},
            also=(("HassTurnOn", {"name": "Bedroom light"}),),
            then="Both are on.",
        )
    )
    # Each call waits until the other has started: run one after the other, neither finishes.
    started: list[str] = []
    both_running = asyncio.Event()
    call_tool = GuardedAPIInstance.async_call_tool

    async def waiting_for_the_other(
        self: GuardedAPIInstance, tool_input: llm.ToolInput
    ) -> llm.ToolResult:
        started.append(tool_input.id)
        if len(started) == 2:
            both_running.set()
        await asyncio.wait_for(both_running.wait(), 5)
        return await call_tool(self, tool_input)

    monkeypatch.setattr(GuardedAPIInstance, "async_call_tool", waiting_for_the_other)
    entry = await async_set_up_entry(hass, agent())

    result = await converse(hass, entry, "Turn on both lights")

    assert speech(result) == "Both are on."
    assert hass.states.get("light.kitchen_light").state == "on"
    assert hass.states.get("light.bedroom_light").state == "on"
    call = peer.call()
    calls = [i["call_id"] for i in call.items if i.get("type") == "function_call"]
    answered = [i["call_id"] for i in call.items if i.get("type") == "function_call_output"]
    assert len(calls) == 2
    assert sorted(answered) == sorted(calls) == sorted(started)
    assert call.responses == 2  # the calls, then one answer to both outputs
    assert peer.all_violations() == []
    await hass.config_entries.async_unload(entry.entry_id)


def test_the_log_check_fails_on_a_deprecation_report(
    hass: HomeAssistant, caplog: pytest.LogCaptureFixture
) -> None:
    """Home Assistant's own report (frame.report_usage) is what the suite's log check catches."""
    from homeassistant.helpers import frame

    frame.report_usage(
        "calls a removed helper", breaks_in_ha_version="2027.6", integration_domain=DOMAIN
    )
    (report,) = [r for r in caplog.records if "Detected that custom integration" in r.message]
    assert "will stop working" in report.message
    assert logged_problems([report], allowed=()) != []
    assert logged_problems([report], allowed=("calls a removed helper",)) == []
    caplog.clear()  # this test's own report is not one to fail on
