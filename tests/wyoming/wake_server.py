"""A real Wyoming wake-word server on loopback, with a detector of our own: it hears a tone
sequence (880 Hz then 1320 Hz, each about 150 ms), not a spoken word, so a test can play the
"wake word" exactly, know where it ends, and follow it with espeak-ng's speech.

The server speaks the wyoming package's protocol (the one Home Assistant's `wyoming`
integration talks): each connection is one `AsyncEventHandler`.

- `Describe` → `Info` with one wake program holding one model, `WAKE_WORD` ("tone_nabu", phrase
  "okay tone", languages ["en"]). HA asks it in its config flow, again when the entry is set up,
  and then every 30 s (its info coordinator).
- `Detect(names)` names the models the client wants (HA: `[wake_word_id]`, or None for any); a
  stream for other names never fires.
- `AudioStart`, `AudioChunk`... (16 kHz mono S16LE, as HA sends), `AudioStop`: a `Detection`
  is sent as soon as the pattern has ended, with `timestamp` the end of the pattern on the
  client's clock (the chunks' `timestamp`s, ms), since the feature keeps the audio after it;
  `NotDetected` at `AudioStop` if nothing was found.

What HA does on its side (components/wyoming/wake_word.py), which the tests rely on:
- one TCP connection per audio stream: `Detect`, `AudioStart`, then chunks as the caller's
  stream yields them, read in parallel with the server's events. HA never sends `AudioStop`:
  when the stream ends it closes the connection, so HA never sees `NotDetected` either.
- on a `Detection` it takes *one more* chunk from the caller's stream (it will not cancel a
  pending read) and returns it as `DetectionResult.queued_audio`; the detection's timestamp is
  passed through as it came. If the stream ends before the detection arrives, HA returns None:
  a test must not feed the audio much faster than the server answers.

The detector: 10 ms blocks; in each, a Goertzel filter at each tone's frequency gives the share
of the block's energy at that frequency (1.0 for a pure tone, a few percent for speech). A run
of blocks dominated by the first tone, a short gap at most, then a run dominated by the second,
each run `MIN_TONE_MS`..`MAX_TONE_MS` long, is the wake word; it fires on the first block after
the second run, so its timestamp is the end of that run (within a block of the true end).

`start()`, `stop()` (connections closed, nobody listening: the handlers' tasks are awaited, so a
test ends with none left), `start()` again on the same `port`. `sessions` records each stream
(chunks, ms of audio, detections sent).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Self
import wave

import numpy as np
import numpy.typing as npt
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.error import Error
from wyoming.event import Event
from wyoming.info import Attribution, Describe, Info, WakeModel, WakeProgram
from wyoming.server import AsyncEventHandler
from wyoming.wake import Detect, Detection, NotDetected

from tests.audio_server import speech_wav, tone

RATE: Final = 16000
"""What HA sends a wake-word service: 16 kHz, 16-bit, mono."""
WIDTH: Final = 2
CHANNELS: Final = 1
BLOCK: Final = RATE // 100
"""10 ms: fine enough for the timestamp, long enough (100 Hz bins) to tell the tones apart."""
BLOCK_MS: Final = 10

FIRST_HZ: Final = 880.0
SECOND_HZ: Final = 1320.0
TONE_MS: Final = 150
"""How long `pattern()` plays each tone."""
MIN_TONE_MS: Final = 100
MAX_TONE_MS: Final = 400
"""A tone shorter or longer is not the wake word's (a whistle, a beep of something else)."""
MAX_GAP_MS: Final = 40
"""Between the tones: the block that holds both, and some room for a recording's smear."""
DOMINANT: Final = 0.6
"""Share of a block's energy at a tone's frequency for the block to be that tone."""
QUIET: Final = 0.003
"""RMS (of full scale, about -50 dBFS) under which a block is silence, whatever its spectrum."""

