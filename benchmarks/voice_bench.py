"""Voice benchmarks: a voice terminal through real Home Assistant cores and a real PulseAudio
server, the code before the move to libpulse beside the code now, in one run (scripts/bench).

Two Home Assistant cores run side by side, each in a process of its own
(benchmarks/voice_terminal.py) with the same agent and voice terminal: one from a checkout of
the old commit (`--old`, 51010d2 by default: the terminal's sound through `parec`/`pacat` child
processes; `git archive` unpacks it into a temporary directory, or `--old-root` names a
checkout), one from this tree (libpulse in Home Assistant's process). Their windows alternate
in rounds, with the other rows of the run between them, so that a neighbour's load on this
small shared machine falls on all alike.

- CPU of a full-duplex voice session: the terminal on a PulseAudio server the bench starts
  (tests/audio_server.py: null sinks `kit_mic` and `kit_speaker`; echo cancellation off in both,
  the old code had none); a sentence spoken by espeak-ng is played into `kit_mic` every few
  seconds (the rig's `pacat`), the peer (its own process, benchmarks/voice_peer.py) hears each
  one and answers with a spoken sentence (a tone), which the terminal plays into `kit_speaker`.
  Audio flows both ways all the time. The session's CPU is Home Assistant's process (every
  thread) plus its child processes (the old path's `parec` and `pacat`), utime + stime from
  /proc over each window; the PulseAudio server, the peer and the rig's own processes are read
  the same way and reported apart.
- Added playout latency: the peer notes the moment the first frame of each answer leaves its
  track (`time.monotonic()`, one clock for all processes). Heard: a `parec` of the rig records
  `kit_speaker.monitor` with 10 ms fragments, each sample timed back from the moment its
  fragment arrived; the first loud sample after 100 ms of quiet is the answer heard. This is
  the whole way (the loopback network, the decoder, the pump, the sink's buffer, the server) and
  includes the rig's recorder (a fragment, same for both rows). Handed to the sink: the
  terminal's speaker class (ProcessSink before, PulseSpeaker now) notes the moment each chunk is
  handed to it, as the benchmark measured before.
- Action → listening: `aiy_realtime.start_session` until the action has returned (the session
  ready), the satellite's state is `listening` and the microphone has delivered its first
  sound. Cold: the first session after the entry reloads; warm: the ones after it; and the
  very first in the process.
- Beside them, in this process: the Opus floor (PyAV coding the same audio, mono 48 kHz, 20 ms
  frames, the microphone's settings), a bare aiortc full-duplex client (no Home Assistant) and
  Debian's headless Chromium making the same call, as the browser app this project grew from
  did (benchmarks/browser_call.py): the CPU of its whole process tree, and its memory.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable, Iterator
import contextlib
from dataclasses import dataclass, field
from fractions import Fraction
import io
import json
import logging
import os
from pathlib import Path
import subprocess
import sys
import tarfile
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

from benchmarks.browser_call import (  # noqa: E402
    Memory,
    by_role,
    chromium_call,
    chromium_tree,
    descendants,
    memory_of,
)
from benchmarks.common import p50, p95, publish  # noqa: E402
from benchmarks.peer_process import PeerProcess  # noqa: E402
from custom_components.aiy_realtime.realtime import audio  # noqa: E402
from tests.audio_server import AudioServer, speech_wav, tool, write_wav  # noqa: E402
from tests.peer.http import VALID_KEY  # noqa: E402

RATE = 48000
FRAME = RATE // 50
UTTERANCE = "turn on the kitchen light"
CYCLE_SECONDS = 6.0
"""The sentence, the peer's answer (2.8 s) and a pause: one exchange, again and again. Every
window starts at the same point of it and covers whole cycles."""
WARM_UP_SECONDS = 3.0
LOUD = 0.1 * 32768
"""The answer's tone (0.3 of full scale) peaks above this; silence through Opus and its
pre-echo stay below."""
QUIET_BEFORE_ONSET = RATE // 10
"""Samples of quiet (100 ms) before a loud one that make it an answer's onset."""
OLD_COMMIT = "51010d2"
"""The last commit with the terminal's sound in `parec`/`pacat` child processes."""
OLD, NEW = "old", "new"
PATHS = {OLD: "parec/pacat child processes", NEW: "libpulse in Home Assistant's process"}


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
    def window(self, others: dict[str, list[int]] | None = None) -> Iterator[None]:
        others = others or {}
        before = {label: sum(cpu_seconds(p) for p in pids) for label, pids in others.items()}
        own, wall, kernel = time.process_time(), time.perf_counter(), os.times().system
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
    with tally.window():
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
            with tally.window({"peer": [peer.pid]}):
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
        with found.tally.window(others):
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


