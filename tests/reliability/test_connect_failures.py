"""Every way the call request (`POST /realtime/calls`) can fail: a typed turn gets the translated
error that fits, a refused key starts reauthentication (and nothing else does), a voice session
that cannot start says so with a translated HomeAssistantError, and the next try works."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from homeassistant.components import conversation
from homeassistant.config_entries import SOURCE_REAUTH
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import intent

from custom_components.aiy_realtime.const import DOMAIN
from tests.audio_server import AudioServer
from tests.helpers import assistant, async_set_up_entry, terminal
from tests.peer import HttpFault, LocalRealtimePeer
from tests.reliability.tally import TALLY
from tests.test_conversation import converse, speech
from tests.voice_helpers import satellite, terminal_of, until

CONNECT_TIMEOUT = 0.6
"""The client's time for the whole connect, shortened so a stalled endpoint costs little."""
STALL = 2.0

type Plan = Callable[[LocalRealtimePeer], None]


@dataclass(frozen=True, slots=True)
class Failure:
    case: str
    plan: Plan
    says: str
    """Part of the translated message the user gets."""
    translation_key: str
    reauth: bool = False
    answers: bool = False
    """Not a failure after all: the session works, and its call still ends with it."""


def _http(status: int, code: str, message: str) -> Plan:
    return lambda peer: peer.faults.add("calls", HttpFault(status, code, message))


def _answer(sdp: str) -> Plan:
    return lambda peer: peer.faults.add("calls", HttpFault(201, sdp=sdp))


def _stall(peer: LocalRealtimePeer) -> None:
    peer.faults.add("calls", HttpFault(201, delay=STALL, sdp="v=0\r\n"))


def _no_location(peer: LocalRealtimePeer) -> None:
    peer.faults.add("calls", HttpFault(201, no_location=True))


FAILURES = [
    Failure(
        "HTTP 400",
        _http(400, "invalid_model", "The model does not exist."),
        "refused the request: The model does not exist.",
        "bad_request",
    ),
    Failure(
        "HTTP 401",
        _http(401, "invalid_api_key", "Incorrect API key provided."),
        "refused the API key",
        "invalid_auth",
        reauth=True,
    ),
    Failure(
        "HTTP 403",
        _http(403, "unsupported_country_region_territory", "Country not supported."),
        "refused the API key",
        "invalid_auth",
        reauth=True,
    ),
    Failure(
        "HTTP 404",
        _http(404, "model_not_found", "The model gpt-realtime was not found."),
        "refused the request: The model gpt-realtime was not found.",
        "bad_request",
    ),
    Failure(
        "HTTP 429 (rate limit)",
        _http(429, "rate_limit_exceeded", "Slow down."),
        "rate limiting this key",
        "rate_limited",
    ),
    Failure(
        "HTTP 429 (no quota)",
        _http(429, "insufficient_quota", "You exceeded your quota."),
        "no quota left",
        "insufficient_quota",
    ),
    Failure("HTTP 500", _http(500, "server_error", "Boom."), "could not reach", "unreachable"),
    Failure("HTTP 503", _http(503, "overloaded", "Try later."), "could not reach", "unreachable"),
    Failure("no answer in time", _stall, "could not reach", "unreachable"),
    Failure("garbage SDP answer", _answer("this is not SDP"), "could not reach", "unreachable"),
    Failure("empty SDP answer", _answer(""), "could not reach", "unreachable"),
]
NO_LOCATION = Failure("no Location header", _no_location, "", "", answers=True)
"""The call id is only needed to hang up; closing the peer connection ends the call too."""


def _reauth_flows(hass: HomeAssistant) -> list[object]:
    return [
        flow
        for flow in hass.config_entries.flow.async_progress_by_handler(DOMAIN)
        if flow["context"]["source"] == SOURCE_REAUTH
    ]


async def _abort_reauth(hass: HomeAssistant) -> None:
    for flow in _reauth_flows(hass):
        hass.config_entries.flow.async_abort(flow["flow_id"])  # type: ignore[index]
    await hass.async_block_till_done()


