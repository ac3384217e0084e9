"""Audio in and out of a session: paced PCM source tracks and sinks fed from the remote track.

Sources read raw S16_LE PCM from anything that yields bytes (a subprocess such as `arecord` or
`parec`, a WAV file, silence) and deliver 20 ms frames paced in real time, as a microphone would.
Sinks take S16_LE PCM at their own rate and layout (`aplay`/`pacat`, a WAV file, a callback);
`AudioPump` decodes, resamples and buffers in between.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
import contextlib
from fractions import Fraction
import logging
from pathlib import Path
import time
from typing import Protocol
import wave

from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError
import av

_LOGGER = logging.getLogger(__name__)

FRAME_MS = 20


class PcmReader(Protocol):
    """Yields raw S16_LE PCM; b"" means the source has ended."""

    async def read(self, size: int) -> bytes: ...

    async def close(self) -> None: ...


class SilenceReader:
    async def read(self, size: int) -> bytes:
        return bytes(size)

    async def close(self) -> None:
        return None


class WavReader:
    """PCM from a 16-bit WAV file; after the end, silence (a quiet mic) unless `then_end`."""

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


class ProcessReader:
    """PCM from a capture command (stdout), e.g. `arecord -q -t raw -f S16_LE -r 24000 -c 1`."""

    def __init__(self, argv: Sequence[str]) -> None:
        self.argv = list(argv)
        self._process: asyncio.subprocess.Process | None = None

    async def read(self, size: int) -> bytes:
        if self._process is None:
            self._process = await asyncio.create_subprocess_exec(
                *self.argv,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.DEVNULL,
                stdin=asyncio.subprocess.DEVNULL,
            )
        assert self._process.stdout is not None
        try:
            return await self._process.stdout.readexactly(size)
        except asyncio.IncompleteReadError as err:
            return err.partial

    async def close(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            await _stop_process(process)


async def _stop_process(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 2)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()


class PcmSourceTrack(MediaStreamTrack):
    """An audio track of 20 ms S16 frames from a PcmReader, paced like a live microphone."""

    kind = "audio"

    def __init__(self, reader: PcmReader, rate: int = 48000, channels: int = 1) -> None:
        super().__init__()
        self._reader = reader
        self.rate = rate
        self.channels = channels
        self._samples = rate * FRAME_MS // 1000
        self._pts = 0
        self._start: float | None = None

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        else:
            wait = self._start + self._pts / self.rate - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
        size = self._samples * self.channels * 2
        pcm = await self._reader.read(size)
        if not pcm:
            self.stop()
            raise MediaStreamError
        if len(pcm) < size:
            pcm += bytes(size - len(pcm))
        frame = av.AudioFrame(
            format="s16", layout="mono" if self.channels == 1 else "stereo", samples=self._samples
        )
        frame.planes[0].update(pcm)
        frame.sample_rate = self.rate
        frame.pts = self._pts
        frame.time_base = Fraction(1, self.rate)
        self._pts += self._samples
        return frame

    def stop(self) -> None:
        if self.readyState == "live":
            super().stop()
            # The reader may hold a subprocess: close it without blocking the caller.
            with contextlib.suppress(RuntimeError):
                asyncio.get_running_loop().create_task(self._reader.close())


class AudioSink(Protocol):
    """Takes S16_LE PCM at `rate` Hz with `channels` channels."""

    rate: int
    channels: int

    async def write(self, pcm: bytes) -> None: ...

    async def close(self) -> None: ...


class NullSink:
    """Drains the remote track so nothing queues up when nobody listens."""

    rate = 48000
    channels = 1

    async def write(self, pcm: bytes) -> None:
        return None

    async def close(self) -> None:
        return None


class CallbackSink:
    """Hands each chunk to a callback (tests, level meters, custom outputs)."""

    def __init__(
        self,
        callback: Callable[[bytes], Awaitable[None] | None],
        rate: int = 24000,
        channels: int = 1,
    ) -> None:
        self._callback = callback
        self.rate = rate
        self.channels = channels

    async def write(self, pcm: bytes) -> None:
        result = self._callback(pcm)
        if result is not None:
            await result

    async def close(self) -> None:
        return None


class WavSink:
    """Writes what the assistant says to a WAV file."""

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

    async def close(self) -> None:
        wav, self._wav = self._wav, None
        if wav is not None:
            wav.close()


class ProcessSink:
    """Plays through a command reading raw PCM on stdin, e.g. `aplay -q -t raw -f S16_LE ...`."""

    def __init__(self, argv: Sequence[str], rate: int = 24000, channels: int = 1) -> None:
        self.argv = list(argv)
        self.rate = rate
        self.channels = channels
        self._process: asyncio.subprocess.Process | None = None

    async def write(self, pcm: bytes) -> None:
        if self._process is None:
            self._process = await asyncio.create_subprocess_exec(
                *self.argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
            )
        assert self._process.stdin is not None
        self._process.stdin.write(pcm)
        await self._process.stdin.drain()

    async def close(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            if process.stdin is not None:
                process.stdin.close()
            await _stop_process(process)


class AudioPump:
    """Reads decoded frames from the remote track, resamples them for the sink, writes them."""

    def __init__(self, track: MediaStreamTrack, sink: AudioSink) -> None:
        self._track = track
        self._sink = sink
        layout = "mono" if sink.channels == 1 else "stereo"
        self._resampler = av.AudioResampler(format="s16", layout=layout, rate=sink.rate)
        self.frames = 0
        self.bytes_written = 0
        self._task = asyncio.get_running_loop().create_task(self._run(), name="aiy-audio-pump")

    async def _run(self) -> None:
        try:
            while True:
                frame = await self._track.recv()
                if not isinstance(frame, av.AudioFrame):
                    continue
                self.frames += 1
                # The resampler returns as many frames as it has ready: none, one or several.
                for out in self._resampler.resample(frame):
                    pcm = bytes(out.planes[0])[: out.samples * self._sink.channels * 2]
                    self.bytes_written += len(pcm)
                    await self._sink.write(pcm)
        except MediaStreamError:
            pass
        except Exception:
            _LOGGER.exception("audio output failed")

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        await self._sink.close()