# -- answer onsets, in the sink and on the speaker's monitor ---------------------------------------


def onsets(chunks: list[tuple[float, int, int]]) -> list[float]:
    """When each answer began: chunks are (time of the chunk's first sample, its peak, its
    samples); an onset is the first loud chunk after at least 100 ms of quiet."""
    found: list[float] = []
    quiet = QUIET_BEFORE_ONSET
    for at, peak, samples in chunks:
        if peak >= LOUD:
            if quiet >= QUIET_BEFORE_ONSET:
                found.append(at)
            quiet = 0
        else:
            quiet += samples
    return found


def latencies(sent: list[float], arrived: list[float]) -> list[float]:
    """For each onset sent, the first onset arriving after it (within a second), less it."""
    result = []
    for at in sent:
        after = [a for a in arrived if at <= a < at + 1.0]
        if after:
            result.append(after[0] - at)
    return result


MONITOR_BLOCK = FRAME // 4
"""Samples (5 ms) per chunk looked at on the monitor: finer than the recorder's fragments."""


class MonitorRecorder:
    """The rig's `parec` on the speaker's monitor, each sample timed from its fragment's
    arrival (the last sample of a fragment was captured when it arrived, less the recorder's
    own delay)."""

    def __init__(self, server: AudioServer) -> None:
        self.server = server
        self.chunks: list[tuple[float, int, int]] = []
        self.process: asyncio.subprocess.Process | None = None
        self._reading: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            tool("parec"),
            f"--server={self.server.server}",
            f"--device={self.server.speaker_monitor}",
            "--raw",
            "--format=s16le",
            f"--rate={RATE}",
            "--channels=1",
            "--latency-msec=10",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            env=self.server.client_env(),
        )
        self._reading = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        assert self.process is not None
        assert self.process.stdout is not None
        held = b""
        while piece := await self.process.stdout.read(65536):
            arrived = time.monotonic()
            held += piece
            whole = len(held) // 2 * 2
            samples = np.frombuffer(held[:whole], dtype="<i2").astype(np.int32)
            held = held[whole:]
            first = arrived - samples.size / RATE
            for start in range(0, samples.size, MONITOR_BLOCK):
                block = samples[start : start + MONITOR_BLOCK]
                loud = np.flatnonzero(np.abs(block) >= LOUD)
                at = first + (start + (loud[0] if loud.size else 0)) / RATE
                self.chunks.append((at, int(np.abs(block).max()), block.size))

    async def stop(self) -> None:
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                self.process.terminate()
            await self.process.wait()
        if self._reading is not None:
            await self._reading


# -- the two terminals, each in a Home Assistant of its own --------------------------------------


def old_checkout(commit: str, into: Path) -> Path:
    """This repository as it was at `commit`, unpacked into `into` (no git worktree left)."""
    tar = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", commit],
        check=True,
        capture_output=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(tar)) as archive:
        archive.extractall(into, filter="data")
    return into


