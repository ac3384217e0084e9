"""The AIY kit through Home Assistant: its button (gpiozero's mock pins, driven as a finger
would) starts and ends real voice sessions over loopback WebRTC, with sound through the test's
PulseAudio server; its LED pin shows each session state's pattern; both are entities."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Generator
from pathlib import Path
import socket
import time
from typing import Any

from gpiozero.exc import BadPinFactory
from gpiozero.pins.mock import MockFactory
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er, issue_registry as ir
from homeassistant.setup import async_setup_component

from custom_components.aiy_realtime.chat.prompts import GOODBYE
from custom_components.aiy_realtime.const import DOMAIN, EVENT_TRANSCRIPT
from custom_components.aiy_realtime.hardware import pins
from custom_components.aiy_realtime.hardware.led import KTD202X_REGISTERS
from custom_components.aiy_realtime.terminal import kit as kit_module
from custom_components.aiy_realtime.terminal.states import VoiceState
from tests.audio_server import AudioServer, speech_wav
from tests.hardware.fake_pigpiod import FakePigpiod
from tests.hardware.fakes import FakePiGPIOFactory
from tests.hardware.led_patterns import between, identify, record, wait_for
from tests.helpers import TERMINAL_ID, assistant, async_set_up_entry, terminal
from tests.kit_helpers import AMP, LED, entity, press, reserved
from tests.peer import LocalRealtimePeer
from tests.peer.script import Rule
from tests.voice_helpers import Events, ended_reasons, our_streams, terminal_of, until

PATTERN_OF = {
    VoiceState.CONNECTING: "quick pulse",
    VoiceState.LISTENING: "on",
    VoiceState.THINKING: "quick pulse",
    VoiceState.SPEAKING: "slow pulse",
}
ANSWER = " ".join(f"The kitchen light is on now, step {n} of the answer." for n in range(1, 6))


@pytest.fixture
async def kit_entry(
    hass: HomeAssistant,
    openai_at_peer: LocalRealtimePeer,
    loopback_ice: None,
    audio_server: AudioServer,
    kit_pins: MockFactory,
    request: pytest.FixtureRequest,
) -> AsyncGenerator[MockConfigEntry]:
    """An assistant, and a terminal with a Voice HAT on this machine's (mock) pins."""
    options = getattr(request, "param", {})
    entry = await async_set_up_entry(
        hass,
        assistant(**options.get("assistant", {})),
        terminal(
            audio_server.server, **{"board": "voice_hat", "pins": "local", **options.get("kit", {})}
        ),
    )
    yield entry
    await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    assert openai_at_peer.active_calls == 0, "a call outlived its entry"
    assert openai_at_peer.all_violations() == []
    assert await our_streams(audio_server) == (0, 0), "a recorder or player outlived its entry"
    assert reserved(kit_pins) == [], "a pin outlived its entry"


async def led_shows(hass: HomeAssistant, entry: MockConfigEntry, led: Any, expected: str) -> bool:
    """Whether the LED settles on `expected` (seen from after what was asked so far is done)."""
    kit = terminal_of(entry).kit.kit
    await hass.async_add_executor_job(kit.flush)
    seen = await hass.async_add_executor_job(wait_for, record(led), expected)
    assert seen == expected
    return True


class StateLog:
    """The terminal's states, timed against an LED recording."""

    def __init__(self, terminal: Any, start: float) -> None:
        self.terminal = terminal
        self.start = start
        self.changes: list[tuple[float, VoiceState]] = []
        terminal.subscribe(self._changed)

    def _changed(self) -> None:
        state = self.terminal.state
        if not self.changes or self.changes[-1][1] is not state:
            self.changes.append((time.monotonic() - self.start, state))

    def spans(self, until: float, longer_than: float) -> list[tuple[VoiceState, float, float]]:
        """(state, start, end) of each state held longer than `longer_than` seconds."""
        ends = [t for t, _ in self.changes[1:]] + [until]
        return [
            (state, t, end)
            for (t, state), end in zip(self.changes, ends, strict=True)
            if end - t > longer_than
        ]


