"""The button's LED: one table of patterns in the original kit's language, and who shows what.

- `PATTERNS` is the vocabulary (off, ready, on, quick pulse, slow pulse, three blinks) and
  `SESSION_PATTERNS` says which one each session state shows: data, not code paths.
- While a session runs it owns the LED; when it ends (`idle`) the user's light (`UserLight`: on
  or off, brightness, colour) comes back — or, when that is off, the idle pattern (`off`, or a dim
  `ready` as an option). A finite pattern (the error's three blinks) plays to its end before the
  LED rests; only a new session state cuts it short.
- `LedPlayer` is one thread per kit that does every write: frames for a GPIO LED (PWM, or on/off
  where the pin factory has no PWM), register commands for the bonnet's KTD202x (which animates
  by itself), and any other output job (`call_soon`: the amplifier pin). Callers never block on
  hardware: a remote kit's writes are network round trips, the bonnet's are file writes.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
import functools
import logging
import math
from pathlib import Path
import threading
import time
from types import MappingProxyType
from typing import Any, Final, Literal, Protocol

__all__ = [
    "FRAME_INTERVAL",
    "KTD202X_REGISTERS",
    "PATTERNS",
    "RED",
    "SESSION_PATTERNS",
    "WHITE",
    "GpioLed",
    "IdlePattern",
    "Ktd202xLed",
    "LedOutput",
    "LedPlayer",
    "LedState",
    "LightKind",
    "Pattern",
    "Rgb",
    "Shape",
    "UserLight",
]

_LOGGER = logging.getLogger(__name__)

type Rgb = tuple[int, int, int]
WHITE: Final[Rgb] = (255, 255, 255)
RED: Final[Rgb] = (255, 0, 0)

FRAME_INTERVAL: Final = 0.02
"""Seconds between frames of a pulse on a GPIO LED."""


class LedState(StrEnum):
    """What a session tells the LED (the same words as the HA side's `VoiceState`)."""

    IDLE = "idle"
    CONNECTING = "connecting"
    LISTENING = "listening"
    THINKING = "thinking"
    SPEAKING = "speaking"
    ENDING = "ending"
    ERROR = "error"


class LightKind(StrEnum):
    """What the user can set on the LED (the HA light's colour mode)."""

    NONE = "none"
    ONOFF = "onoff"
    BRIGHTNESS = "brightness"
    RGB = "rgb"


class Shape(StrEnum):
    STEADY = "steady"
    PULSE = "pulse"
    """Fades from dark up to `level` in half the period and back down in the other half."""
    BLINK = "blink"
    """`level` for the first half of the period, dark for the second."""


@dataclass(frozen=True, slots=True)
class Pattern:
    """One way of lighting the LED."""

    shape: Shape
    level: float = 1.0
    """Brightness (0-1): the steady level, the top of a pulse, a blink's on."""
    period: float = 0.0
    """Seconds of one cycle (pulse: up and down; blink: on and off)."""
    count: int | None = None
    """Cycles before the LED rests (the user's light or the idle pattern); None: forever."""
    rgb: Rgb | None = None
    """Colour on an RGB LED; None: the kit's session colour. A single-colour LED ignores it."""

    @property
    def animated(self) -> bool:
        return self.shape is not Shape.STEADY and self.period > 0

    def duration(self, period: float | None = None) -> float | None:
        """Seconds until a finite pattern ends (with the cycle `period` actually used)."""
        if self.count is None or not self.animated:
            return None
        return self.count * (self.period if period is None else period)

    def level_at(self, elapsed: float) -> float:
        """The brightness `elapsed` seconds into the pattern."""
        if not self.animated:
            return self.level
        phase = (elapsed % self.period) / self.period
        if self.shape is Shape.PULSE:
            return self.level * (2 * phase if phase < 0.5 else 2 * (1 - phase))
        return self.level if phase < 0.5 else 0.0


# -- the table ------------------------------------------------------------------------------------

PATTERNS: Final[Mapping[str, Pattern]] = MappingProxyType(
    {
        "off": Pattern(Shape.STEADY, level=0.0),
        "ready": Pattern(Shape.STEADY, level=0.1),
        "on": Pattern(Shape.STEADY, level=1.0),
        "dim": Pattern(Shape.STEADY, level=0.3),
        "quick_pulse": Pattern(Shape.PULSE, period=0.6),
        "slow_pulse": Pattern(Shape.PULSE, period=2.0),
        "three_blinks": Pattern(Shape.BLINK, period=0.3, count=3, rgb=RED),
    }
)
"""The original kit's LED language (its timings tuned to be told apart at a glance)."""

SESSION_PATTERNS: Final[Mapping[LedState, str]] = MappingProxyType(
    {
        LedState.CONNECTING: "quick_pulse",
        LedState.LISTENING: "on",
        LedState.THINKING: "quick_pulse",
        LedState.SPEAKING: "slow_pulse",
        LedState.ENDING: "dim",
        LedState.ERROR: "three_blinks",
    }
)
"""What each session state shows. `idle` has none: the session lets go of the LED."""

type IdlePattern = Literal["off", "ready"]


@dataclass(frozen=True, slots=True)
class UserLight:
    """The light as the user set it (shown whenever no session owns the LED)."""

    on: bool = False
    brightness: int = 255
    """0-255 (ignored by an on/off LED)."""
    rgb: Rgb = WHITE
    """Ignored by a single-colour LED."""


@dataclass(frozen=True, slots=True)
class _Look:
    pattern: Pattern
    rgb: Rgb


@dataclass(slots=True)
class _Playing:
    look: _Look
    started: float
    ends: float | None  # when a finite pattern is over
    segment: int = -1  # the last blink half drawn: none is skipped, however late the thread runs
    last: float | None = None  # the level last drawn


# -- outputs -----------------------------------------------------------------------------------


class LedOutput(Protocol):
    """An LED the player drives (only ever from its thread)."""

    @property
    def kind(self) -> LightKind: ...

    @property
    def animates(self) -> bool:
        """True: `show()` starts a pattern that the hardware runs; False: `frame()` per frame."""
        ...

    def show(self, pattern: Pattern, rgb: Rgb) -> float:
        """Start `pattern` in the hardware; the cycle period it really has."""
        ...

    def frame(self, level: float, rgb: Rgb) -> None: ...

    def close(self) -> None: ...


class GpioLed:
    """A single-colour LED on a GPIO pin: gpiozero's `PWMLED`, or `LED` (on/off only) where the
    pin factory has no PWM (gpiozero's native factory)."""

    animates: Final = False

    def __init__(
        self, pin: int, *, factory: Any, active_high: bool = True, frequency: int = 100
    ) -> None:
        from gpiozero import LED, PWMLED
        from gpiozero.exc import PinPWMUnsupported

        self._device: Any
        try:
            self._device = PWMLED(
                pin, active_high=active_high, frequency=frequency, pin_factory=factory
            )
            self.kind = LightKind.BRIGHTNESS
        except PinPWMUnsupported:
            self._device = LED(pin, active_high=active_high, pin_factory=factory)
            self.kind = LightKind.ONOFF

    def show(self, pattern: Pattern, rgb: Rgb) -> float:
        raise NotImplementedError  # frames only (animates is False)

    def frame(self, level: float, rgb: Rgb) -> None:
        if self.kind is LightKind.ONOFF:
            self._device.value = level >= 0.5
        else:
            self._device.value = min(1.0, max(0.0, level))

    def close(self) -> None:
        device, self._device = self._device, None
        if device is not None:
            device.close()


KTD202X_REGISTERS: Final = Path("class/leds/ktd202x:led1/device/registers")
"""The `leds-ktd202x` driver's register file, under the sysfs root."""
_KTD_COMMAND_LIMIT = 128  # the driver reads at most this many characters per write
_KTD_CHANNELS = (1, 2, 3)  # red, green, blue
_KTD_OFF, _KTD_ON, _KTD_PWM1 = 0, 1, 2  # chN_enable: off, on, flashing by timer 1


class Ktd202xLed:
    """The bonnet's RGB LED on its KTD2026/2027, through the `leds-ktd202x` driver's sysfs
    register file (`led1=255;ch1_enable=1;` …; channels 1/2/3 = red/green/blue). The chip runs
    pulses and blinks itself (flash period, on-time, ramp times)."""

    kind: Final = LightKind.RGB
    animates: Final = True

    def __init__(self, sysfs_root: Path = Path("/sys")) -> None:
        self.path = sysfs_root / KTD202X_REGISTERS

    @property
    def present(self) -> bool:
        return self.path.is_file()

    def show(self, pattern: Pattern, rgb: Rgb) -> float:
        level = pattern.level
        currents = [_byte(channel * level) for channel in rgb]
        if not pattern.animated:
            timing, mode, period = "", _KTD_ON, 0.0
        else:
            flash = _tflash(pattern.period)
            period = _flash_period(flash)
            if pattern.shape is Shape.PULSE:  # ramps take most of the cycle: a breath
                ramp = _ramp(pattern.period * 0.3)
                timing = f"tflash={flash};pwm1={_byte(256 * 0.3)};trise={ramp};tfall={ramp};"
            else:
                timing = f"tflash={flash};pwm1=128;trise=0;tfall=0;"
            mode = _KTD_PWM1
        self._write(
            timing
            + "".join(f"led{n}={c};" for n, c in zip(_KTD_CHANNELS, currents, strict=True))
            + "".join(
                f"ch{n}_enable={mode if c else _KTD_OFF};"
                for n, c in zip(_KTD_CHANNELS, currents, strict=True)
            )
        )
        return period

    def frame(self, level: float, rgb: Rgb) -> None:
        raise NotImplementedError  # animates by itself

    def off(self) -> None:
        self._write("".join(f"ch{n}_enable={_KTD_OFF};" for n in _KTD_CHANNELS))

    def close(self) -> None:
        try:
            self.off()
        except OSError:
            _LOGGER.debug("Turning the bonnet's LED off failed", exc_info=True)

    def _write(self, command: str) -> None:
        if len(command) > _KTD_COMMAND_LIMIT:
            raise ValueError(f"a KTD202x command is at most 128 characters: {command}")
        with self.path.open("w") as registers:
            registers.write(command)


def _byte(value: float) -> int:
    return max(0, min(255, round(value)))


def _tflash(period: float) -> int:
    """The flash-period register for `period` seconds (0: 128 ms, n ≥ 1: 128 ms * (n + 2))."""
    if period <= 0.128:
        return 0
    if period <= 0.384:
        return 1
    return max(1, min(126, round(period / 0.128) - 2))


def _flash_period(register: int) -> float:
    return 0.128 if register == 0 else 0.128 * (register + 2)


def _ramp(seconds: float) -> int:
    """The rise/fall register (steps of 96 ms, at most 15)."""
    return max(0, min(15, round(seconds / 0.096)))


# -- the player ----------------------------------------------------------------------------------


class LedPlayer:
    """The kit's output thread: shows the session's states and the user's light on `output`
    (None: a kit without an LED — the thread then only runs `call_soon` jobs)."""

    def __init__(
        self,
        output: LedOutput | None,
        *,
        idle: IdlePattern = "off",
        session_rgb: Rgb = WHITE,
        patterns: Mapping[str, Pattern] = PATTERNS,
        session_patterns: Mapping[LedState, str] = SESSION_PATTERNS,
        clock: Callable[[], float] = time.monotonic,
        name: str = "aiy-kit-outputs",
    ) -> None:
        self.output = output
        self.idle = idle
        self.session_rgb = session_rgb
        self._patterns = patterns
        self._session_patterns = session_patterns
        self._clock = clock
        self._cond = threading.Condition()
        self._jobs: deque[Callable[[], None]] = deque()
        self._session: LedState | None = None
        self._user = UserLight()
        self._wanted: _Look = self._resting()
        self._urgent = True  # the wanted look cuts a finite pattern short
        self._interlude: _Look | None = None  # a finite look to play before the wanted one
        self._requested = 1  # generations: bumped per request, copied when the thread took it
        self._applied = 0
        self._stopping = False
        self._failing = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    @property
    def kind(self) -> LightKind:
        return LightKind.NONE if self.output is None else self.output.kind

    @property
    def session_state(self) -> LedState | None:
        """The state of the session owning the LED; None when none does."""
        return self._session

    @property
    def user_light(self) -> UserLight:
        return self._user

    # -- any thread (never blocks on hardware) ------------------------------------------------

    def show(self, state: LedState | str) -> None:
        """A session's state: the session owns the LED until `idle` (or `error`, which blinks
        and lets go)."""
        state = LedState(state)
        with self._cond:
            if state is LedState.IDLE:
                self._session = None
                self._want(self._resting(), urgent=False)
                return
            look = self._look(self._session_patterns[state])
            if look.pattern.duration() is None:
                self._session = state
                self._interlude = None
                self._want(look, urgent=True)
                return
            # A finite pattern plays first, then the LED rests: the session has let go.
            self._session = None
            self._interlude = look
            self._want(self._resting(), urgent=False)

    def set_user_light(self, light: UserLight) -> None:
        """The user's light: shown now if no session owns the LED, else when it lets go."""
        with self._cond:
            self._user = light
            if self._session is None:
                self._want(self._resting(), urgent=False)

    def call_soon(self, job: Callable[[], None]) -> None:
        """Run `job` in the output thread, before the next frame (failures are logged)."""
        with self._cond:
            if self._stopping:
                return
            self._jobs.append(job)
            self._requested += 1
            self._cond.notify()

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until the thread has taken every request so far (jobs run, looks started)."""
        with self._cond:
            wanted = self._requested
            return self._cond.wait_for(
                lambda: self._applied >= wanted or not self._thread.is_alive(), timeout
            )

    def close(self, timeout: float = 5.0) -> None:
        """Stop the thread after the jobs already asked for; then close the output."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        output, self.output = self.output, None
        if output is not None:
            try:
                output.close()
            except Exception:
                _LOGGER.warning("Closing the kit's LED failed", exc_info=True)

    # -- under the lock ------------------------------------------------------------------------

    def _look(self, name: str) -> _Look:
        pattern = self._patterns[name]
        return _Look(pattern, pattern.rgb or self.session_rgb)

    def _resting(self) -> _Look:
        user = self._user
        if not user.on:
            return self._look(self.idle)
        level = user.brightness / 255 if self.kind is not LightKind.ONOFF else 1.0
        return _Look(Pattern(Shape.STEADY, level=level), user.rgb)

    def _want(self, look: _Look, *, urgent: bool) -> None:
        self._wanted = look
        self._urgent = urgent
        self._requested += 1
        self._cond.notify()

    # -- the thread ----------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._play()
        except Exception:
            _LOGGER.exception("The kit's output thread stopped")

    def _play(self) -> None:
        playing: _Playing | None = None
        while True:
            with self._cond:
                jobs = list(self._jobs)
                self._jobs.clear()
                stopping = self._stopping
                generation = self._requested
                wanted, urgent = self._wanted, self._urgent
                interlude, self._interlude = self._interlude, None
            for job in jobs:
                self._attempt(job, "An output job")
            if stopping:
                self._taken(generation)
                return
            now = self._clock()
            if interlude is not None:
                playing = self._start(interlude, now)
            elif playing is not None and playing.ends is not None and now >= playing.ends:
                playing.ends = None  # a finite pattern is over: on to the wanted look
            if playing is None or (wanted is not playing.look and (playing.ends is None or urgent)):
                playing = self._start(wanted, now)
            wait = self._frame(playing, now)
            with self._cond:
                self._applied = generation
                self._cond.notify_all()
                if self._requested == generation and not self._stopping:
                    self._cond.wait(None if wait is None else max(0.0, wait))

    def _frame(self, playing: _Playing, now: float) -> float | None:
        """Draw the frame due at `now` on a GPIO LED; seconds until the next thing to do."""
        wait = None if playing.ends is None else playing.ends - now
        output = self.output
        if output is None or output.animates:
            return wait
        pattern = playing.look.pattern
        elapsed = now - playing.started
        step: float | None = None
        if pattern.shape is Shape.BLINK and pattern.animated:
            half = pattern.period / 2
            index = math.floor(elapsed / half)
            if index > playing.segment + 1:  # late: show the next half anyway, shift the rest
                index = playing.segment + 1
                playing.started = now - index * half
                elapsed = now - playing.started
                if playing.ends is not None:
                    playing.ends = playing.started + (pattern.duration() or 0.0)
                    wait = playing.ends - now
            playing.segment = index
            step = (index + 1) * half - elapsed
        elif pattern.animated:
            step = FRAME_INTERVAL
        level = pattern.level_at(elapsed)
        if level != playing.last:
            self._attempt(functools.partial(output.frame, level, playing.look.rgb), "A frame")
            playing.last = level
        if step is None:
            return wait
        return step if wait is None else min(wait, step)

    def _start(self, look: _Look, now: float) -> _Playing:
        """Start showing `look` (on an LED that animates itself, now)."""
        output = self.output
        if output is None or not output.animates:
            duration = look.pattern.duration()
        else:
            period = self._attempt(
                functools.partial(output.show, look.pattern, look.rgb), "Showing a pattern"
            )
            duration = look.pattern.duration(period)
        return _Playing(look, started=now, ends=None if duration is None else now + duration)

    def _taken(self, generation: int) -> None:
        with self._cond:
            self._applied = generation
            self._cond.notify_all()

    def _attempt[T](self, job: Callable[[], T], what: str) -> T | None:
        try:
            result = job()
        except Exception:
            if not self._failing:
                _LOGGER.warning("%s for the kit failed", what, exc_info=True)
            else:
                _LOGGER.debug("%s for the kit failed", what, exc_info=True)
            self._failing = True
            return None
        self._failing = False
        return result