class TerminalProcess:
    """benchmarks/voice_terminal.py with one checkout's integration, and its commands."""

    def __init__(self, name: str, root: Path) -> None:
        self.name = name
        self.root = root
        self.process: asyncio.subprocess.Process | None = None
        self.path = ""

    async def start(self, server: AudioServer, peer: PeerProcess) -> None:
        env = {
            **os.environ,
            "PYTHONPATH": str(self.root),
            "OPENAI_BASE_URL": peer.base_url,
            "BENCH_PULSE_SERVER": server.server,
        }
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(ROOT / "benchmarks" / "voice_terminal.py"),
            cwd=self.root,
            env=env,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        hello = await self._answer(60)
        assert hello["ready"] == self.pid, hello
        self.path = hello["path"]

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    async def ask(self, do: str, timeout: float = 60, **more: Any) -> dict[str, Any]:
        assert self.process is not None
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"do": do, **more}).encode() + b"\n")
        await self.process.stdin.drain()
        return await self._answer(timeout)

    async def _answer(self, timeout: float) -> dict[str, Any]:
        assert self.process is not None
        assert self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), timeout)
        if not line:
            raise RuntimeError(f"the {self.name} terminal's process ended")
        answer: dict[str, Any] = json.loads(line)
        return answer

    async def close(self) -> None:
        if self.process is None:
            return
        if self.process.returncode is None:
            with contextlib.suppress(RuntimeError, ConnectionError, TimeoutError):
                await self.ask("quit")
            try:
                await asyncio.wait_for(self.process.wait(), 30)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()


@dataclass
class SessionTally:
    """One terminal's voice windows, added up."""

    tally: Tally = field(default_factory=Tally)
    answers_sent: int = 0
    heard: list[float] = field(default_factory=list)
    written: list[float] = field(default_factory=list)
    audio_processes: set[str] = field(default_factory=set)
    gone: int = 0
    """Processes counted at a window's start that were gone at its end (0 expected)."""


def comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "?"