async def test_the_button_runs_a_session_and_the_led_shows_each_state(
    hass: HomeAssistant,
    lights: None,
    kit_entry: MockConfigEntry,
    kit_pins: MockFactory,
    peer: LocalRealtimePeer,
    audio_server: AudioServer,
    tmp_path: Path,
) -> None:
    events = Events(hass)
    voice = terminal_of(kit_entry)
    led_entity = entity(hass, "light", "led")
    button_entity = entity(hass, "event", "button")
    await hass.services.async_call(
        "light", "turn_on", {"entity_id": led_entity, "brightness": 128}, blocking=True
    )
    led = kit_pins.pin(LED)
    assert await led_shows(hass, kit_entry, led, "steady 0.50")
    # Every state long enough to be told apart by its pattern.
    peer.connect_delay = 1.5
    peer.script.delay_before_response = 1.5
    peer.script.seconds_per_word = 0.3
    peer.script.delay_per_delta = 0.2  # the answer is still being made when the press comes
    peer.script.rules.append(
        Rule("kitchen", tool="HassTurnOn", arguments={"name": "Kitchen light"}, then=ANSWER)
    )
    peer.script.hears.append("Turn on the kitchen light")
    kitchen = await speech_wav("turn on the kitchen light", tmp_path / "kitchen.wav")
    recording = record(led)
    log = StateLog(voice, recording.start)

    await press(hass, kit_pins)
    await until(lambda: voice.state is VoiceState.SPEAKING)
    assert kit_pins.pin(AMP).state  # the amplifier is on while a session may play
    await until(lambda: voice.state is VoiceState.LISTENING, timeout=30)
    await asyncio.sleep(1.5)
    await audio_server.play(kitchen)
    await until(lambda: hass.states.get("light.kitchen_light").state == "on", timeout=30)
    await until(lambda: voice.state is VoiceState.SPEAKING)
    await asyncio.sleep(2.5)
    call = peer.call()

    # A second press ends it at once, mid-answer.
    await press(hass, kit_pins)
    await until(lambda: voice.session is None)
    timeline = recording.timeline()
    ended_at = timeline[-1][0]

    received = [event["type"] for event in call.received]
    assert "response.cancel" in received
    assert "output_audio_buffer.clear" in received
    assert ended_reasons(events) == ["user_ended"]
    assert await our_streams(audio_server) == (0, 0), "the microphone is free again"
    spans = log.spans(ended_at, longer_than=1.2)
    seen = [
        # (the LED follows the state within a frame or two, on either side of the change)
        (state, identify(between(timeline, start + 0.15, end - 0.05)))
        for state, start, end in spans
        if state in PATTERN_OF
    ]
    assert seen == [(state, PATTERN_OF[state]) for state, _ in seen]
    states = [state for state, _ in seen]
    expected = [
        VoiceState.CONNECTING,
        VoiceState.SPEAKING,
        VoiceState.LISTENING,
        VoiceState.THINKING,
        VoiceState.SPEAKING,
    ]
    found = iter(states)
    assert all(state in found for state in expected), states
    # The user's light is back; the amplifier is off; the button told HA of both presses.
    assert await led_shows(hass, kit_entry, led, "steady 0.50")
    assert not kit_pins.pin(AMP).state
    assert hass.states.get(button_entity).attributes["event_type"] == "press"
    assert [e["role"] for e in events.of(EVENT_TRANSCRIPT)][:2] == ["assistant", "user"]


