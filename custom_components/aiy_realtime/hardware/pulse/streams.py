"""A terminal's microphone and speaker as streams on a PulseConnection.

Both are connected with `DONT_MOVE`: when their device goes (a USB speakerphone unplugged, a
null sink unloaded), the server ends the stream rather than move it to another device, so a lost
device is a failure the terminal sees, not a session that quietly listens to the wrong
microphone. Latency is asked for (`ADJUST_LATENCY`): the microphone hands over 20 ms at a time,
the speaker keeps about three frames queued. Timing updates are not asked for: each would be one
more message, and so one more wake-up of the loop.
"""

from __future__ import annotations

import asyncio
import ctypes
from typing import Any

from custom_components.aiy_realtime.hardware.audio_problems import AudioUnavailable
from custom_components.aiy_realtime.realtime.audio import AudioDeviceError, Ending

from . import library as pa
from .connection import PulseConnection

CAPTURE_FRAGMENT_MS = 20
PLAYBACK_LATENCY_MS = 60
OPEN_TIMEOUT = 5.0
PLAY_OUT_TIMEOUT = 1.0
"""Seconds a closing speaker gets to play what it still holds."""
MAX_HELD_MS = 2000
"""Recorded sound nobody read beyond this much (a stalled reader) is dropped, oldest first."""
_UNSET = 0xFFFFFFFF  # (uint32_t) -1: the server's choice


class _Stream:
    """What the microphone and speaker share: making, connecting and ending one pa_stream."""

    kind = "stream"

    def __init__(
        self,
        connection: PulseConnection,
        device: str | None,
        rate: int,
        channels: int,
        name: str,
    ) -> None:
        self.connection = connection
        self.lib = connection.lib
        self.device = device
        self.rate = rate
        self.channels = channels
        self.name = name
        self.bytes_per_ms = rate * channels * 2 // 1000
        self._spec = pa.SampleSpec(pa.SAMPLE_S16LE, rate, channels)
        self._stream: int | None = None
        self._ready: asyncio.Future[None] | None = None
        self.failure: str | None = None
        """Why the stream ended by itself (its device went, the server went), once it has."""
        self._on_state = pa.StreamNotifyCb(self._state_changed)

    @property
    def device_words(self) -> str:
        what = f"{self.kind} {self.device!r}" if self.device else f"default {self.kind}"
        return f"the {what} of {self.connection.words}"

    async def open(self, timeout: float = OPEN_TIMEOUT) -> None:
        """Connects the stream; AudioUnavailable says why it cannot."""
        if self._stream is not None:
            return
        if not self.connection.context:
            raise AudioUnavailable("server_unreachable", f"{self.connection.words} is closed")
        stream = self.lib.pa_stream_new(
            self.connection.context, self.name.encode(), ctypes.byref(self._spec), None
        )
        if not stream:
            raise self._problem()
        self._stream = stream
        self._ready = asyncio.get_running_loop().create_future()
        self.lib.pa_stream_set_state_callback(stream, self._on_state, None)
        self._prepare(stream)
        device = self.device.encode() if self.device else None
        if self._connect(stream, device) < 0:
            problem = self._problem()
            self._free()
            raise problem
        try:
            async with asyncio.timeout(timeout):
                await asyncio.shield(self._ready)
        except TimeoutError:
            self._free()
            raise AudioUnavailable(
                "server_unreachable", f"{self.device_words} did not open within {timeout:g} s"
            ) from None
        except AudioUnavailable:
            self._free()
            raise

    def _prepare(self, stream: int) -> None:
        """Sets the stream's own callbacks before it connects."""

    def _connect(self, stream: int, device: bytes | None) -> int:
        raise NotImplementedError

    def _problem(self) -> AudioUnavailable:
        """Why libpulse refused or ended the stream, as the terminal's reason."""
        context = self.connection.context
        code = self.lib.pa_context_errno(context) if context else pa.ERR_CONNECTIONTERMINATED
        said = self.lib.strerror(code)
        if code == pa.ERR_NOENTITY:
            return AudioUnavailable("device_missing", f"{self.device_words} does not exist")
        if code == pa.ERR_KILLED:
            return AudioUnavailable("device_missing", f"{self.device_words} was removed")
        if code == pa.ERR_BUSY:
            return AudioUnavailable("device_busy", f"{self.device_words} is busy")
        if code in (pa.ERR_CONNECTIONTERMINATED, pa.ERR_CONNECTIONREFUSED) or not context:
            return AudioUnavailable(
                "server_unreachable", f"{self.connection.words} went away ({said})"
            )
        return AudioUnavailable("failed", f"{self.device_words} failed: {said}")

    def _state_changed(self, stream: int, _userdata: Any) -> None:
        state = self.lib.pa_stream_get_state(stream)
        ready = self._ready
        if state == pa.STREAM_READY:
            if ready is not None and not ready.done():
                ready.set_result(None)
        elif state in (pa.STREAM_FAILED, pa.STREAM_TERMINATED):
            problem = self._problem()
            if ready is not None and not ready.done():
                ready.set_exception(problem)
            elif self.failure is None:
                self.failure = problem.detail
                self._failed(problem.detail)

    def _failed(self, detail: str) -> None:
        """The stream ended by itself after it was ready."""

    @property
    def ready(self) -> bool:
        return (
            self._stream is not None
            and self._ready is not None
            and self._ready.done()
            and (self.failure is None)
        )

    def _free(self) -> None:
        stream, self._stream = self._stream, None
        if stream is None:
            return
        self.lib.pa_stream_set_state_callback(stream, pa.StreamNotifyCb(), None)
        self._unhook(stream)
        if self.lib.pa_stream_get_state(stream) == pa.STREAM_READY:
            self.lib.pa_stream_disconnect(stream)
        self.lib.pa_stream_unref(stream)

    def _unhook(self, stream: int) -> None:
        """Clears the stream's own callbacks (it may outlive this object inside libpulse)."""


