"""The kit as a whole: board profiles, where the pins are (local, remote through pigpiod, none),
the amplifier following the session, and close() releasing every pin."""

from __future__ import annotations

from collections.abc import Callable, Generator
import socket
import sys
import threading
import time
from typing import Any

from gpiozero import PWMLED, Button, Device, DigitalOutputDevice
from gpiozero.exc import BadPinFactory, PinUnknownPi
from gpiozero.pins.mock import MockFactory, MockPWMPin
import pytest

from custom_components.aiy_realtime.hardware import pins
from custom_components.aiy_realtime.hardware.audio_devices import AlsaBackend, AudioDevice
from custom_components.aiy_realtime.hardware.boards import (
    BOARDS,
    NO_KIT,
    VOICE_BONNET,
    VOICE_HAT,
    BoardError,
    BoardId,
    LedKind,
    board_for,
    custom_board,
)
from custom_components.aiy_realtime.hardware.button import ButtonEvent
from custom_components.aiy_realtime.hardware.kit import Kit, KitOptions
from custom_components.aiy_realtime.hardware.led import LightKind
from custom_components.aiy_realtime.hardware.pins import (
    GpioUnavailable,
    LocalPins,
    RemotePins,
    open_pins,
)
from tests.hardware.fake_pigpiod import FakePigpiod
from tests.hardware.fakes import FakePiGPIOFactory


def run(job: Callable[[], None]) -> None:
    job()


@pytest.fixture
def factory() -> Generator[MockFactory]:
    factory = MockFactory(pin_class=MockPWMPin)
    yield factory
    factory.reset()


# -- boards ----------------------------------------------------------------------------------------


def test_the_boards_as_the_hardware_has_them() -> None:
    assert (VOICE_HAT.button_pin, VOICE_HAT.led, VOICE_HAT.led_pin, VOICE_HAT.amp_pin) == (
        23,
        LedKind.GPIO,
        25,
        16,
    )
    assert VOICE_HAT.button_pull_up
    assert VOICE_HAT.pwm_frequency == 100
    assert VOICE_HAT.audio is not None
    assert VOICE_HAT.audio.alsa() == AlsaBackend(
        capture="plughw:CARD=sndrpigooglevoi,DEV=0", playback="plughw:CARD=sndrpigooglevoi,DEV=0"
    )
    assert (VOICE_BONNET.button_pin, VOICE_BONNET.led, VOICE_BONNET.amp_pin) == (
        23,
        LedKind.KTD202X,
        16,
    )
    assert VOICE_BONNET.audio is not None
    assert VOICE_BONNET.audio.alsa_card == "aiyvoicebonnet"
    assert VOICE_BONNET.pins == (23, 16)  # the LED is not on a GPIO
    assert not NO_KIT.needs_gpio
    assert set(BOARDS) == {BoardId.VOICE_HAT, BoardId.VOICE_BONNET, BoardId.NONE}


def test_a_board_finds_its_card_in_a_device_listing() -> None:
    assert VOICE_HAT.audio is not None
    assert VOICE_HAT.audio.matches(
        AudioDevice("plughw:CARD=sndrpigooglevoi,DEV=0", "snd_rpi_googlevoicehat_soundcard")
    )
    assert not VOICE_HAT.audio.matches(AudioDevice("plughw:CARD=Headphones,DEV=0", "bcm2835"))


def test_custom_pins_and_the_form_choices() -> None:
    board = board_for("custom", button_pin=5, led_pin=6)
    assert (board.id, board.button_pin, board.led, board.led_pin, board.amp_pin) == (
        BoardId.CUSTOM,
        5,
        LedKind.GPIO,
        6,
        None,
    )
    assert board_for("voice_bonnet") is VOICE_BONNET
    assert custom_board(17).led is LedKind.NONE
    for args, reason in (
        ((None, None, None), "no_parts"),
        ((23, 23), "pin_twice"),
        ((40,), "pin_out_of_range"),
    ):
        with pytest.raises(BoardError) as caught:
            custom_board(*args)
        assert caught.value.reason == reason
    with pytest.raises(BoardError) as caught:
        board_for("voice_hat_v3")
    assert caught.value.reason == "unknown_board"