@pytest.mark.parametrize(
    ("kit_entry", "fired", "ends"),
    [
        ({"kit": {"long_press": "end_session"}}, True, True),
        ({"kit": {"long_press": "event_only"}}, True, False),
        ({"kit": {"long_press": "nothing"}}, False, False),
    ],
    indirect=["kit_entry"],
    ids=["end_session", "event_only", "nothing"],
)
async def test_a_long_press_does_what_it_is_set_to(
    hass: HomeAssistant,
    kit_entry: MockConfigEntry,
    kit_pins: MockFactory,
    peer: LocalRealtimePeer,
    fired: bool,
    ends: bool,
) -> None:
    events = Events(hass)
    voice = terminal_of(kit_entry)
    button_entity = entity(hass, "event", "button")
    await press(hass, kit_pins)
    await until(lambda: voice.state is VoiceState.LISTENING)
    after_press = hass.states.get(button_entity)

    await press(hass, kit_pins, seconds=1.3)
    await asyncio.sleep(0.3)

    state = hass.states.get(button_entity)
    if fired:
        assert state.attributes["event_type"] == "long_press"
        assert state.state != after_press.state  # the time it fired
    else:
        assert state == after_press
    if ends:
        await until(lambda: voice.session is None)
        assert ended_reasons(events) == ["user_ended"]
        # Gracefully: the goodbye was asked for and spoken before the end.
        told = [e["text"] for e in events.of(EVENT_TRANSCRIPT) if e["role"] == "assistant"]
        assert told[-1] == GOODBYE.rsplit("\n\n", 1)[-1].strip()
    else:
        assert voice.session is not None
        await hass.services.async_call(
            DOMAIN, "end_session", {"entity_id": "assist_satellite.kitchen_terminal"}
        )
        await until(lambda: voice.session is None)


async def test_the_button_event_triggers_an_automation(
    hass: HomeAssistant, lights: None, kit_entry: MockConfigEntry, kit_pins: MockFactory
) -> None:
    button_entity = entity(hass, "event", "button")
    assert await async_setup_component(
        hass,
        "automation",
        {
            "automation": {
                "triggers": [{"trigger": "state", "entity_id": button_entity}],
                "conditions": [
                    {
                        "condition": "template",
                        "value_template": "{{ trigger.to_state.attributes.event_type == 'press' }}",
                    }
                ],
                "actions": [
                    {"action": "light.turn_on", "target": {"entity_id": "light.kitchen_light"}}
                ],
            }
        },
    )
    voice = terminal_of(kit_entry)

    await press(hass, kit_pins)

    await until(lambda: hass.states.get("light.kitchen_light").state == "on")
    await until(lambda: voice.state is VoiceState.LISTENING)
    await press(hass, kit_pins)
    await until(lambda: voice.session is None)


async def test_the_led_is_a_light_between_sessions(
    hass: HomeAssistant, kit_entry: MockConfigEntry, kit_pins: MockFactory
) -> None:
    led_entity = entity(hass, "light", "led")
    led = kit_pins.pin(LED)
    state = hass.states.get(led_entity)
    assert state.state == "off"
    assert state.attributes["supported_color_modes"] == ["brightness"]

    await hass.services.async_call(
        "light", "turn_on", {"entity_id": led_entity, "brightness": 64}, blocking=True
    )
    assert await led_shows(hass, kit_entry, led, "steady 0.25")
    assert hass.states.get(led_entity).attributes["brightness"] == 64
    await hass.services.async_call("light", "turn_off", {"entity_id": led_entity}, blocking=True)
    assert await led_shows(hass, kit_entry, led, "off")
    assert hass.states.get(led_entity).state == "off"


@pytest.fixture
def bonnet_sysfs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The Voice Bonnet's LED driver (leds-ktd202x) as its sysfs register file."""
    registers = tmp_path / "sys" / KTD202X_REGISTERS
    registers.parent.mkdir(parents=True)
    registers.write_text("")
    monkeypatch.setattr(kit_module, "SYSFS_ROOT", tmp_path / "sys")
    return registers


@pytest.mark.parametrize("kit_entry", [{"kit": {"board": "voice_bonnet"}}], indirect=True)
async def test_a_voice_bonnet_s_led_takes_colours(
    hass: HomeAssistant, bonnet_sysfs: Path, kit_entry: MockConfigEntry
) -> None:
    led_entity = entity(hass, "light", "led")
    assert hass.states.get(led_entity).attributes["supported_color_modes"] == ["rgb"]

    await hass.services.async_call(
        "light",
        "turn_on",
        {"entity_id": led_entity, "rgb_color": [255, 0, 64], "brightness": 255},
        blocking=True,
    )

    kit = terminal_of(kit_entry).kit.kit
    await hass.async_add_executor_job(kit.flush)
    written = await hass.async_add_executor_job(bonnet_sysfs.read_text)
    assert "led1=255;led2=0;led3=64;" in written
    assert "ch1_enable=1;ch2_enable=0;ch3_enable=1;" in written
    assert hass.states.get(led_entity).attributes["rgb_color"] == (255, 0, 64)


