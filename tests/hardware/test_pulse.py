"""PulseAudio in this process (libpulse on the asyncio loop) against a real server that runs as
Home Assistant OS's does: `--disable-shm`, named only by a client.conf (no PULSE_SERVER), and
none of pulseaudio-utils on PATH for the code under test."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
import socket

import pytest

from custom_components.aiy_realtime.hardware.audio_devices import (
    AudioUnavailable,
    PulseAudioBackend,
    check,
    list_devices,
)
from custom_components.aiy_realtime.hardware.pulse import echo_cancel
from custom_components.aiy_realtime.hardware.pulse.connection import PulseConnection
from custom_components.aiy_realtime.hardware.pulse.streams import PulseMicrophone, PulseSpeaker
from custom_components.aiy_realtime.hardware.terminal_sound import TerminalSound
from custom_components.aiy_realtime.realtime.audio import AudioDeviceError
from tests.audio_server import AudioServer, loud_windows, speech_wav, tone
from tests.voice_helpers import until

RATE = 48000
FRAME = RATE * 2 // 50


async def _read_many(microphone: PulseMicrophone, frames: int = 100) -> None:
    for _ in range(frames):
        await microphone.read(FRAME)


async def test_the_default_server_is_the_one_client_conf_names(audio_server: AudioServer) -> None:
    assert "PULSE_SERVER" not in os.environ
    devices = await list_devices(PulseAudioBackend())
    assert [d.name for d in devices.sinks] == ["kit_mic", "kit_speaker"]
    assert devices.sources[0].name == "kit_mic.monitor"
    assert devices.default_sink == "kit_speaker"
    await check(PulseAudioBackend(source=audio_server.mic_source, sink=audio_server.speaker_sink))


async def test_a_server_over_tcp(audio_server: AudioServer, socket_enabled: None) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    await audio_server.pactl(
        "load-module",
        "module-native-protocol-tcp",
        f"port={port}",
        "listen=127.0.0.1",
        "auth-anonymous=1",
    )
    devices = await list_devices(PulseAudioBackend(server=f"tcp:127.0.0.1:{port}"))
    assert "kit_speaker" in [d.name for d in devices.sinks]


async def test_what_is_missing_is_named(audio_server: AudioServer, tmp_path: Path) -> None:
    with pytest.raises(AudioUnavailable) as caught:
        await check(PulseAudioBackend(sink="kitchen_speaker"))
    assert caught.value.reason == "device_missing"
    assert "no sink 'kitchen_speaker'" in str(caught.value)
    with pytest.raises(AudioUnavailable) as caught:
        await check(PulseAudioBackend(server=f"unix:{tmp_path}/none"))
    assert caught.value.reason == "server_unreachable"
    assert str(caught.value).endswith("cannot be reached: Connection refused")


async def test_a_server_that_never_answers_is_unreachable(
    tmp_path: Path, socket_enabled: None
) -> None:
    path = tmp_path / "silent"
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(path))
        listener.listen()
        with pytest.raises(AudioUnavailable) as caught:
            await check(PulseAudioBackend(server=f"unix:{path}"), timeout=0.5)
    assert caught.value.reason == "server_unreachable"
    assert "did not answer within 0.5 s" in str(caught.value)


async def test_the_microphone_records_and_the_speaker_plays(
    audio_server: AudioServer, tmp_path: Path
) -> None:
    with await PulseConnection.open(None, timeout=3) as connection:
        microphone = PulseMicrophone(connection, audio_server.mic_source, RATE)
        await microphone.open()
        wav = await speech_wav("turn on the kitchen light", tmp_path / "speech.wav")
        playing = asyncio.create_task(audio_server.play(wav))
        heard = b"".join([await microphone.read(FRAME) for _ in range(100)])
        await playing
        await microphone.close()
        assert loud_windows(heard) >= 10

        speaker = PulseSpeaker(connection, audio_server.speaker_sink, RATE)
        await speaker.open()
        async with audio_server.recorder() as recording:
            pcm = tone(0.5, amplitude=0.3)
            for at in range(0, len(pcm), FRAME):
                if not speaker.write_nowait(pcm[at : at + FRAME]):
                    await speaker.write(pcm[at : at + FRAME])
            await speaker.close()  # plays out what it holds
            assert recording.loud_windows() >= 20
        assert speaker.ended.result().reason == "closed"
    assert connection.mainloop_watches == 0


async def test_an_idle_connection_does_not_spin_and_a_write_is_sent_at_once(
    audio_server: AudioServer,
) -> None:
    """libpulse's main loop is stepped only when asyncio has something for it: a connection with
    nothing to do takes (almost) no steps, and a write made between steps goes out without
    waiting for the server's next message."""
    with await PulseConnection.open(None, timeout=3) as connection:
        await asyncio.sleep(0.1)
        steps = connection.mainloop_steps
        await asyncio.sleep(0.5)
        assert connection.mainloop_steps - steps < 10  # a spinning loop takes thousands
        speaker = PulseSpeaker(connection, audio_server.speaker_sink, RATE)
        await speaker.open()
        async with audio_server.recorder() as recording:
            pcm = tone(0.3, amplitude=0.3)
            for at in range(0, len(pcm), FRAME):
                await speaker.write(pcm[at : at + FRAME])
            await speaker.close()
            assert recording.loud_windows() >= 10
    assert connection.mainloop_watches == 0


