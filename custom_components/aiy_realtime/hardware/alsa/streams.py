"""A microphone and a speaker on ALSA PCMs, driven from the event loop.

Each PCM runs in non-blocking mode; its poll descriptors are watched with the loop's
`add_reader`/`add_writer` only while a read waits for sound or a write for room (a PCM's fds
stay ready for as long as it can be read or written, so watching them idle would spin), and
alsa-lib translates what they say (`snd_pcm_poll_descriptors_revents`: the pulse plugin signals
playback room as POLLIN). With one period of sound woken for, that is one wake-up a period and
no thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import ctypes
import errno

from custom_components.aiy_realtime.hardware.audio_problems import AudioUnavailable
from custom_components.aiy_realtime.realtime.audio import AudioDeviceError, Ending

from .bindings import (
    POLLIN,
    POLLOUT,
    STREAM_CAPTURE,
    STREAM_PLAYBACK,
    Pcm,
    State,
    address_of,
    strerror,
)
from .devices import open_pcm

CAPTURE_PERIOD_US = 20_000
"""The card hands over sound every 20 ms: one frame of the session's track."""
CAPTURE_BUFFER_US = 200_000
"""Only fills while the reader lags; a larger one loses nothing."""
PLAYBACK_PERIOD_US = 20_000
PLAYBACK_BUFFER_US = 80_000
"""About four frames queued at most: the speaker's latency."""
START_PERIODS = 2
"""Playback starts once two periods are queued (a shorter sound after a period's wait): with one,
the pulse plugin's server asks for more at once and underruns on the first chunk."""
STALL_TIMEOUT = 2.0
"""Seconds a device may take no sound (or give none) before it counts as failed: a card that
stopped clocking, or a plugin whose server went away without saying so."""
PLAY_OUT_TIMEOUT = 1.0
"""Seconds a closing speaker gets to play what it still holds."""
_RETRIES = 2


class _Watch:
    """A PCM's poll descriptors watched on the loop until `stop()`: `ready(revents)` per wake-up
    in which alsa-lib says the PCM is ready (POLLIN/POLLOUT) or in error (POLLERR)."""

    def __init__(self, pcm: Pcm, ready: Callable[[int], None]) -> None:
        self._loop = asyncio.get_running_loop()
        self._pcm = pcm
        self._ready = ready
        self._fds = pcm.poll_descriptors()
        self._readers: list[int] = []
        self._writers: list[int] = []
        for index, fd in enumerate(self._fds):
            if fd.events & POLLIN:
                self._loop.add_reader(fd.fd, self._fired, index, POLLIN)
                self._readers.append(fd.fd)
            if fd.events & POLLOUT:
                self._loop.add_writer(fd.fd, self._fired, index, POLLOUT)
                self._writers.append(fd.fd)

    def _fired(self, index: int, event: int) -> None:
        for each, fd in enumerate(self._fds):
            fd.revents = event if each == index else 0
        if not self._pcm.is_open:
            return
        revents = self._pcm.revents(self._fds)
        if revents:
            self._ready(revents)

    def stop(self) -> None:
        for fd in self._readers:
            self._loop.remove_reader(fd)
        for fd in self._writers:
            self._loop.remove_writer(fd)
        self._readers.clear()
        self._writers.clear()


async def _until_ready(pcm: Pcm, waiter: asyncio.Future[None]) -> bool:
    """Waits until the PCM is ready or `waiter` is resolved by someone else; False on a stall."""

    def ready(_: int) -> None:
        if not waiter.done():
            waiter.set_result(None)

    watch = _Watch(pcm, ready)
    try:
        async with asyncio.timeout(STALL_TIMEOUT):
            await waiter
    except TimeoutError:
        return False
    finally:
        watch.stop()
    return True