# -- the amplifier and close() ------------------------------------------------------------------


def test_the_amplifier_is_on_only_while_a_session_may_play(factory: MockFactory) -> None:
    kit = Kit.open(VOICE_HAT, post=run, factory=factory)
    amp = factory.pin(16)
    try:
        assert kit.has_amplifier
        assert kit.flush()
        assert not amp.state
        for state, on in (
            ("connecting", True),
            ("listening", True),
            ("thinking", True),
            ("speaking", True),
            ("idle", False),
            ("listening", True),
            ("error", False),
        ):
            kit.show(state)
            assert kit.flush()
            assert bool(amp.state) is on, state
    finally:
        kit.close()
    assert not amp.state


def test_close_releases_every_pin_and_stops_every_thread(factory: MockFactory) -> None:
    before = set(threading.enumerate())
    kit = Kit.open(VOICE_HAT, post=run, factory=factory)
    kit.show("speaking")
    assert kit.flush()
    assert set(threading.enumerate()) - before  # gpiozero's hold thread, the output thread
    kit.close()
    kit.close()
    assert kit.closed
    assert set(threading.enumerate()) - before == set()
    for name, pin in factory.pins.items():
        assert pin.function == "input", name
        assert pin.when_changed is None, name
        assert not pin.frequency, name
    # each pin is free for whoever comes next
    for device in (
        Button(23, pin_factory=factory),
        PWMLED(25, pin_factory=factory),
        DigitalOutputDevice(16, pin_factory=factory),
    ):
        device.close()
    kit.show("listening")  # after close: nothing happens, nothing raises
    kit.set_user_light(kit.user_light)


def test_a_pin_in_use_is_a_clear_error_and_nothing_is_left_held(factory: MockFactory) -> None:
    holder = DigitalOutputDevice(16, pin_factory=factory)  # the amplifier's pin, taken
    before = set(threading.enumerate())
    try:
        with pytest.raises(GpioUnavailable) as caught:
            Kit.open(VOICE_HAT, post=run, factory=factory)
        assert caught.value.reason == "pin_in_use"
        assert "GPIO16" in caught.value.detail
        assert set(threading.enumerate()) - before == set()
        Button(23, pin_factory=factory).close()  # the button's and LED's pins were let go
        PWMLED(25, pin_factory=factory).close()
    finally:
        holder.close()


def test_a_kit_without_a_board_has_nothing(factory: MockFactory) -> None:
    kit = Kit.open(NO_KIT, post=run)
    assert (kit.has_button, kit.has_amplifier, kit.light_kind, kit.factory) == (
        False,
        False,
        LightKind.NONE,
        None,
    )
    kit.subscribe(lambda event: None)()
    kit.show("speaking")
    assert kit.flush()
    kit.close()


def test_a_button_only_kit_runs_no_output_thread(factory: MockFactory) -> None:
    before = set(threading.enumerate())
    kit = Kit.open(custom_board(5), post=run, factory=factory)
    try:
        assert len(set(threading.enumerate()) - before) == 1  # gpiozero's hold thread only
        kit.show("listening")
        assert kit.flush()
    finally:
        kit.close()


# -- this machine's pins -------------------------------------------------------------------------


def test_local_pins_are_gpiozero_s_own_default_factory(
    factory: MockFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`Device.pin_factory` is gpiozero's (and the HA tests') seam for this machine's pins."""
    monkeypatch.setattr(Device, "pin_factory", factory)
    opened = open_pins(LocalPins())
    assert opened.factory is factory
    assert not opened.owned
    kit = Kit.open(VOICE_HAT, post=run)
    try:
        assert kit.factory is factory
        events: list[ButtonEvent] = []
        kit.subscribe(events.append)
        factory.pin(23).drive_low()
        factory.pin(23).drive_high()  # released at once: bounce, no press
        assert events == []
    finally:
        kit.close()
    assert Device.pin_factory is factory  # shared: never closed by a kit