async def test_a_streaming_microphone_wakes_the_loop_less_than_its_server_sends(
    audio_server: AudioServer, tmp_path: Path
) -> None:
    """A server that sends a block every few milliseconds (here: while a low-latency player
    feeds the microphone's sink) wakes Home Assistant's loop a few times per 20 ms frame read, not
    once per block; one that sends a block per frame wakes it about once per frame, not twice."""
    with await PulseConnection.open(None, timeout=3) as connection:
        microphone = PulseMicrophone(connection, audio_server.mic_source, RATE)
        await microphone.open()
        await _read_many(microphone, 10)
        wake_ups = connection.mainloop_wake_ups
        await _read_many(microphone, 100)
        quiet = connection.mainloop_wake_ups - wake_ups

        wav = await speech_wav(
            "turn on the kitchen light and then the one in the hall", tmp_path / "s.wav"
        )
        playing = asyncio.create_task(audio_server.play(wav))
        await _read_many(microphone, 10)
        wake_ups = connection.mainloop_wake_ups
        await _read_many(microphone, 100)
        streaming = connection.mainloop_wake_ups - wake_ups
        await playing
        await microphone.close()
    assert quiet <= 100 * 1.5, (quiet, streaming)  # a rest after each block: 200
    assert streaming <= 100 * 3, (quiet, streaming)


