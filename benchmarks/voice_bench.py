"""Voice benchmarks through a real Home Assistant core and a real PulseAudio server (scripts/bench).

Everything is measured in one run, on this machine, the things compared interleaved in rounds
(so that a neighbour's load, which moves these numbers a lot on a small shared machine, falls
on all of them alike):

- CPU of Home Assistant's process per minute of a full-duplex voice session: a voice terminal on
  a PulseAudio server the benchmark starts (tests/audio_server.py: null sinks `kit_mic` and
  `kit_speaker`); a sentence spoken by espeak-ng is played into `kit_mic` every few seconds (by a
  `pacat` of the benchmark's, outside Home Assistant), the peer (its own process,
  benchmarks/voice_peer.py) hears each one with its energy VAD and answers with a spoken sentence
  (a tone), which the terminal plays into `kit_speaker`. Audio flows both ways all the time (the
  peer sends silence between answers, as a WebRTC sender without DTX does). Home Assistant's
  process is this one: `time.process_time()` over each window, every thread included (aiortc's
  encoder and decoder threads too). The processes outside it (the peer, the PulseAudio server,
  the terminal's `parec` and `pacat`, the test rig's own `parec`s and `pacat`) are read from
  /proc/<pid>/stat over the same windows and reported apart.
- The same session the way the code did it before (aiortc's encoder and receiver, the recorder
  read through asyncio's subprocess pipe, every chunk through the pump's writer task), and with
  each of our changes taken out on its own: what each one is worth.
- Beside it: the Opus floor (PyAV encoding and decoding the same audio, mono 48 kHz, 20 ms
  frames, with the microphone's settings: back to back, and one frame every 20 ms as in a call;
  and aiortc's own codec classes, which code stereo), and a bare aiortc full-duplex client (the
  same audio out of memory, the peer's audio received and decoded, no Home Assistant) with the
  same peer in its own process.
- Debian's headless Chromium making the same call, as the browser app this project grew from did
  (benchmarks/browser_call.py: getUserMedia on a fake device playing the same WAV, the answer
  played by an <audio> element into the same PulseAudio server): the CPU of its whole process
  tree, from /proc over the same windows, and its memory (RSS and PSS summed over the tree).
- Added playout latency: the peer notes the moment the first frame of each answer leaves its
  track for aiortc (`time.monotonic()`, one clock for all processes); the terminal's speaker is
  a `ProcessSink` that notes the moment each chunk is handed to `pacat`. The first loud chunk
  after silence is the answer's onset: onset written minus onset sent, p50 over every answer in
  the CPU windows (a time and a reference per chunk is all the sink adds there; the onsets are
  found after the window).
- Press/action to listening: `aiy_realtime.start_session` until both the action returned (the
  session is ready: connected, `session.created`, state listening) and the microphone's
  recorder delivered its first 20 ms. Cold: the first session after the entry (re)loads; warm:
  the sessions after it; and the very first one in the process.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable, Iterator
import contextlib
from dataclasses import dataclass, field, replace
from fractions import Fraction
import json
import logging
import os
from pathlib import Path
import sys
import tempfile
import time
from typing import Any
import wave

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
import aioice.ice  # noqa: E402
from aiortc import (  # noqa: E402
    MediaStreamTrack,
    RTCConfiguration,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.codecs.opus import OpusDecoder, OpusEncoder  # noqa: E402
from aiortc.jitterbuffer import JitterFrame  # noqa: E402
from aiortc.mediastreams import MediaStreamError  # noqa: E402
import av  # noqa: E402
import numpy as np  # noqa: E402
from pytest_homeassistant_custom_component.common import (  # noqa: E402
    MockConfigEntry,
)

from homeassistant.core import Event, HomeAssistant, callback  # noqa: E402
from homeassistant.helpers import entity_registry as er  # noqa: E402

from benchmarks.browser_call import (  # noqa: E402
    Memory,
    by_role,
    chromium_call,
    chromium_tree,
    memory_of,
)
from benchmarks.common import p50, p95, publish  # noqa: E402
from benchmarks.home import home_assistant  # noqa: E402
from benchmarks.peer_process import PeerProcess  # noqa: E402
from custom_components.aiy_realtime.const import (  # noqa: E402
    DOMAIN,
    EVENT_TRANSCRIPT,
)
from custom_components.aiy_realtime.hardware import audio_devices  # noqa: E402
from custom_components.aiy_realtime.hardware.pcm_process import (  # noqa: E402
    ProcessReader,
    ProcessSink,
)
from custom_components.aiy_realtime.realtime import audio, transport  # noqa: E402
from tests.audio_server import AudioServer, speech_wav, write_wav  # noqa: E402
from tests.helpers import TERMINAL_ID, assistant, terminal  # noqa: E402
from tests.peer.http import VALID_KEY  # noqa: E402

RATE = 48000
FRAME = RATE // 50
UTTERANCE = "turn on the kitchen light"
CYCLE_SECONDS = 6.0
"""The sentence, the peer's answer (2.8 s) and a pause: one exchange, again and again. Every
window starts at the same point of it and covers whole cycles."""
WARM_UP_SECONDS = 3.0
LOUD = 0.1 * 32768
"""A chunk of the answer's tone (0.3 of full scale) peaks above this; silence through Opus and
its pre-echo stay below."""

# -- the audio paths compared ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AudioPath:
    encode: bool = True
    """Our Opus encoder for the microphone (audio.OpusMicrophone), or aiortc's."""
    decode: bool = True
    """The answer decoded on arrival (audio.ArrivingAudio), or aiortc's receiver."""
    paced_reads: bool = True
    """The recorder's pipe looked at once a frame, or at every piece it writes."""
    asyncio_pipe: bool = False
    """The recorder read through asyncio's subprocess pipe and stream reader (before)."""
    direct_writes: bool = True
    """The pump hands PCM to the player at once when its pipe has room, or via its task."""


