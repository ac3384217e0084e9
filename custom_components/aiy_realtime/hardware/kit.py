"""One terminal's kit: its button, LED and amplifier on one board, wherever its pins are.

    kit = Kit.open(VOICE_HAT, RemotePins("kit.local"), KitOptions(), post=loop.call_soon_threadsafe)
    unsubscribe = kit.subscribe(on_button)     # ButtonEvent.PRESS / LONG_PRESS, through `post`
    kit.show("listening")                      # a session's state (VoiceState's words)
    kit.set_user_light(UserLight(on=True, brightness=128))
    kit.check()                                # None, or GpioUnavailable: pigpiod is lost
    kit.close()                                # every pin released; safe twice
    kit.close_within(3.0, lost=True)           # the same, never waiting on a dead pigpiod

`open()` and `close()` block (a TCP connect, pin set-up, joining threads): call them off the
event loop. `show()`, `set_user_light()` and `subscribe()` never block: the LED and the amplifier
are written by the kit's output thread.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
import logging
from pathlib import Path
import threading
from typing import Any, Final, Literal, Self

from .amp import Amplifier
from .boards import Board, LedKind
from .button import DEBOUNCE, LONG_PRESS, ButtonListener, KitButton, Post
from .led import (
    WHITE,
    GpioLed,
    IdlePattern,
    Ktd202xLed,
    LedOutput,
    LedPlayer,
    LedState,
    LightKind,
    Rgb,
    UserLight,
)
from .pins import (
    COMMAND_TIMEOUT,
    CONNECT_TIMEOUT,
    GpioUnavailable,
    LocalPins,
    OpenedPins,
    PinLocation,
    RemotePins,
    gpio_error,
    open_pins,
)

__all__ = ["AMPLIFIED_STATES", "Kit", "KitNote", "KitOptions"]

_LOGGER = logging.getLogger(__name__)

AMPLIFIED_STATES: Final = frozenset(
    {LedState.CONNECTING, LedState.LISTENING, LedState.THINKING, LedState.SPEAKING}
)
"""The states in which a session may play audio: the amplifier is on in these only."""


@dataclass(frozen=True, slots=True)
class KitOptions:
    long_press: float = LONG_PRESS
    """Seconds held for a long press (decided on release)."""
    debounce: float = DEBOUNCE
    idle: IdlePattern = "off"
    """What the LED shows when no session runs and the user's light is off: off, or dim."""
    session_rgb: Rgb = WHITE
    """The colour of the session's patterns on an RGB LED (the error blinks red)."""
    sysfs_root: Path = field(default_factory=lambda: Path("/sys"))
    """Where the bonnet's LED driver is (tests: a fake tree)."""
    connect_timeout: float = CONNECT_TIMEOUT


type KitNoteReason = Literal["led_remote", "led_driver_missing", "led_no_pwm"]


@dataclass(frozen=True, slots=True)
class KitNote:
    """Something the kit does without (it still works): for a log line or a repair issue."""

    reason: KitNoteReason
    detail: str


