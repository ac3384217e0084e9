"""Audio in and out of a session: PCM source tracks and sinks fed from the remote track.

Sources read raw S16_LE PCM from anything that yields bytes (a recorder such as `arecord` or
`parec`, a WAV file, silence) and deliver 20 ms frames: a live device at its sound card's pace,
a file or silence paced by the system clock, as a microphone would be. `OpusMicrophone` encodes
a source's frames itself and hands aiortc packets to send as they are.
Sinks take S16_LE PCM at their own rate and layout (`aplay`/`pacat`, a WAV file, a callback);
`AudioPump` resamples (when it must) and queues in between. `ArrivingAudio` decodes the
answerer's packets the moment they arrive, straight to the sink's layout.

A voice terminal's audio costs what the codec costs and little more (benchmarks/voice_bench.py):
aiortc's own path does, for every 20 ms each way, work a terminal has no use for; see the two
classes for what they leave out.

Whoever opens a source or sink closes it and awaits that. Each reports how it stopped for good
through `ended` (an `AudioEnd`), so a recorder or player that dies is a reason to end the
session, not a line in a log.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
import contextlib
from dataclasses import dataclass
from fractions import Fraction
import logging
from pathlib import Path
import time
from typing import Any, Literal, Protocol
import wave

from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError
import av

_LOGGER = logging.getLogger(__name__)

FRAME_MS = 20

OPUS_CLOCK = 48000
"""Opus's RTP clock (RFC 7587): 48 kHz, whatever rate a stream is coded at."""
OPUS_TIME_BASE = Fraction(1, OPUS_CLOCK)
OPUS_INPUT_RATES = frozenset({8000, 12000, 16000, 24000, 48000})
"""Rates the Opus encoder takes as they are (anything else is resampled to 48 kHz first)."""
MIC_BITRATE = 48000
"""What the microphone is sent at (mono): what aiortc's stereo 96 kbit/s gives each channel."""
MIC_APPLICATION = "lowdelay"
"""libopus's CELT-only mode: the mode aiortc's 96 kbit/s ends up in as well (SILK and hybrid,
which libopus picks for speech at lower rates in its "voip" mode, cost three times the CPU), with
the shortest look-ahead (2.5 ms)."""

type EndReason = Literal["closed", "finished", "failed"]


@dataclass(frozen=True, slots=True)
class AudioEnd:
    """How a source, sink or pump stopped for good.

    - `closed`: its owner closed (or stopped) it;
    - `finished`: it ran out by design (a file source at its end, the remote track ended);
    - `failed`: the device or its process failed: it exited by itself, could not start, or a
      write or read broke. `detail` says what happened, in words a log or a close reason can use.
    """

    reason: EndReason
    detail: str = ""

    @property
    def failed(self) -> bool:
        return self.reason == "failed"


class AudioDeviceError(Exception):
    """A recorder or player failed (missing command, exited, broken pipe); the text says how."""


class Ending:
    """The first way something stopped for good, readable as a future made on first use.

    The future is made lazily so that sources and sinks can be built outside the event loop.
    """

    _end_info: AudioEnd | None = None
    _end_future: asyncio.Future[AudioEnd] | None = None

    @property
    def ended(self) -> asyncio.Future[AudioEnd]:
        """Resolves (never raises) with the first `AudioEnd`; awaitable, or add a done callback."""
        if self._end_future is None:
            self._end_future = asyncio.get_running_loop().create_future()
            if self._end_info is not None:
                self._end_future.set_result(self._end_info)
        return self._end_future

    def _end(self, reason: EndReason, detail: str = "") -> None:
        if self._end_info is not None:
            return
        self._end_info = AudioEnd(reason, detail)
        if self._end_future is not None and not self._end_future.done():
            self._end_future.set_result(self._end_info)


# -- sources ------------------------------------------------------------------------------------


