"""realtime/audio.py and hardware/pcm_process.py with real processes: flushing a player,
closing a microphone and awaiting it, a dying recorder or player reported with its reason, and a
live source read at its own pace.

Tiny Python scripts stand in for recorders and players; the PulseAudio test server for the real
ones.
"""

from __future__ import annotations

import array
import asyncio
import contextlib
from fractions import Fraction
import itertools
from pathlib import Path
import time

from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError
import av
import pytest

from custom_components.aiy_realtime.hardware import pcm_process
from custom_components.aiy_realtime.hardware.audio_devices import (
    PulseAudioBackend,
    microphone,
    speaker,
)
from custom_components.aiy_realtime.hardware.pcm_process import ProcessReader, ProcessSink
from custom_components.aiy_realtime.realtime import audio
from custom_components.aiy_realtime.realtime.audio import (
    AudioDeviceError,
    AudioPump,
    CallbackSink,
    PcmSourceTrack,
    SilenceReader,
    WavReader,
)
from tests.audio_server import AudioServer, tone, write_wav
from tests.hardware.helpers import process_gone, python_command

RATE = 48000
FRAME = RATE // 50  # samples in 20 ms
FRAME_BYTES = FRAME * 2

# Stand-ins. A recorder writes raw S16 mono PCM to stdout; a player reads it from stdin.
RECORDER = python_command(
    "import sys, time\n"
    "while True:\n"
    f"    sys.stdout.buffer.write(bytes({FRAME_BYTES})); sys.stdout.flush(); time.sleep(0.02)"
)
RECORDER_NOBODY_READS = python_command(
    "import sys\nblock = bytes(65536)\nwhile True: sys.stdout.buffer.write(block)"
)
RECORDER_IGNORING_SIGTERM = python_command(
    "import signal, sys, time\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    f"sys.stdout.buffer.write(bytes({FRAME_BYTES})); sys.stdout.flush()\n"
    "time.sleep(60)"
)
RECORDER_DYING = python_command(
    "import sys\n"
    f"sys.stdout.buffer.write(bytes({FRAME_BYTES * 3})); sys.stdout.flush()\n"
    "sys.stderr.write('arecord: pcm_read:2221: read error: No such device\\n')\n"
    "sys.exit(1)"
)
RECORDER_BURSTING = python_command(  # 2 s of sound at once, as a card's buffer would hand over
    f"import sys, time\nsys.stdout.buffer.write(bytes({FRAME_BYTES * 100})); sys.stdout.flush()\n"
    "time.sleep(60)"
)
PLAYER_SLOW = python_command(
    "import sys, time\nwhile sys.stdin.buffer.read(480):\n    time.sleep(0.01)"
)
PLAYER_PLAYING_OUT = python_command("import sys\nsys.stdin.buffer.read()")
PLAYER_DYING = python_command(
    "import sys, time\n"
    "sys.stdin.buffer.read(10)\n"
    "time.sleep(0.2)\n"
    "sys.stderr.write('Connection failure: Connection terminated\\n')\n"
    "sys.exit(1)"
)
MISSING = ["/nonexistent/recorder"]