class Kit:
    """A kit's parts for one terminal. Make it with `Kit.open()`."""

    def __init__(
        self,
        board: Board,
        location: PinLocation,
        *,
        pins: OpenedPins | None,
        button: KitButton | None,
        player: LedPlayer | None,
        amplifier: Amplifier | None,
        notes: tuple[KitNote, ...] = (),
    ) -> None:
        self.board = board
        self.location = location
        self.notes = notes
        self._pins = pins
        self._button = button
        self._player = player
        self._amplifier = amplifier
        self._amplified = False
        self._lock = threading.Lock()
        self._closed = False

    @classmethod
    def open(
        cls,
        board: Board,
        location: PinLocation | None = None,
        options: KitOptions | None = None,
        *,
        post: Post,
        factory: Any = None,
    ) -> Kit:
        """The kit on `board` with its pins at `location` (default: this machine).

        `post` runs the button's listeners (`loop.call_soon_threadsafe`). `factory`: a gpiozero
        pin factory to use instead of the location's (tests: `MockFactory`; the kit does not
        close it). Raises GpioUnavailable when the pins cannot be used.
        """
        location = LocalPins() if location is None else location
        options = KitOptions() if options is None else options
        pins: OpenedPins | None = None
        if board.needs_gpio:
            if factory is not None:
                pins = OpenedPins(factory, owned=False, location=location)
            else:
                pins = open_pins(location, timeout=options.connect_timeout)
        parts: list[Any] = []
        try:
            kit = cls._assemble(board, location, options, pins=pins, post=post, parts=parts)
        except BaseException as err:
            for part in reversed(parts):
                _close_quietly(part)
            if pins is not None:
                pins.close()
            if isinstance(err, Exception) and not isinstance(err, GpioUnavailable):
                raise gpio_error(err, location) from err
            raise
        for note in kit.notes:
            _LOGGER.warning("The kit on %s: %s", location, note.detail)
        return kit

    @classmethod
    def _assemble(
        cls,
        board: Board,
        location: PinLocation,
        options: KitOptions,
        *,
        pins: OpenedPins | None,
        post: Post,
        parts: list[Any],
    ) -> Kit:
        factory = None if pins is None else pins.factory
        notes: list[KitNote] = []
        button = None
        if board.button_pin is not None:
            button = KitButton(
                board.button_pin,
                factory=factory,
                post=post,
                pull_up=board.button_pull_up,
                debounce=options.debounce,
                long_press=options.long_press,
            )
            parts.append(button)
        output: LedOutput | None = None
        if board.led is LedKind.GPIO and board.led_pin is not None:
            gpio_led = GpioLed(
                board.led_pin,
                factory=factory,
                active_high=board.led_active_high,
                frequency=board.pwm_frequency,
            )
            parts.append(gpio_led)
            output = gpio_led
            if gpio_led.kind is LightKind.ONOFF:
                notes.append(
                    KitNote(
                        "led_no_pwm",
                        f"the pin factory for {location} has no PWM: the LED is on or off only "
                        "(install lgpio, or use pigpiod)",
                    )
                )
        elif board.led is LedKind.KTD202X:
            if isinstance(location, RemotePins):
                notes.append(
                    KitNote(
                        "led_remote",
                        "the bonnet's RGB LED sits behind a kernel driver on the kit's Pi, which "
                        "remote GPIO cannot reach: a remote bonnet has no LED here",
                    )
                )
            else:
                ktd = Ktd202xLed(options.sysfs_root)
                if ktd.present:
                    output = ktd
                else:
                    notes.append(
                        KitNote(
                            "led_driver_missing",
                            f"no {ktd.path}: the bonnet's LED driver (leds-ktd202x) is not "
                            "loaded, so the kit has no LED",
                        )
                    )
        amplifier = None
        if board.amp_pin is not None:
            amplifier = Amplifier(board.amp_pin, factory=factory)
            parts.append(amplifier)
        player = None
        if output is not None or amplifier is not None:
            player = LedPlayer(output, idle=options.idle, session_rgb=options.session_rgb)
            parts.append(player)
        return cls(
            board,
            location,
            pins=pins,
            button=button,
            player=player,
            amplifier=amplifier,
            notes=tuple(notes),
        )

    # -- what the HA side reads ---------------------------------------------------------------

    @property
    def light_kind(self) -> LightKind:
        """What a light entity can set: none, on/off, brightness or RGB."""
        return LightKind.NONE if self._player is None else self._player.kind

    @property
    def has_button(self) -> bool:
        return self._button is not None

    @property
    def has_amplifier(self) -> bool:
        return self._amplifier is not None

    @property
    def factory(self) -> Any:
        """The gpiozero pin factory in use (None without GPIO, or once closed)."""
        return None if self._pins is None else self._pins.factory

    @property
    def user_light(self) -> UserLight:
        return UserLight() if self._player is None else self._player.user_light

    @property
    def session_state(self) -> LedState | None:
        """The state of the session that owns the LED; None when none does."""
        return None if self._player is None else self._player.session_state

    @property
    def closed(self) -> bool:
        return self._closed

    # -- what the HA side calls (never blocks) -------------------------------------------------

    def subscribe(self, listener: ButtonListener) -> Callable[[], None]:
        """`listener(ButtonEvent)` for each press, through `post`; returns the unsubscriber."""
        if self._button is None:
            return lambda: None
        return self._button.subscribe(listener)

    def show(self, state: LedState | str) -> None:
        """A session's state (`idle` when it ended): the LED's pattern, the amplifier."""
        state = LedState(state)
        with self._lock:
            player = self._player
            if self._closed or player is None:
                return
            amplified = state in AMPLIFIED_STATES
            if self._amplifier is not None and amplified != self._amplified:
                self._amplified = amplified
                player.call_soon(self._amplifier.on if amplified else self._amplifier.off)
            player.show(state)

    def set_user_light(self, light: UserLight) -> None:
        """The user's light: shown now when no session owns the LED, else when it ends."""
        with self._lock:
            if not self._closed and self._player is not None:
                self._player.set_user_light(light)

    def flush(self, timeout: float = 5.0) -> bool:
        """Block until the output thread has taken every request so far (tests, diagnostics)."""
        player = self._player
        return True if player is None else player.flush(timeout)

    # -- the end -------------------------------------------------------------------------------

    def close(self) -> None:
        """Release every pin (the button's, the LED's, the amplifier's, and a remote factory);
        blocks until the output thread has stopped. Safe to call twice."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        severed = self._pins is not None and self._pins.severed
        for part in (self._button, self._player, self._amplifier):
            if part is not None:
                _close_quietly(part, expect_failure=severed)
        if self._pins is not None:
            self._pins.close()

    def check(self, timeout: float = COMMAND_TIMEOUT) -> GpioUnavailable | None:
        """None while the pins answer, or why they no longer do (a remote pigpiod lost).
        Blocks `timeout` at most."""
        return None if self._pins is None or self._closed else self._pins.check(timeout)

    def close_within(self, timeout: float, *, lost: bool = False) -> bool:
        """`close()`, waiting `timeout` at most: whether it finished. A pigpiod that stopped
        answering would hold each of gpiozero's commands until the socket's timeout; then its
        sockets are cut and the close finishes on its own thread. `lost`: cut them first,
        for a kit whose pigpiod is known gone (nothing there to release pins to)."""
        if lost and self._pins is not None:
            self._pins.sever()
        closing = threading.Thread(target=self.close, name="kit close", daemon=True)
        closing.start()
        closing.join(timeout)
        if not closing.is_alive():
            return True
        _LOGGER.warning("Closing the kit on %s took over %g s: abandoned", self.location, timeout)
        if self._pins is not None:
            self._pins.sever()
        return False

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _close_quietly(part: Any, *, expect_failure: bool = False) -> None:
    """Close `part`, logging a failure: a warning, or (pins known lost) a debug line."""
    try:
        part.close()
    except Exception:
        level = logging.DEBUG if expect_failure else logging.WARNING
        _LOGGER.log(level, "Closing %r of the kit failed", part, exc_info=True)