async def test_flush_drops_what_is_held_on_the_same_stream(audio_server: AudioServer) -> None:
    """The barge-in race of the player processes: nothing reopens, nothing of the cut-off
    answer plays after the flush, and what is written next plays."""
    with await PulseConnection.open(None, timeout=3) as connection:
        speaker = PulseSpeaker(connection, audio_server.speaker_sink, RATE)
        await speaker.open()
        stream = speaker._stream
        async with audio_server.recorder() as recording:
            pcm = tone(2.0, amplitude=0.3)
            for at in range(0, len(pcm) // 4, FRAME):  # half a second, queued at once
                await speaker.write(pcm[at : at + FRAME])
            await speaker.flush()
            flushed_at = len(recording.pcm)
            await asyncio.sleep(0.5)
            after = recording.pcm[flushed_at + FRAME * 8 :]  # what was already on its way
            assert loud_windows(after) == 0
            for at in range(0, len(pcm) // 4, FRAME):
                await speaker.write(pcm[at : at + FRAME])
            await asyncio.sleep(0.6)
            assert loud_windows(recording.pcm[flushed_at:]) >= 10
        assert speaker._stream == stream
        await speaker.close()


async def test_a_device_that_goes_fails_its_streams(audio_server: AudioServer) -> None:
    with await PulseConnection.open(None, timeout=3) as connection:
        microphone = PulseMicrophone(connection, audio_server.mic_source, RATE)
        speaker = PulseSpeaker(connection, audio_server.speaker_sink, RATE)
        await microphone.open()
        await speaker.open()
        await microphone.read(FRAME)
        await audio_server.pactl("unload-module", "module-null-sink")
        with pytest.raises(AudioDeviceError, match="was removed"):
            await _read_many(microphone)
        ended = await asyncio.wait_for(speaker.ended, 3)
        assert ended.failed
        assert "was removed" in ended.detail
        await microphone.close()
        await speaker.close()


async def test_the_server_going_away_fails_the_microphone(audio_server: AudioServer) -> None:
    connection = await PulseConnection.open(None, timeout=3)
    microphone = PulseMicrophone(connection, audio_server.mic_source, RATE)
    await microphone.open()
    await audio_server.stop()
    with pytest.raises(AudioDeviceError):
        await _read_many(microphone)
    assert "cannot be reached" in await asyncio.wait_for(connection.lost, 3)
    await microphone.close()
    connection.close()


async def test_the_echo_canceller_loads_and_leaves_nothing_behind(
    audio_server: AudioServer,
) -> None:
    with await PulseConnection.open(None, timeout=3) as connection:
        canceller = await echo_cancel.load(
            connection, "terminal 1", audio_server.mic_source, audio_server.speaker_sink, "Kitchen"
        )
        assert canceller is not None
        assert canceller.method in echo_cancel.METHODS
        assert canceller.source in [d.name for d in await connection.sources()]
        # As after a crash: the next load replaces the one left on the server.
        again = await echo_cancel.load(
            connection, "terminal 1", audio_server.mic_source, audio_server.speaker_sink, "Kitchen"
        )
        assert again is not None
        modules = [m for m in await connection.modules() if m.name == echo_cancel.MODULE]
        assert [m.index for m in modules] == [again.module]
        assert await echo_cancel.remove_leftovers(connection, "terminal 1") == 1
        assert not [m for m in await connection.modules() if m.name == echo_cancel.MODULE]


async def test_a_terminal_sound_follows_its_devices_and_server(
    audio_server: AudioServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Unplugged: unavailable at once, with the reason; plugged back: available; the server
    restarting: unavailable, then back (tried again every RETRY seconds)."""
    monkeypatch.setattr("custom_components.aiy_realtime.hardware.terminal_sound.RETRY", 0.3)
    sound = TerminalSound(
        PulseAudioBackend(sink="usb_speaker"), key="t1", title="Kitchen", rate=RATE
    )
    changes: list[str | None] = []
    sound.subscribe(lambda: changes.append(sound.problem and sound.problem.reason))
    try:
        assert not await sound.start()  # not plugged in yet
        assert sound.problem is not None
        assert "no sink 'usb_speaker'" in str(sound.problem)
        index = (
            await audio_server.pactl("load-module", "module-null-sink", "sink_name=usb_speaker")
        ).strip()
        await until(lambda: sound.problem is None)
        assert sound.echo in echo_cancel.METHODS
        speaker = await sound.open_speaker()
        await speaker.close()

        await audio_server.pactl("unload-module", index)  # unplugged
        await until(lambda: sound.problem is not None)
        assert sound.problem is not None
        assert sound.problem.reason == "device_missing"
        with pytest.raises(AudioUnavailable):
            await sound.open_microphone()
        await audio_server.pactl("load-module", "module-null-sink", "sink_name=usb_speaker")
        await until(lambda: sound.problem is None)
    finally:
        await sound.close()
    assert changes[:2] == ["device_missing", None]
    with await PulseConnection.open(None, timeout=3) as connection:
        left = [m for m in await connection.modules() if m.name == echo_cancel.MODULE]
    assert left == []  # closing unloaded the canceller


async def test_a_server_that_restarts_brings_the_terminal_back(
    audio_server: AudioServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("custom_components.aiy_realtime.hardware.terminal_sound.RETRY", 0.3)
    sound = TerminalSound(
        PulseAudioBackend(), key="t2", title="Kitchen", rate=RATE, echo_cancellation=False
    )
    try:
        assert await sound.start()
        await audio_server.stop()
        await until(lambda: sound.problem is not None)
        assert sound.problem is not None
        assert sound.problem.reason == "server_unreachable"
        again = await AudioServer.start()
        try:
            # What client.conf names now (libpulse reads it for each new connection).
            monkeypatch.setenv("PULSE_CLIENTCONFIG", str(again.client_conf))
            await until(lambda: sound.problem is None, timeout=5)
        finally:
            await sound.close()
            await again.stop()
    finally:
        await sound.close()