WAKE_WORD: Final = "tone_nabu"
WAKE_PHRASE: Final = "okay tone"
PROGRAM: Final = "tone-wake"
"""The wake program's name: HA names the entry and the entity after it."""


def info() -> Info:
    """What the server answers to `Describe`: one installed wake program with one model."""
    attribution = Attribution(name="AIY Realtime tests", url="https://example.invalid/")
    model = WakeModel(
        name=WAKE_WORD,
        attribution=attribution,
        installed=True,
        description="Tone Nabu",
        version="1",
        languages=["en"],
        phrase=WAKE_PHRASE,
    )
    program = WakeProgram(
        name=PROGRAM,
        attribution=attribution,
        installed=True,
        description="Hears two tones",
        version="1",
        models=[model],
    )
    return Info(wake=[program])


# -- the detector -----------------------------------------------------------------------------


def _share_at(blocks: npt.NDArray[np.float64], hz: float) -> npt.NDArray[np.float64]:
    """For each row (a block of samples), the share of its energy at `hz` (Goertzel's power,
    i.e. one DFT bin at any frequency, normalised so a pure tone at `hz` gives about 1)."""
    n = blocks.shape[1]
    phase = 2 * np.pi * hz / RATE * np.arange(n)
    real = blocks @ np.cos(phase)
    imag = blocks @ np.sin(phase)
    energy = np.einsum("ij,ij->i", blocks, blocks)
    power = 2 * (real * real + imag * imag) / n
    share: npt.NDArray[np.float64] = np.divide(
        power, energy, out=np.zeros_like(power), where=energy > 0
    )
    return share


@dataclass
class _Run:
    label: int  # 0: neither tone, 1: the first, 2: the second
    start: int  # block index
    blocks: int = 1


class ToneDetector:
    """Feed it 16 kHz S16LE audio with the client's timestamps; `feed` returns the timestamps
    (ms) at which the wake word ended. Usable alone, as the detector tests do."""

    def __init__(self) -> None:
        self._pending = b""
        self._blocks = 0  # blocks seen
        self._samples = 0  # samples received
        self._anchors: list[tuple[int, float]] = []
        """(sample index, client ms) where each chunk began: a sample's time is its chunk's
        timestamp plus its offset in the chunk, so a gap or jump in the client's clock is kept."""
        self._runs: list[_Run] = []

    def feed(self, audio: bytes, timestamp: float | None = None) -> list[int]:
        """Detections ending in what is known once `audio` is added."""
        if timestamp is None:
            timestamp = self._time_of(self._samples)
        self._anchors.append((self._samples, float(timestamp)))
        self._samples += len(audio) // WIDTH
        data = self._pending + audio
        whole = len(data) // (BLOCK * WIDTH) * BLOCK * WIDTH
        self._pending = data[whole:]
        if not whole:
            return []
        blocks = np.frombuffer(data[:whole], dtype="<i2").astype(np.float64).reshape(-1, BLOCK)
        loud = np.sqrt(np.mean(blocks * blocks, axis=1)) / 32768 > QUIET
        first = (_share_at(blocks, FIRST_HZ) > DOMINANT) & loud
        second = (_share_at(blocks, SECOND_HZ) > DOMINANT) & loud
        found = []
        for is_first, is_second in zip(first.tolist(), second.tolist(), strict=True):
            label = 1 if is_first else 2 if is_second else 0
            if (ended := self._add_block(label)) is not None:
                found.append(ended)
        return found

    def finish(self) -> list[int]:
        """At the end of the stream: a second tone still sounding counts if long enough."""
        if self._pattern_ends_here():
            self._runs.clear()
            return [self._time_of(self._blocks * BLOCK)]
        return []

    def _add_block(self, label: int) -> int | None:
        found = None
        if self._runs and self._runs[-1].label == label:
            self._runs[-1].blocks += 1
        else:
            if self._pattern_ends_here():
                found = self._time_of(self._blocks * BLOCK)
                self._runs.clear()
            self._runs.append(_Run(label, self._blocks))
            del self._runs[:-4]  # the pattern is at most first, gap, second (+ the new run)
        self._blocks += 1
        return found

    def _pattern_ends_here(self) -> bool:
        """Whether the runs so far end with first tone, short gap (or none), second tone."""
        runs = self._runs
        if len(runs) < 2 or runs[-1].label != 2 or not _tone_length(runs[-1]):
            return False
        before = runs[-2]
        if before.label == 0 and before.blocks * BLOCK_MS <= MAX_GAP_MS and len(runs) >= 3:
            before = runs[-3]
        return before.label == 1 and _tone_length(before)

    def _time_of(self, sample: int) -> int:
        """The client's ms at `sample` (samples counted from the stream's start)."""
        start, ms = 0, 0.0
        for anchor_sample, anchor_ms in self._anchors:
            if anchor_sample > sample:
                break
            start, ms = anchor_sample, anchor_ms
        return round(ms + (sample - start) * 1000 / RATE)