def test_no_gpio_here_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """gpiozero's real choice, made to find nothing (as on a machine without GPIO)."""
    monkeypatch.setattr(Device, "pin_factory", None)
    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "no-such-factory")
    with pytest.raises(GpioUnavailable) as caught:
        Kit.open(VOICE_HAT, post=run)
    assert caught.value.reason == "no_gpio"
    assert "this machine" in caught.value.detail
    assert "no-such-factory" in str(caught.value)
    assert Device.pin_factory is None


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (BadPinFactory("Unable to load any default pin factory!"), "no_gpio"),
        (PinUnknownPi("unable to locate Pi revision"), "no_gpio"),
        (PermissionError(13, "Permission denied", "/dev/gpiochip0"), "no_access"),
        (RuntimeError("something else"), "failed"),
    ],
)
def test_what_gpiozero_raises_becomes_one_clear_error(
    monkeypatch: pytest.MonkeyPatch, error: Exception, reason: str
) -> None:
    def fails() -> Any:
        raise error

    monkeypatch.setattr(pins, "local_factory", fails)
    with pytest.raises(GpioUnavailable) as caught:
        open_pins(LocalPins())
    assert caught.value.reason == reason
    assert str(error) in caught.value.detail or str(error.args[0]) in caught.value.detail


# -- a remote Pi's pins, through pigpiod -----------------------------------------------------------


@pytest.fixture
def fake_remote(monkeypatch: pytest.MonkeyPatch) -> Generator[type[FakePiGPIOFactory]]:
    FakePiGPIOFactory.made = []
    monkeypatch.setattr(pins, "remote_factory_class", lambda: FakePiGPIOFactory)
    yield FakePiGPIOFactory
    FakePiGPIOFactory.made = []


@pytest.fixture
def listening(socket_enabled: None) -> Generator[int]:
    """A port on loopback with a pigpiod behind it (it answers the open's probe)."""
    with FakePigpiod() as daemon:
        yield daemon.port


@pytest.fixture
def refusing(socket_enabled: None) -> Generator[int]:
    """A port on loopback that nobody listens on (bound, so nobody else takes it)."""
    with socket.socket() as bound:
        bound.bind(("127.0.0.1", 0))
        yield bound.getsockname()[1]


def test_remote_pins_reach_pigpio_s_factory_and_close_with_the_kit(
    fake_remote: type[FakePiGPIOFactory], listening: int
) -> None:
    kit = Kit.open(VOICE_HAT, RemotePins("127.0.0.1", listening), post=run)
    try:
        (made,) = fake_remote.made
        assert (made.host, made.port) == ("127.0.0.1", listening)
        assert kit.factory is made
        assert kit.light_kind is LightKind.BRIGHTNESS
        events: list[ButtonEvent] = []
        kit.subscribe(events.append)
        kit.show("listening")
        assert kit.flush()
        assert made.pin(25).state == 1.0
        assert made.pin(16).state
    finally:
        kit.close()
    assert made.closed
    assert made.pins == {}


def test_a_remote_bonnet_has_no_led(fake_remote: type[FakePiGPIOFactory], listening: int) -> None:
    kit = Kit.open(VOICE_BONNET, RemotePins("127.0.0.1", listening), post=run)
    try:
        assert kit.light_kind is LightKind.NONE
        assert [note.reason for note in kit.notes] == ["led_remote"]
        assert kit.has_button
        assert kit.has_amplifier
    finally:
        kit.close()


def test_nobody_listening_is_refused_with_host_and_port(
    fake_remote: type[FakePiGPIOFactory], refusing: int
) -> None:
    with pytest.raises(GpioUnavailable) as caught:
        Kit.open(VOICE_HAT, RemotePins("127.0.0.1", refusing), post=run)
    assert caught.value.reason == "remote_refused"
    assert f"127.0.0.1:{refusing}" in caught.value.detail
    assert "pigpiod" in caught.value.detail
    assert fake_remote.made == []  # pigpio's own (unbounded) connect never tried