class PcmReader(Protocol):
    """Yields raw S16_LE PCM; b"" means the source has ended, AudioDeviceError that it failed.

    A reader with `live = True` records a sound card: the card's clock sets the pace and the
    track does not re-pace it (a reader wrapping another forwards its `live`). Readers without
    it (files, silence, generated sound) are paced by the track.
    """

    async def read(self, size: int) -> bytes: ...

    async def close(self) -> None: ...


class SilenceReader:
    live = False

    async def read(self, size: int) -> bytes:
        return bytes(size)

    async def close(self) -> None:
        return None


class WavReader:
    """PCM from a 16-bit WAV file; after the end, silence (a quiet mic) unless `then_end`."""

    live = False

    def __init__(self, path: str | Path, *, then_end: bool = False) -> None:
        with wave.open(str(path), "rb") as wav:
            if wav.getsampwidth() != 2:
                raise ValueError(f"{path}: only 16-bit PCM WAV files are supported")
            self.rate = wav.getframerate()
            self.channels = wav.getnchannels()
            self._data = wav.readframes(wav.getnframes())
        self._offset = 0
        self._then_end = then_end

    async def read(self, size: int) -> bytes:
        chunk = self._data[self._offset : self._offset + size]
        self._offset += len(chunk)
        if len(chunk) < size and not self._then_end:
            chunk += bytes(size - len(chunk))
        return chunk

    async def close(self) -> None:
        return None


class PcmSourceTrack(Ending, MediaStreamTrack):
    """An audio track of 20 ms S16 frames from a PcmReader.

    A live reader (a sound card) is read as fast as it delivers: the card's clock is the pace.
    Other readers are paced by the system clock, like a live microphone.

    `stop()` (which aiortc also calls) only ends the track; whoever made the track awaits
    `close()`, which also closes the reader and returns once its recorder is gone. `ended`
    says why the track stopped: `failed` when the recorder died or could not start.
    """

    kind = "audio"

    def __init__(self, reader: PcmReader, rate: int = 48000, channels: int = 1) -> None:
        super().__init__()
        self._reader = reader
        self.live: bool = getattr(reader, "live", False) is True
        """Read at the reader's own pace (a sound card's clock), not re-paced."""
        self.rate = rate
        self.channels = channels
        self._samples = rate * FRAME_MS // 1000
        self._time_base = Fraction(1, rate)
        self._pts = 0
        self._start: float | None = None

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if not self.live:
            await self._pace()
        size = self._samples * self.channels * 2
        try:
            pcm = await self._reader.read(size)
        except AudioDeviceError as err:
            self._stop_because("failed", str(err))
            raise MediaStreamError from err
        except Exception as err:  # a reader's bug ends the mic as clearly as a device fault
            _LOGGER.debug("audio source failed", exc_info=True)
            self._stop_because("failed", f"{type(err).__name__}: {err}")
            raise MediaStreamError from err
        if not pcm:
            self._stop_because("finished", "the audio source ran out")
            raise MediaStreamError
        if len(pcm) < size:
            pcm += bytes(size - len(pcm))
        frame = av.AudioFrame(
            format="s16", layout="mono" if self.channels == 1 else "stereo", samples=self._samples
        )
        frame.planes[0].update(pcm)
        frame.sample_rate = self.rate
        frame.pts = self._pts
        frame.time_base = self._time_base
        self._pts += self._samples
        return frame

    async def _pace(self) -> None:
        if self._start is None:
            self._start = time.monotonic()
            return
        wait = self._start + self._pts / self.rate - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)

    def _stop_because(self, reason: EndReason, detail: str) -> None:
        self._end(reason, detail)
        super().stop()

    def stop(self) -> None:
        """End the track now; the reader stays open until `close()`."""
        if self.readyState == "live":
            self._stop_because("closed", "stopped")

    async def close(self) -> None:
        """End the track and close its reader; returns once a recorder process is gone."""
        self.stop()
        await self._reader.close()


