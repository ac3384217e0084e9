"""The other side going away: the peer vanishing, the events channel closing, the network dying
(ICE fails), the session expiring. For typed turns (in the middle of an answer, and between two)
and for voice sessions on a terminal and on a kit: each ends cleanly, leaves nothing behind, and
the next turn or session works.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass

from gpiozero.pins.mock import MockFactory
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er, intent

from custom_components.aiy_realtime.const import DOMAIN, EVENT_SESSION_ENDED
from tests.audio_server import AudioServer
from tests.helpers import TERMINAL_ID, assistant, async_set_up_entry, terminal
from tests.kit_helpers import LED, entity, reserved
from tests.peer import LocalRealtimePeer
from tests.peer.call import PeerCall
from tests.peer.faults import close_channel, lose_network
from tests.reliability.leaks import child_processes, open_client_connections, running_tasks
from tests.reliability.tally import TALLY
from tests.test_conversation import converse, speech
from tests.voice_helpers import Events, ended_reasons, our_streams, satellite, terminal_of, until

ROUNDS = 3
"""Each drop, this many times, at each moment."""


async def _vanish(call: PeerCall) -> None:
    await call.vanish()


async def _close_channel(call: PeerCall) -> None:
    close_channel(call)


async def _lose_network(call: PeerCall) -> None:
    lose_network(call)


async def _expire(call: PeerCall) -> None:
    await call.expire()


@dataclass(frozen=True, slots=True)
class Drop:
    case: str
    do: Callable[[PeerCall], Awaitable[None]]
    reason: str
    """The `reason` of the terminal's session_ended event."""


DROPS = [
    Drop("peer vanishes", _vanish, "peer_gone"),
    Drop("events channel closes", _close_channel, "peer_gone"),
    Drop("ICE fails (network gone)", _lose_network, "peer_gone"),
    Drop("session_expired", _expire, "expired"),
]


@pytest.fixture(autouse=True)
def quick_consent(monkeypatch: pytest.MonkeyPatch) -> None:
    """ICE consent checked every 0.2 s and lost after 3 misses (aioice: 5 s and 6), so a dead
    network is found in about a second instead of half a minute."""
    import aioice.ice

    monkeypatch.setattr(aioice.ice, "CONSENT_INTERVAL", 0.2)
    monkeypatch.setattr(aioice.ice, "CONSENT_FAILURES", 3)


def _entity_id(hass: HomeAssistant, platform: str, unique_id: str) -> str:
    entity_id = er.async_get(hass).async_get_entity_id(platform, DOMAIN, unique_id)
    assert entity_id is not None
    return entity_id


def _alive(entry: MockConfigEntry) -> int:
    return sum(1 for known in entry.runtime_data.sessions.conversations() if known.alive)


async def _nothing_left(peer: LocalRealtimePeer, sessions: int) -> None:
    """Only the sessions still open hold a connection, on either side."""
    await until(lambda: open_client_connections(peer) == sessions, timeout=10)
    await until(lambda: peer.active_calls == sessions, timeout=10)
    if sessions == 0:
        await until(lambda: not running_tasks(), timeout=10)


@pytest.mark.parametrize("drop", DROPS, ids=[d.case for d in DROPS])
async def test_a_typed_turn_survives_the_other_side_going_away(
    hass: HomeAssistant, agent_entry: MockConfigEntry, peer: LocalRealtimePeer, drop: Drop
) -> None:
    peer.script.delay_per_delta = 0.05
    cid = (await converse(hass, agent_entry, "Hello")).conversation_id
    for number in range(ROUNDS):
        # Between two turns: the next one gets a new session.
        await drop.do(peer.call())
        await until(lambda: _alive(agent_entry) == 0, timeout=10)
        await _nothing_left(peer, 0)
        again = await converse(hass, agent_entry, f"after {number}", cid)
        assert speech(again) == f"You said: after {number}", speech(again)
        TALLY.count(f"text, {drop.case}", "between turns: next turn answered on a new session")

        # In the middle of an answer: a clean error (or the answer, on a new session).
        call = peer.call()
        before = call.responses
        turn = hass.async_create_task(converse(hass, agent_entry, f"during {number}", cid))
        await until(lambda c=call, b=before: c.responses > b)
        await asyncio.sleep(0.1)
        await drop.do(call)
        async with asyncio.timeout(15):
            result = await turn
        if result.response.response_type is intent.IntentResponseType.ERROR:
            assert "could not reach the assistant" in speech(result), speech(result)
            outcome = "mid-answer: clean error"
        else:
            assert speech(result).endswith(f"{number}"), speech(result)
            outcome = "mid-answer: answered on a new session"
        sessions = 0 if outcome.endswith("error") else 1
        await until(lambda s=sessions: _alive(agent_entry) == s)
        await _nothing_left(peer, _alive(agent_entry))
        ok = await converse(hass, agent_entry, f"next {number}", cid)
        assert speech(ok) == f"You said: next {number}", speech(ok)
        TALLY.count(f"text, {drop.case}", f"{outcome}, next turn answered")
    assert peer.all_violations() == []


