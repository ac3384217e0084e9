"""A kit on another Raspberry Pi whose pigpiod goes away, through the real pigpio client and
gpiozero's PiGPIOFactory against a fake pigpiod (tests/hardware/fake_pigpiod.py): the kit goes
unavailable with its repair, pigpio's notify thread stops spinning, the kit comes back when
pigpiod does, and unloading never waits on a daemon that stopped answering."""

from __future__ import annotations

import asyncio
from collections.abc import Generator
from datetime import timedelta
import threading
import time

import pigpio
import pytest
from pytest_homeassistant_custom_component.common import async_fire_time_changed

from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import dt as dt_util

from custom_components.aiy_realtime.const import DOMAIN
from custom_components.aiy_realtime.terminal import kit as kit_module
from tests.audio_server import AudioServer
from tests.hardware.fake_pigpiod import FakePigpiod
from tests.helpers import TERMINAL_ID, assistant, async_set_up_entry, terminal
from tests.kit_helpers import BUTTON, entity
from tests.peer import LocalRealtimePeer
from tests.voice_helpers import until

ISSUE_ID = f"kit_unavailable_{TERMINAL_ID}"


@pytest.fixture(autouse=True)
def openai(openai_at_peer: LocalRealtimePeer) -> LocalRealtimePeer:
    """The entry's key is checked at setup: against the local peer."""
    return openai_at_peer


@pytest.fixture
def pigpiod(socket_enabled: None) -> Generator[FakePigpiod]:
    with FakePigpiod() as daemon:
        yield daemon


@pytest.fixture
def watch_often(monkeypatch: pytest.MonkeyPatch) -> None:
    """The kit's pigpiod checked every 0.2 s rather than every 10 (the test's patience)."""
    monkeypatch.setattr(kit_module, "KIT_WATCH", 0.2, raising=False)


def remote_kit(server: str, port: int) -> object:
    # A long press only fires the event entity: the button is seen to work, no session starts.
    return terminal(
        server,
        board="voice_hat",
        pins="remote",
        pigpio_host="127.0.0.1",
        pigpio_port=port,
        long_press="event_only",
    )


def notify_threads() -> list[threading.Thread]:
    """pigpio's threads that read the button's reports (one per connection)."""
    return [t for t in threading.enumerate() if isinstance(t, pigpio._callback_thread)]


async def long_press(hass: HomeAssistant, daemon: FakePigpiod) -> None:
    await until(lambda: daemon.watching(BUTTON))
    daemon.press(BUTTON, True)
    await asyncio.sleep(1.3)
    daemon.press(BUTTON, False)


async def fired(hass: HomeAssistant, daemon: FakePigpiod) -> bool:
    button = entity(hass, "event", "button")
    before = hass.states.get(button).state
    await long_press(hass, daemon)
    try:
        await until(lambda: hass.states.get(button).state != before, timeout=5)
    except TimeoutError:
        return False
    return True


async def test_a_lost_pigpiod_is_a_repair_until_it_is_back(
    hass: HomeAssistant, audio_server: AudioServer, pigpiod: FakePigpiod, watch_often: None
) -> None:
    entry = await async_set_up_entry(
        hass, assistant(), remote_kit(audio_server.server, pigpiod.port)
    )
    button = entity(hass, "event", "button")
    light = entity(hass, "light", "led")
    assert hass.states.get(button).state != STATE_UNAVAILABLE
    assert await fired(hass, pigpiod)
    assert len(notify_threads()) == 1

    pigpiod.stop()  # the Pi is gone: connections dropped, nobody listening
    async with asyncio.timeout(10):
        await until(lambda: hass.states.get(button).state == STATE_UNAVAILABLE)
    assert hass.states.get(light).state == STATE_UNAVAILABLE
    issue = ir.async_get(hass).async_get_issue(DOMAIN, ISSUE_ID)
    assert issue is not None
    assert issue.translation_key == "kit_remote_lost"
    assert f"127.0.0.1:{pigpiod.port}" in issue.translation_placeholders["where"]
    # pigpio's notify thread spun on the dropped socket (a core's worth): it is gone.
    await until(lambda: notify_threads() == [], timeout=5)
    cpu = time.process_time()
    await asyncio.sleep(1.0)
    assert time.process_time() - cpu < 0.5

    pigpiod.start()  # back, on the same port: found at the next minute's try
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=61))
    await until(lambda: hass.states.get(button).state != STATE_UNAVAILABLE)
    assert ir.async_get(hass).async_get_issue(DOMAIN, ISSUE_ID) is None
    assert hass.states.get(light).state != STATE_UNAVAILABLE
    assert await fired(hass, pigpiod)  # the button works again

    await hass.config_entries.async_unload(entry.entry_id)
    assert notify_threads() == []


async def test_a_pigpiod_restarting_is_found_and_the_kit_reopened(
    hass: HomeAssistant, audio_server: AudioServer, pigpiod: FakePigpiod, watch_often: None
) -> None:
    """A daemon that restarts (connections dropped, still listening) is the same loss."""
    entry = await async_set_up_entry(
        hass, assistant(), remote_kit(audio_server.server, pigpiod.port)
    )
    button = entity(hass, "event", "button")
    pigpiod.drop()
    async with asyncio.timeout(10):
        await until(lambda: hass.states.get(button).state == STATE_UNAVAILABLE)
    await until(lambda: notify_threads() == [], timeout=5)
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=61))
    await until(lambda: hass.states.get(button).state != STATE_UNAVAILABLE)
    assert await fired(hass, pigpiod)
    await hass.config_entries.async_unload(entry.entry_id)


async def test_unload_does_not_wait_on_a_pigpiod_that_stopped_answering(
    hass: HomeAssistant, audio_server: AudioServer, pigpiod: FakePigpiod
) -> None:
    """A Pi that lost power: connections stay open, nothing answers, pigpio has no timeout."""
    entry = await async_set_up_entry(
        hass, assistant(), remote_kit(audio_server.server, pigpiod.port)
    )
    pigpiod.hang()
    started = time.monotonic()
    async with asyncio.timeout(15):  # the old code waited for ever (till the daemon's end)
        await hass.config_entries.async_unload(entry.entry_id)
    assert time.monotonic() - started < 8
    await until(lambda: notify_threads() == [], timeout=5)
