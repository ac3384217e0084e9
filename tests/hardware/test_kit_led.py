"""The kit's LED: the patterns told apart from the pin's value over time, the user's light
coming back after a session, the bonnet's RGB LED against a fake sysfs tree."""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path
import time

from gpiozero.pins.mock import MockFactory, MockPWMPin
import pytest

from custom_components.aiy_realtime.hardware.boards import VOICE_BONNET, VOICE_HAT, custom_board
from custom_components.aiy_realtime.hardware.kit import Kit, KitOptions
from custom_components.aiy_realtime.hardware.led import (
    KTD202X_REGISTERS,
    PATTERNS,
    SESSION_PATTERNS,
    LedState,
    LightKind,
    Pattern,
    Shape,
    UserLight,
)
from tests.hardware.led_patterns import identify, record, sample, wait_for

LED = 25


@pytest.fixture
def factory() -> Generator[MockFactory]:
    factory = MockFactory(pin_class=MockPWMPin)
    yield factory
    factory.reset()


@pytest.fixture
def kit(factory: MockFactory) -> Generator[Kit]:
    kit = Kit.open(VOICE_HAT, post=lambda job: job(), factory=factory)
    yield kit
    kit.close()


def shows(kit: Kit, factory: MockFactory, state: str, expected: str) -> str:
    """What the LED shows after `state`, once it shows `expected` (or by a generous timeout)."""
    kit.show(state)
    assert kit.flush()
    return wait_for(record(factory.pin(LED)), expected)


# -- the table ------------------------------------------------------------------------------------


def test_every_session_state_but_idle_has_a_pattern_from_the_table() -> None:
    assert set(SESSION_PATTERNS) == set(LedState) - {LedState.IDLE}
    assert set(SESSION_PATTERNS.values()) <= set(PATTERNS)
    assert {"off", "ready"} <= set(PATTERNS)  # the idle choices


def test_pattern_levels_over_time() -> None:
    pulse = Pattern(Shape.PULSE, period=2.0)
    assert [pulse.level_at(t) for t in (0.0, 0.5, 1.0, 1.5, 2.0)] == [0.0, 0.5, 1.0, 0.5, 0.0]
    blink = Pattern(Shape.BLINK, level=0.5, period=0.3, count=3)
    assert [blink.level_at(t) for t in (0.0, 0.1, 0.2, 0.35)] == [0.5, 0.5, 0.0, 0.5]
    assert blink.duration() == pytest.approx(0.9)
    assert Pattern(Shape.STEADY, level=0.1).level_at(12.0) == 0.1
    assert Pattern(Shape.STEADY).duration() is None


# -- a GPIO LED (v1, custom pins) --------------------------------------------------------------


def test_a_session_goes_through_its_patterns_and_the_user_light_comes_back(
    kit: Kit, factory: MockFactory
) -> None:
    assert kit.light_kind is LightKind.BRIGHTNESS
    kit.set_user_light(UserLight(on=True, brightness=51))
    assert kit.flush()
    assert wait_for(record(factory.pin(LED)), "steady 0.20") == "steady 0.20"

    assert shows(kit, factory, "connecting", "quick pulse") == "quick pulse"
    assert kit.session_state is LedState.CONNECTING
    assert shows(kit, factory, "listening", "on") == "on"
    assert shows(kit, factory, "thinking", "quick pulse") == "quick pulse"
    assert shows(kit, factory, "speaking", "slow pulse") == "slow pulse"
    # the user's changes wait for the session to end
    kit.set_user_light(UserLight(on=True, brightness=102))
    assert shows(kit, factory, "listening", "on") == "on"
    assert shows(kit, factory, "idle", "steady 0.40") == "steady 0.40"
    assert kit.session_state is None


def test_an_error_blinks_three_times_then_the_led_rests(kit: Kit, factory: MockFactory) -> None:
    assert shows(kit, factory, "listening", "on") == "on"
    kit.show("error")
    kit.show("idle")  # the session ends at once: the blinks still play out
    assert kit.flush()
    recording = record(factory.pin(LED))
    assert wait_for(recording, "three blinks") == "three blinks"
    assert recording.timeline()[-1][1] == 0.0  # resting: the user's light is off