async def test_no_gpio_is_a_repair_issue_and_the_rest_works(
    hass: HomeAssistant,
    openai_at_peer: LocalRealtimePeer,
    loopback_ice: None,
    audio_server: AudioServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_gpio() -> Any:
        raise BadPinFactory("Unable to load any default pin factory!")

    monkeypatch.setattr(pins, "local_factory", no_gpio)
    entry = await async_set_up_entry(
        hass, assistant(), terminal(audio_server.server, board="voice_hat", pins="local")
    )

    issue = ir.async_get(hass).async_get_issue(DOMAIN, f"kit_unavailable_{TERMINAL_ID}")
    assert issue is not None
    assert issue.translation_key == "kit_no_gpio"
    assert "Unable to load any default pin factory" in issue.translation_placeholders["detail"]
    assert hass.states.get(entity(hass, "event", "button")).state == "unavailable"
    assert hass.states.get(entity(hass, "light", "led")).state == "unavailable"
    # The terminal itself still works: sessions start from actions.
    satellite = er.async_get(hass).async_get_entity_id("assist_satellite", DOMAIN, TERMINAL_ID)
    assert hass.states.get(satellite).state == "idle"
    await hass.config_entries.async_unload(entry.entry_id)
    assert ir.async_get(hass).async_get_issue(DOMAIN, f"kit_unavailable_{TERMINAL_ID}") is None


# -- a kit on another Raspberry Pi, through its pigpiod -------------------------------------------


@pytest.fixture
def fake_remote(monkeypatch: pytest.MonkeyPatch) -> Generator[type[FakePiGPIOFactory]]:
    """gpiozero's PiGPIOFactory stood in for (mock pins); the probe of pigpiod's port is real."""
    FakePiGPIOFactory.made = []
    monkeypatch.setattr(pins, "remote_factory_class", lambda: FakePiGPIOFactory)
    yield FakePiGPIOFactory
    FakePiGPIOFactory.made = []


def remote_terminal(server: str, port: int, board: str = "voice_hat") -> Any:
    return terminal(server, board=board, pins="remote", pigpio_host="127.0.0.1", pigpio_port=port)


async def test_a_kit_on_another_pi_through_pigpiod(
    hass: HomeAssistant,
    openai_at_peer: LocalRealtimePeer,
    loopback_ice: None,
    audio_server: AudioServer,
    fake_remote: type[FakePiGPIOFactory],
    socket_enabled: None,
) -> None:
    with FakePigpiod() as pigpiod:
        port = pigpiod.port
        entry = await async_set_up_entry(
            hass, assistant(), remote_terminal(audio_server.server, port)
        )
        (made,) = fake_remote.made
        assert (made.host, made.port) == ("127.0.0.1", port)
        voice = terminal_of(entry)

        await hass.services.async_call(
            "light", "turn_on", {"entity_id": entity(hass, "light", "led")}, blocking=True
        )
        assert await led_shows(hass, entry, made.pin(LED), "on")
        await press(hass, made)
        await until(lambda: voice.state is VoiceState.LISTENING)
        await press(hass, made)
        await until(lambda: voice.session is None)

        await hass.config_entries.async_unload(entry.entry_id)
    assert made.closed
    assert made.pins == {}


async def test_a_pigpiod_that_refuses_is_a_repair_issue_until_it_answers(
    hass: HomeAssistant,
    openai_at_peer: LocalRealtimePeer,
    loopback_ice: None,
    audio_server: AudioServer,
    fake_remote: type[FakePiGPIOFactory],
    socket_enabled: None,
) -> None:
    """A kit's Pi that boots after Home Assistant: its kit comes by itself, within a minute."""
    from datetime import timedelta

    from pytest_homeassistant_custom_component.common import async_fire_time_changed

    from homeassistant.util import dt as dt_util

    with socket.socket() as pigpiod:
        pigpiod.bind(("127.0.0.1", 0))  # nobody listens yet
        port = pigpiod.getsockname()[1]
        entry = await async_set_up_entry(
            hass, assistant(), remote_terminal(audio_server.server, port)
        )
        issue_id = f"kit_unavailable_{TERMINAL_ID}"
        issue = ir.async_get(hass).async_get_issue(DOMAIN, issue_id)
        assert issue is not None
        assert issue.translation_key == "kit_remote_refused"
        assert f"127.0.0.1:{port}" in issue.translation_placeholders["where"]
        assert fake_remote.made == []
        button = entity(hass, "event", "button")
        assert hass.states.get(button).state == "unavailable"

        pigpiod.close()  # the Pi has booted: its pigpiod listens on that port
        daemon = FakePigpiod()
        daemon.port = port
        daemon.start()
        async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=61))
        await until(lambda: hass.states.get(button).state != "unavailable")

        assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None
        assert len(fake_remote.made) == 1
        await hass.config_entries.async_unload(entry.entry_id)
        daemon.stop()
    assert fake_remote.made[0].closed


