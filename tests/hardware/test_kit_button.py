"""The kit's button on gpiozero's mock pins: press or long press on release, debounced, posted."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Generator
import threading

from gpiozero.pins.mock import MockFactory, MockPWMPin
import pytest

from custom_components.aiy_realtime.hardware.button import ButtonEvent, KitButton

PIN = 23


class Clock:
    """Time the test sets: the edges' timing is exact, however slow the machine."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Posted:
    """A `post` that keeps the jobs until the test runs them (as a loop would, later)."""

    def __init__(self) -> None:
        self.jobs: list[Callable[[], None]] = []

    def __call__(self, job: Callable[[], None]) -> None:
        self.jobs.append(job)

    def run(self) -> None:
        jobs, self.jobs = self.jobs, []
        for job in jobs:
            job()


@pytest.fixture
def factory() -> Generator[MockFactory]:
    factory = MockFactory(pin_class=MockPWMPin)
    yield factory
    factory.reset()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def posted() -> Posted:
    return Posted()


@pytest.fixture
def button(factory: MockFactory, clock: Clock, posted: Posted) -> Generator[KitButton]:
    button = KitButton(PIN, factory=factory, post=posted, clock=clock)
    yield button
    button.close()


def edges(factory: MockFactory, clock: Clock, *timeline: tuple[float, str]) -> None:
    """Drive the button's pin: (seconds, "down" | "up") at the clock's times."""
    pin = factory.pin(PIN)
    start = clock.now
    for at, level in timeline:
        clock.now = start + at
        if level == "down":
            pin.drive_low()
        else:
            pin.drive_high()


def heard(button: KitButton, posted: Posted) -> list[ButtonEvent]:
    events: list[ButtonEvent] = []
    button.subscribe(events.append)
    return events


def test_a_press_is_told_on_release_through_post(
    button: KitButton, factory: MockFactory, clock: Clock, posted: Posted
) -> None:
    events = heard(button, posted)
    edges(factory, clock, (0.0, "down"))
    assert button.is_pressed
    assert posted.jobs == []  # decided on release
    edges(factory, clock, (0.3, "up"))
    assert events == []  # not in gpiozero's thread: through `post`
    posted.run()
    assert events == [ButtonEvent.PRESS]


def test_held_past_the_threshold_is_a_long_press(
    button: KitButton, factory: MockFactory, clock: Clock, posted: Posted
) -> None:
    events = heard(button, posted)
    edges(factory, clock, (0.0, "down"), (0.99, "up"))
    edges(factory, clock, (0.0, "down"), (1.0, "up"))
    edges(factory, clock, (0.0, "down"), (7.0, "up"))
    posted.run()
    assert events == [ButtonEvent.PRESS, ButtonEvent.LONG_PRESS, ButtonEvent.LONG_PRESS]


def test_the_long_press_threshold_is_a_setting(
    factory: MockFactory, clock: Clock, posted: Posted
) -> None:
    button = KitButton(PIN, factory=factory, post=posted, clock=clock, long_press=2.5)
    try:
        events = heard(button, posted)
        edges(factory, clock, (0.0, "down"), (2.0, "up"))
        edges(factory, clock, (0.0, "down"), (2.6, "up"))
        posted.run()
        assert events == [ButtonEvent.PRESS, ButtonEvent.LONG_PRESS]
    finally:
        button.close()


def test_a_20_ms_bounce_on_press_and_release_is_one_press(
    button: KitButton, factory: MockFactory, clock: Clock, posted: Posted
) -> None:
    events = heard(button, posted)
    edges(
        factory,
        clock,
        *[(0.005 * i, "down" if i % 2 == 0 else "up") for i in range(5)],  # 0-20 ms
        *[(0.5 + 0.005 * i, "up" if i % 2 == 0 else "down") for i in range(5)],  # 500-520 ms
    )
    posted.run()
    assert events == [ButtonEvent.PRESS]
    # the next press is a press of its own, measured from its own contact
    edges(factory, clock, (1.0, "down"), (1.3, "up"))
    posted.run()
    assert events == [ButtonEvent.PRESS, ButtonEvent.PRESS]


def test_a_contact_shorter_than_the_debounce_is_no_press(
    button: KitButton, factory: MockFactory, clock: Clock, posted: Posted
) -> None:
    events = heard(button, posted)
    edges(factory, clock, (0.0, "down"), (0.03, "up"))  # a glitch
    posted.run()
    assert events == []
    # a real press much later is a press (not a long one measured from the glitch)
    edges(factory, clock, (5.0, "down"), (5.2, "up"))
    posted.run()
    assert events == [ButtonEvent.PRESS]


