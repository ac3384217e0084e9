"""The in-process ALSA layer (hardware/alsa) through libasound, routed as Home Assistant OS
routes it: `default` is ALSA's pulse plugin, and the server is named only by libpulse's
client.conf (no PULSE_SERVER). The PulseAudio test server stands in for the sound card.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
import os
from pathlib import Path

import pytest

from custom_components.aiy_realtime.hardware.alsa import (
    AlsaMicrophone,
    AlsaSpeaker,
    bindings,
    check_alsa,
    list_alsa_devices,
)
from custom_components.aiy_realtime.hardware.audio_problems import AudioUnavailable
from custom_components.aiy_realtime.realtime.audio import AudioDeviceError
from tests.audio_server import AudioServer, loud_windows, speech_wav, tone

RATE = 24000
FRAME_BYTES = RATE // 50 * 2  # 20 ms, mono S16
ALSA_CONF = Path(os.environ.get("ALSA_CONFIG_DIR", "/usr/share/alsa")) / "alsa.conf"


@pytest.fixture
async def routed(
    audio_server: AudioServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncGenerator[AudioServer]:
    """ALSA's `default` through the pulse plugin to the test server, as in the HA container."""
    asound = tmp_path / "asound.conf"
    asound.write_text("pcm.!default {\n type pulse\n}\nctl.!default {\n type pulse\n}\n")
    client = tmp_path / "client.conf"
    client.write_text(f"default-server = {audio_server.server}\nautospawn = no\n")
    # After the system's alsa.conf (and what it loads), as /etc/asound.conf would be.
    monkeypatch.setenv("ALSA_CONFIG_PATH", f"{ALSA_CONF}:{asound}")
    monkeypatch.setenv("PULSE_CLIENTCONFIG", str(client))
    monkeypatch.delenv("PULSE_SERVER", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.asoundrc or cookie of the machine's
    # alsa-lib keeps its configuration per process: each test reads its own.
    bindings.forget_configuration()
    yield audio_server
    bindings.forget_configuration()


async def alsa_clients(server: AudioServer) -> list[str]:
    """The server's clients that are ALSA's pulse plugin (one per open PCM), by number."""
    clients = (await server.pactl("list", "clients")).split("Client #")[1:]
    return [client.split()[0] for client in clients if '"ALSA plug-in' in client]


async def read_until_it_fails(microphone: AlsaMicrophone) -> None:
    async with asyncio.timeout(5):
        while True:
            await microphone.read(FRAME_BYTES)


async def write_until_it_fails(speaker: AlsaSpeaker, chunk: bytes) -> None:
    async with asyncio.timeout(5):
        while True:
            await speaker.write(chunk)


def native_threads() -> int:
    return len(os.listdir("/proc/self/task"))


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def test_a_missing_library_is_said_without_suggesting_a_package() -> None:
    with pytest.raises(AudioUnavailable) as raised:
        bindings.open_library("libasound-not-there.so.2")
    assert raised.value.reason == "library_missing"
    assert "libasound-not-there.so.2" in raised.value.detail
    assert "install" not in raised.value.detail


async def test_the_list_has_the_pulse_and_default_pcms(routed: AudioServer) -> None:
    devices = await list_alsa_devices()
    for listed in (devices.sources, devices.sinks):
        names = [device.name for device in listed]
        assert "default" in names
        assert "pulse" in names
        assert not any(name.startswith(("surround", "iec958")) for name in names)
    assert devices.default_source == "default"
    assert devices.default_sink == "default"
    pulse = next(device for device in devices.sinks if device.name == "pulse")
    assert pulse.description == "PulseAudio Sound Server"


async def test_a_check_passes_and_names_what_is_missing_or_unreachable(
    routed: AudioServer,
) -> None:
    await check_alsa("default", "default", RATE, 1)
    await check_alsa("pulse", "pulse", 48000, 2)
    missing = "plughw:CARD=sndrpigooglevoi,DEV=0"
    with pytest.raises(AudioUnavailable) as raised:
        await check_alsa(missing, "default", RATE, 1)
    assert raised.value.reason == "device_missing"
    assert repr(missing) in raised.value.detail
    with pytest.raises(AudioUnavailable) as raised:
        await check_alsa("default", "no_such_pcm", RATE, 1)
    assert raised.value.reason == "device_missing"
    assert "'no_such_pcm'" in raised.value.detail
    await routed.stop()
    with pytest.raises(AudioUnavailable) as raised:
        await check_alsa("default", "default", RATE, 1)
    assert raised.value.reason == "server_unreachable"
    assert "'default'" in raised.value.detail
    assert "Connection refused" in raised.value.detail


async def test_the_microphone_records_speech_played_into_the_kit(
    routed: AudioServer, tmp_path: Path
) -> None:
    speech = await speech_wav("hello from the kit", tmp_path / "hello.wav")
    microphone = AlsaMicrophone("default", RATE)
    await microphone.open()
    recorded = bytearray()
    try:
        playing = asyncio.get_running_loop().create_task(routed.play(speech))
        while not playing.done() or len(recorded) < RATE * 2 // 2:
            chunk = await microphone.read(FRAME_BYTES)
            assert len(chunk) == FRAME_BYTES
            recorded += chunk
        await playing
    finally:
        await microphone.close()
    assert loud_windows(bytes(recorded), RATE) >= 10


async def test_the_microphone_recovers_from_an_overrun(routed: AudioServer) -> None:
    microphone = AlsaMicrophone("default", RATE)
    try:
        assert len(await microphone.read(FRAME_BYTES)) == FRAME_BYTES
        await asyncio.sleep(0.6)  # three times its buffer, unread
        for _ in range(10):
            assert len(await microphone.read(FRAME_BYTES)) == FRAME_BYTES
    finally:
        await microphone.close()


async def test_the_speaker_is_heard_on_the_kit_speaker(routed: AudioServer) -> None:
    speaker = AlsaSpeaker("default", RATE)
    sound = tone(1.0, rate=RATE)
    async with routed.recorder() as heard:
        await speaker.open()
        for start in range(0, len(sound), FRAME_BYTES):
            await speaker.write(sound[start : start + FRAME_BYTES])
        async with asyncio.timeout(5):
            await heard.wait_for_sound(windows=20)
        await speaker.close()
    assert (await speaker.ended).reason == "closed"


async def test_write_nowait_takes_a_chunk_only_when_it_fits(routed: AudioServer) -> None:
    speaker = AlsaSpeaker("default", RATE)
    chunk = tone(0.02, rate=RATE)
    assert not speaker.write_nowait(chunk)  # not open yet
    await speaker.open()
    taken = 0
    while speaker.write_nowait(chunk):
        taken += 1
        assert taken < 50, "an 80 ms buffer took a second of sound at once"
    assert taken >= 1
    await speaker.write(chunk)  # what did not fit waits for room
    await speaker.close()


async def test_flush_drops_the_queue_and_keeps_the_same_handle(routed: AudioServer) -> None:
    speaker = AlsaSpeaker("default", RATE)
    sound = tone(3.0, rate=RATE)
    await speaker.open()
    clients = await alsa_clients(routed)
    assert len(clients) == 1

    async def feed() -> None:
        for start in range(0, len(sound), FRAME_BYTES):
            await speaker.write(sound[start : start + FRAME_BYTES])

    async with routed.recorder() as heard:
        feeding = asyncio.get_running_loop().create_task(feed())
        async with asyncio.timeout(5):
            await heard.wait_for_sound(windows=5)
        assert speaker.queued_ms >= 20
        await speaker.flush()
        assert speaker.queued_ms == 0
        feeding.cancel()
        with pytest.raises(asyncio.CancelledError):
            await feeding
        await asyncio.sleep(0.3)  # the server's own latency
        loud_after_flush = heard.loud_windows()
        await asyncio.sleep(0.5)
        assert heard.loud_windows() == loud_after_flush, "sound went on after the flush"
        # Plays again at once on the same handle: no reopening, so nothing can find it busy.
        await speaker.write(tone(0.5, rate=RATE))
        async with asyncio.timeout(5):
            await heard.wait_for_sound(windows=loud_after_flush + 5)
    assert await alsa_clients(routed) == clients
    await speaker.close()
    assert speaker.ended.result().reason == "closed"


async def test_the_server_going_away_fails_the_microphone(routed: AudioServer) -> None:
    microphone = AlsaMicrophone("default", RATE)
    try:
        for _ in range(5):
            await microphone.read(FRAME_BYTES)
        await routed.stop()
        with pytest.raises(AudioDeviceError) as raised:
            await read_until_it_fails(microphone)
        assert "'default'" in str(raised.value)
        with pytest.raises(AudioDeviceError):
            await microphone.read(FRAME_BYTES)  # and it stays failed
    finally:
        await microphone.close()


async def test_the_server_going_away_ends_the_speaker_as_failed(routed: AudioServer) -> None:
    speaker = AlsaSpeaker("default", RATE)
    chunk = tone(0.02, rate=RATE)
    try:
        for _ in range(10):
            await speaker.write(chunk)
        await routed.stop()
        with pytest.raises(AudioDeviceError):
            await write_until_it_fails(speaker, chunk)
        ended = speaker.ended.result()
        assert ended.reason == "failed"
        assert "'default'" in ended.detail
        assert not speaker.write_nowait(chunk)
    finally:
        await speaker.close()
    assert speaker.ended.result().reason == "failed"  # closing keeps the first reason


async def test_close_leaves_no_handle_fd_or_thread(routed: AudioServer) -> None:
    fds, threads = open_fds(), native_threads()
    microphone = AlsaMicrophone("default", RATE)
    speaker = AlsaSpeaker("default", RATE)
    reading = asyncio.get_running_loop().create_task(microphone.read(FRAME_BYTES * 50))
    await speaker.open()
    await speaker.write(tone(0.3, rate=RATE))
    await asyncio.sleep(0.1)
    assert len(await alsa_clients(routed)) == 2
    await speaker.close()
    await microphone.close()  # while a read waits: it returns what it has
    assert len(await reading) < FRAME_BYTES * 50
    assert await microphone.read(FRAME_BYTES) == b""
    await speaker.write(tone(0.02, rate=RATE))  # closed: nothing plays, nothing opens
    assert not speaker.is_open
    assert await alsa_clients(routed) == []
    assert open_fds() == fds
    assert native_threads() == threads