def _tone_length(run: _Run) -> bool:
    return MIN_TONE_MS <= run.blocks * BLOCK_MS <= MAX_TONE_MS


# -- the server -------------------------------------------------------------------------------


@dataclass
class Session:
    """One audio stream a client sent (HA: one connection per stream)."""

    names: list[str] | None = None
    """What `Detect` asked for (None: any wake word)."""
    chunks: int = 0
    samples: int = 0
    detections: list[Detection] = field(default_factory=list)
    """What was sent."""
    not_detected: bool = False
    """`NotDetected` sent (at `AudioStop`)."""
    stopped: bool = False
    """The client sent `AudioStop` (HA never does: it closes the connection)."""
    closed: bool = False

    @property
    def audio_ms(self) -> float:
        return self.samples * 1000 / RATE


class _Handler(AsyncEventHandler):
    """One connection: describes the service, or detects in the streams sent on it."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: WakeServer
    ) -> None:
        super().__init__(reader, writer)
        self._server = server
        self._names: list[str] | None = None
        self._session: Session | None = None
        self._detector = ToneDetector()

    async def handle_event(self, event: Event) -> bool:
        if Describe.is_type(event.type):
            self._server.describes += 1
            await self.write_event(info().event())
        elif Detect.is_type(event.type):
            self._names = Detect.from_event(event).names
        elif AudioStart.is_type(event.type):
            start = AudioStart.from_event(event)
            if (start.rate, start.width, start.channels) != (RATE, WIDTH, CHANNELS):
                # What a real service would do with audio it cannot read; HA logs it.
                await self.write_event(Error(text=f"not 16 kHz mono S16: {start}").event())
                return False
            self._begin()
        elif AudioChunk.is_type(event.type):
            session = self._session or self._begin()  # a client that skipped AudioStart
            chunk = AudioChunk.from_event(event)
            session.chunks += 1
            session.samples += len(chunk.audio) // WIDTH
            await self._send(self._detector.feed(chunk.audio, chunk.timestamp))
        elif AudioStop.is_type(event.type) and (ended := self._session) is not None:
            ended.stopped = True
            await self._send(self._detector.finish())
            if not ended.detections:
                ended.not_detected = True
                await self.write_event(NotDetected().event())
            self._session = None
        return True

    def _begin(self) -> Session:
        self._session = Session(names=self._names)
        self._server.sessions.append(self._session)
        self._detector = ToneDetector()
        return self._session

    async def _send(self, found: list[int]) -> None:
        session = self._session
        if session is None or (self._names is not None and WAKE_WORD not in self._names):
            return
        for timestamp in found:
            detection = Detection(name=WAKE_WORD, timestamp=timestamp)
            session.detections.append(detection)
            await self.write_event(detection.event())

    async def disconnect(self) -> None:
        if self._session is not None:
            self._session.closed = True


class WakeServer:
    """The wake-word service on 127.0.0.1; `port` (free, chosen at the first start) is kept
    across restarts, as a real service's would be."""

    def __init__(self) -> None:
        self.port = 0
        self.sessions: list[Session] = []
        self.describes = 0
        """`Describe`s answered: HA's config flow, its entry set-up, its info refreshes."""
        self._server: asyncio.Server | None = None
        self._handlers: dict[asyncio.Task[None], _Handler] = {}
        self._idle = asyncio.Event()
        """Set while no connection is open."""
        self._idle.set()

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def detections(self) -> list[Detection]:
        return [d for session in self.sessions for d in session.detections]

    async def start(self) -> Self:
        self._server = await asyncio.start_server(self._connected, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        """Gone: nobody listening, every connection closed and its handler finished."""
        if (server := self._server) is None:
            return
        self._server = None
        server.close()
        handlers = dict(self._handlers)
        for handler in handlers.values():
            await handler.stop()
        await asyncio.gather(*handlers, return_exceptions=True)
        await server.wait_closed()

    async def idle(self, timeout: float = 5.0) -> None:
        """Wait until every connection has closed (HA closes its own after a stream, but our
        side learns it only when it reads the end)."""
        async with asyncio.timeout(timeout):
            await self._idle.wait()

    async def _connected(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """asyncio runs this as the connection's task; it ends when the connection does."""
        task = asyncio.current_task()
        assert task is not None
        handler = _Handler(reader, writer, self)
        self._handlers[task] = handler
        self._idle.clear()
        try:
            # A client that hangs up while we write (HA does, right after a detection) is no
            # error of the server's: asyncio would log it as one.
            with contextlib.suppress(ConnectionError):
                await handler.run()
        finally:
            del self._handlers[task]
            if not self._handlers:
                self._idle.set()


# -- test audio -------------------------------------------------------------------------------


def silence(ms: int) -> bytes:
    return bytes(RATE * ms // 1000 * WIDTH)


def pattern(first_hz: float = FIRST_HZ, second_hz: float = SECOND_HZ, ms: int = TONE_MS) -> bytes:
    """The wake word: two tones back to back (`ms` each), 16 kHz S16LE."""
    return tone(ms / 1000, first_hz, 0.4, RATE) + tone(ms / 1000, second_hz, 0.4, RATE)


async def speech(text: str, directory: Path) -> bytes:
    """`text` spoken by espeak-ng, 16 kHz S16LE (tests/audio_server.py's speech_wav)."""
    path = await speech_wav(text, directory / "speech.wav", rate=RATE)
    with wave.open(str(path), "rb") as wav:
        return wav.readframes(wav.getnframes())


@dataclass(frozen=True)
class WakeAudio:
    """Audio a test plays: `pcm` (16 kHz S16LE) with the wake word ending at `wake_end_ms`
    (None: no wake word in it)."""

    pcm: bytes
    wake_end_ms: int | None

    @property
    def ms(self) -> int:
        return len(self.pcm) // WIDTH * 1000 // RATE

    def chunks(self, ms: int = 10, start_ms: int = 0) -> list[tuple[bytes, int]]:
        """(bytes, timestamp ms) as HA's audio streams carry them, the clock from `start_ms`."""
        size = RATE * ms // 1000 * WIDTH
        return [
            (self.pcm[offset : offset + size], start_ms + offset // WIDTH * 1000 // RATE)
            for offset in range(0, len(self.pcm), size)
        ]


def wake_audio(after: bytes = b"", lead_ms: int = 300, wake: bytes | None = None) -> WakeAudio:
    """`lead_ms` of silence, the wake word (`pattern()` unless `wake`), then `after` (speech,
    silence...)."""
    wake = pattern() if wake is None else wake
    lead = silence(lead_ms)
    end = (len(lead) + len(wake)) // WIDTH * 1000 // RATE
    return WakeAudio(lead + wake + after, end)