class OpusMicrophone(MediaStreamTrack):
    """A microphone track's frames as Opus packets, encoded here: aiortc sends packets as they are.

    Given frames, aiortc would do for each 20 ms what a voice terminal needs none of: compute an
    RFC 6465 audio level sample by sample in Python (as much CPU as encoding), resample mono to
    stereo, encode stereo at 96 kbit/s, and hop to a worker thread and back. Here: the frames'
    own rate and layout (mono) when Opus takes them, `MIC_BITRATE`, `MIC_APPLICATION`, on the
    event loop (tens of microseconds a frame). The packets carry their time on Opus's 48 kHz
    clock, as aiortc stamps RTP with it.

    The source's end is this track's end; stopping this track stops the source (aiortc stops
    the track it sends when the connection closes, as it stopped the source itself before).
    Only for a line that sends Opus (see transport.py).
    """

    kind = "audio"

    def __init__(self, source: MediaStreamTrack, bitrate: int = MIC_BITRATE) -> None:
        super().__init__()
        self.source = source
        self.bitrate = bitrate
        self._encoder: av.AudioCodecContext | None = None
        self._resampler: av.AudioResampler | None = None
        self._clock_per_sample = 1
        self._packets: deque[av.Packet[Any]] = deque()

    async def recv(self) -> av.Packet[Any]:
        while not self._packets:
            if self.readyState != "live":
                raise MediaStreamError
            frame = await self.source.recv()
            if not isinstance(frame, av.AudioFrame):
                raise MediaStreamError(f"not audio: {type(frame).__name__}")
            self._packets.extend(self._encode(frame))
        return self._packets.popleft()

    def _encode(self, frame: av.AudioFrame) -> list[av.Packet[Any]]:
        encoder = self._encoder or self._open(frame)
        frames = [frame] if self._resampler is None else self._resampler.resample(frame)
        packets: list[av.Packet[Any]] = []
        for each in frames:
            packets += encoder.encode(each)
        for packet in packets:
            packet.pts = (packet.pts or 0) * self._clock_per_sample
            packet.time_base = OPUS_TIME_BASE
        return packets

    def _open(self, frame: av.AudioFrame) -> av.AudioCodecContext:
        """An encoder for the source's rate and layout (with a resampler if Opus needs one)."""
        rate = frame.sample_rate
        layout = frame.layout.name
        if (
            rate not in OPUS_INPUT_RATES
            or layout not in ("mono", "stereo")
            or frame.format.name != "s16"
            or frame.samples != rate * FRAME_MS // 1000
        ):
            rate = rate if rate in OPUS_INPUT_RATES else OPUS_CLOCK
            layout = "mono" if layout == "mono" else "stereo"
            self._resampler = av.AudioResampler(
                format="s16", layout=layout, rate=rate, frame_size=rate * FRAME_MS // 1000
            )
        encoder = av.CodecContext.create("libopus", "w")
        encoder.bit_rate = self.bitrate
        encoder.format = "s16"
        encoder.layout = layout
        encoder.sample_rate = rate
        encoder.time_base = Fraction(1, rate)
        encoder.options = {"application": MIC_APPLICATION}
        self._clock_per_sample = OPUS_CLOCK // rate
        self._encoder = encoder
        return encoder

    def stop(self) -> None:
        super().stop()
        self.source.stop()


# -- the answerer's audio -------------------------------------------------------------------------


