"""libpulse's main loop abstraction (`pa_mainloop_api`) served by an asyncio event loop.

libpulse asks its main loop for three kinds of event: a file descriptor to watch (its socket to
the server), a timer, and a "deferred" call run on each loop iteration while enabled. Here each is
an asyncio reader/writer, a `call_later` and a `call_soon`, so libpulse runs on Home Assistant's
own loop: no thread of its own, no wake-up beyond the server's messages.

libpulse calls these from within its own calls (on this loop's thread only) and never looks
inside the events it gets back: each is a small integer standing for a Python object here.

What this costs is the number of wake-ups, not the work in each: libpulse reads one piece of a
message (its header, then its payload) per socket event, and a microphone's server may send a
block every few milliseconds. So one wake-up here lets libpulse read on while its socket has
more (a zero-timeout poll) rather than wait for the next turn of the event loop. Measured with
the voice bench's profile (BENCH_PROFILE=dir): a session's 880 socket events a second took 1070
turns of the loop a second before, 470 with this.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import ctypes
from dataclasses import dataclass
import logging
import select
import time
from typing import Any

from . import library as pa

_LOGGER = logging.getLogger(__name__)

READS_PER_WAKE = 32
"""At most this many libpulse reads per wake-up, so a flood of messages still lets the loop
serve everyone else between them."""


@dataclass(slots=True)
class _Io:
    fd: int
    callback: Any
    userdata: int | None
    events: int = 0
    destroy: Any = None


@dataclass(slots=True)
class _Timer:
    callback: Any
    userdata: int | None
    when: pa.Timeval | None = None
    handle: asyncio.TimerHandle | None = None
    destroy: Any = None


@dataclass(slots=True)
class _Defer:
    callback: Any
    userdata: int | None
    enabled: bool = True
    scheduled: bool = False
    destroy: Any = None


def _guarded[**P](function: Callable[P, Any]) -> Callable[P, Any]:
    """Nothing may raise back into C: a fault in here is logged and the call returns."""

    def call(*args: P.args, **kwargs: P.kwargs) -> Any:
        try:
            return function(*args, **kwargs)
        except Exception:
            _LOGGER.exception("libpulse main loop callback failed")
            return None

    return call


class AsyncioMainloop:
    """A `pa_mainloop_api` on `loop`; `api` is what `pa_context_new` takes.

    Keep this object as long as any context made on it exists.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._next_id = 1
        self._io: dict[int, _Io] = {}
        self._timers: dict[int, _Timer] = {}
        self._defers: dict[int, _Defer] = {}
        self._watched: dict[int, int] = {}
        """fd → the IO_INPUT/IO_OUTPUT asyncio watches it for now."""
        self._polls: dict[int, select.poll] = {}
        """fd → a poll object asking only whether it has more to read."""
        self._api = pa.MainloopApi(
            userdata=None,
            io_new=pa.IoNew(_guarded(self._io_new)),
            io_enable=pa.IoEnable(_guarded(self._io_enable)),
            io_free=pa.EventFree(_guarded(self._io_free)),
            io_set_destroy=pa.SetDestroy(_guarded(self._io_set_destroy)),
            time_new=pa.TimeNew(_guarded(self._time_new)),
            time_restart=pa.TimeRestart(_guarded(self._time_restart)),
            time_free=pa.EventFree(_guarded(self._time_free)),
            time_set_destroy=pa.SetDestroy(_guarded(self._time_set_destroy)),
            defer_new=pa.DeferNew(_guarded(self._defer_new)),
            defer_enable=pa.DeferEnable(_guarded(self._defer_enable)),
            defer_free=pa.EventFree(_guarded(self._defer_free)),
            defer_set_destroy=pa.SetDestroy(_guarded(self._defer_set_destroy)),
            quit=pa.Quit(_guarded(self._quit)),
        )
        self.api = ctypes.pointer(self._api)

    def _quit(self, _api: int, _retval: int) -> None:
        """Nothing to stop: the loop is Home Assistant's."""

    @property
    def events(self) -> int:
        """How many events libpulse holds here (0 once every context on it is gone)."""
        return len(self._io) + len(self._timers) + len(self._defers)

    def _new_id(self) -> int:
        event_id, self._next_id = self._next_id, self._next_id + 1
        return event_id

    # -- file descriptors ------------------------------------------------------------------------

    def _io_new(self, _api: int, fd: int, events: int, callback: Any, userdata: int | None) -> int:
        event_id = self._new_id()
        self._io[event_id] = _Io(fd, callback, userdata)
        self._io_enable(event_id, events)
        return event_id

    def _io_enable(self, event_id: int, events: int) -> None:
        io = self._io.get(event_id)
        if io is None:
            return
        io.events = events
        self._watch(io.fd)

    def _wanted(self, fd: int) -> int:
        wanted = 0
        for io in self._io.values():
            if io.fd == fd:
                wanted |= io.events
        return wanted & (pa.IO_INPUT | pa.IO_OUTPUT)

    def _watch(self, fd: int) -> None:
        """Registers `fd` with asyncio for what its events ask, together: libpulse may make a
        new event for an fd before it frees the old one (a TCP connect that completes), and
        asyncio keeps one reader and one writer per fd."""
        wanted = self._wanted(fd)
        watched = self._watched.get(fd, 0)
        if wanted == watched:
            return  # libpulse re-enabling what it waits for already
        # A hang-up or error shows up as readable: asyncio watches for nothing else.
        if wanted & pa.IO_INPUT and not watched & pa.IO_INPUT:
            self._loop.add_reader(fd, self._fd_ready, fd, pa.IO_INPUT)
        elif watched & pa.IO_INPUT and not wanted & pa.IO_INPUT:
            self._loop.remove_reader(fd)
        if wanted & pa.IO_OUTPUT and not watched & pa.IO_OUTPUT:
            self._loop.add_writer(fd, self._fd_ready, fd, pa.IO_OUTPUT)
        elif watched & pa.IO_OUTPUT and not wanted & pa.IO_OUTPUT:
            self._loop.remove_writer(fd)
        if wanted:
            self._watched[fd] = wanted
        else:
            self._watched.pop(fd, None)
            self._polls.pop(fd, None)

    def _fd_ready(self, fd: int, what: int) -> None:
        if what != pa.IO_INPUT:
            self._dispatch(fd, what)
            return
        for _ in range(READS_PER_WAKE):
            if not self._dispatch(fd, what) or not self._has_more(fd):
                return

    def _dispatch(self, fd: int, what: int) -> bool:
        """Hands the fd's event to each libpulse event waiting for it; whether one was."""
        handed = False
        for event_id, io in list(self._io.items()):
            if io.fd != fd or not io.events & what or self._io.get(event_id) is not io:
                continue
            handed = True
            try:
                io.callback(self.api, event_id, io.fd, what, io.userdata)
            except Exception:
                _LOGGER.exception("libpulse failed on its socket's event")
        return handed

    def _has_more(self, fd: int) -> bool:
        """Whether the fd is readable right now (more data, or a hang-up libpulse must see)."""
        if not self._wanted(fd) & pa.IO_INPUT:
            return False  # libpulse no longer reads it (or let it go)
        poll = self._polls.get(fd)
        if poll is None:
            poll = self._polls[fd] = select.poll()
            poll.register(fd, select.POLLIN)
        return bool(poll.poll(0))

    def _io_free(self, event_id: int) -> None:
        io = self._io.pop(event_id, None)
        if io is None:
            return
        self._watch(io.fd)
        if io.destroy:
            io.destroy(self.api, event_id, io.userdata)

    def _io_set_destroy(self, event_id: int, destroy: Any) -> None:
        if (io := self._io.get(event_id)) is not None:
            io.destroy = destroy

    # -- timers ----------------------------------------------------------------------------------

    def _time_new(self, _api: int, when: Any, callback: Any, userdata: int | None) -> int:
        event_id = self._new_id()
        self._timers[event_id] = _Timer(callback, userdata)
        self._time_restart(event_id, when)
        return event_id

    def _time_restart(self, event_id: int, when: Any) -> None:
        timer = self._timers.get(event_id)
        if timer is None:
            return
        if timer.handle is not None:
            timer.handle.cancel()
            timer.handle = None
        if not when:  # NULL: the timer is disabled
            timer.when = None
            return
        tv = when.contents
        timer.when = pa.Timeval(tv.tv_sec, tv.tv_usec)
        timer.handle = self._loop.call_later(max(0.0, _seconds_until(tv)), self._fire, event_id)

    def _fire(self, event_id: int) -> None:
        timer = self._timers.get(event_id)
        if timer is None or timer.when is None:
            return
        timer.handle = None
        try:
            timer.callback(self.api, event_id, ctypes.pointer(timer.when), timer.userdata)
        except Exception:
            _LOGGER.exception("libpulse failed on its timer")

    def _time_free(self, event_id: int) -> None:
        timer = self._timers.pop(event_id, None)
        if timer is None:
            return
        if timer.handle is not None:
            timer.handle.cancel()
        if timer.destroy:
            timer.destroy(self.api, event_id, timer.userdata)

    def _time_set_destroy(self, event_id: int, destroy: Any) -> None:
        if (timer := self._timers.get(event_id)) is not None:
            timer.destroy = destroy

    # -- deferred calls --------------------------------------------------------------------------

    def _defer_new(self, _api: int, callback: Any, userdata: int | None) -> int:
        event_id = self._new_id()
        self._defers[event_id] = _Defer(callback, userdata)
        self._schedule(event_id)
        return event_id

    def _defer_enable(self, event_id: int, enabled: int) -> None:
        defer = self._defers.get(event_id)
        if defer is None:
            return
        defer.enabled = bool(enabled)
        if defer.enabled:
            self._schedule(event_id)

    def _schedule(self, event_id: int) -> None:
        defer = self._defers[event_id]
        if defer.enabled and not defer.scheduled:
            defer.scheduled = True
            self._loop.call_soon(self._run_deferred, event_id)

    def _run_deferred(self, event_id: int) -> None:
        defer = self._defers.get(event_id)
        if defer is None:
            return
        defer.scheduled = False
        if not defer.enabled:
            return
        try:
            defer.callback(self.api, event_id, defer.userdata)
        except Exception:
            _LOGGER.exception("libpulse failed in a deferred call")
        if event_id in self._defers:
            self._schedule(event_id)  # runs again next iteration while it stays enabled

    def _defer_free(self, event_id: int) -> None:
        defer = self._defers.pop(event_id, None)
        if defer is not None and defer.destroy:
            defer.destroy(self.api, event_id, defer.userdata)

    def _defer_set_destroy(self, event_id: int, destroy: Any) -> None:
        if (defer := self._defers.get(event_id)) is not None:
            defer.destroy = destroy


def _seconds_until(tv: pa.Timeval) -> float:
    """A libpulse time from now: monotonic when it carries the rtclock flag, else wall clock."""
    seconds, usec = int(tv.tv_sec), int(tv.tv_usec)
    if usec & pa.TIMEVAL_RTCLOCK:
        return seconds + (usec & ~pa.TIMEVAL_RTCLOCK) / 1e6 - time.monotonic()
    return seconds + usec / 1e6 - time.time()