async def test_an_answer_without_a_location_still_works_and_its_call_ends(
    hass: HomeAssistant, agent_entry: MockConfigEntry, peer: LocalRealtimePeer
) -> None:
    NO_LOCATION.plan(peer)

    result = await converse(hass, agent_entry, "Hello")

    assert speech(result) == "You said: Hello"
    assert agent_entry.runtime_data.sessions.get(_key(agent_entry, result)).session.call_id is None
    await hass.config_entries.async_unload(agent_entry.entry_id)
    await until(lambda: peer.active_calls == 0, timeout=10)
    assert peer.hangups == []
    TALLY.count(f"connect fails: {NO_LOCATION.case}", "typed turn answered, call ended at unload")


def _key(entry: MockConfigEntry, result: conversation.ConversationResult) -> tuple[str, str]:
    (subentry_id,) = entry.subentries
    return subentry_id, result.conversation_id


@pytest.mark.parametrize("failure", FAILURES, ids=[f.case for f in FAILURES])
async def test_a_failed_call_request_is_a_translated_error_for_a_typed_turn(
    hass: HomeAssistant,
    agent_entry: MockConfigEntry,
    peer: LocalRealtimePeer,
    failure: Failure,
) -> None:
    agent_entry.runtime_data.sessions.connect_timeout = CONNECT_TIMEOUT
    failure.plan(peer)

    async with asyncio.timeout(10):
        result = await converse(hass, agent_entry, "Hello")
        await hass.async_block_till_done()

    _assert_error(result, failure.says)
    assert bool(_reauth_flows(hass)) is failure.reauth
    await _abort_reauth(hass)
    await asyncio.sleep(STALL if failure.case == "no answer in time" else 0)
    again = await converse(hass, agent_entry, "Hello again", result.conversation_id)
    assert speech(again) == "You said: Hello again", speech(again)
    TALLY.count(
        f"connect fails: {failure.case}",
        f"typed turn: '{failure.translation_key}'"
        + (", reauth started" if failure.reauth else "")
        + ", next turn answered",
    )


def _assert_error(result: conversation.ConversationResult, says: str) -> None:
    assert result.response.response_type is intent.IntentResponseType.ERROR, speech(result)
    assert says in speech(result), speech(result)


async def test_a_failed_call_request_is_a_translated_error_for_a_voice_session(
    hass: HomeAssistant,
    openai_at_peer: LocalRealtimePeer,
    loopback_ice: None,
    audio_server: AudioServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from custom_components.aiy_realtime.terminal import device as terminal_module

    monkeypatch.setattr(terminal_module, "CONNECT_TIMEOUT", CONNECT_TIMEOUT)
    peer = openai_at_peer
    entry = await async_set_up_entry(hass, assistant(), terminal(audio_server.server))
    voice = terminal_of(entry)
    entity_id = satellite(hass)
    try:
        for failure in FAILURES:
            failure.plan(peer)
            async with asyncio.timeout(10):
                with pytest.raises(HomeAssistantError) as raised:
                    await hass.services.async_call(
                        DOMAIN, "start_session", {"entity_id": entity_id}, blocking=True
                    )
            err = raised.value
            assert err.translation_domain == DOMAIN, repr(err)
            assert err.translation_key == "session_failed", repr(err)
            assert bool(_reauth_flows(hass)) is failure.reauth, failure.case
            await _abort_reauth(hass)
            assert hass.states.get(entity_id).state == "idle"
            await asyncio.sleep(STALL if failure.case == "no answer in time" else 0)
            TALLY.count(
                f"connect fails: {failure.case}",
                "voice session: 'session_failed'"
                + (", reauth started" if failure.reauth else "")
                + ", satellite idle",
            )
        await hass.services.async_call(
            DOMAIN, "start_session", {"entity_id": entity_id}, blocking=True
        )
        assert voice.session is not None
        await hass.services.async_call(
            DOMAIN, "end_session", {"entity_id": entity_id, "graceful": False}, blocking=True
        )
    finally:
        await hass.config_entries.async_unload(entry.entry_id)
        await hass.async_block_till_done()
    assert peer.active_calls == 0
    assert peer.all_violations() == []