async def play_into_the_mic(server: AudioServer, wav: Path) -> asyncio.subprocess.Process:
    """`pacat` playing into kit_mic: someone speaking to the terminal."""
    return await asyncio.create_subprocess_exec(
        tool("pacat"),
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
    server: AudioServer
    peer: PeerProcess
    wav: Path
    """What is played into the mic for one window (from the start of a cycle)."""


async def voice_window(
    rig: Rig, terminal: TerminalProcess, found: SessionTally, seconds: float
) -> None:
    """One full-duplex session: the sentence into the mic again and again, answers out; the
    window starts WARM_UP_SECONDS after the first sentence began."""
    await terminal.ask("start")
    monitor = MonitorRecorder(rig.server)
    await monitor.start()
    speaking = await play_into_the_mic(rig.server, rig.wav)
    try:
        await asyncio.sleep(WARM_UP_SECONDS)
        audio_processes = descendants(terminal.pid)
        found.audio_processes |= {comm(pid) for pid in audio_processes}
        assert monitor.process is not None
        others = {
            "ha": [terminal.pid],
            "audio": audio_processes,
            "pulseaudio": [rig.server.process.pid],
            "peer": [rig.peer.pid],
            "rig": [speaking.pid, monitor.process.pid, *rig.server.pids[1:]],
        }
        sent_before = len((await rig.peer.get("/_bench/onsets"))["onsets"])
        with found.tally.window(others):
            await asyncio.sleep(seconds)
        found.gone += len(set(audio_processes) - set(descendants(terminal.pid)))
        sent = (await rig.peer.get("/_bench/onsets"))["onsets"][sent_before:]
        await asyncio.sleep(1.0)  # the last answer sent in the window, heard
    finally:
        await stop(speaking)
        ended = await terminal.ask("end")
        await monitor.stop()
    found.answers_sent += len(sent)
    found.heard += latencies(sent, onsets(monitor.chunks))
    found.written += latencies(sent, onsets([tuple(w) for w in ended["writes"]]))


async def idle_window(terminals: list[TerminalProcess], seconds: float) -> dict[str, float]:
    """Each Home Assistant's CPU with no session, over the same window."""
    tally = Tally()
    with tally.window({t.name: [t.pid] for t in terminals}):
        await asyncio.sleep(seconds)
    return {t.name: tally.percent(t.name) for t in terminals}


async def starts(
    terminals: list[TerminalProcess], cold: int, warm: int
) -> dict[str, dict[str, list[dict[str, float]]]]:
    """The first session in each process, then `cold` times: reload the entry and start a
    session; between them, `warm` more sessions in all. The terminals take turns."""
    found: dict[str, dict[str, list[dict[str, float]]]] = {
        t.name: {"first": [], "cold": [], "warm": []} for t in terminals
    }
    warm_per_round = -(-warm // (cold + 1))
    for round_ in range(cold + 1):
        for terminal in terminals if round_ % 2 == 0 else terminals[::-1]:
            timed = (
                await terminal.ask("starts", reload=bool(round_), sessions=1 + warm_per_round)
            )["starts"]
            found[terminal.name]["cold" if round_ else "first"].append(timed[0])
            found[terminal.name]["warm"] += timed[1:]
    return found


def chromium_lines(results: dict[str, Any]) -> list[str]:
    """The Chromium row and its ratios: to the bare aiortc client, and to the new path's whole
    session (Home Assistant's process and the terminal's own audio processes)."""
    chromium = results["chromium"]
    if chromium["cpu_percent"] is None:
        return []
    cpu = chromium["cpu_percent"]
    ratios = []
    bare = results["bare_aiortc"]["cpu_percent"]
    if bare:
        ratios.append(f"**{round(cpu / bare, 2)}x** the bare aiortc client")
    new = results["voice"].get(NEW)
    if new:
        session = new["session_cpu_percent"]
        ratios.append(
            f"the new path's whole session {session}% is **{round(session / cpu, 2)}x** of it"
        )
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


# -- the run --------------------------------------------------------------------------------------


async def main(args: argparse.Namespace) -> dict[str, Any]:
    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]
    slice_seconds = args.seconds / args.rounds
    rows = set(args.only or [OLD, NEW, "bare aiortc", "opus floor paced", "chromium"])
    sessions = {name: SessionTally() for name in (OLD, NEW) if name in rows}
    bare, paced, browser = Tally(), Tally(), BrowserTally()
    timings: dict[str, dict[str, list[dict[str, float]]]] = {}
    idle: dict[str, float] = {}
    server = await AudioServer.start()
    peer = PeerProcess(module="benchmarks.voice_peer")
    terminals: dict[str, TerminalProcess] = {}
    with tempfile.TemporaryDirectory() as directory:
        try:
            await peer.start()
            cycle = await one_exchange(Path(directory))
            wav = write_wav(
                Path(directory) / "loop.wav", looped(cycle, slice_seconds + WARM_UP_SECONDS + 2)
            )
            old_root = args.old_root or old_checkout(args.old, Path(directory) / "old")
            for name, root in ((OLD, old_root), (NEW, ROOT)):
                if name in sessions:
                    terminals[name] = TerminalProcess(name, root)
                    await terminals[name].start(server, peer)
            if terminals:
                timings = await starts(list(terminals.values()), args.cold, args.warm)
                idle = await idle_window(list(terminals.values()), args.idle_seconds)
            rig = Rig(server, peer, wav)
            runs: list[tuple[str, Callable[[], Any]]] = [
                *(
                    (
                        name,
                        lambda name=name: voice_window(
                            rig, terminals[name], sessions[name], slice_seconds
                        ),
                    )
                    for name in terminals
                ),
                ("bare aiortc", lambda: bare_client(bare, peer, cycle, slice_seconds)),
                ("opus floor paced", lambda: paced_floor(paced, cycle, slice_seconds)),
                ("chromium", lambda: chromium_client(browser, peer, server, wav, slice_seconds)),
            ]
            runs = [run for run in runs if run[0] in rows]
            for round_ in range(args.rounds):  # a different order each round
                shift = round_ % len(runs)
                for _, run in runs[shift:] + runs[:shift]:
                    await run()
        finally:
            for terminal in terminals.values():
                await terminal.close()
            await peer.close()
            await server.stop()
    floor = opus_floor(looped(cycle, 60)) if "opus floor paced" in rows else {}
    return {
        "voice": {name: session_results(found) for name, found in sessions.items()},
        "paths": {name: {"code": PATHS[name], "found": t.path} for name, t in terminals.items()},
        "old_commit": str(args.old_root) if args.old_root else args.old,
        "ha_idle_cpu_percent": idle,
        "starts": {name: starts_results(found) for name, found in timings.items()},
        "bare_aiortc": {
            "cpu_percent": bare.percent() if bare.wall else None,
            "peer_cpu_percent": bare.percent("peer") if bare.wall else None,
            "frames_received": bare.frames,
        },
        "opus_floor_cpu_percent": {**floor, "both_paced": paced.percent() if paced.wall else None},
        "chromium": chromium_results(browser),
        "samples": {
            "seconds_per_row": args.seconds,
            "rounds": args.rounds,
            "cycle_seconds": CYCLE_SECONDS,
            "cold": args.cold,
            "warm": args.warm,
            "idle_seconds": args.idle_seconds,
        },
    }


def ms(values: list[float], percentile: Callable[[list[float]], float]) -> float | None:
    return round(percentile(values) * 1000, 1) if values else None


def session_results(found: SessionTally) -> dict[str, Any]:
    tally = found.tally
    return {
        "ha_cpu_percent": tally.percent("ha"),
        "audio_processes_cpu_percent": tally.percent("audio"),
        "session_cpu_percent": round(tally.percent("ha") + tally.percent("audio"), 2),
        "audio_processes": sorted(found.audio_processes),
        "pulseaudio_cpu_percent": tally.percent("pulseaudio"),
        "peer_cpu_percent": tally.percent("peer"),
        "rig_cpu_percent": tally.percent("rig"),
        "answers_sent": found.answers_sent,
        "heard_p50_ms": ms(found.heard, p50),
        "heard_p95_ms": ms(found.heard, p95),
        "heard_samples": len(found.heard),
        "written_p50_ms": ms(found.written, p50),
        "written_p95_ms": ms(found.written, p95),
        "written_samples": len(found.written),
        "processes_gone_in_windows": found.gone,
        "seconds": round(tally.wall, 1),
    }


def starts_results(found: dict[str, list[dict[str, float]]]) -> dict[str, Any]:
    return {
        kind: {
            **{
                f"{key.removesuffix('_ms')}_p50_ms": round(p50([run[key] for run in runs]), 1)
                for key in ("listening_ms", "ready_ms", "state_ms", "mic_live_ms")
            },
            "runs": len(runs),
        }
        for kind, runs in found.items()
        if runs
    }


def ratio(new: float | None, old: float | None) -> str:
    return f"**{round(new / old, 2)}x**" if new is not None and old else ""


def report(results: dict[str, Any]) -> str:
    voice, starts_, s = results["voice"], results["starts"], results["samples"]
    old, new = voice.get(OLD), voice.get(NEW)
    lines = [
        f"| measure | old ({results['old_commit']}: {PATHS[OLD]}) | new ({PATHS[NEW]}) |"
        " new/old | goal |",
        "|---|---|---|---|---|",
    ]

    def row(label: str, key: str, goal: str = "", unit: str = "%", with_ratio: bool = True) -> None:
        values = [None if v is None else v[key] for v in (old, new)]
        shown = ["" if v is None else f"{v}{unit}" for v in values]
        lines.append(
            f"| {label} | {shown[0]} | {shown[1]} |"
            f" {ratio(values[1], values[0]) if with_ratio else ''} | {goal} |"
        )

    if old or new:
        any_ = old or new
        assert any_ is not None
        lines.append(
            f"| voice session ({s['seconds_per_row']:g} s in {s['rounds']} windows, answers sent:"
            f" old {old and old['answers_sent']}, new {new and new['answers_sent']}) | | | | |"
        )
        row("CPU of Home Assistant's process", "ha_cpu_percent")
        row(
            "CPU of the terminal's audio processes ("
            + (", ".join(old["audio_processes"]) if old else "")
            + "; none in the new path)",
            "audio_processes_cpu_percent",
            with_ratio=False,
        )
        row(
            "**CPU of the whole session** (the two above)",
            "session_cpu_percent",
            "≤ old (on 2026-11-24: 5.93 + 1.5 = 7.4 %)",
        )
        row("the PulseAudio server meanwhile", "pulseaudio_cpu_percent")
        row("the peer meanwhile (OpenAI's side, its own process)", "peer_cpu_percent")
        row(
            "the rig's own processes (the mic's pacat, the monitor's and keepers' parec)",
            "rig_cpu_percent",
        )
        row(
            "added playout latency, answer sent → heard on kit_speaker's monitor, p50",
            "heard_p50_ms",
            "≤ 40 ms",
            " ms",
        )
        row("the same, p95", "heard_p95_ms", "", " ms")
        row("answer sent → handed to the terminal's speaker, p50", "written_p50_ms", "", " ms")
        row("the same, p95", "written_p95_ms", "", " ms")
        for kind, label in (("first", "first in the process"), ("cold", "cold"), ("warm", "warm")):
            found = [starts_.get(name, {}).get(kind) for name in (OLD, NEW)]
            if not any(found):
                continue
            shown = [
                f"{f['listening_p50_ms']} ms (ready {f['ready_p50_ms']}, state {f['state_p50_ms']},"
                f" mic {f['mic_live_p50_ms']}; {f['runs']} runs)"
                if f
                else ""
                for f in found
            ]
            lines.append(
                f"| action → listening, {label}, p50 | {shown[0]} | {shown[1]} |"
                f" {ratio(*(f and f['listening_p50_ms'] for f in found[::-1]))}"
                f" | {'≤ old (on 2026-11-24: cold 73 ms)' if kind == 'cold' else ''} |"
            )
        idle = results["ha_idle_cpu_percent"]
        lines.append(
            f"| Home Assistant's process with no session | {idle.get(OLD, '')}% |"
            f" {idle.get(NEW, '')}% | | |"
        )
    return "\n".join(lines + other_lines(results))


def other_lines(results: dict[str, Any]) -> list[str]:
    """The rows measured in this process: Chromium, the bare client, the Opus floor."""
    lines = ["", "| beside them | result | goal |", "|---|---|---|", *chromium_lines(results)]
    bare, floor = results["bare_aiortc"], results["opus_floor_cpu_percent"]
    if bare["cpu_percent"] is not None:
        lines.append(
            f"| bare aiortc full-duplex client, no Home Assistant, peer in another process |"
            f" {bare['cpu_percent']}% | |"
        )
    if "both" in floor:
        lines += [
            "| Opus floor: PyAV mono encode + decode of the same audio, the microphone's settings |"
            f" {floor['both']}% back to back (encode {floor['encode']}, decode {floor['decode']});"
            f" {floor['both_paced']}% one frame every 20 ms | |",
            f"| the same back to back with libopus's voip mode at 32 kbit/s (SILK);"
            f" with aiortc's codec classes (stereo, 96 kbit/s) |"
            f" {floor['voip_32k_both']}%; {floor['aiortc_codecs']}% | |",
        ]
    return lines if len(lines) > 3 else []


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=36.0, help="CPU windows per row, in all")
    parser.add_argument("--rounds", type=int, default=3, help="windows per row, interleaved")
    parser.add_argument("--cold", type=int, default=5)
    parser.add_argument("--warm", type=int, default=10)
    parser.add_argument("--idle-seconds", type=float, default=10.0)
    parser.add_argument(
        "--old", default=OLD_COMMIT, help="the commit of the old path (unpacked with git archive)"
    )
    parser.add_argument(
        "--old-root", type=Path, help="a checkout of the old path to use instead of --old"
    )
    parser.add_argument(
        "--only",
        nargs="+",
        metavar="ROW",
        choices=[OLD, NEW, "bare aiortc", "opus floor paced", "chromium"],
        help="measure only these rows' windows: old, new, 'bare aiortc', 'opus floor paced',"
        " 'chromium'",
    )
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "voice_results.md")
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    results = asyncio.run(main(arguments))
    command = (
        "scripts/bench"
        if not sys.argv[1:]
        else "`.venv/bin/python benchmarks/voice_bench.py " + " ".join(sys.argv[1:]) + "`"
    )
    publish(
        arguments.output,
        "Voice benchmark results",
        f"this repository's machine ({os.cpu_count()} cores, shared), through two real Home"
        " Assistant cores (the old commit's integration and this tree's, each in its own process)"
        " and a real PulseAudio server, the peer in its own process",
        report(results),
        results,
    )
