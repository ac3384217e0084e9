"""A voice terminal's sound for as long as the terminal exists: whether it works now, the echo
canceller, and the microphone and speaker each session opens.

PulseAudio: one connection to the terminal's server stays open. The server tells it when a
source or sink comes or goes and when it is itself gone, so a terminal becomes unavailable the
moment its USB speakerphone is unplugged or its server stops, and available again when they are
back (a server that went away is tried again every `RETRY` seconds). ALSA has no such news: a
device that failed in a session, or did not open, is tried again every `RETRY` seconds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import contextlib
import logging

from custom_components.aiy_realtime.realtime.audio import AudioSink, PcmReader

from .audio_devices import (
    CHECK_TIMEOUT,
    AlsaBackend,
    AudioBackend,
    PulseAudioBackend,
    check,
    pulse_devices,
    require_devices,
)
from .audio_problems import AudioUnavailable
from .pulse import echo_cancel, library as pa
from .pulse.connection import PulseConnection
from .pulse.echo_cancel import EchoCanceller
from .pulse.streams import PulseMicrophone, PulseSpeaker

_LOGGER = logging.getLogger(__name__)

RETRY = 10.0
"""Seconds between tries of a terminal whose sound does not work."""
SETTLE = 0.2
"""Seconds a burst of device events (a card with several ports, an echo canceller loading) is
given to end before the devices are looked at again."""

ECHO_OFF = "off"
ECHO_NONE = "none"
"""Asked for, but the server loads no method: the terminal falls back to half duplex."""
ECHO_UNSUPPORTED = "unsupported"
"""ALSA: there is no server to run a canceller."""
ECHO_STATES = (*echo_cancel.METHODS, ECHO_NONE, ECHO_OFF, ECHO_UNSUPPORTED)
"""Every value `TerminalSound.echo` takes."""
FULL_DUPLEX_METHODS = ("webrtc",)
"""Cancellers that take enough of the assistant's voice out of the microphone for the terminal
to listen while it speaks. Measured over 20 answers with the speaker fed back into the microphone
(tests/test_echo.py): without one 20 self-interruptions, speex 19, webrtc 0 (1 in a sixth of the
runs, in the first answer). So over speex the terminal stays half duplex, as with none."""
TRAINING = 2.0
"""Seconds of the assistant's voice a new canceller plays before the terminal listens while it
speaks: a fresh webrtc canceller has not yet learnt the room, and the one self-interruption
in six runs of those 20 answers came in the first answer, never later."""


class TerminalSound:
    """Open with `start()`, closed with `close()`; `problem` None while the sound works."""

    def __init__(
        self,
        backend: AudioBackend,
        *,
        key: str,
        title: str,
        rate: int,
        echo_cancellation: bool = True,
    ) -> None:
        self.backend = backend
        self.key = key
        self.title = title
        self.rate = rate
        self.echo_cancellation = echo_cancellation
        self.problem: AudioUnavailable | None = None
        self.canceller: EchoCanceller | None = None
        self._connection: PulseConnection | None = None
        self._listeners: list[Callable[[], None]] = []
        self._lock = asyncio.Lock()
        self._retry: asyncio.TimerHandle | None = None
        self._settle: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False
        self._echo_refused = False
        self._trained_for = 0.0
        """Seconds the assistant has spoken through the canceller in use."""

    # -- what others read ----------------------------------------------------------------------

    @property
    def echo(self) -> str:
        """The echo cancellation in use: `webrtc`, `speex`, `none`, `off` or `unsupported`."""
        if isinstance(self.backend, AlsaBackend):
            return ECHO_UNSUPPORTED
        if not self.echo_cancellation:
            return ECHO_OFF
        return self.canceller.method if self.canceller else ECHO_NONE

    @property
    def hears_itself(self) -> bool:
        """Cancellation was asked for, and none good enough for full duplex runs."""
        return self.echo not in (ECHO_OFF, ECHO_UNSUPPORTED, *FULL_DUPLEX_METHODS)

    @property
    def learning(self) -> bool:
        """The canceller in use is new to the room: deaf while the assistant speaks, for now."""
        return self.echo in FULL_DUPLEX_METHODS and self._trained_for < TRAINING

    def spoke(self, seconds: float) -> None:
        """The assistant spoke for `seconds` through the canceller in use."""
        self._trained_for += seconds

    def subscribe(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call `listener` whenever `problem` or `echo` changes."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def _changed(self) -> None:
        for listener in list(self._listeners):
            try:
                listener()
            except Exception:
                _LOGGER.exception("A sound listener failed")

    # -- keeping it working --------------------------------------------------------------------

    async def start(self) -> bool:
        """Looks at the sound now (and keeps watching); whether it works."""
        await self.refresh()
        return self.problem is None

    async def refresh(self) -> None:
        """Connects if needed, checks the devices and the canceller, and says what changed."""
        if self._closed:
            return
        async with self._lock:
            before = (self.problem and self.problem.detail, self.echo)
            try:
                if isinstance(self.backend, PulseAudioBackend):
                    await self._refresh_pulse(self.backend)
                else:
                    await check(self.backend, rate=self.rate)
            except AudioUnavailable as err:
                if self.problem is None:
                    _LOGGER.warning("The sound of %s does not work: %s", self.title, err)
                self.problem = err
            else:
                if self.problem is not None:
                    _LOGGER.info("The sound of %s works again", self.title)
                self.problem = None
            if self.problem is not None:
                self._retry_later()
            if (self.problem and self.problem.detail, self.echo) != before:
                self._changed()

    async def _refresh_pulse(self, backend: PulseAudioBackend) -> None:
        connection = self._connection
        if connection is None or connection.lost.done():
            if connection is not None:
                connection.close()
            self._connection = None
            self.canceller = None
            self._echo_refused = False
            connection = await PulseConnection.open(backend.server, timeout=CHECK_TIMEOUT)
            self._connection = connection
            connection.subscribe(self._pulse_event)
            connection.lost.add_done_callback(lambda _: self._on_lost(connection))
        devices = await pulse_devices(connection)
        require_devices(connection.words, backend, devices)
        if not self.echo_cancellation or self._echo_refused:
            return
        if self.canceller is not None and any(
            d.name == self.canceller.source for d in devices.sources
        ):
            return
        # None yet, or gone with its master device: (re)load it over the devices as they are.
        self.canceller = await echo_cancel.load(
            connection, self.key, backend.source, backend.sink, self.title
        )
        self._trained_for = 0.0
        if self.canceller is None:
            # Not tried again on this connection: each try adds and removes devices, whose
            # events would bring us back here.
            self._echo_refused = True
            _LOGGER.warning(
                "%s: %s loads no echo canceller; the microphone is muted while the "
                "assistant speaks (half duplex)",
                self.title,
                connection.words,
            )

    async def set_echo_cancellation(self, on: bool) -> None:
        """Turn the canceller on or off for the sessions to come. Not while a session runs: its
        microphone and speaker are the canceller's devices, which unloading it takes away."""
        if on == self.echo_cancellation or self._closed:
            return
        self.echo_cancellation = on
        self._echo_refused = False  # asked again: the server may load one now
        if on:
            await self.refresh()  # loads it, and says so
            return
        async with self._lock:
            canceller, self.canceller = self.canceller, None
            connection = self._connection
            if canceller is not None and connection is not None and not connection.lost.done():
                with contextlib.suppress(AudioUnavailable):
                    await connection.unload_module(canceller.module)
        self._changed()

    def _pulse_event(self, facility: int, _change: int, _index: int) -> None:
        if self._closed or facility not in (
            pa.FACILITY_SOURCE,
            pa.FACILITY_SINK,
            pa.FACILITY_SERVER,
        ):
            return
        if self._settle is None:
            self._settle = asyncio.get_running_loop().call_later(SETTLE, self._settled)

    def _settled(self) -> None:
        self._settle = None
        self._spawn(self.refresh())

    def _on_lost(self, connection: PulseConnection) -> None:
        if connection is self._connection and not self._closed:
            self._spawn(self.refresh())

    def _retry_later(self) -> None:
        if self._retry is None and not self._closed:
            self._retry = asyncio.get_running_loop().call_later(RETRY, self._retry_now)

    def _retry_now(self) -> None:
        self._retry = None
        self._spawn(self.refresh())

    def _spawn(self, work: object) -> None:
        assert asyncio.iscoroutine(work)
        task = asyncio.get_running_loop().create_task(work, name=f"aiy-sound-{self.key}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def report_lost(self, detail: str) -> None:
        """A session's microphone or speaker failed: unavailable until the device is back."""
        if self.problem is None:
            self.problem = AudioUnavailable("device_missing", detail)
            _LOGGER.warning("The sound of %s stopped working: %s", self.title, detail)
            self._changed()
        self._retry_later()

    # -- what a session opens ------------------------------------------------------------------

    async def open_microphone(self) -> PcmReader:
        """The microphone, recording: before a call is placed, so a missing device costs
        nothing. AudioUnavailable (and the terminal unavailable) when it cannot open."""
        if isinstance(self.backend, AlsaBackend):
            from .alsa import AlsaMicrophone

            alsa_mic = AlsaMicrophone(self.backend.capture, self.rate, 1)
            await self._opened(alsa_mic.open())
            return alsa_mic
        connection = await self._pulse()
        source = self.canceller.source if self.canceller else self.backend.source
        microphone = PulseMicrophone(connection, source, self.rate)
        await self._opened(microphone.open())
        return microphone

    async def open_speaker(self) -> AudioSink:
        if isinstance(self.backend, AlsaBackend):
            from .alsa import AlsaSpeaker

            alsa_speaker = AlsaSpeaker(self.backend.playback, self.rate, 1)
            await self._opened(alsa_speaker.open())
            return alsa_speaker
        connection = await self._pulse()
        sink = self.canceller.sink if self.canceller else self.backend.sink
        speaker = PulseSpeaker(connection, sink, self.rate)
        await self._opened(speaker.open())
        return speaker

    async def _pulse(self) -> PulseConnection:
        if self._connection is None or self._connection.lost.done() or self.problem is not None:
            await self.refresh()
        if self.problem is not None:
            raise self.problem
        assert self._connection is not None
        return self._connection

    async def _opened(self, opening: object) -> None:
        assert asyncio.iscoroutine(opening)
        try:
            await opening
        except AudioUnavailable as err:
            if self.problem is None:
                self.problem = err
                self._changed()
            self._retry_later()
            raise

    # -- the end -------------------------------------------------------------------------------

    async def close(self) -> None:
        """Unloads the echo canceller and disconnects; no task, timer or module is left."""
        self._closed = True
        for handle in (self._retry, self._settle):
            if handle is not None:
                handle.cancel()
        self._retry = self._settle = None
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        async with self._lock:
            connection, self._connection = self._connection, None
            canceller, self.canceller = self.canceller, None
            if connection is None:
                return
            if canceller is not None and not connection.lost.done():
                with contextlib.suppress(AudioUnavailable):
                    await connection.unload_module(canceller.module)
            connection.close()
