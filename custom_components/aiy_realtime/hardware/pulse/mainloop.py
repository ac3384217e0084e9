"""libpulse's own main loop (`pa_mainloop`), stepped from Home Assistant's asyncio loop.

libpulse handles its socket in small pieces: one read per readiness (a message's header, then its
payload), and it switches its interest in the socket on and off around each read and write. A
microphone's server may send a block every few milliseconds, so doing that bookkeeping in Python
(a `pa_mainloop_api` of our own) cost several Python calls and two epoll changes per piece: the
voice bench profiled 880 socket events a second, and the new sound path spent more CPU than the
child processes it replaced. Here all of it stays in C, in libpulse's `pa_mainloop`; Python only
hears what asyncio must watch.

A step is `pa_mainloop_prepare` / `_poll` / `_dispatch`, never blocking:
- fast steps poll with a zero timeout in C, while they find work;
- then one probe step polls through `_probe` (a `pa_poll_func`), which sees the loop's pollfds and
  the time to its next timer: asyncio watches those fds (changed only when they change) and
  wakes the loop then.

After a wake-up that found work the loop rests (`REST_SECONDS`): asyncio stops watching the
server's socket and wakes the loop once the rest is over, so what the server sent meanwhile is read
in one wake-up. A microphone's server may send a block every 2.5 ms, and on a slow machine a
wake-up of Home Assistant's loop costs more than libpulse's work in it: a microphone read into a
speaker, 20 ms frames, woke the loop 10 times per frame without the rest and 2.9 times with it.
Calls into libpulse (a write) still step at once.

libpulse's callbacks (streams, context, requests) still run on Home Assistant's loop thread,
inside a step. A call into libpulse made between steps (a write, a request) may have queued work
that only a step sends, and libpulse's own wake-up pipe is written only while it polls; so the
connection's functions ask for a step after each such call (`LoopLib`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import ctypes
import logging
import struct
from typing import Any

from custom_components.aiy_realtime.hardware.audio_problems import AudioUnavailable

from . import library as pa

_LOGGER = logging.getLogger(__name__)

STEPS_PER_WAKE = 64
"""At most this many steps per wake-up, so a flood of messages still lets the loop serve everyone
else between them."""

REST_SECONDS = 0.01
"""How long the loop leaves the server's socket unwatched after a wake-up that found work: the
latency this adds to a microphone block (at most; the terminal sends 20 ms frames) against the
wake-ups it saves."""

_POLLFD = struct.Struct("ihh")  # struct pollfd: int fd; short events; short revents
_NO_POLL_FUNC = pa.PollFunc()  # NULL: libpulse's own poll(), here always with a zero timeout


class PulseMainloop:
    """A `pa_mainloop` stepped from `loop`; `api` is what `pa_context_new` takes and `lib` the
    functions to call libpulse with (each asks for a step after it).

    `close()` once every context on it is disconnected and unreferenced.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, lib: pa.LibPulse) -> None:
        self._loop = loop
        self._lib = lib
        mainloop = lib.pa_mainloop_new()
        if not mainloop:
            raise AudioUnavailable("failed", "libpulse could not make a main loop")
        self._mainloop: int | None = mainloop
        self.api = lib.pa_mainloop_get_api(mainloop)
        self.lib = LoopLib(lib, self.wake)
        self._probe_func = pa.PollFunc(self._probe)
        self._probing = False
        """Whether the loop's poll_func is `_probe` (else NULL)."""
        self._watched: dict[int, int] = {}
        """fd → the POLLIN/POLLOUT asyncio watches it for now."""
        self._timeout_ms = -1
        self._timer: asyncio.TimerHandle | None = None
        self._soon: asyncio.Handle | None = None
        self._stepping = False
        self._free_after_steps = False
        self._worked = False
        """Whether the steps under way dispatched anything."""
        self._rest_until = 0.0
        """The loop time until which asyncio does not watch the server's socket."""
        self._worked_at = -1.0
        """The loop time of the last wake-up that found work."""
        self.steps = 0
        """Steps taken so far (what the tests and the bench count)."""
        self.wake_ups = 0
        """Times the asyncio loop ran steps: what a streaming microphone costs on a slow machine."""

    @property
    def watches(self) -> int:
        """What asyncio holds for this loop: fds, a timer, a step asked for (0 once closed)."""
        return len(self._watched) + (self._timer is not None) + (self._soon is not None)

    def wake(self) -> None:
        """Asks for steps soon: libpulse may have work queued by a call made between steps."""
        if self._soon is None and not self._stepping and self._mainloop is not None:
            self._soon = self._loop.call_soon(self._run)

    def _run(self) -> None:
        self._soon = None
        if self._mainloop is None or self._stepping:
            return
        self._stepping = True
        self._worked = False
        self.wake_ups += 1
        try:
            self._steps(self._mainloop)
        except Exception:
            _LOGGER.exception("libpulse's main loop failed")
        finally:
            self._stepping = False
        if self._free_after_steps:
            self._free()

    def _steps(self, mainloop: int) -> None:
        lib = self._lib
        probe = False
        for _ in range(STEPS_PER_WAKE):
            if self._free_after_steps:
                return  # closed from a callback: no step may watch anything again
            if probe != self._probing:
                lib.pa_mainloop_set_poll_func(
                    mainloop, self._probe_func if probe else _NO_POLL_FUNC, None
                )
                self._probing = probe
            lib.pa_mainloop_prepare(mainloop, -1 if probe else 0)
            self.steps += 1
            if lib.pa_mainloop_poll(mainloop) < 0:
                # poll() itself failed (libpulse logged why) and the loop is back to before
                # prepare: try again on the next wake rather than spin.
                self._arm_timer(1)
                return
            if lib.pa_mainloop_dispatch(mainloop) > 0:
                self._worked = True
                probe = False
                continue
            if probe:  # nothing to do now: asyncio knows what to wake the loop for
                self._arm_timer(self._timeout_ms)
                return
            probe = True
        if not self._free_after_steps:
            self._soon = self._loop.call_soon(self._run)  # more to do, after everyone else

    def _probe(self, ufds: int, nfds: int, timeout: int, _userdata: Any) -> int:
        """libpulse's poll, once per wake: watch its fds with asyncio, note its timeout, then
        poll() without waiting. Never raises into C."""
        try:
            now = self._loop.time()
            if self._worked and now >= self._rest_until:
                # Only a server that sends more often than the rest lasts is made to wait: one
                # that sends a block per 20 ms would get a second wake-up per block from it.
                if now - self._worked_at < REST_SECONDS * 1.5:
                    self._rest_until = now + REST_SECONDS
                self._worked_at = now
            if now < self._rest_until:
                self._watch({})
                rest_ms = int((self._rest_until - now) * 1000) + 1
                timeout = rest_ms if timeout < 0 else min(timeout, rest_ms)
            else:
                self._watch(_wanted(ctypes.string_at(ufds, nfds * _POLLFD.size)))
            self._timeout_ms = timeout
            result: int = self._lib.poll(ufds, nfds, 0)
            return result
        except Exception:
            _LOGGER.exception("libpulse's poll failed")
            return 0

    def _watch(self, wanted: dict[int, int]) -> None:
        """Has asyncio watch `wanted` (fd → POLLIN/POLLOUT), changing only what differs."""
        if wanted == self._watched:
            return
        loop = self._loop
        for fd in self._watched.keys() | wanted.keys():
            now, then = self._watched.get(fd, 0), wanted.get(fd, 0)
            if then & pa.POLLIN and not now & pa.POLLIN:
                loop.add_reader(fd, self._run)
            elif now & pa.POLLIN and not then & pa.POLLIN:
                loop.remove_reader(fd)
            if then & pa.POLLOUT and not now & pa.POLLOUT:
                loop.add_writer(fd, self._run)
            elif now & pa.POLLOUT and not then & pa.POLLOUT:
                loop.remove_writer(fd)
        self._watched = wanted

    def _arm_timer(self, timeout_ms: int) -> None:
        if timeout_ms < 0:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            return
        # 0 after a step that found nothing: a timer due within the clock's rounding.
        when = self._loop.time() + max(timeout_ms, 1) / 1000
        if self._timer is not None:
            if abs(self._timer.when() - when) < 0.0005:
                return  # the same wake-up, asked for again
            self._timer.cancel()
        self._timer = self._loop.call_at(when, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._run()

    def close(self) -> None:
        """Stops watching and frees the loop (after the steps under way, if called from one)."""
        if self._mainloop is None:
            return
        self._watch({})
        for handle in (self._timer, self._soon):
            if handle is not None:
                handle.cancel()
        self._timer = self._soon = None
        if self._stepping:
            self._free_after_steps = True
            return
        self._free()

    def _free(self) -> None:
        mainloop, self._mainloop = self._mainloop, None
        self._free_after_steps = False
        if mainloop is not None:
            self._lib.pa_mainloop_free(mainloop)


def _wanted(pollfds: bytes) -> dict[int, int]:
    """The fds of a pollfd array and what asyncio must watch each for."""
    wanted: dict[int, int] = {}
    for fd, events, _revents in _POLLFD.iter_unpack(pollfds):
        if fd < 0:
            continue
        # A hang-up or error shows up as readable: asyncio watches for nothing else.
        want = events & pa.POLLOUT
        if events & (pa.POLLIN | pa.POLLPRI) or not want:
            want |= pa.POLLIN
        wanted[fd] = wanted.get(fd, 0) | want
    return wanted


class LoopLib(pa.LibPulse):
    """libpulse's functions as a connection on one main loop calls them: each call that may queue
    work asks the loop for a step (a no-op while one runs), so whatever it queued is sent."""

    def __init__(self, lib: pa.LibPulse, wake: Callable[[], None]) -> None:
        for name in pa.FUNCTIONS:
            function = getattr(lib, name)
            setattr(self, name, function if name in pa.QUEUE_NOTHING else _waking(function, wake))
        self.poll = lib.poll


def _waking(function: Callable[..., Any], wake: Callable[[], None]) -> Callable[..., Any]:
    def call(*args: Any) -> Any:
        result = function(*args)
        wake()
        return result

    return call