def test_held_before_the_button_existed_is_no_press(
    factory: MockFactory, clock: Clock, posted: Posted
) -> None:
    factory.pin(PIN).drive_low()
    button = KitButton(PIN, factory=factory, post=posted, clock=clock)
    try:
        events = heard(button, posted)
        edges(factory, clock, (0.5, "up"))
        edges(factory, clock, (1.0, "down"), (1.2, "up"))
        posted.run()
        assert events == [ButtonEvent.PRESS]
    finally:
        button.close()


@pytest.mark.allow_logged_errors("A listener of the kit's button failed")
def test_a_listener_that_raises_does_not_stop_the_button(
    button: KitButton,
    factory: MockFactory,
    clock: Clock,
    posted: Posted,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(event: ButtonEvent) -> None:
        raise RuntimeError("broken listener")

    button.subscribe(broken)
    events = heard(button, posted)
    edges(factory, clock, (0.0, "down"), (0.2, "up"))
    posted.run()
    edges(factory, clock, (1.0, "down"), (2.5, "up"))
    posted.run()
    assert events == [ButtonEvent.PRESS, ButtonEvent.LONG_PRESS]
    failures = [r for r in caplog.records if r.exc_info and "broken listener" in str(r.exc_info[1])]
    assert len(failures) == 2


@pytest.mark.allow_logged_errors("The kit's button failed on a release")
def test_a_post_that_raises_is_logged_not_raised_into_gpiozero(
    factory: MockFactory, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[Callable[[], None]] = []

    def post(job: Callable[[], None]) -> None:
        calls.append(job)
        if len(calls) == 1:
            raise RuntimeError("Event loop is closed")
        job()

    button = KitButton(PIN, factory=factory, post=post, clock=clock)
    try:
        events: list[ButtonEvent] = []
        button.subscribe(events.append)
        edges(factory, clock, (0.0, "down"), (0.2, "up"))  # raises nothing here
        edges(factory, clock, (1.0, "down"), (1.2, "up"))
        assert events == [ButtonEvent.PRESS]
        assert "Event loop is closed" in caplog.text
    finally:
        button.close()


def test_unsubscribed_listeners_hear_nothing(
    button: KitButton, factory: MockFactory, clock: Clock, posted: Posted
) -> None:
    events: list[ButtonEvent] = []
    unsubscribe = button.subscribe(events.append)
    edges(factory, clock, (0.0, "down"), (0.2, "up"))
    unsubscribe()
    unsubscribe()
    posted.run()
    assert events == []


def test_close_releases_the_pin_and_stops_gpiozero_threads(factory: MockFactory) -> None:
    before = set(threading.enumerate())
    button = KitButton(PIN, factory=factory, post=lambda job: job())
    assert set(threading.enumerate()) - before  # gpiozero's hold thread
    button.close()
    button.close()
    assert set(threading.enumerate()) - before == set()
    pin = factory.pin(PIN)
    assert pin.when_changed is None
    assert pin.function == "input"
    assert not button.is_pressed
    # the pin is free for another device
    KitButton(PIN, factory=factory, post=lambda job: job()).close()


async def test_events_reach_the_event_loop_from_gpiozero_threads(factory: MockFactory) -> None:
    """Real time and a real loop: the edges come from another thread, as gpiozero's do."""
    loop = asyncio.get_running_loop()
    heard_in: list[tuple[ButtonEvent, bool]] = []
    arrived = asyncio.Event()

    def listener(event: ButtonEvent) -> None:
        heard_in.append((event, asyncio.get_running_loop() is loop))
        arrived.set()

    async def press(hold: float) -> None:
        pin = factory.pin(PIN)
        down = threading.Thread(target=pin.drive_low)
        down.start()
        down.join()
        await asyncio.sleep(hold)
        up = threading.Thread(target=pin.drive_high)
        up.start()
        up.join()
        await asyncio.wait_for(arrived.wait(), 10)
        arrived.clear()

    for long_press, hold in ((60.0, 0.15), (0.25, 0.4)):  # a slow machine only holds longer
        button = KitButton(
            PIN, factory=factory, post=loop.call_soon_threadsafe, long_press=long_press
        )
        try:
            button.subscribe(listener)
            await press(hold)
        finally:
            button.close()
    assert heard_in == [(ButtonEvent.PRESS, True), (ButtonEvent.LONG_PRESS, True)]