def test_a_new_session_cuts_the_error_blinks_short(kit: Kit, factory: MockFactory) -> None:
    kit.show("error")
    assert shows(kit, factory, "listening", "on") == "on"


def test_the_user_light_set_during_the_blinks_is_where_they_end(
    kit: Kit, factory: MockFactory
) -> None:
    kit.show("error")
    kit.set_user_light(UserLight(on=True, brightness=255))
    assert kit.flush()
    recording = record(factory.pin(LED))
    assert wait_for(recording, "three blinks") == "three blinks"  # none cut short
    assert recording.timeline()[-1][1] == 1.0  # and then the user's light


def test_idle_is_off_or_a_dim_ready(factory: MockFactory) -> None:
    for idle, expected in (("off", "off"), ("ready", "steady 0.10")):
        kit = Kit.open(
            VOICE_HAT, options=KitOptions(idle=idle), post=lambda job: job(), factory=factory
        )
        try:
            assert shows(kit, factory, "speaking", "slow pulse") == "slow pulse"
            assert shows(kit, factory, "idle", expected) == expected
            kit.set_user_light(UserLight(on=True, brightness=255))
            assert kit.flush()
            assert wait_for(record(factory.pin(LED)), "on") == "on"
            kit.set_user_light(UserLight(on=False, brightness=255))
            assert kit.flush()
            assert wait_for(record(factory.pin(LED)), expected) == expected
        finally:
            kit.close()


def test_patterns_can_be_told_apart_by_polling_the_pin(kit: Kit, factory: MockFactory) -> None:
    """Polling `pin.state` (as an integration test might) tells them apart too."""
    pin = factory.pin(LED)
    for state, expected, seconds in (
        ("listening", "on", 1.0),
        ("thinking", "quick pulse", 1.5),
        ("speaking", "slow pulse", 3.0),
        ("idle", "off", 1.0),
    ):
        kit.show(state)
        assert kit.flush()
        assert identify(sample(pin, seconds)) == expected


def test_without_pwm_the_led_is_on_or_off(factory: MockFactory) -> None:
    plain = MockFactory()  # MockPin: no PWM, like gpiozero's native factory
    kit = Kit.open(custom_board(None, led_pin=LED), post=lambda job: job(), factory=plain)
    try:
        assert kit.light_kind is LightKind.ONOFF
        assert [note.reason for note in kit.notes] == ["led_no_pwm"]
        kit.set_user_light(UserLight(on=True, brightness=10))
        assert kit.flush()
        assert wait_for(record(plain.pin(LED)), "on") == "on"
        kit.show("thinking")  # a pulse becomes a blink at the same pace
        assert kit.flush()
        points = sample(plain.pin(LED), 1.5)
        assert {value for _, value in points} == {0.0, 1.0}
    finally:
        kit.close()
        plain.reset()


# -- the bonnet's RGB LED (KTD202x through sysfs) -----------------------------------------------


def registers(path: Path) -> dict[str, int]:
    text = path.read_text()
    assert len(text) <= 128  # what the driver reads of one write
    pairs = [item.split("=") for item in text.split(";") if item]
    return {name: int(value) for name, value in pairs}


def wait_for_registers(
    path: Path, expected: dict[str, int], timeout: float = 20.0
) -> dict[str, int]:
    deadline = time.monotonic() + timeout
    seen = registers(path)
    while {k: seen.get(k) for k in expected} != expected and time.monotonic() < deadline:
        time.sleep(0.02)
        seen = registers(path)
    return {k: seen.get(k, -1) for k in expected}


@pytest.fixture
def sysfs(tmp_path: Path) -> Path:
    registers_file = tmp_path / KTD202X_REGISTERS
    registers_file.parent.mkdir(parents=True)
    registers_file.write_text("")
    return tmp_path


