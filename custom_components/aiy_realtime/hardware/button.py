"""The arcade button: press or long press, decided on release, debounced, told on the loop.

gpiozero reports the pin's edges from its own threads (the pin driver's, pigpio's callback
thread). This class filters them and hands each `press` / `long_press` to `post` — a thread-safe
scheduler such as `loop.call_soon_threadsafe` — which runs the listeners where the caller wants
them. Nothing raises into gpiozero's threads: failures are logged.

Debounce is done here, on the edges gpiozero reports, the same way on every pin driver (gpiozero's
own `bounce_time` means different things per driver — a stable-level filter with lgpio and
pigpio, a lock-out after an edge with RPi.GPIO and native that can lose a release, nothing on
mock pins): a contact shorter than `debounce` is no press (the original kit's rule), and edges
within `debounce` of each other are one edge.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
import functools
import logging
import threading
import time
from typing import Any, Final

__all__ = [
    "DEBOUNCE",
    "LONG_PRESS",
    "ButtonEvent",
    "ButtonListener",
    "KitButton",
    "Post",
]

_LOGGER = logging.getLogger(__name__)

DEBOUNCE: Final = 0.08
"""Seconds: the original kit's debounce."""
LONG_PRESS: Final = 1.0
"""Seconds held for a long press (decided on release)."""


class ButtonEvent(StrEnum):
    PRESS = "press"
    LONG_PRESS = "long_press"


type ButtonListener = Callable[[ButtonEvent], None]
type Post = Callable[[Callable[[], None]], object]
"""Runs a callable soon, from any thread: `loop.call_soon_threadsafe` (on the HA side,
`hass.loop.call_soon_threadsafe`: listeners then run in the event loop)."""


class KitButton:
    """A push button on `pin` (pulled up, pressed = low, unless `pull_up=False`)."""

    def __init__(
        self,
        pin: int,
        *,
        factory: Any,
        post: Post,
        pull_up: bool = True,
        debounce: float = DEBOUNCE,
        long_press: float = LONG_PRESS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        from gpiozero import Button

        self.debounce = debounce
        self.long_press = long_press
        self._post = post
        self._clock = clock
        self._listeners: list[ButtonListener] = []
        self._lock = threading.Lock()
        self._down_at: float | None = None  # the contact that began the press being measured
        self._up_at: float | None = None  # a release too soon after it: bounce, or a glitch
        # gpiozero's own bounce filter stays off: see the module's docstring.
        self._button: Any = Button(pin, pull_up=pull_up, bounce_time=None, pin_factory=factory)
        self._button.when_pressed = self._contact
        self._button.when_released = self._release

    @property
    def pin(self) -> int:
        return int(self._button.pin.info.name.removeprefix("GPIO"))

    @property
    def is_pressed(self) -> bool:
        """The pin's level right now (no debounce)."""
        button = self._button
        return button is not None and bool(button.is_pressed)

    def subscribe(self, listener: ButtonListener) -> Callable[[], None]:
        """Call `listener(event)` (through `post`) for each press; returns the unsubscriber."""
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def close(self) -> None:
        """Release the pin (stops gpiozero's hold thread); safe to call twice."""
        button, self._button = self._button, None
        if button is None:
            return
        with self._lock:
            self._listeners.clear()
        try:
            button.when_pressed = None
            button.when_released = None
        finally:
            button.close()

    # -- gpiozero's threads --------------------------------------------------------------------

    def _contact(self) -> None:
        try:
            now = self._clock()
            with self._lock:
                if self._down_at is None:
                    self._down_at = now
                elif self._up_at is not None:
                    if now - self._up_at >= self.debounce:
                        self._down_at = now  # the earlier contact was a glitch: a new press
                    self._up_at = None
        except Exception:
            _LOGGER.exception("The kit's button failed on a press")

    def _release(self) -> None:
        try:
            now = self._clock()
            with self._lock:
                down_at = self._down_at
                if down_at is None:
                    return  # held since before we looked, or the tail of a bounce
                if now - down_at < self.debounce:
                    self._up_at = now  # too short to count, yet: bounce or glitch
                    return
                self._down_at = self._up_at = None
            held = now - down_at
            event = ButtonEvent.LONG_PRESS if held >= self.long_press else ButtonEvent.PRESS
            _LOGGER.debug("The kit's button: %s (held %.2f s)", event, held)
            self._post(functools.partial(self._deliver, event))
        except Exception:
            _LOGGER.exception("The kit's button failed on a release")

    # -- wherever `post` runs things -----------------------------------------------------------

    def _deliver(self, event: ButtonEvent) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(event)
            except Exception:
                _LOGGER.exception("A listener of the kit's button failed on %s", event)