class ArrivingAudio(MediaStreamTrack):
    """The answerer's Opus audio, decoded the moment each RTP packet arrives (transport.py feeds
    it with `receive` in place of aiortc's receiver).

    aiortc's receiver would put every packet through a jitter buffer that lets a packet go only
    once four more have arrived (80 ms of delay, and the end of an answer held back until the
    next one), decode it in a thread, and hand each frame back to the event loop through a new
    task and two queues; the pump then resampled its stereo to the speaker's mono. Here a packet
    is decoded on arrival to the layout its consumer asked for (`attach`) and handed over at
    once: the player's buffer is the only jitter buffer. A packet older than one already
    decoded (late, or repeated) is dropped; a lost one is simply missing.

    Without a consumer, `recv()` gives the frames (stereo, 48 kHz); with neither, packets are
    not decoded at all.
    """

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._consumer: Callable[[av.AudioFrame], None] | None = None
        self._layout = "stereo"
        self._decoder: av.AudioCodecContext | None = None
        self._last_sequence: int | None = None
        self._frames: asyncio.Queue[av.AudioFrame | None] | None = None
        self.packets = 0
        """Packets decoded."""
        self.dropped = 0
        """Packets that came too late (or twice), or could not be decoded."""

    def attach(self, consumer: Callable[[av.AudioFrame], None], channels: int = 1) -> None:
        """Hand every decoded frame (S16, 48 kHz, `channels`) to `consumer`, on arrival.

        The consumer must not raise: it runs inside aiortc's receiving task.
        """
        layout = "mono" if channels == 1 else "stereo"
        if layout != self._layout:
            self._layout = layout
            self._decoder = None
        self._consumer = consumer

    def detach(self) -> None:
        self._consumer = None

    def receive(self, payload: bytes, sequence: int) -> None:
        """One RTP packet's Opus payload and sequence number, as it arrives."""
        if self.readyState != "live" or not payload:
            return
        if self._last_sequence is not None:
            ahead = (sequence - self._last_sequence) & 0xFFFF
            if ahead == 0 or ahead >= 0x8000:
                self.dropped += 1
                return
        self._last_sequence = sequence
        consumer = self._consumer
        if consumer is None and self._frames is None:
            return
        try:
            frames = (self._decoder or self._open()).decode(av.Packet(payload))
        except av.FFmpegError:
            self.dropped += 1
            return
        self.packets += 1
        for frame in frames:
            if consumer is not None:
                consumer(frame)
            elif self._frames is not None:
                self._frames.put_nowait(frame)

    def _open(self) -> av.AudioCodecContext:
        decoder = av.CodecContext.create("libopus", "r")
        decoder.format = "s16"
        decoder.layout = self._layout
        decoder.sample_rate = OPUS_CLOCK
        self._decoder = decoder
        return decoder

    async def recv(self) -> av.AudioFrame:
        if self._frames is None:
            self._frames = asyncio.Queue()
            if self.readyState != "live":
                self._frames.put_nowait(None)
        frame = await self._frames.get()
        if frame is None:
            self._frames.put_nowait(None)  # for any later recv() too
            raise MediaStreamError
        return frame

    def stop(self) -> None:
        if self.readyState == "live":
            super().stop()
            self._consumer = None
            if self._frames is not None:
                self._frames.put_nowait(None)


# -- sinks --------------------------------------------------------------------------------------


class AudioSink(Protocol):
    """Takes S16_LE PCM at `rate` Hz with `channels` channels.

    `flush()` drops what the sink still holds to play (playback stops now; later writes play).
    `ended` resolves when the sink stops for good: `closed` by its owner, or `failed`.
    A sink may also offer `write_nowait(pcm) -> bool`: take `pcm` at once if it can without
    waiting (True), else take nothing (False); `AudioPump` then saves a task switch a chunk.
    """

    rate: int
    channels: int

    @property
    def ended(self) -> asyncio.Future[AudioEnd]: ...

    async def write(self, pcm: bytes) -> None: ...

    async def flush(self) -> None: ...

    async def close(self) -> None: ...


class NullSink(Ending):
    """Drains the remote track so nothing queues up when nobody listens."""

    rate = 48000
    channels = 1

    async def write(self, pcm: bytes) -> None:
        return None

    async def flush(self) -> None:
        return None

    async def close(self) -> None:
        self._end("closed")