@pytest.fixture
async def voice_entry(
    hass: HomeAssistant,
    openai_at_peer: LocalRealtimePeer,
    loopback_ice: None,
    audio_server: AudioServer,
    kit_pins: MockFactory,
    request: pytest.FixtureRequest,
) -> AsyncGenerator[MockConfigEntry]:
    """A terminal on the test's PulseAudio server; with a Voice HAT on mock pins for `kit`."""
    kit = {"board": "voice_hat", "pins": "local"} if request.param == "kit" else {}
    entry = await async_set_up_entry(hass, assistant(), terminal(audio_server.server, **kit))
    yield entry
    await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    assert openai_at_peer.active_calls == 0, "a call outlived its entry"
    assert await our_streams(audio_server) == (0, 0)
    assert reserved(kit_pins) == [], "a pin outlived its entry"


@pytest.mark.parametrize("voice_entry", ["terminal", "kit"], indirect=True)
async def test_a_voice_session_ends_cleanly_and_the_next_one_starts(
    hass: HomeAssistant,
    voice_entry: MockConfigEntry,
    peer: LocalRealtimePeer,
    audio_server: AudioServer,
    kit_pins: MockFactory,
    request: pytest.FixtureRequest,
) -> None:
    from custom_components.aiy_realtime.terminal.states import VoiceState

    kind = request.node.callspec.params["voice_entry"]
    events = Events(hass)
    voice = terminal_of(voice_entry)
    entity_id = satellite(hass)
    sensor = _entity_id(hass, "sensor", f"{TERMINAL_ID}-session_state")
    led = entity(hass, "light", "led") if kind == "kit" else None
    allowed = audio_server.pids
    if led is not None:
        await hass.services.async_call(
            "light", "turn_on", {"entity_id": led, "brightness": 128}, blocking=True
        )
    peer.script.seconds_per_word = 0.15
    for number, drop in enumerate(d for d in DROPS for _ in range(2)):
        ended = len(events.of(EVENT_SESSION_ENDED))
        await hass.services.async_call(
            DOMAIN,
            "start_session",
            {"entity_id": entity_id, "greeting": "Hello there, this greeting is long enough."},
            blocking=True,
        )
        assert voice.session is not None
        if number % 2:  # while the greeting plays
            await until(lambda: voice.state is VoiceState.SPEAKING)
            moment = "while speaking"
        else:
            await until(lambda: voice.state is VoiceState.LISTENING, timeout=30)
            moment = "while listening"
        await drop.do(peer.call())
        await until(lambda e=ended: len(events.of(EVENT_SESSION_ENDED)) > e, timeout=15)

        assert ended_reasons(events)[-1] == drop.reason
        assert voice.session is None
        assert voice.state is VoiceState.IDLE
        assert hass.states.get(entity_id).state == "idle"
        assert hass.states.get(sensor).state == "idle"
        assert hass.states.get(sensor).attributes["last_end_reason"] == drop.reason
        if led is not None:
            assert hass.states.get(led).state == "on"
            assert hass.states.get(led).attributes["brightness"] == 128
            assert kit_pins.pin(LED).state > 0  # the user's light is back on the pin
        await until(lambda: peer.active_calls == 0, timeout=10)
        assert await our_streams(audio_server) == (0, 0), "the microphone and speaker are free"
        try:
            await until(lambda: child_processes(*allowed) == [], timeout=10)
        except TimeoutError:
            raise AssertionError(f"left running: {child_processes(*allowed)}") from None
        await _nothing_left(peer, 0)
        TALLY.count(
            f"voice ({kind}), {drop.case}",
            f"{moment}: ended '{drop.reason}', all idle, nothing left",
        )

    await hass.services.async_call(DOMAIN, "start_session", {"entity_id": entity_id}, blocking=True)
    await until(lambda: voice.state is VoiceState.LISTENING, timeout=30)
    await hass.services.async_call(
        DOMAIN, "end_session", {"entity_id": entity_id, "graceful": False}, blocking=True
    )
    assert ended_reasons(events)[-1] == "user_ended"
    assert peer.all_violations() == []