class PulseMicrophone(_Stream):
    """S16_LE PCM recorded from a source (None: the server's default), at the card's pace.

    `read(size)` returns `size` bytes once recorded; AudioDeviceError once the source or the
    server is gone. Opens on the first read unless `open()` came first.
    """

    kind = "source"
    live = True

    def __init__(
        self,
        connection: PulseConnection,
        device: str | None,
        rate: int,
        channels: int = 1,
        *,
        name: str = "microphone",
    ) -> None:
        super().__init__(connection, device, rate, channels, name)
        self._held = bytearray()
        self._want = 0
        self._waiter: asyncio.Future[None] | None = None
        self._closed = False
        self._on_read = pa.StreamRequestCb(self._readable)
        self._data = ctypes.c_void_p()
        self._size = ctypes.c_size_t()
        self.bytes_dropped = 0

    def _prepare(self, stream: int) -> None:
        self.lib.pa_stream_set_read_callback(stream, self._on_read, None)

    def _unhook(self, stream: int) -> None:
        self.lib.pa_stream_set_read_callback(stream, pa.StreamRequestCb(), None)

    def _connect(self, stream: int, device: bytes | None) -> int:
        fragment = CAPTURE_FRAGMENT_MS * self.bytes_per_ms
        attr = pa.BufferAttr(_UNSET, _UNSET, _UNSET, _UNSET, fragment)
        flags = pa.STREAM_ADJUST_LATENCY | pa.STREAM_DONT_MOVE
        result: int = self.lib.pa_stream_connect_record(stream, device, ctypes.byref(attr), flags)
        return result

    def _readable(self, stream: int, _nbytes: int, _userdata: Any) -> None:
        lib, data, size = self.lib, self._data, self._size
        while lib.pa_stream_peek(stream, ctypes.byref(data), ctypes.byref(size)) == 0:
            if size.value == 0:
                break  # nothing more to read now
            if data.value:
                self._held += ctypes.string_at(data.value, size.value)
            else:
                self._held += bytes(size.value)  # a hole in the stream: silence keeps the pace
            lib.pa_stream_drop(stream)
        excess = len(self._held) - MAX_HELD_MS * self.bytes_per_ms
        if excess > 0:
            del self._held[:excess]
            self.bytes_dropped += excess
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if (
            waiter is not None
            and not waiter.done()
            and (len(self._held) >= self._want or self.failure is not None or self._closed)
        ):
            waiter.set_result(None)

    def _failed(self, detail: str) -> None:
        self._wake()

    async def read(self, size: int) -> bytes:
        if self._stream is None and not self._closed:
            try:
                await self.open()
            except AudioUnavailable as err:
                raise AudioDeviceError(str(err)) from err
        while len(self._held) < size:
            if self._closed:
                return b""
            if self.failure is not None:
                raise AudioDeviceError(self.failure)
            self._want = size
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        pcm = bytes(self._held[:size])
        del self._held[:size]
        return pcm

    async def close(self) -> None:
        self._closed = True
        self._wake()
        self._free()
        self._held.clear()