def test_the_bonnet_led_takes_colour_and_patterns_through_sysfs(
    factory: MockFactory, sysfs: Path
) -> None:
    path = sysfs / KTD202X_REGISTERS
    kit = Kit.open(
        VOICE_BONNET, options=KitOptions(sysfs_root=sysfs), post=lambda job: job(), factory=factory
    )
    try:
        assert kit.light_kind is LightKind.RGB
        assert kit.notes == ()
        assert kit.flush()
        assert registers(path) == {
            "led1": 0, "led2": 0, "led3": 0, "ch1_enable": 0, "ch2_enable": 0, "ch3_enable": 0
        }  # fmt: skip

        kit.set_user_light(UserLight(on=True, brightness=128, rgb=(255, 64, 0)))
        assert kit.flush()
        assert registers(path) == {
            "led1": 128, "led2": 32, "led3": 0, "ch1_enable": 1, "ch2_enable": 1, "ch3_enable": 0
        }  # fmt: skip

        kit.show("listening")  # steady, in the session colour (white)
        assert kit.flush()
        assert registers(path) == {
            "led1": 255, "led2": 255, "led3": 255, "ch1_enable": 1, "ch2_enable": 1, "ch3_enable": 1
        }  # fmt: skip

        kit.show("speaking")  # the chip breathes by itself: a 2 s flash period, long ramps
        assert kit.flush()
        speaking = registers(path)
        assert speaking["tflash"] == 14  # 128 ms * (14 + 2) = 2.05 s
        assert speaking["trise"] == speaking["tfall"] == 6  # 6 * 96 ms = 0.58 s
        assert [speaking[f"ch{n}_enable"] for n in (1, 2, 3)] == [2, 2, 2]  # timer 1
        kit.show("thinking")
        assert kit.flush()
        assert registers(path)["tflash"] == 3  # 0.64 s: a quick pulse

        kit.show("error")  # red blinks, then the user's light
        kit.show("idle")
        assert kit.flush()
        error = registers(path)
        assert (error["led1"], error["led2"], error["led3"]) == (255, 0, 0)
        assert (error["ch1_enable"], error["ch2_enable"]) == (2, 0)
        assert (error["trise"], error["tfall"], error["pwm1"]) == (0, 0, 128)
        user = {"led1": 128, "led2": 32, "led3": 0, "ch1_enable": 1, "ch2_enable": 1}
        assert wait_for_registers(path, user) == user
    finally:
        kit.close()
    assert registers(path) == {"ch1_enable": 0, "ch2_enable": 0, "ch3_enable": 0}


def test_a_bonnet_without_its_led_driver_works_without_the_led(
    factory: MockFactory, tmp_path: Path
) -> None:
    kit = Kit.open(
        VOICE_BONNET,
        options=KitOptions(sysfs_root=tmp_path),
        post=lambda job: job(),
        factory=factory,
    )
    try:
        assert kit.light_kind is LightKind.NONE
        assert [note.reason for note in kit.notes] == ["led_driver_missing"]
        assert "leds-ktd202x" in kit.notes[0].detail
        assert kit.has_button
        kit.show("speaking")  # the amplifier still follows the session
        assert kit.flush()
        assert factory.pin(16).state
    finally:
        kit.close()


def test_a_failing_led_write_is_logged_and_the_kit_goes_on(
    factory: MockFactory, sysfs: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = sysfs / KTD202X_REGISTERS
    kit = Kit.open(
        VOICE_BONNET, options=KitOptions(sysfs_root=sysfs), post=lambda job: job(), factory=factory
    )
    try:
        assert kit.flush()
        path.unlink()
        path.mkdir()  # writes now fail (IsADirectoryError)
        kit.show("listening")
        assert kit.flush()
        assert "Showing a pattern for the kit failed" in caplog.text
        path.rmdir()
        path.write_text("")
        kit.show("thinking")
        assert kit.flush()
        assert registers(path)["tflash"] == 3
    finally:
        kit.close()