class AlsaMicrophone:
    """Live S16_LE PCM from an ALSA capture device, at the card's pace (a `PcmReader`).

    `open()` opens the device (AudioUnavailable when it cannot); the first `read` opens it if
    nobody did, and starts recording. A device that fails later (unplugged, its server gone)
    makes `read` raise AudioDeviceError; an overrun (the reader lagged) is recovered, losing what
    did not fit. `close()` returns with the device closed; a read waiting then returns what it has.
    """

    live = True

    def __init__(self, device: str = "default", rate: int = 48000, channels: int = 1) -> None:
        self.device = device
        self.rate = rate
        self.channels = channels
        self._frame_bytes = 2 * channels
        self._pcm: Pcm | None = None
        self._buffer: ctypes.Array[ctypes.c_char] | None = None
        self._pending = bytearray()
        self._started = False
        self._closed = False
        self._failure: str | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._opening = asyncio.Lock()

    @property
    def is_open(self) -> bool:
        return self._pcm is not None

    @property
    def closed(self) -> bool:
        return self._closed

    async def open(self) -> None:
        """Open the device now (recording starts with the first read)."""
        async with self._opening:
            if self._pcm is not None or self._closed:
                return
            pcm = await open_pcm(
                self.device,
                STREAM_CAPTURE,
                self.rate,
                self.channels,
                period_us=CAPTURE_PERIOD_US,
                buffer_us=CAPTURE_BUFFER_US,
            )
            if self.closed:  # while it opened
                pcm.close()
                return
            self._buffer = ctypes.create_string_buffer(pcm.buffer_frames * self._frame_bytes)
            self._pcm = pcm

    async def read(self, size: int) -> bytes:
        if self._failure is not None:
            raise AudioDeviceError(self._failure)
        if self._pcm is None and not self._closed:
            try:
                await self.open()
            except AudioUnavailable as err:
                self._failure = str(err)
                raise AudioDeviceError(self._failure) from err
        while len(self._pending) < size and (pcm := self._pcm) is not None:
            self._take(pcm)
            if len(self._pending) >= size:
                break
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                if not await _until_ready(pcm, self._waiter):
                    raise self._fail(f"delivered no sound for {STALL_TIMEOUT:g} s")
            finally:
                self._waiter = None
        chunk = bytes(self._pending[:size])
        del self._pending[:size]
        return chunk

    def _take(self, pcm: Pcm) -> None:
        """Everything the device has recorded so far, into `_pending` (raises on failure)."""
        assert self._buffer is not None
        for _ in range(_RETRIES):
            if not self._started:
                if (code := pcm.start()) < 0:
                    raise self._fail(code)
                self._started = True
            got = pcm.readi(self._buffer, pcm.buffer_frames)
            if got > 0:
                self._pending += ctypes.string_at(self._buffer, got * self._frame_bytes)
                return
            if got in (0, -errno.EAGAIN):
                return
            if got not in (-errno.EPIPE, -errno.ESTRPIPE):
                raise self._fail(got)
            # An overrun (the pulse plugin says the same when its server has gone: then the
            # recovery fails). Recovered, it starts again.
            if (code := pcm.recover(got)) < 0:
                raise self._fail(code)
            self._started = False
        raise self._fail(-errno.EPIPE)

    def _fail(self, why: int | str) -> AudioDeviceError:
        words = f"(ALSA says: {strerror(why)})" if isinstance(why, int) else why
        self._failure = f"the ALSA device {self.device!r} stopped recording {words}"
        return AudioDeviceError(self._failure)

    async def close(self) -> None:
        self._closed = True
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)
        async with self._opening:
            pcm, self._pcm = self._pcm, None
        if pcm is not None:
            pcm.drop()
            pcm.close()