def test_without_the_pigpio_package_remote_pins_say_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The real seam, with `pigpio` made unimportable (whether or not it is installed)."""
    monkeypatch.setitem(sys.modules, "pigpio", None)
    monkeypatch.delitem(sys.modules, "gpiozero.pins.pigpio", raising=False)
    with pytest.raises(GpioUnavailable) as caught:
        Kit.open(VOICE_HAT, RemotePins("kit.local"), post=run)
    assert caught.value.reason == "pigpio_missing"
    assert "pigpio" in caught.value.detail


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (socket.gaierror(-2, "Name or service not known"), "remote_unknown_host"),
        (TimeoutError("timed out"), "remote_unreachable"),
        (OSError(113, "No route to host"), "remote_unreachable"),
    ],
)
def test_an_unreachable_pi_is_a_clear_error(
    fake_remote: type[FakePiGPIOFactory],
    monkeypatch: pytest.MonkeyPatch,
    error: OSError,
    reason: str,
) -> None:
    def connect(address: tuple[str, int], timeout: float) -> socket.socket:
        assert address == ("kit.local", 8888)
        assert timeout == 2.0
        raise error

    monkeypatch.setattr(pins.socket, "create_connection", connect)
    with pytest.raises(GpioUnavailable) as caught:
        Kit.open(VOICE_HAT, RemotePins("kit.local"), KitOptions(connect_timeout=2.0), post=run)
    assert caught.value.reason == reason
    assert "kit.local" in caught.value.detail
    assert fake_remote.made == []


def test_pigpio_s_own_failure_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, listening: int
) -> None:
    class Failing:
        def __init__(self, host: str, port: int) -> None:
            raise OSError(f"failed to connect to {host}:{port}")  # as PiGPIOFactory does

    monkeypatch.setattr(pins, "remote_factory_class", lambda: Failing)
    with pytest.raises(GpioUnavailable) as caught:
        open_pins(RemotePins("127.0.0.1", listening))
    assert caught.value.reason == "remote_unreachable"
    assert f"127.0.0.1:{listening}" in caught.value.detail


# -- a remote Pi's pigpiod lost, through the real pigpio client ------------------------------------


@pytest.fixture
def pigpiod(socket_enabled: None) -> Generator[FakePigpiod]:
    with FakePigpiod() as daemon:
        yield daemon


def _notify_threads() -> list[threading.Thread]:
    """pigpio's notify threads, and the kit's own helpers that a lost pigpiod left waiting."""
    import pigpio

    helpers = {"kit close", "pigpiod check", "pigpiod connect"}
    return [
        t
        for t in threading.enumerate()
        if isinstance(t, pigpio._callback_thread) or t.name in helpers
    ]


def test_a_dropped_pigpiod_is_found_and_its_spinning_thread_ended(pigpiod: FakePigpiod) -> None:
    kit = Kit.open(VOICE_HAT, RemotePins("127.0.0.1", pigpiod.port), post=run)
    assert kit.check() is None
    pigpiod.drop()
    problem = kit.check(timeout=1.0)
    assert problem is not None
    assert problem.reason == "remote_lost"
    started = time.monotonic()
    assert kit.close_within(3.0, lost=True)
    assert time.monotonic() - started < 1.0
    deadline = time.monotonic() + 2
    while _notify_threads() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _notify_threads() == []  # it spun on the dropped socket until then


def test_a_pigpiod_that_hangs_is_found_within_the_timeout_and_closed_without_it(
    pigpiod: FakePigpiod,
) -> None:
    kit = Kit.open(VOICE_HAT, RemotePins("127.0.0.1", pigpiod.port), post=run)
    pigpiod.hang()
    started = time.monotonic()
    problem = kit.check(timeout=0.5)
    assert problem is not None
    assert "did not answer" in problem.detail
    assert kit.close_within(0.5) is False  # abandoned, its sockets cut
    assert time.monotonic() - started < 2.0
    deadline = time.monotonic() + 5
    while _notify_threads() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _notify_threads() == []


def test_a_pigpiod_that_accepts_and_never_answers_cannot_hold_the_open(
    pigpiod: FakePigpiod,
) -> None:
    pigpiod.hang()
    started = time.monotonic()
    with pytest.raises(GpioUnavailable) as caught:
        Kit.open(
            VOICE_HAT,
            RemotePins("127.0.0.1", pigpiod.port),
            KitOptions(connect_timeout=0.5),
            post=run,
        )
    assert caught.value.reason == "remote_unreachable"
    assert time.monotonic() - started < pins.COMMAND_TIMEOUT + 2
    pigpiod.stop()  # the abandoned connect thread ends with the daemon's connections
    deadline = time.monotonic() + 5
    while _notify_threads() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _notify_threads() == []