# -- the kit alone: an adapter that knows no terminal ------------------------------------------


async def test_the_kit_is_an_adapter_that_knows_no_terminal(
    hass: HomeAssistant, kit_pins: MockFactory
) -> None:
    """Made with a callback and told a state: presses reach the callback (and the event
    entity only when announced), the state reaches the LED; no terminal anywhere."""
    from custom_components.aiy_realtime.hardware.button import ButtonEvent
    from custom_components.aiy_realtime.hardware.led import LedState

    entry = MockConfigEntry(domain=DOMAIN)
    settings = kit_module.KitSettings.from_options({"board": "voice_hat", "pins": "local"})
    assert settings is not None
    pressed: list[ButtonEvent] = []
    kit = kit_module.TerminalKit(
        hass, entry, settings, key="kit1", title="A kit", on_button=pressed.append
    )
    announced: list[ButtonEvent] = []
    kit.subscribe_button(announced.append)
    kit.show(VoiceState.LISTENING)  # before it opens: shown once it does
    assert await kit.async_open()
    assert kit.kit is not None
    await hass.async_add_executor_job(kit.kit.flush)
    assert kit.kit.session_state is LedState.LISTENING

    await press(hass, kit_pins)
    await until(lambda: pressed == [ButtonEvent.PRESS])
    assert announced == []  # the callback decides what counts
    kit.announce(ButtonEvent.PRESS)
    assert announced == [ButtonEvent.PRESS]

    kit.show(VoiceState.IDLE)
    await hass.async_add_executor_job(kit.kit.flush)
    assert kit.kit.session_state is None
    await kit.async_close()
    assert reserved(kit_pins) == []


async def test_media_plays_with_the_amplifier_on(
    hass: HomeAssistant,
    openai_at_peer: LocalRealtimePeer,
    loopback_ice: None,
    audio_server: AudioServer,
    kit_pins: MockFactory,
    tmp_path: Path,
) -> None:
    """An announcement's sound file plays with no session: the terminal still shows speaking,
    so the kit's amplifier is on for it (before, it stayed off and nothing was heard)."""
    from tests.test_media_playback import tone_wav

    folder = tmp_path / "media"
    folder.mkdir()
    hass.config.media_dirs = {"local": str(folder)}  # before HA's media source is set up
    tone_wav(folder / "doorbell.wav", seconds=1.5)
    entry = await async_set_up_entry(
        hass, assistant(), terminal(audio_server.server, board="voice_hat", pins="local")
    )
    voice_terminal = terminal_of(entry)
    playing = hass.async_create_task(
        hass.services.async_call(
            "assist_satellite",
            "announce",
            {
                "entity_id": "assist_satellite.kitchen_terminal",
                "media_id": "media-source://media_source/local/doorbell.wav",
                "preannounce": False,
            },
            blocking=True,
        )
    )
    await until(lambda: voice_terminal.state is VoiceState.SPEAKING or playing.done())
    await hass.async_add_executor_job(voice_terminal.kit.kit.flush)
    assert kit_pins.pin(AMP).state
    await playing
    await hass.async_add_executor_job(voice_terminal.kit.kit.flush)
    assert voice_terminal.state is VoiceState.IDLE
    assert not kit_pins.pin(AMP).state
    assert openai_at_peer.requests["calls"] == 0
    assert await hass.config_entries.async_unload(entry.entry_id)
    assert reserved(kit_pins) == []