class CallbackSink(Ending):
    """Hands each chunk to a callback (tests, level meters, custom outputs)."""

    def __init__(
        self,
        callback: Callable[[bytes], Awaitable[None] | None],
        rate: int = 24000,
        channels: int = 1,
        *,
        on_flush: Callable[[], None] | None = None,
    ) -> None:
        self._callback = callback
        self._on_flush = on_flush
        self.rate = rate
        self.channels = channels

    async def write(self, pcm: bytes) -> None:
        result = self._callback(pcm)
        if result is not None:
            await result

    async def flush(self) -> None:
        if self._on_flush is not None:
            self._on_flush()

    async def close(self) -> None:
        self._end("closed")


class WavSink(Ending):
    """Writes what the assistant says to a WAV file (a flush has nothing queued to drop)."""

    def __init__(self, path: str | Path, rate: int = 24000, channels: int = 1) -> None:
        self.path = Path(path)
        self.rate = rate
        self.channels = channels
        self._wav: wave.Wave_write | None = None

    async def write(self, pcm: bytes) -> None:
        if self._wav is None:
            self._wav = wave.open(str(self.path), "wb")  # noqa: SIM115 - closed in close()
            self._wav.setnchannels(self.channels)
            self._wav.setsampwidth(2)
            self._wav.setframerate(self.rate)
        self._wav.writeframes(pcm)

    async def flush(self) -> None:
        return None

    async def close(self) -> None:
        wav, self._wav = self._wav, None
        if wav is not None:
            wav.close()
        self._end("closed")


# -- between the remote track and a sink ----------------------------------------------------------


