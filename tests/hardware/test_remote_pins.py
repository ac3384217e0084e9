"""Opening and watching a remote kit's pins (hardware/pins.py) against a pigpiod that is slow or
silent, through the real pigpio client: opening is bounded and leaves no thread or connection
behind, and a reply that comes too late never answers the command after it."""

from __future__ import annotations

from collections.abc import Generator
import threading
import time

import pigpio
import pytest

from custom_components.aiy_realtime.hardware import pins
from custom_components.aiy_realtime.hardware.pins import GpioUnavailable, RemotePins, open_pins
from tests.hardware.fake_pigpiod import FakePigpiod


@pytest.fixture
def pigpiod(socket_enabled: None) -> Generator[FakePigpiod]:
    with FakePigpiod() as daemon:
        yield daemon


_BEFORE: set[threading.Thread] = set()


@pytest.fixture(autouse=True)
def threads_before() -> None:
    """pigpio's threads left by an earlier test are not this test's."""
    _BEFORE.clear()
    _BEFORE.update(threading.enumerate())


def _pigpio_threads() -> list[threading.Thread]:
    return [
        t
        for t in threading.enumerate()
        if (t.name == "pigpiod connect" or isinstance(t, pigpio._callback_thread))
        and t not in _BEFORE
    ]


def _settled(condition: object, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return True
        time.sleep(0.05)
    return False


def test_a_pigpiod_that_accepts_and_never_answers_fails_the_open_and_leaves_nothing(
    pigpiod: FakePigpiod,
) -> None:
    pigpiod.hang()
    started = time.monotonic()
    with pytest.raises(GpioUnavailable) as raised:
        open_pins(RemotePins("127.0.0.1", pigpiod.port), timeout=0.5)
    assert raised.value.reason == "remote_unreachable"
    assert "did not answer" in raised.value.detail
    assert time.monotonic() - started < 3.0
    # Nothing keeps waiting on it: no thread blocked in pigpio's connect, no socket held open.
    assert _settled(lambda: _pigpio_threads() == []), _pigpio_threads()
    pigpiod.hanging = False
    pigpiod.drop()  # the daemon closes what it still holds; a pigpio client left would notice
    assert _pigpio_threads() == []


def test_a_pigpiod_answering_after_the_open_gave_up_has_its_late_factory_closed(
    pigpiod: FakePigpiod, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The probe passes, then the daemon is slower than the open waits: the factory pigpio
    finishes making afterwards is closed, not left connected with its notify thread."""
    monkeypatch.setattr(pins, "COMMAND_TIMEOUT", 0.2)
    real_probe = pins._probe

    def probe_then_slow(location: RemotePins, timeout: float) -> None:
        real_probe(location, timeout)
        pigpiod.late = 0.5  # pigpio's connect runs several commands: 1.5 s or more in all

    monkeypatch.setattr(pins, "_probe", probe_then_slow)
    with pytest.raises(GpioUnavailable) as raised:
        open_pins(RemotePins("127.0.0.1", pigpiod.port), timeout=0.2)
    assert raised.value.reason == "remote_unreachable"
    assert _settled(lambda: _pigpio_threads() == [], timeout=10), _pigpio_threads()


def test_a_reply_too_late_loses_the_kit_instead_of_answering_the_next_command(
    pigpiod: FakePigpiod, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pins, "COMMAND_TIMEOUT", 0.3)
    opened = open_pins(RemotePins("127.0.0.1", pigpiod.port), timeout=1.0)
    try:
        connection = opened.factory._connection
        assert opened.check(timeout=1.0) is None
        pigpiod.late = 0.6  # longer than a command may take
        with pytest.raises(TimeoutError):
            connection.get_current_tick()
        pigpiod.late = 0.0
        time.sleep(0.5)  # the late reply has arrived by now, unread
        # pigpio pairs a command with the next 16 bytes it reads: were the socket still used,
        # this would read the tick's late reply as the mode's. It fails instead, and the kit is
        # found lost.
        with pytest.raises(ConnectionError, match="was lost"):
            connection.get_mode(4)
        lost = opened.check(timeout=1.0)
        assert lost is not None
        assert lost.reason == "remote_lost"
    finally:
        opened.sever()
        opened.close()
    assert _settled(lambda: _pigpio_threads() == []), _pigpio_threads()


def test_a_close_that_meets_a_lost_pigpiod_still_stops_the_notify_thread(
    pigpiod: FakePigpiod, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Lost before anyone noticed (no check, no sever): gpiozero's close fails on the pins'
    resets and never reaches pigpio's stop(); its notify thread would wait for ever."""
    monkeypatch.setattr(pins, "COMMAND_TIMEOUT", 0.3)
    opened = open_pins(RemotePins("127.0.0.1", pigpiod.port), timeout=1.0)
    assert len(_pigpio_threads()) == 1  # the notify thread
    pigpiod.hang()
    with pytest.raises(TimeoutError):
        opened.factory._connection.get_current_tick()
    opened.close()
    assert _settled(lambda: _pigpio_threads() == []), _pigpio_threads()