class QueueTrack(MediaStreamTrack):
    """A remote track fed by the test: frames put in `frames`, None to end it."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self.frames: asyncio.Queue[av.AudioFrame | None] = asyncio.Queue()
        self._pts = 0

    def put(self, value: int, count: int = 1) -> None:
        for _ in range(count):
            frame = av.AudioFrame(format="s16", layout="mono", samples=FRAME)
            frame.planes[0].update(array.array("h", [value] * FRAME).tobytes())
            frame.sample_rate = RATE
            frame.pts = self._pts
            frame.time_base = Fraction(1, RATE)
            self._pts += FRAME
            self.frames.put_nowait(frame)

    async def recv(self) -> av.AudioFrame:
        frame = await self.frames.get()
        self.frames.task_done()  # `await frames.join()`: the pump took all that was put
        if frame is None:
            self.stop()
            raise MediaStreamError
        return frame


def open_descriptors() -> set[str]:
    return {path.name for path in Path("/proc/self/fd").iterdir()}


def player_of(sink: ProcessSink) -> int | None:
    return sink.pid


async def until_it_ends(track: MediaStreamTrack) -> None:
    with contextlib.suppress(MediaStreamError):
        while True:
            await track.recv()
    assert track.readyState == "ended"


def samples(pcm: bytes) -> set[int]:
    values = array.array("h")
    values.frombytes(pcm)
    return set(values)


# -- (a) flush --------------------------------------------------------------------------------


async def test_flush_stops_the_player_at_once_and_the_next_write_starts_another() -> None:
    sink = ProcessSink(PLAYER_SLOW, rate=RATE)
    await sink.write(bytes(FRAME_BYTES * 10))
    first = sink.pid
    assert first is not None
    await sink.flush()
    assert process_gone(first)
    assert sink.pid is None, "no player until the next write"
    await sink.write(bytes(FRAME_BYTES))
    assert player_of(sink) not in (None, first)
    assert not sink.ended.done()  # a flush is no end
    await sink.close()
    assert (await sink.ended).reason == "closed"


async def test_flush_silences_the_kits_speaker_at_once(audio_server: AudioServer) -> None:
    backend = PulseAudioBackend(server=audio_server.server, sink=audio_server.speaker_sink)
    sink = speaker(backend, 24000)
    async with audio_server.recorder() as recording:
        # Five seconds of answer: more than the pipe holds, so the write waits on the player.
        playing = asyncio.create_task(sink.write(tone(5.0, rate=24000)))
        await recording.wait_for_sound(windows=10)
        await sink.flush()
        flushed_at = len(recording.rms)
        await playing  # the rest of the answer was dropped with the player
        await recording.wait_for_bytes(len(recording.pcm) + RATE * 2 // 2)  # half a second more
    # What the monitor still had on its way (its 20 ms latency, a window or two), then silence.
    assert recording.loud_windows() < flushed_at + 5
    assert [rms for rms in recording.rms[flushed_at + 5 :] if rms > 0.05] == []
    await sink.close()


async def test_the_pump_drops_what_it_queued_and_what_the_player_holds() -> None:
    track = QueueTrack()
    gate = asyncio.Event()
    written: list[bytes] = []
    new_answer_played = asyncio.Event()
    flushes = 0

    async def play(pcm: bytes) -> None:
        await gate.wait()  # a player slow to take the audio: it queues in the pump
        written.append(pcm)
        if sum(len(pcm) for pcm in written[1:]) >= 5 * FRAME_BYTES:
            new_answer_played.set()

    def flushed() -> None:
        nonlocal flushes
        flushes += 1

    pump = AudioPump(track, CallbackSink(play, rate=RATE, on_flush=flushed))
    track.put(1000, 25)  # half a second of the old answer
    await track.frames.join()
    assert pump.queued_ms >= 400

    await pump.flush()
    assert pump.queued_ms == 0
    assert flushes == 1
    track.put(-1000, 5)  # the next answer
    await track.frames.join()
    gate.set()
    await asyncio.wait_for(new_answer_played.wait(), 5)
    # Only the chunk already in the player's hands when the flush came is old.
    assert all(samples(pcm) == {-1000} for pcm in written[1:])
    assert pump.bytes_dropped >= 20 * FRAME_BYTES
    await pump.close()


# -- (b) a microphone is closed by its owner, and awaited -------------------------------------


async def test_closing_the_track_returns_once_the_recorder_is_gone() -> None:
    reader = ProcessReader(RECORDER)
    track = PcmSourceTrack(reader, rate=RATE)
    await track.recv()
    pid = reader.pid
    assert pid is not None
    await track.close()
    assert process_gone(pid)
    assert (await track.ended).reason == "closed"
    with pytest.raises(MediaStreamError):
        await track.recv()
    assert await reader.read(FRAME_BYTES) == b""  # a closed reader starts nothing new


async def test_stop_only_ends_the_track_and_leaves_the_recorder_to_its_owner() -> None:
    """aiortc stops a track when the connection closes; closing the device is the owner's."""
    reader = ProcessReader(RECORDER)
    track = PcmSourceTrack(reader, rate=RATE)
    await track.recv()
    pid = reader.pid
    assert pid is not None
    tasks = asyncio.all_tasks()
    track.stop()
    assert asyncio.all_tasks() - tasks == set(), "stop() started a task nobody awaits"
    assert track.readyState == "ended"
    assert not process_gone(pid)
    await track.close()
    assert process_gone(pid)


async def test_a_recorder_nobody_reads_any_more_is_gone_when_close_returns() -> None:
    """With its pipe and every descriptor: unread output must not keep the pipe open."""
    descriptors = open_descriptors()
    reader = ProcessReader(RECORDER_NOBODY_READS)
    await reader.read(FRAME_BYTES)
    pid = reader.pid
    assert pid is not None
    await asyncio.sleep(0.3)  # its output piles up until asyncio stops reading the pipe
    async with asyncio.timeout(5):
        await reader.close()
    assert process_gone(pid)
    assert open_descriptors() == descriptors