class AudioPump(Ending):
    """Receives decoded frames from the remote track, resamples them (unless they already are in
    the sink's rate and layout), and writes them to a sink.

    An `ArrivingAudio` track hands its frames over as they are decoded, in the sink's layout;
    any other track is read with `recv()`. Receiving and writing run apart, with the sink's PCM
    queued here in between: a player that is slow to (re)start never holds up the receiver, and
    `flush()` drops what has not played yet, here and in the player. `ended` resolves with the
    sink's failure, `finished` when the remote track ends, or `closed`.
    """

    MAX_QUEUED_MS = 2000
    """Beyond this much queued audio (a stalled player), the oldest is dropped."""

    def __init__(self, track: MediaStreamTrack, sink: AudioSink) -> None:
        self._track = track
        self._sink = sink
        self._layout = "mono" if sink.channels == 1 else "stereo"
        self._resampler = self._new_resampler()
        self._queue: deque[bytes] = deque()
        self._queued_bytes = 0
        self._max_queued_bytes = sink.rate * sink.channels * 2 * self.MAX_QUEUED_MS // 1000
        self._wake = asyncio.Event()
        self._write_nowait: Callable[[bytes], bool] | None = getattr(sink, "write_nowait", None)
        self._sink_busy = False
        """The writer is inside `sink.write()`: what comes now must queue behind it."""
        self._wrote = asyncio.Event()
        """Set each time audio went to the sink."""
        self.frames = 0
        self.bytes_written = 0
        self.bytes_dropped = 0
        loop = asyncio.get_running_loop()
        sink.ended.add_done_callback(self._on_sink_ended)
        self._receiving: asyncio.Task[None] | None = None
        if isinstance(track, ArrivingAudio):
            track.attach(self._arrived, sink.channels)
            track.on("ended", self._remote_ended)
        else:
            self._receiving = loop.create_task(self._receive(), name="aiy-audio-receive")
        self._writing = loop.create_task(self._write(), name="aiy-audio-write")

    def _new_resampler(self) -> av.AudioResampler:
        layout = "mono" if self._sink.channels == 1 else "stereo"
        return av.AudioResampler(format="s16", layout=layout, rate=self._sink.rate)

    @property
    def queued_ms(self) -> float:
        """Audio received and not yet handed to the sink."""
        return self._queued_bytes * 1000 / (self._sink.rate * self._sink.channels * 2)

    async def _receive(self) -> None:
        try:
            while True:
                frame = await self._track.recv()
                if isinstance(frame, av.AudioFrame):
                    self._take(frame)
        except MediaStreamError:
            self._end("finished", "the remote audio ended")
        except Exception as err:
            self._receiving_failed(err)

    def _arrived(self, frame: av.AudioFrame) -> None:
        """A frame from ArrivingAudio, in aiortc's receiving task: nothing may raise into it."""
        try:
            self._take(frame)
        except Exception as err:
            self._receiving_failed(err)

    def _remote_ended(self) -> None:
        self._end("finished", "the remote audio ended")

    def _receiving_failed(self, err: Exception) -> None:
        _LOGGER.debug("receiving audio failed", exc_info=True)
        if isinstance(self._track, ArrivingAudio):
            self._track.detach()
        self._end("failed", f"receiving audio failed: {type(err).__name__}: {err}")

    def _take(self, frame: av.AudioFrame) -> None:
        self.frames += 1
        size = frame.samples * self._sink.channels * 2
        if (
            frame.sample_rate == self._sink.rate
            and frame.layout.name == self._layout
            and frame.format.name == "s16"
        ):
            self._enqueue(bytes(memoryview(frame.planes[0])[:size]))
            return
        # The resampler returns as many frames as it has ready: none, one or several.
        for out in self._resampler.resample(frame):
            self._enqueue(bytes(memoryview(out.planes[0])[: out.samples * self._sink.channels * 2]))

    def _enqueue(self, pcm: bytes) -> None:
        if (
            self._write_nowait is not None
            and not self._queue
            and not self._sink_busy
            and self._end_info is None
            and self._write_nowait(pcm)
        ):
            self.bytes_written += len(pcm)
            return
        self._queue.append(pcm)
        self._queued_bytes += len(pcm)
        while self._queued_bytes > self._max_queued_bytes:
            dropped = self._queue.popleft()
            self._queued_bytes -= len(dropped)
            self.bytes_dropped += len(dropped)
        self._wake.set()

    async def _write(self) -> None:
        try:
            while True:
                while not self._queue:
                    self._wake.clear()
                    await self._wake.wait()
                pcm = self._queue.popleft()
                self._queued_bytes -= len(pcm)
                self._sink_busy = True
                try:
                    await self._sink.write(pcm)
                finally:
                    self._sink_busy = False
                self.bytes_written += len(pcm)
                self._wrote.set()
        except AudioDeviceError as err:
            self._end("failed", str(err))
        except Exception as err:
            _LOGGER.debug("audio output failed", exc_info=True)
            self._end("failed", f"audio output failed: {type(err).__name__}: {err}")

    async def played_out(self) -> bool:
        """Return once the audio queued now has gone to the sink (which plays what it holds
        before it closes): the server's `output_audio_buffer.stopped` says it sent the last of
        the answer, which may still wait here, and an end at that moment would cut it off.
        False when some of it never went (flushed, or the speaker ended first)."""
        target = self.bytes_written + self._queued_bytes
        ended = self.ended
        while not ended.done() and self.bytes_written < target and self._queue:
            self._wrote.clear()
            wrote = asyncio.ensure_future(self._wrote.wait())
            await asyncio.wait((wrote, ended), return_when=asyncio.FIRST_COMPLETED)
            wrote.cancel()
        return self.bytes_written >= target

    def _on_sink_ended(self, ended: asyncio.Future[AudioEnd]) -> None:
        if ended.result().failed:
            self._end("failed", ended.result().detail)

    async def flush(self) -> None:
        """Drop the audio not yet played: what is queued here, and what the player holds."""
        self.bytes_dropped += self._queued_bytes
        self._queue.clear()
        self._queued_bytes = 0
        self._wrote.set()
        self._resampler = self._new_resampler()  # its leftover samples are the old audio's
        await self._sink.flush()

    async def close(self) -> None:
        self._end("closed")
        self._sink.ended.remove_done_callback(self._on_sink_ended)
        if isinstance(self._track, ArrivingAudio):
            self._track.detach()
            self._track.remove_listener("ended", self._remote_ended)
        tasks = [task for task in (self._receiving, self._writing) if task is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._sink.close()