class PulseSpeaker(_Stream, Ending):
    """Plays S16_LE PCM on a sink (None: the server's default).

    `flush()` drops what the server still holds for it, on the same stream: nothing reopens, so
    nothing of the cut-off answer plays after it. `close()` plays out what is held (bounded).
    Once the sink or server is gone, `ended` is failed and writes raise AudioDeviceError.
    """

    kind = "sink"

    def __init__(
        self,
        connection: PulseConnection,
        device: str | None,
        rate: int,
        channels: int = 1,
        *,
        name: str = "speaker",
        play_out_timeout: float = PLAY_OUT_TIMEOUT,
    ) -> None:
        super().__init__(connection, device, rate, channels, name)
        self.play_out_timeout = play_out_timeout
        self._on_write = pa.StreamRequestCb(self._writable)
        self._room = asyncio.Event()
        self._closed = False
        self._flushes = 0

    def _prepare(self, stream: int) -> None:
        self.lib.pa_stream_set_write_callback(stream, self._on_write, None)

    def _unhook(self, stream: int) -> None:
        self.lib.pa_stream_set_write_callback(stream, pa.StreamRequestCb(), None)

    def _connect(self, stream: int, device: bytes | None) -> int:
        latency = PLAYBACK_LATENCY_MS * self.bytes_per_ms
        attr = pa.BufferAttr(_UNSET, latency, _UNSET, _UNSET, _UNSET)
        flags = pa.STREAM_ADJUST_LATENCY | pa.STREAM_DONT_MOVE
        result: int = self.lib.pa_stream_connect_playback(
            stream, device, ctypes.byref(attr), flags, None, None
        )
        return result

    def _writable(self, _stream: int, _nbytes: int, _userdata: Any) -> None:
        self._room.set()

    def _failed(self, detail: str) -> None:
        self._end("failed", detail)
        self._room.set()

    def write_nowait(self, pcm: bytes) -> bool:
        """Hands `pcm` to the server now if the stream has room for it (else takes nothing)."""
        stream = self._stream
        if stream is None or not self.ready or self._closed:
            return False
        if self.lib.pa_stream_writable_size(stream) < len(pcm):
            return False
        return self._put(stream, pcm)

    def _put(self, stream: int, pcm: bytes) -> bool:
        if self.lib.pa_stream_write(stream, pcm, len(pcm), None, 0, pa.SEEK_RELATIVE) < 0:
            problem = self._problem()
            self._end("failed", problem.detail)
            raise AudioDeviceError(problem.detail)
        return True

    async def write(self, pcm: bytes) -> None:
        if self._end_info is not None and self._end_info.failed:
            raise AudioDeviceError(self._end_info.detail)
        if self._closed:
            return
        if self._stream is None:
            try:
                await self.open()
            except AudioUnavailable as err:
                self._end("failed", str(err))
                raise AudioDeviceError(str(err)) from err
        flushes = self._flushes
        while (stream := self._stream) is not None and self.failure is None:
            if self.lib.pa_stream_writable_size(stream) >= len(pcm):
                self._put(stream, pcm)
                return
            self._room.clear()
            await self._room.wait()
            if flushes != self._flushes:
                return  # flushed while waiting: this chunk was part of what was dropped
        if self.failure is not None:
            raise AudioDeviceError(self.failure)

    async def flush(self) -> None:
        self._flushes += 1
        self._room.set()
        stream = self._stream
        if stream is None or not self.ready:
            return
        # In order with what follows: the server drops what it holds, later writes play.
        operation = self.lib.pa_stream_flush(stream, pa.StreamSuccessCb(), None)
        if operation:
            self.lib.pa_operation_unref(operation)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._room.set()
        stream = self._stream
        if stream is not None and self.ready:
            await self._drain(stream)
        self._free()
        self._end("closed")

    async def _drain(self, stream: int) -> None:
        drained: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def done(_stream: int, _ok: int, _userdata: Any) -> None:
            if not drained.done():
                drained.set_result(None)

        callback = pa.StreamSuccessCb(done)
        operation = self.lib.pa_stream_drain(stream, callback, None)
        if not operation:
            return
        try:
            async with asyncio.timeout(self.play_out_timeout):
                await drained
        except TimeoutError:
            pass
        finally:
            # Cancelled or not, the operation is done with: its callback must not run later.
            self.lib.pa_operation_cancel(operation)
            self.lib.pa_operation_unref(operation)