OURS = AudioPath()
VARIANTS: dict[str, AudioPath] = {
    "ours": OURS,
    "before": AudioPath(
        encode=False, decode=False, paced_reads=False, asyncio_pipe=True, direct_writes=False
    ),
    "without our encoder": replace(OURS, encode=False),
    "without decoding on arrival": replace(OURS, decode=False),
    "recorder read piece by piece": replace(OURS, paced_reads=False),
    "without direct writes": replace(OURS, direct_writes=False),
}
"""Our path, the code before this work, and ours with one change taken out at a time."""

CURRENT = OURS


@contextlib.contextmanager
def audio_path(path: AudioPath) -> Iterator[None]:
    """Sessions started inside take this path (WebRTCTransport's switches, and which recorder
    and player the terminal's backend makes: see `recorder` and `player` below)."""
    global CURRENT
    saved = (
        CURRENT,
        transport.WebRTCTransport.encode_microphone,
        transport.WebRTCTransport.decode_on_arrival,
    )
    CURRENT = path
    transport.WebRTCTransport.encode_microphone = path.encode
    transport.WebRTCTransport.decode_on_arrival = path.decode
    try:
        yield
    finally:
        (
            CURRENT,
            transport.WebRTCTransport.encode_microphone,
            transport.WebRTCTransport.decode_on_arrival,
        ) = saved


# -- instruments: what the terminal's recorder and player see, without changing what they do ----


@dataclass
class Notes:
    first_reads: list[float] = field(default_factory=list)
    """perf_counter() of each recorder's first delivered chunk."""
    writes: list[tuple[float, bytes]] | None = None
    """monotonic() and PCM of each chunk handed to a player, while recording."""


NOTES = Notes()


class NotedReader(ProcessReader):
    """The terminal's recorder, noting when it first delivers sound."""

    _noted = False

    def _note(self, pcm: bytes) -> bytes:
        if not self._noted and pcm:
            self._noted = True
            NOTES.first_reads.append(time.perf_counter())
        return pcm

    async def read(self, size: int) -> bytes:
        return self._note(await super().read(size))


class AsyncioPipeReader(NotedReader):
    """Before: the recorder's output read through asyncio's subprocess pipe and
    `StreamReader.readexactly`, as pcm_process did (its failure reports left out)."""

    _recorder: asyncio.subprocess.Process | None = None

    async def read(self, size: int) -> bytes:
        if self._recorder is None:
            self._recorder = await asyncio.create_subprocess_exec(
                *self.argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.DEVNULL,
            )
        assert self._recorder.stdout is not None
        try:
            return self._note(await self._recorder.stdout.readexactly(size))
        except asyncio.IncompleteReadError as err:
            return err.partial

    async def close(self) -> None:
        recorder, self._recorder = self._recorder, None
        if recorder is not None:
            with contextlib.suppress(ProcessLookupError):
                recorder.terminate()
            assert recorder.stdout is not None
            await recorder.stdout.read()
            await recorder.wait()


class NotedSink(ProcessSink):
    """The terminal's player, noting when each chunk is handed to it."""

    def write_nowait(self, pcm: bytes) -> bool:
        if not CURRENT.direct_writes:
            return False
        written = super().write_nowait(pcm)
        if written and NOTES.writes is not None:
            NOTES.writes.append((time.monotonic(), pcm))
        return written

    async def write(self, pcm: bytes) -> None:
        if NOTES.writes is not None:
            NOTES.writes.append((time.monotonic(), pcm))
        await super().write(pcm)


def recorder(argv: list[str], *, live: bool, bytes_per_second: int | None = None) -> ProcessReader:
    if CURRENT.asyncio_pipe:
        return AsyncioPipeReader(argv, live=live)
    return NotedReader(
        argv, live=live, bytes_per_second=bytes_per_second if CURRENT.paced_reads else None
    )


def player(argv: list[str], rate: int, channels: int) -> ProcessSink:
    return NotedSink(argv, rate=rate, channels=channels)


audio_devices.ProcessReader = recorder  # type: ignore[assignment,misc]
audio_devices.ProcessSink = player  # type: ignore[assignment,misc]