class AlsaSpeaker(Ending):
    """Plays S16_LE PCM on an ALSA playback device (an `AudioSink`).

    The device's own buffer (`PLAYBACK_BUFFER_US`) is the queue: `write` returns once the
    device took all of it, `write_nowait` takes a chunk only if it fits now. `flush()` drops
    what is queued and keeps the same handle (a second open of a `plughw:` device would find it
    busy). Underruns are recovered quietly. `close()` lets the queue play out (bounded by
    `play_out_timeout`) and closes the device. A device that fails ends the sink (`failed`) and
    makes writes raise AudioDeviceError. `open()` opens the device now (AudioUnavailable when it
    cannot); the first write opens it otherwise.
    """

    def __init__(
        self,
        device: str = "default",
        rate: int = 24000,
        channels: int = 1,
        *,
        play_out_timeout: float = PLAY_OUT_TIMEOUT,
    ) -> None:
        self.device = device
        self.rate = rate
        self.channels = channels
        self.play_out_timeout = play_out_timeout
        self._frame_bytes = 2 * channels
        self._pcm: Pcm | None = None
        self._closed = False
        self._generation = 0
        """Counts flushes: a write that waited across one stops."""
        self._waiter: asyncio.Future[None] | None = None
        self._start_timer: asyncio.TimerHandle | None = None
        self._opening = asyncio.Lock()

    @property
    def is_open(self) -> bool:
        return self._pcm is not None

    @property
    def closed(self) -> bool:
        return self._closed

    async def open(self) -> None:
        async with self._opening:
            if self._pcm is not None or self._closed:
                return
            pcm = await open_pcm(
                self.device,
                STREAM_PLAYBACK,
                self.rate,
                self.channels,
                period_us=PLAYBACK_PERIOD_US,
                buffer_us=PLAYBACK_BUFFER_US,
                start_frames=self.rate * PLAYBACK_PERIOD_US * START_PERIODS // 1_000_000,
            )
            if self.closed:  # while it opened
                pcm.close()
                return
            self._pcm = pcm

    @property
    def queued_ms(self) -> float:
        """How long until what is written now is heard (the device's delay), 0 when idle."""
        device = self._pcm
        if device is None or device.state() not in (State.PREPARED, State.RUNNING):
            return 0.0
        return max(device.delay(), 0) * 1000 / self.rate

    def write_nowait(self, pcm: bytes) -> bool:
        """Hand `pcm` to the device now if it has room for all of it; else take nothing."""
        device = self._pcm
        if device is None or self._closed or self._end_info is not None or self._waiter:
            return False
        frames = len(pcm) // self._frame_bytes
        room = device.avail()
        if room < 0:
            room = self._recovered(device, room)
        if room < frames:
            return False
        try:
            self._write_some(device, pcm, 0)
        except AudioDeviceError:
            return False  # the sink has ended: the next write says so
        self._start_soon(device)
        return True

    async def write(self, pcm: bytes) -> None:
        if self._end_info is not None and self._end_info.failed:
            raise AudioDeviceError(self._end_info.detail)
        if self._pcm is None and not self._closed:
            try:
                await self.open()
            except AudioUnavailable as err:
                self._end("failed", str(err))
                raise AudioDeviceError(str(err)) from err
        generation = self._generation
        offset = 0
        whole = len(pcm) - len(pcm) % self._frame_bytes
        while (device := self._pcm) is not None and generation == self._generation:
            offset += self._write_some(device, pcm, offset)
            if offset >= whole:
                self._start_soon(device)
                return
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                if not await _until_ready(device, self._waiter):
                    raise self._fail(f"took no sound for {STALL_TIMEOUT:g} s")
            finally:
                self._waiter = None
        # Closed or flushed meanwhile: the rest of this chunk goes with what was dropped.

    def _write_some(self, device: Pcm, pcm: bytes, offset: int) -> int:
        """Bytes of `pcm` from `offset` the device took now (raises when it failed)."""
        frames = (len(pcm) - offset) // self._frame_bytes
        for _ in range(_RETRIES):
            got = device.writei(address_of(pcm) + offset, frames)
            if got >= 0:
                return got * self._frame_bytes
            if got == -errno.EAGAIN:
                return 0
            if got not in (-errno.EPIPE, -errno.ESTRPIPE):
                raise self._fail(got)
            self._recovered(device, got)
        raise self._fail(-errno.EPIPE)

    def _recovered(self, device: Pcm, code: int) -> int:
        """After an underrun: 0 once prepared again; raises when the device cannot recover."""
        if code not in (-errno.EPIPE, -errno.ESTRPIPE) or (code := device.recover(code)) < 0:
            raise self._fail(code)
        return 0

    def _start_soon(self, device: Pcm) -> None:
        """Start a sound shorter than the start threshold after a period, if nothing else does."""
        if self._start_timer is None and device.state() == State.PREPARED:
            self._start_timer = asyncio.get_running_loop().call_later(
                PLAYBACK_PERIOD_US / 1_000_000, self._start_waiting
            )

    def _start_waiting(self) -> None:
        self._start_timer = None
        device = self._pcm
        if device is None or device.state() != State.PREPARED:
            return
        if device.buffer_frames - max(device.avail(), 0) > 0 and (code := device.start()) < 0:
            self._fail(code)

    def _fail(self, why: int | str) -> AudioDeviceError:
        words = f"(ALSA says: {strerror(why)})" if isinstance(why, int) else why
        detail = f"the ALSA device {self.device!r} stopped playing {words}"
        self._end("failed", detail)
        return AudioDeviceError(detail)

    def _stop_waiting(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)
        if self._start_timer is not None:
            self._start_timer.cancel()
            self._start_timer = None

    async def flush(self) -> None:
        """Drop what the device holds now; the same handle plays what comes next."""
        self._generation += 1
        self._stop_waiting()
        device = self._pcm
        if device is None or self._end_info is not None:
            return
        device.drop()
        if (code := device.prepare()) < 0:
            self._fail(code)

    async def close(self) -> None:
        self._closed = True
        self._stop_waiting()
        async with self._opening:
            device = self._pcm
        if device is not None:
            try:
                if self._end_info is None:
                    await self._play_out(device)
            finally:
                self._pcm = None
                device.drop()
                device.close()
        self._end("closed")

    async def _play_out(self, device: Pcm) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.play_out_timeout
        if device.state() == State.PREPARED and device.buffer_frames - max(device.avail(), 0):
            device.start()
        while (left := deadline - loop.time()) > 0 and device.state() == State.RUNNING:
            if (delay := device.delay()) <= 0:
                return
            await asyncio.sleep(min(left, max(delay / self.rate, 0.01)))
