"""Telling the LED's patterns apart from the pin's value over time (gpiozero's mock pins).

A timeline is [(seconds, value), …] ending with the moment it was read. It comes from the mock
pin's own log of every value it was set to (`record()`: nothing is missed however slow the
machine) or from polling `pin.state` (`sample()`). `identify()` names what it shows: "off",
"on", "steady 0.10", "quick pulse", "slow pulse", "three blinks" (then a rest, held longer than
a flash), or "unknown" (not enough seen yet). No timing is asserted beyond telling them apart.
"""

from __future__ import annotations

import itertools
import statistics
import time
from typing import Any

type Timeline = list[tuple[float, float]]

STEADY_FOR = 0.8  # seconds unchanged that make a steady light (a blink half is 0.15, pulses move)
REST_FOR = 0.5  # seconds of rest after the blinks that end them
QUICK_SLOPE = 1.8  # brightness per second: quick pulse 3.3 (0.6 s cycle), slow 1.0 (2 s)
PAIRS = 5  # rising and falling steps a pulse must show


class Recording:
    """The pin's log since `record()`."""

    def __init__(self, pin: Any) -> None:
        self.pin = pin
        pin.clear_states()
        self.start = time.monotonic()

    def timeline(self) -> Timeline:
        states = list(self.pin.states)
        points: Timeline = []
        t = 0.0
        for delta, value in states:
            t += delta
            points.append((t, float(value)))
        now = time.monotonic() - self.start
        points.append((max(now, t), float(states[-1].state)))
        return points


def record(pin: Any) -> Recording:
    return Recording(pin)


def sample(pin: Any, seconds: float, interval: float = 0.005) -> Timeline:
    """Poll `pin.state` for `seconds`."""
    start = time.monotonic()
    points: Timeline = []
    while (now := time.monotonic() - start) < seconds:
        points.append((now, float(pin.state)))
        time.sleep(interval)
    points.append((time.monotonic() - start, float(pin.state)))
    return points


def identify(points: Timeline) -> str:
    values = [value for _, value in points]
    span = points[-1][0] - points[0][0]
    if max(values) - min(values) < 1e-6:
        if span < STEADY_FOR:
            return "unknown"
        level = values[0]
        return "off" if level == 0 else "on" if level >= 0.999 else f"steady {level:.2f}"
    blinks = _blinks(points)
    if blinks is not None:
        return blinks
    return _pulse(points)


def _blinks(points: Timeline) -> str | None:
    """Three full-on flashes with dark between, then a rest (any level below full) held."""
    # runs of equal values: (value, start, end)
    runs: list[tuple[float, float, float]] = []
    for (t, value), (t_next, _) in itertools.pairwise(points):
        if runs and runs[-1][0] == value:
            runs[-1] = (value, runs[-1][1], t_next)
        else:
            runs.append((value, t, t_next))
    if not runs or any(value not in (0.0, 1.0) for value, _, _ in runs[:-1]):
        return None
    _, rest_start, rest_end = runs[-1]
    if rest_end - rest_start < REST_FOR:
        return "unknown"  # (a rest at full brightness is told from a flash by its length)
    flashes = [(start, end) for value, start, end in runs[:-1] if value == 1.0]
    if len(flashes) == 3 and all(end - start < REST_FOR for start, end in flashes):
        return "three blinks"
    return f"{len(flashes)} blinks"


def _pulse(points: Timeline) -> str:
    rising: list[float] = []
    falling: list[float] = []
    for (t1, v1), (t2, v2) in itertools.pairwise(_changes(points)):
        if t2 <= t1 or v1 == v2 or not (0 < v1 < 1 or 0 < v2 < 1):
            continue
        slope = (v2 - v1) / (t2 - t1)
        (rising if slope > 0 else falling).append(abs(slope))
    if len(rising) < PAIRS or len(falling) < PAIRS:
        return "unknown"
    slope = statistics.median(rising + falling)
    return "quick pulse" if slope > QUICK_SLOPE else "slow pulse"


def _changes(points: Timeline) -> Timeline:
    """Only the first point of each new value: polled samples become the moments of change."""
    changes: Timeline = []
    for t, value in points:
        if not changes or changes[-1][1] != value:
            changes.append((t, value))
    return changes


def wait_for(recording: Recording, expected: str, timeout: float = 20.0) -> str:
    """What the recording shows once it shows `expected`, or by `timeout` (generous)."""
    deadline = time.monotonic() + timeout
    seen = identify(recording.timeline())
    while seen != expected and time.monotonic() < deadline:
        time.sleep(0.05)
        seen = identify(recording.timeline())
    return seen


def between(points: Timeline, start: float, end: float) -> Timeline:
    """The part of a timeline from `start` to `end` (seconds since the recording began), with
    the value the pin had at `start`."""
    before = [value for t, value in points if t <= start]
    value = before[-1] if before else points[0][1]
    inside = [(t, v) for t, v in points if start < t < end]
    return [(start, value), *inside, (end, inside[-1][1] if inside else value)]