def onsets_written(writes: list[tuple[float, bytes]]) -> list[float]:
    """When the first loud chunk after at least 100 ms of quiet was handed to the player."""
    found: list[float] = []
    quiet_ms = 0.0
    for at, pcm in writes:
        samples = np.frombuffer(pcm, dtype="<i2")
        if samples.size and np.abs(samples.astype(np.int32)).max() >= LOUD:
            if quiet_ms >= 100:
                found.append(at)
            quiet_ms = 0.0
        else:
            quiet_ms += samples.size * 1000 / RATE
    return found


def latencies(sent: list[float], written: list[float]) -> list[float]:
    """Each onset written, less the latest onset the peer sent before it (within a second)."""
    result = []
    for at in written:
        before = [s for s in sent if s <= at]
        if before and at - before[-1] < 1.0:
            result.append(at - before[-1])
    return result


# -- CPU, this process's and others' ------------------------------------------------------------

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process so far (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def children() -> dict[int, str]:
    """This process's child processes and their command names."""
    found: dict[int, str] = {}
    for listing in Path(f"/proc/{os.getpid()}/task").glob("*/children"):
        for pid in listing.read_text().split():
            with contextlib.suppress(OSError):
                found[int(pid)] = Path(f"/proc/{pid}/comm").read_text().strip()
    return found


PROFILE: Path | None = None
"""Where to write a yappi profile of each window (`--profile`): CPU time per function, all
threads. The profiler's own cost inflates the windows' CPU: a profiled run's numbers are for
reading the profile only."""


@contextlib.contextmanager
def profiled(name: str) -> Iterator[None]:
    if PROFILE is None:
        yield
        return
    import yappi

    yappi.set_clock_type("cpu")
    yappi.clear_stats()
    yappi.start(builtins=True)
    try:
        yield
    finally:
        yappi.stop()
        PROFILE.mkdir(parents=True, exist_ok=True)
        with (PROFILE / f"{name.replace(' ', '_')}.txt").open("a") as out:
            stats = yappi.get_func_stats()
            for key in ("tsub", "ttot"):
                out.write(f"\n-- by {key}\n")
                stats.sort(key).print_all(
                    out=out,
                    columns={0: ("name", 90), 1: ("ncall", 10), 2: ("tsub", 8), 3: ("ttot", 8)},
                )


@dataclass
class Tally:
    """CPU of this process (and of named others) over windows of wall time, added up."""

    wall: float = 0.0
    own: float = 0.0
    own_kernel: float = 0.0
    others: dict[str, float] = field(default_factory=dict)
    answers: int = 0
    latencies: list[float] = field(default_factory=list)
    frames_played: int = 0
    frames: int = 0

    @contextlib.contextmanager
    def window(self, name: str, others: dict[str, list[int]] | None = None) -> Iterator[None]:
        others = others or {}
        before = {label: sum(cpu_seconds(p) for p in pids) for label, pids in others.items()}
        own, wall, kernel = time.process_time(), time.perf_counter(), os.times().system
        with profiled(name):
            yield
        self.own += time.process_time() - own
        self.wall += time.perf_counter() - wall
        self.own_kernel += os.times().system - kernel
        for label, pids in others.items():
            spent = sum(cpu_seconds(p) for p in pids) - before[label]
            self.others[label] = self.others.get(label, 0.0) + spent

    def percent(self, label: str | None = None) -> float:
        """Share of one core: this process's (None), or a named other's."""
        spent = self.own if label is None else self.others[label]
        return round(spent / self.wall * 100, 2) if self.wall else 0.0


# -- the sound ------------------------------------------------------------------------------------


def read_pcm(path: Path) -> bytes:
    with wave.open(str(path), "rb") as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (RATE, 1, 2)
        return wav.readframes(wav.getnframes())


async def one_exchange(directory: Path) -> bytes:
    """The sentence, then silence to the end of the cycle: mono S16 at 48 kHz."""
    speech = read_pcm(await speech_wav(UTTERANCE, directory / "utterance.wav"))
    cycle_bytes = int(CYCLE_SECONDS * RATE) * 2
    assert len(speech) < cycle_bytes // 2, "the sentence leaves no time for the answer"
    return speech + bytes(cycle_bytes - len(speech))


def looped(cycle: bytes, seconds: float) -> bytes:
    return cycle * (int(seconds / CYCLE_SECONDS) + 1)


# -- the Opus floor -------------------------------------------------------------------------------


def frames_of(pcm: bytes) -> list[av.AudioFrame]:
    result = []
    for index in range(len(pcm) // (FRAME * 2)):
        frame = av.AudioFrame(format="s16", layout="mono", samples=FRAME)
        frame.planes[0].update(pcm[index * FRAME * 2 : (index + 1) * FRAME * 2])
        frame.sample_rate = RATE
        frame.pts = index * FRAME
        frame.time_base = Fraction(1, RATE)
        result.append(frame)
    return result


def codec_pair(
    bitrate: int = audio.MIC_BITRATE, application: str = audio.MIC_APPLICATION
) -> tuple[av.AudioCodecContext, av.AudioCodecContext]:
    encoder = av.CodecContext.create("libopus", "w")
    encoder.bit_rate = bitrate
    encoder.format = "s16"
    encoder.layout = "mono"
    encoder.sample_rate = RATE
    encoder.time_base = Fraction(1, RATE)
    encoder.options = {"application": application}
    decoder = av.CodecContext.create("libopus", "r")
    decoder.format = "s16"
    decoder.layout = "mono"
    decoder.sample_rate = RATE
    return encoder, decoder


def coded(
    encoder: av.AudioCodecContext, decoder: av.AudioCodecContext, frames: list[av.AudioFrame]
) -> tuple[float, float]:
    """CPU seconds encoding the frames back to back, and decoding what came of it."""
    start = time.process_time()
    packets = [bytes(p) for f in frames for p in encoder.encode(f)]
    encoded = time.process_time()
    for payload in packets:
        decoder.decode(av.Packet(payload))
    return encoded - start, time.process_time() - encoded


def opus_floor(pcm: bytes) -> dict[str, float]:
    """Share of one core that coding this audio back to back costs, per second of it: PyAV mono
    with the microphone's settings; with libopus's "voip" mode at 32 kbit/s (SILK, what a
    browser sends for speech); and aiortc's codec classes (stereo at 96 kbit/s)."""
    seconds = len(pcm) / 2 / RATE
    warm = frames_of(pcm[: RATE * 2])
    ours = codec_pair()
    coded(*ours, warm)
    encode, decode = coded(*ours, frames_of(pcm))
    voip = codec_pair(32000, "voip")
    coded(*voip, warm)
    voip_encode, voip_decode = coded(*voip, frames_of(pcm))
    aiortc_encoder, aiortc_decoder = OpusEncoder(), OpusDecoder()
    frames = frames_of(pcm)
    start = time.process_time()
    payloads = [p for f in frames for p in aiortc_encoder.encode(f)[0]]
    for index, payload in enumerate(payloads):
        aiortc_decoder.decode(JitterFrame(payload, index * FRAME))
    aiortc_spent = time.process_time() - start
    return {
        "encode": round(encode / seconds * 100, 2),
        "decode": round(decode / seconds * 100, 2),
        "both": round((encode + decode) / seconds * 100, 2),
        "voip_32k_both": round((voip_encode + voip_decode) / seconds * 100, 2),
        "aiortc_codecs": round(aiortc_spent / seconds * 100, 2),
    }


async def paced_floor(tally: Tally, cycle: bytes, seconds: float) -> None:
    """The microphone's Opus settings coding one frame each way every 20 ms, as in a call."""
    encoder, decoder = codec_pair()
    frames = frames_of(looped(cycle, seconds + WARM_UP_SECONDS))
    loop = asyncio.get_running_loop()
    start = loop.time()

    async def run(until: float, index: int) -> int:
        while loop.time() < until:
            for packet in encoder.encode(frames[index]):
                decoder.decode(av.Packet(bytes(packet)))
            index += 1
            await asyncio.sleep(max(0.0, start + index * 0.02 - loop.time()))
        return index

    index = await run(start + WARM_UP_SECONDS, 0)
    with tally.window("opus floor paced"):
        await run(loop.time() + seconds, index)


# -- a bare aiortc client -------------------------------------------------------------------------

BARE_SESSION = {
    "type": "realtime",
    "model": "gpt-realtime",
    "output_modalities": ["audio"],
    "audio": {
        "input": {
            "transcription": {"model": "gpt-4o-mini-transcribe"},
            "turn_detection": {"type": "server_vad"},
        },
        "output": {"voice": "marin"},
    },
}


class MemoryTrack(MediaStreamTrack):
    """PCM from memory, 20 ms frames paced by the system clock, round and round."""

    kind = "audio"

    def __init__(self, pcm: bytes) -> None:
        super().__init__()
        self._pcm = pcm
        self._pts = 0
        self._start: float | None = None

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        wait = self._start + self._pts / RATE - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        offset = (self._pts * 2) % len(self._pcm)
        frame = av.AudioFrame(format="s16", layout="mono", samples=FRAME)
        frame.planes[0].update(self._pcm[offset : offset + FRAME * 2])
        frame.sample_rate = RATE
        frame.pts = self._pts
        frame.time_base = Fraction(1, RATE)
        self._pts += FRAME
        return frame


async def bare_client(tally: Tally, peer: PeerProcess, cycle: bytes, seconds: float) -> None:
    """aiortc with its defaults, talking to the peer: the same audio out, the answers read and
    decoded (and dropped). No Home Assistant session, none of our code."""
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    channel = pc.createDataChannel("oai-events")
    opened = asyncio.Event()
    channel.on("open", opened.set)
    pc.addTransceiver(MemoryTrack(cycle), direction="sendrecv")
    received = 0
    reading: list[asyncio.Task[None]] = []

    async def read(track: MediaStreamTrack) -> None:
        nonlocal received
        with contextlib.suppress(MediaStreamError):
            while True:
                await track.recv()
                received += 1

    pc.on("track", lambda track: reading.append(asyncio.ensure_future(read(track))))
    await pc.setLocalDescription(await pc.createOffer())
    form = aiohttp.FormData()
    form.add_field("sdp", pc.localDescription.sdp, content_type="application/sdp")
    form.add_field("session", json.dumps(BARE_SESSION), content_type="application/json")
    headers = {"Authorization": f"Bearer {VALID_KEY}"}
    root = peer.base_url.removesuffix("/v1")
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{peer.base_url}/realtime/calls", data=form, headers=headers) as r:
            assert r.status == 201, await r.text()
            answer, location = await r.text(), r.headers["Location"]
        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
            await asyncio.wait_for(opened.wait(), 10)
            await asyncio.sleep(WARM_UP_SECONDS)
            before = received
            with tally.window("bare aiortc", {"peer": [peer.pid]}):
                await asyncio.sleep(seconds)
            tally.frames += received - before
        finally:
            await pc.close()
            for task in reading:
                await task
            async with http.post(f"{root}{location}/hangup", headers=headers):
                pass


# -- a browser ------------------------------------------------------------------------------------


@dataclass
class BrowserTally:
    """The Chromium row: its process tree's CPU (`tally.others["chromium"]`) and more."""

    tally: Tally = field(default_factory=Tally)
    memory: list[Memory] = field(default_factory=list)
    """Summed over Chromium's processes at the end of each window."""
    packets_sent: int = 0
    processes: int = 0
    processes_started_in_windows: int = 0
    """Processes of Chromium's that came up during a window (not counted; 0 expected)."""
    version: str = ""


async def chromium_client(
    found: BrowserTally, peer: PeerProcess, server: AudioServer, wav: Path, seconds: float
) -> None:
    """Debian's headless Chromium making the same call to the same peer; what its processes
    spend is counted, the peer's apart, Home Assistant and this process not at all."""
    async with chromium_call(peer.base_url, wav, server.server) as call:
        await asyncio.sleep(WARM_UP_SECONDS)
        flow, events = await call.flow(), await call.events()
        roles = {f"chromium {name}": pids for name, pids in by_role(call.pids).items()}
        others = {"chromium": call.pids, "peer": [peer.pid], **roles}
        with found.tally.window("chromium", others):
            await asyncio.sleep(seconds)
        found.memory.append(memory_of(call.pids))
        found.processes_started_in_windows += len(set(chromium_tree()) - set(call.pids))
        flow_after, events_after = await call.flow(), await call.events()
        errors = await call.errors()
        assert not errors, f"the peer refused what the page sent: {errors}"
    found.version, found.processes = call.version, len(call.pids)
    found.tally.frames += flow_after["received"] - flow["received"]
    found.packets_sent += flow_after["sent"] - flow["sent"]
    found.tally.answers += events_after.get("response.done", 0) - events.get("response.done", 0)


def chromium_results(found: BrowserTally) -> dict[str, Any]:
    return {
        "cpu_percent": found.tally.percent("chromium") if found.tally.wall else None,
        "peer_cpu_percent": found.tally.percent("peer") if found.tally.wall else None,
        "by_process_cpu_percent": dict(
            sorted(
                (
                    (label.removeprefix("chromium "), found.tally.percent(label))
                    for label in found.tally.others
                    if label.startswith("chromium ")
                ),
                key=lambda item: -item[1],
            )
        ),
        "answers": found.tally.answers,
        "packets_received": found.tally.frames,
        "packets_sent": found.packets_sent,
        "rss_mb": max((m.rss_mb for m in found.memory), default=None),
        "pss_mb": max((m.pss_mb for m in found.memory), default=None),
        "processes": found.processes,
        "processes_started_in_windows": found.processes_started_in_windows,
        "version": found.version,
    }


def chromium_lines(results: dict[str, Any]) -> list[str]:
    """The Chromium row and its ratios: to the bare aiortc client, and to our whole session
    (Home Assistant's process and the terminal's own audio processes)."""
    chromium = results["chromium"]
    if chromium["cpu_percent"] is None:
        return []
    cpu = chromium["cpu_percent"]
    ratios = []
    bare = results["bare_aiortc"]["cpu_percent"]
    if bare:
        ratios.append(f"**{round(cpu / bare, 2)}x** the bare aiortc client")
    ours = results["voice"].get("ours", {})
    if ours.get("ha_cpu_percent"):
        session = round(
            ours["ha_cpu_percent"]
            + ours["outside_ha_cpu_percent"].get("parec/pacat of the terminal", 0.0),
            2,
        )
        ratios.append(f"our whole session {session}% is **{round(session / cpu, 2)}x** of it")
    return [
        f"| headless Chromium {chromium['version']} (Debian's) making the same full-duplex call,"
        f" its {chromium['processes']} processes ({chromium['answers']} answers) |"
        f" **{cpu}%** of a core" + (f" ({'; '.join(ratios)})" if ratios else "") + " |"
        " our whole session ≤ ½ of it |",
        "| Chromium's CPU by process | "
        + ", ".join(
            f"{name} {value}%" for name, value in chromium["by_process_cpu_percent"].items()
        )
        + " | |",
        f"| Chromium's memory, summed over its processes | RSS {chromium['rss_mb']} MB,"
        f" PSS {chromium['pss_mb']} MB | |",
    ]


# -- Home Assistant -------------------------------------------------------------------------------


def satellite(hass: HomeAssistant) -> str:
    entity_id = er.async_get(hass).async_get_entity_id("assist_satellite", DOMAIN, TERMINAL_ID)
    assert entity_id is not None
    return entity_id


async def start_session(hass: HomeAssistant) -> None:
    await hass.services.async_call(
        DOMAIN, "start_session", {"entity_id": satellite(hass)}, blocking=True
    )


async def end_session(hass: HomeAssistant) -> None:
    await hass.services.async_call(
        DOMAIN, "end_session", {"entity_id": satellite(hass), "graceful": False}, blocking=True
    )


async def press_to_listening(hass: HomeAssistant) -> tuple[float, float]:
    """Seconds from the action to the session being ready, and to the microphone's first sound."""
    reads = len(NOTES.first_reads)
    start = time.perf_counter()
    await start_session(hass)
    ready = time.perf_counter() - start
    async with asyncio.timeout(10):
        while len(NOTES.first_reads) == reads:  # noqa: ASYNC110 - a note, not an event
            await asyncio.sleep(0.002)
    return ready, NOTES.first_reads[reads] - start


async def starts(
    hass: HomeAssistant, entry: MockConfigEntry, cold: int, warm: int
) -> dict[str, list[tuple[float, float]]]:
    """The first session in this process, then `cold` times: reload the entry and start a
    session; between them, `warm` more sessions in all (each ended before the next)."""
    found: dict[str, list[tuple[float, float]]] = {"first": [], "cold": [], "warm": []}
    warm_per_round = -(-warm // (cold + 1))
    for round_ in range(cold + 1):
        if round_:
            assert await hass.config_entries.async_reload(entry.entry_id)
            await hass.async_block_till_done()
            await asyncio.sleep(0.5)
        for index in range(1 + warm_per_round):
            kind = "warm" if index else ("cold" if round_ else "first")
            found[kind].append(await press_to_listening(hass))
            await end_session(hass)
            await asyncio.sleep(0.3)
    return found


async def play_into_the_mic(server: AudioServer, wav: Path) -> asyncio.subprocess.Process:
    """`pacat` playing into kit_mic: someone speaking to the terminal (outside HA's process)."""
    return await asyncio.create_subprocess_exec(
        "pacat",
        f"--server={server.server}",
        "--playback",
        "--file-format=wav",
        f"--device={server.mic_sink}",
        "--latency-msec=20",
        str(wav),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
        env=server.client_env(),
    )


async def stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
    await process.wait()


@dataclass
class Rig:
    hass: HomeAssistant
    server: AudioServer
    peer: PeerProcess
    wav: Path
    """What is played into the mic for one window (from the start of a cycle)."""


async def voice_window(rig: Rig, tally: Tally, name: str, seconds: float) -> None:
    """One full-duplex session: the sentence into the mic again and again, answers out; the
    window starts WARM_UP_SECONDS after the first sentence began."""
    answers = 0

    @callback
    def heard(event: Event) -> None:
        nonlocal answers
        answers += event.data["role"] == "assistant"

    known = set(children())
    await start_session(rig.hass)
    speaking = await play_into_the_mic(rig.server, rig.wav)
    unlisten = rig.hass.bus.async_listen(EVENT_TRANSCRIPT, heard)
    try:
        await asyncio.sleep(WARM_UP_SECONDS)
        now = children()
        others = {
            "peer": [rig.peer.pid],
            "pulseaudio": [rig.server.process.pid],
            "parec/pacat of the terminal": [
                pid for pid in now if pid not in known and pid != speaking.pid
            ],
            "pacat speaking into kit_mic": [speaking.pid],
            "parec keepers of the test server": [
                pid for pid, command in now.items() if pid in known and command == "parec"
            ],
        }
        sent_before = len((await rig.peer.get("/_bench/onsets"))["onsets"])
        NOTES.writes = []
        answers = 0
        with tally.window(name, others):
            await asyncio.sleep(seconds)
        writes, NOTES.writes = NOTES.writes, None
        tally.answers += answers
        sent = (await rig.peer.get("/_bench/onsets"))["onsets"][sent_before:]
    finally:
        unlisten()
        await stop(speaking)
        await end_session(rig.hass)
    tally.latencies += latencies(sent, onsets_written(writes))
    tally.frames_played += sum(len(pcm) for _, pcm in writes) // (FRAME * 2)


async def idle_cpu(seconds: float) -> float:
    start = time.process_time()
    await asyncio.sleep(seconds)
    return round((time.process_time() - start) / seconds * 100, 2)


# -- the run --------------------------------------------------------------------------------------


async def main(args: argparse.Namespace) -> dict[str, Any]:
    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]  # type: ignore[assignment]
    slice_seconds = args.seconds / args.rounds
    server = await AudioServer.start()
    peer = PeerProcess(module="benchmarks.voice_peer")
    tallies: dict[str, Tally] = {name: Tally() for name in [*args.variants, "bare aiortc"]}
    paced = Tally()
    browser = BrowserTally()
    try:
        await peer.start()
        os.environ["OPENAI_BASE_URL"] = peer.base_url
        with tempfile.TemporaryDirectory() as directory:
            cycle = await one_exchange(Path(directory))
            wav = write_wav(
                Path(directory) / "loop.wav", looped(cycle, slice_seconds + WARM_UP_SECONDS + 2)
            )
            async with home_assistant(assistant(), terminal(server.server)) as (hass, entry):
                timings = await starts(hass, entry, args.cold, args.warm)
                idle = await idle_cpu(args.idle_seconds)
                rig = Rig(hass, server, peer, wav)
                runs: list[tuple[str, Callable[[], Any]]] = [
                    *(
                        (
                            name,
                            lambda name=name: one_variant(rig, tallies[name], name, slice_seconds),
                        )
                        for name in args.variants
                    ),
                    (
                        "bare aiortc",
                        lambda: bare_client(tallies["bare aiortc"], peer, cycle, slice_seconds),
                    ),
                    ("opus floor paced", lambda: paced_floor(paced, cycle, slice_seconds)),
                    (
                        "chromium",
                        lambda: chromium_client(browser, peer, server, wav, slice_seconds),
                    ),
                ]
                runs = [run for run in runs if not args.only or run[0] in args.only]
                for round_ in range(args.rounds):  # a different order each round
                    shift = round_ % len(runs)
                    for _, run in runs[shift:] + runs[:shift]:
                        await run()
            floor = opus_floor(looped(cycle, 60))
    finally:
        await peer.close()
        await server.stop()
    return {
        **results_of(args, timings, idle, tallies, paced, floor),
        "chromium": chromium_results(browser),
    }


async def one_variant(rig: Rig, tally: Tally, name: str, seconds: float) -> None:
    with audio_path(VARIANTS[name]):
        await voice_window(rig, tally, name, seconds)


def results_of(  # noqa: PLR0917
    args: argparse.Namespace,
    timings: dict[str, list[tuple[float, float]]],
    idle: float,
    tallies: dict[str, Tally],
    paced: Tally,
    floor: dict[str, float],
) -> dict[str, Any]:
    def ms(values: list[float], percentile: Callable[[list[float]], float]) -> float | None:
        return round(percentile(values) * 1000, 1) if values else None

    bare = tallies.pop("bare aiortc")
    return {
        "voice": {
            name: {
                "ha_cpu_percent": tally.percent(),
                "ha_cpu_seconds_per_minute": round(tally.own / tally.wall * 60, 2),
                "ha_kernel_cpu_percent": round(tally.own_kernel / tally.wall * 100, 2),
                "outside_ha_cpu_percent": {label: tally.percent(label) for label in tally.others},
                "answers": tally.answers,
                "frames_played": tally.frames_played,
                "latency_p50_ms": ms(tally.latencies, p50),
                "latency_p95_ms": ms(tally.latencies, p95),
                "latency_samples": len(tally.latencies),
            }
            for name, tally in tallies.items()
            if tally.wall  # not run (--only)
        },
        "ha_idle_cpu_percent": idle,
        "bare_aiortc": {
            "cpu_percent": bare.percent(),
            "kernel_cpu_percent": round(bare.own_kernel / bare.wall * 100, 2)
            if bare.wall
            else None,
            "peer_cpu_percent": bare.percent("peer") if bare.wall else None,
            "frames_received": bare.frames,
        },
        "opus_floor_cpu_percent": {**floor, "both_paced": paced.percent()},
        "starts": {
            kind: {
                "ready_p50_ms": ms([r for r, _ in found], p50),
                "mic_live_p50_ms": ms([m for _, m in found], p50),
                "listening_p50_ms": ms([max(r, m) for r, m in found], p50),
                "runs": len(found),
            }
            for kind, found in timings.items()
            if found
        },
        "samples": {
            "seconds_per_variant": args.seconds,
            "rounds": args.rounds,
            "cycle_seconds": CYCLE_SECONDS,
            "cold": args.cold,
            "warm": args.warm,
            "idle_seconds": args.idle_seconds,
        },
    }


def report(results: dict[str, Any]) -> str:
    voice = results["voice"]
    ours = voice["ours"]
    starts = results["starts"]
    floor = results["opus_floor_cpu_percent"]
    bare = results["bare_aiortc"]
    s = results["samples"]
    seconds = s["seconds_per_variant"]
    lines = [
        "| measure | result | goal |",
        "|---|---|---|",
        f"| CPU of Home Assistant's process, full-duplex voice session ({seconds:g}"
        f" s in {s['rounds']} windows, {ours['answers']} answers) |"
        f" **{ours['ha_cpu_percent']}%** of a core ({ours['ha_cpu_seconds_per_minute']} s per"
        f" minute; in the kernel {ours['ha_kernel_cpu_percent']}%) | ≤ 2 % |",
    ]
    if "before" in voice:
        before = voice["before"]["ha_cpu_percent"]
        lines.append(
            f"| the same, as the code did it before | {before}%"
            f" (**{round(before / ours['ha_cpu_percent'], 2)}x** ours) | |"
        )
    lines += [
        f"| the same {name} | {voice[name]['ha_cpu_percent']}%"
        f" (+{round(voice[name]['ha_cpu_percent'] - ours['ha_cpu_percent'], 2)}) | |"
        for name in voice
        if name not in ("ours", "before")
    ]
    lines += [
        f"| Home Assistant's process with no session | {results['ha_idle_cpu_percent']}% | |",
        f"| Opus floor: PyAV mono encode + decode of the same audio, the microphone's settings |"
        f" {floor['both']}% back to back (encode {floor['encode']}, decode {floor['decode']});"
        f" {floor['both_paced']}% one frame every 20 ms | |",
        f"| the same back to back with libopus's voip mode at 32 kbit/s (SILK);"
        f" with aiortc's codec classes (stereo, 96 kbit/s) |"
        f" {floor['voip_32k_both']}%; {floor['aiortc_codecs']}% | |",
        f"| bare aiortc full-duplex client, peer in another process | {bare['cpu_percent']}% | |",
        *chromium_lines(results),
        "| outside Home Assistant during our session | "
        + ", ".join(f"{label} {value}%" for label, value in ours["outside_ha_cpu_percent"].items())
        + " | |",
        f"| added playout latency, peer frame sent → written to the sink, p50"
        f" ({ours['latency_samples']} answers) | **{ours['latency_p50_ms']} ms**"
        f" (p95 {ours['latency_p95_ms']}) | ≤ 40 ms |",
    ]
    if "before" in voice:
        before_latency = voice["before"]
        lines.append(
            f"| the same, as the code did it before | {before_latency['latency_p50_ms']} ms"
            f" (p95 {before_latency['latency_p95_ms']}) | |"
        )
    for kind, label in (("first", "first in the process"), ("cold", "cold"), ("warm", "warm")):
        if kind in starts:
            t = starts[kind]
            lines.append(
                f"| action → listening, {label}, p50 ({t['runs']} runs) |"
                f" **{t['listening_p50_ms']} ms** (ready {t['ready_p50_ms']},"
                f" mic live {t['mic_live_p50_ms']}) | |"
            )
    return "\n".join(lines)


def rows_report(results: dict[str, Any], rows: list[str]) -> str:
    """The table of a run of some rows only (`--only`): those rows, none read as 0 %."""
    lines = ["| measure | result | goal |", "|---|---|---|"]
    lines += [
        f"| CPU of Home Assistant's process, {name} | {results['voice'][name]['ha_cpu_percent']}%"
        f" ({results['voice'][name]['answers']} answers) | |"
        for name in rows
        if name in results["voice"]
    ]
    if "bare aiortc" in rows:
        lines.append(
            f"| bare aiortc full-duplex client | {results['bare_aiortc']['cpu_percent']}%"
            f" ({results['bare_aiortc']['frames_received']} frames received) | |"
        )
    if "opus floor paced" in rows:
        lines.append(
            f"| Opus floor, one frame every 20 ms |"
            f" {results['opus_floor_cpu_percent']['both_paced']}% | |"
        )
    return "\n".join(lines + chromium_lines(results))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--seconds", type=float, default=36.0, help="CPU windows per variant, in all"
    )
    parser.add_argument("--rounds", type=int, default=3, help="windows per variant, interleaved")
    parser.add_argument("--cold", type=int, default=5)
    parser.add_argument("--warm", type=int, default=10)
    parser.add_argument("--idle-seconds", type=float, default=10.0)
    parser.add_argument(
        "--variants",
        nargs="+",
        default=list(VARIANTS),
        choices=list(VARIANTS),
        help="audio paths to measure: ours, before (the code before this work), or ours without"
        " one change",
    )
    parser.add_argument(
        "--only",
        nargs="+",
        metavar="ROW",
        choices=[*VARIANTS, "bare aiortc", "opus floor paced", "chromium"],
        help="measure only these rows' windows (a variant, 'bare aiortc', 'opus floor paced',"
        " 'chromium'); the variants not named are not run either",
    )
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "voice_results.md")
    parser.add_argument(
        "--profile", type=Path, help="write a yappi profile of each window to this directory"
    )
    arguments = parser.parse_args()
    if "ours" not in arguments.variants:
        parser.error("the variants compared must include ours")
    PROFILE = arguments.profile
    logging.basicConfig(level=logging.ERROR)
    results = asyncio.run(main(arguments))
    publish(
        arguments.output,
        "Voice benchmark results",
        "this repository's machine (2 cores), through a real Home Assistant core and a real"
        " PulseAudio server, the peer in its own process",
        rows_report(results, arguments.only) if arguments.only else report(results),
        results,
    )