async def test_a_recorder_ignoring_sigterm_is_killed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pcm_process, "STOP_TIMEOUT", 0.3)
    reader = ProcessReader(RECORDER_IGNORING_SIGTERM)
    await reader.read(FRAME_BYTES)
    pid = reader.pid
    assert pid is not None
    await asyncio.sleep(0.2)  # it has set its handler by now (it wrote after setting it)
    async with asyncio.timeout(3):  # not the minute it would sleep
        await reader.close()
    assert process_gone(pid)


async def test_closing_a_player_lets_it_play_out_and_returns_once_it_is_gone() -> None:
    sink = ProcessSink(PLAYER_PLAYING_OUT, rate=RATE)
    await sink.write(bytes(FRAME_BYTES * 5))
    pid = sink.pid
    assert pid is not None
    await sink.close()
    assert process_gone(pid)
    assert (await sink.ended).reason == "closed"  # ending at our end of input is no failure


# -- (c) a dying recorder or player is reported -----------------------------------------------


async def test_a_recorder_that_dies_ends_the_track_with_its_last_words() -> None:
    track = PcmSourceTrack(ProcessReader(RECORDER_DYING), rate=RATE)
    for _ in range(3):
        await track.recv()
    with pytest.raises(MediaStreamError):
        await track.recv()
    ended = await track.ended
    assert ended.failed
    assert ended.detail.endswith(
        "exited with status 1: arecord: pcm_read:2221: read error: No such device"
    )
    assert track.readyState == "ended"
    await track.close()


async def test_a_recorder_that_cannot_start_ends_the_track() -> None:
    track = PcmSourceTrack(ProcessReader(MISSING), rate=RATE)
    with pytest.raises(MediaStreamError):
        await track.recv()
    ended = await track.ended
    assert ended.failed
    assert ended.detail == "recorder could not start: No such file or directory"
    await track.close()


async def test_a_player_that_dies_while_idle_ends_the_sink_and_the_pump() -> None:
    track = QueueTrack()
    sink = ProcessSink(PLAYER_DYING, rate=RATE)
    pump = AudioPump(track, sink)
    track.put(0)  # the player starts, takes a little, and dies while nothing plays
    ended = await asyncio.wait_for(pump.ended, 5)
    assert ended.failed
    assert "exited with status 1: Connection failure: Connection terminated" in ended.detail
    assert (await sink.ended) == ended
    with pytest.raises(AudioDeviceError, match="Connection terminated"):
        await sink.write(bytes(FRAME_BYTES))
    await pump.close()
    assert (await pump.ended).failed  # the first end is the one that stays


async def test_a_player_that_cannot_start_fails_the_pump() -> None:
    track = QueueTrack()
    pump = AudioPump(track, ProcessSink(MISSING, rate=RATE))
    track.put(0)
    ended = await asyncio.wait_for(pump.ended, 5)
    assert ended.failed
    assert "could not start" in ended.detail
    await pump.close()


async def test_the_pump_finishes_when_the_remote_track_ends() -> None:
    track = QueueTrack()
    pump = AudioPump(track, CallbackSink(lambda pcm: None, rate=RATE))
    track.frames.put_nowait(None)
    assert (await asyncio.wait_for(pump.ended, 5)).reason == "finished"
    await pump.close()


async def test_the_sound_server_going_away_ends_microphone_and_speaker(
    audio_server: AudioServer,
) -> None:
    backend = PulseAudioBackend(
        server=audio_server.server, source=audio_server.mic_source, sink=audio_server.speaker_sink
    )
    track = PcmSourceTrack(microphone(backend, 24000), rate=24000)
    sink = speaker(backend, 24000)
    await track.recv()
    await sink.write(bytes(4800))
    await audio_server.stop()
    await until_it_ends(track)
    mic_end = await track.ended
    speaker_end = await asyncio.wait_for(sink.ended, 5)
    assert mic_end.failed
    assert mic_end.detail.startswith("parec exited with status 1")
    assert speaker_end.failed
    assert speaker_end.detail.startswith("pacat exited with status 1")
    await track.close()
    await sink.close()


# -- (d) a live source follows its own clock; files and silence are paced ---------------------


async def test_a_live_recorder_is_read_at_its_pace_not_the_system_clocks() -> None:
    """A card handing over 2 s at once is read at once: re-pacing would hold it for 2 s."""
    track = PcmSourceTrack(ProcessReader(RECORDER_BURSTING, live=True), rate=RATE)
    assert track.live
    start = time.monotonic()
    for index in range(100):
        frame = await track.recv()
        assert frame.pts == index * FRAME
    assert time.monotonic() - start < 1.0
    await track.close()


@pytest.mark.parametrize("source", ["wav", "silence", "process"])
async def test_files_and_silence_are_paced_by_the_system_clock(source: str, tmp_path: Path) -> None:
    reader: audio.PcmReader
    if source == "wav":
        reader = WavReader(write_wav(tmp_path / "a.wav", tone(1.0)))
    elif source == "silence":
        reader = SilenceReader()
    else:
        reader = ProcessReader(RECORDER_BURSTING, live=False)
    track = PcmSourceTrack(reader, rate=RATE)
    assert not track.live
    start = time.monotonic()
    for _ in range(26):
        await track.recv()
    assert time.monotonic() - start >= 0.5  # 25 frames after the first, 20 ms each
    await track.close()


# -- (e) a recorder writing a frame in pieces; the answerer's packets decoded on arrival -------

RECORDER_IN_PIECES = python_command(
    "import sys, time\n"
    "for _ in range(10):\n"
    "    for _ in range(5):\n"
    f"        sys.stdout.buffer.write(bytes({FRAME_BYTES // 5})); sys.stdout.flush()\n"
    "        time.sleep(0.004)\n"
)


@pytest.mark.parametrize("paced", [True, False])
async def test_a_frame_written_in_pieces_is_read_whole_and_the_end_is_partial(
    paced: bool,
) -> None:
    reader = ProcessReader(
        RECORDER_IN_PIECES, live=False, bytes_per_second=RATE * 2 if paced else None
    )
    frames = [await reader.read(FRAME_BYTES) for _ in range(10)]
    assert [len(frame) for frame in frames] == [FRAME_BYTES] * 10
    assert await reader.read(FRAME_BYTES) == b""  # the recorder ended: status 0, no more
    await reader.close()


def _opus_packets(count: int) -> list[bytes]:
    encoder = av.CodecContext.create("libopus", "w")
    encoder.format = "s16"
    encoder.layout = "mono"
    encoder.sample_rate = RATE
    encoder.time_base = Fraction(1, RATE)
    packets: list[bytes] = []
    pcm = tone(count * 0.02)
    for index in range(count):
        frame = av.AudioFrame(format="s16", layout="mono", samples=FRAME)
        frame.sample_rate = RATE
        frame.pts = index * FRAME
        frame.planes[0].update(pcm[index * FRAME_BYTES : (index + 1) * FRAME_BYTES])
        packets += [bytes(packet) for packet in encoder.encode(frame)]
    return packets


async def test_arriving_packets_are_decoded_in_order_and_late_or_repeated_ones_dropped() -> None:
    packets = _opus_packets(6)
    arriving = audio.ArrivingAudio()
    frames: list[av.AudioFrame] = []
    arriving.attach(frames.append, channels=1)
    # Sequence numbers wrap at 65535: 65534, 65535, 0 are in order.
    for payload, sequence in [
        (packets[0], 65534),
        (packets[1], 65535),
        (packets[1], 65535),  # repeated
        (packets[2], 0),
        (packets[0], 65534),  # late
        (packets[4], 2),  # 1 was lost: simply missing
        (b"\x03\x00", 3),  # not Opus: a code-3 packet of no frames
        (packets[5], 4),
    ]:
        arriving.receive(payload, sequence)
    assert arriving.packets == 5
    assert arriving.dropped == 3
    assert [frame.layout.name for frame in frames] == ["mono"] * len(frames)
    assert sum(frame.samples for frame in frames) == 5 * FRAME
    arriving.stop()
    arriving.receive(packets[5], 5)
    assert arriving.packets == 5  # nothing after stop


async def test_arriving_audio_without_a_consumer_is_read_with_recv_until_it_stops() -> None:
    packets = _opus_packets(2)
    arriving = audio.ArrivingAudio()
    reading = asyncio.ensure_future(arriving.recv())  # recv() asks for frames: packets decode
    await asyncio.sleep(0)
    arriving.receive(packets[0], 10)
    frame = await reading
    assert (frame.sample_rate, frame.layout.name) == (48000, "stereo")
    arriving.stop()
    with pytest.raises(MediaStreamError):
        await arriving.recv()


async def test_the_opus_microphone_sends_the_sources_frames_as_packets_on_opus_clock() -> None:
    source = PcmSourceTrack(SilenceReader(), rate=16000)
    microphone = audio.OpusMicrophone(source)
    packets = [await microphone.recv() for _ in range(3)]
    assert all(packet.time_base == Fraction(1, 48000) for packet in packets)
    pts = [packet.pts or 0 for packet in packets]
    assert [b - a for a, b in itertools.pairwise(pts)] == [960, 960]  # 20 ms at 48 kHz
    microphone.stop()
    assert source.readyState == "ended"  # stopping the sent track stops its source
    with pytest.raises(MediaStreamError):
        await microphone.recv()
    await source.close()
