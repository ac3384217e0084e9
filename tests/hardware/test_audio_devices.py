"""A terminal's sound against a real PulseAudio server, directly and through ALSA's `-D pulse`."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from custom_components.aiy_realtime.hardware import audio_devices
from custom_components.aiy_realtime.hardware.audio_devices import (
    AlsaBackend,
    AudioBackend,
    AudioUnavailable,
    PulseAudioBackend,
    check,
    list_devices,
    microphone,
    speaker,
)
from custom_components.aiy_realtime.realtime.audio import PcmSourceTrack
from tests.audio_server import AudioServer, loud_windows, speech_wav, tone
from tests.hardware.helpers import process_gone

RATE = 24000


@pytest.fixture
def pulse(audio_server: AudioServer) -> PulseAudioBackend:
    """The terminal's settings for the test server: the kit's mic and speaker by name."""
    return PulseAudioBackend(
        server=audio_server.server,
        source=audio_server.mic_source,
        sink=audio_server.speaker_sink,
    )


@pytest.fixture
def alsa_through_pulse(audio_server: AudioServer, monkeypatch: pytest.MonkeyPatch) -> AlsaBackend:
    """ALSA's `pulse` device, which reaches the test server through PULSE_SERVER."""
    monkeypatch.setenv("PULSE_SERVER", audio_server.server)
    return AlsaBackend(capture="pulse", playback="pulse")


@pytest.fixture
def empty_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A PATH on which no sound command is found."""
    monkeypatch.setenv("PATH", str(tmp_path))


# -- check ----------------------------------------------------------------------------------------


async def test_check_passes_for_a_reachable_server_with_those_devices(
    pulse: PulseAudioBackend,
) -> None:
    await check(pulse)
    await check(PulseAudioBackend(server=pulse.server))  # the server's defaults


async def test_without_a_server_setting_the_pulse_server_variable_is_used(
    audio_server: AudioServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Home Assistant OS tells its core container where the audio server is this way."""
    monkeypatch.setenv("PULSE_SERVER", audio_server.server)
    backend = PulseAudioBackend(source=audio_server.mic_source)
    assert backend.server_in_use == audio_server.server
    await check(backend)
    assert f"--server={audio_server.server}" in audio_devices.capture_command(backend, RATE, 1)


async def test_a_missing_server_is_unreachable(tmp_path: Path) -> None:
    backend = PulseAudioBackend(server=f"unix:{tmp_path}/no-server")
    with pytest.raises(AudioUnavailable) as caught:
        await check(backend)
    assert caught.value.reason == "server_unreachable"
    assert f"unix:{tmp_path}/no-server" in str(caught.value)
    assert "Connection refused" in str(caught.value)


async def test_a_server_that_never_answers_is_unreachable_within_the_timeout(
    tmp_path: Path,
) -> None:
    """A socket that accepts and then says nothing (a hung server): bounded, and pactl killed."""
    accepted: list[asyncio.StreamWriter] = []

    async def accept(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)

    server = await asyncio.start_unix_server(accept, path=str(tmp_path / "silent"))
    try:
        with pytest.raises(AudioUnavailable) as caught:
            await check(PulseAudioBackend(server=f"unix:{tmp_path}/silent"), timeout=0.5)
    finally:
        for writer in accepted:
            writer.close()
        server.close()
        await server.wait_closed()
    assert caught.value.reason == "server_unreachable"
    assert "did not answer within 0.5 s" in str(caught.value)
    assert accepted, "pactl did connect"


async def test_a_missing_sink_or_source_is_named(pulse: PulseAudioBackend) -> None:
    with pytest.raises(AudioUnavailable) as caught:
        await check(PulseAudioBackend(pulse.server, sink="kitchen_speaker"))
    assert caught.value.reason == "device_missing"
    assert "no sink 'kitchen_speaker'" in str(caught.value)
    assert "kit_speaker" in str(caught.value)  # what there is instead
    with pytest.raises(AudioUnavailable) as caught:
        await check(PulseAudioBackend(pulse.server, source="usb_mic"))
    assert caught.value.reason == "device_missing"
    assert "no source 'usb_mic'" in str(caught.value)


@pytest.mark.usefixtures("empty_path")
@pytest.mark.parametrize(
    ("backend", "commands"),
    [
        (PulseAudioBackend(), "pactl, parec, pacat"),
        (AlsaBackend(), "arecord, aplay"),
    ],
)
async def test_missing_commands_are_named(backend: AudioBackend, commands: str) -> None:
    for attempt in (check, list_devices):
        with pytest.raises(AudioUnavailable) as caught:
            await attempt(backend)
        assert caught.value.reason == "command_missing"
        assert str(caught.value).startswith(commands.split(", ", maxsplit=1)[0])
    with pytest.raises(AudioUnavailable, match=commands):
        await check(backend)


async def test_alsa_check_opens_the_devices(alsa_through_pulse: AlsaBackend) -> None:
    await check(alsa_through_pulse)
    with pytest.raises(AudioUnavailable) as caught:
        await check(AlsaBackend(capture="pulse", playback="no_such_pcm"))
    assert caught.value.reason == "device_missing"
    assert "'no_such_pcm'" in str(caught.value)


async def test_alsa_through_a_missing_server_is_unreachable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PULSE_SERVER", f"unix:{tmp_path}/no-server")
    with pytest.raises(AudioUnavailable) as caught:
        await check(AlsaBackend(capture="pulse", playback="pulse"))
    assert caught.value.reason == "server_unreachable"


# -- list_devices -----------------------------------------------------------------------------


async def test_pulseaudio_lists_the_kits_sinks_and_sources(
    audio_server: AudioServer, pulse: PulseAudioBackend
) -> None:
    devices = await list_devices(pulse)
    sinks = dict(devices.sinks)
    sources = dict(devices.sources)
    assert sinks == {"kit_mic": "Kit microphone (test)", "kit_speaker": "Kit speaker (test)"}
    assert set(sources) == {"kit_mic.monitor", "kit_speaker.monitor"}
    assert sources["kit_mic.monitor"] == "Monitor of Kit microphone (test)"
    assert (devices.default_source, devices.default_sink) == ("kit_mic.monitor", "kit_speaker")


async def test_pulseaudio_listing_says_why_it_cannot(tmp_path: Path) -> None:
    with pytest.raises(AudioUnavailable) as caught:
        await list_devices(PulseAudioBackend(server=f"unix:{tmp_path}/none"))
    assert caught.value.reason == "server_unreachable"


async def test_alsa_lists_its_pcms(alsa_through_pulse: AlsaBackend) -> None:
    devices = await list_devices(alsa_through_pulse)
    for found in (devices.sources, devices.sinks):
        names = [device.name for device in found]
        assert "pulse" in names
        assert "default" in names
        assert not any(name.startswith("surround") for name in names)
    assert devices.default_source == devices.default_sink == "default"


# -- microphone and speaker ----------------------------------------------------------------------


async def test_the_speaker_plays_on_the_kits_speaker(
    audio_server: AudioServer, pulse: PulseAudioBackend
) -> None:
    await speaker_is_heard(audio_server, pulse)


async def test_the_alsa_speaker_plays_through_pulse(
    audio_server: AudioServer, alsa_through_pulse: AlsaBackend
) -> None:
    await speaker_is_heard(audio_server, alsa_through_pulse)


async def speaker_is_heard(audio_server: AudioServer, backend: AudioBackend) -> None:
    sink = speaker(backend, RATE)
    async with audio_server.recorder() as recording:
        await sink.write(tone(1.0, rate=RATE))
        await recording.wait_for_sound(windows=30)
        pid = sink.pid
        assert pid is not None
        await sink.close()
    assert process_gone(pid)
    assert (await sink.ended).reason == "closed"


async def test_the_microphone_hears_what_is_played_into_the_kits_mic(
    audio_server: AudioServer, pulse: PulseAudioBackend, tmp_path: Path
) -> None:
    await microphone_hears(audio_server, pulse, tmp_path)


async def test_the_alsa_microphone_hears_through_pulse(
    audio_server: AudioServer, alsa_through_pulse: AlsaBackend, tmp_path: Path
) -> None:
    await microphone_hears(audio_server, alsa_through_pulse, tmp_path)


async def microphone_hears(
    audio_server: AudioServer, backend: AudioBackend, tmp_path: Path
) -> None:
    speech = await speech_wav("turn on the kitchen light", tmp_path / "speech.wav")
    reader = microphone(backend, RATE)
    track = PcmSourceTrack(reader, rate=RATE)
    assert track.live
    loud = 0
    recording = asyncio.Event()

    async def listen() -> None:
        nonlocal loud
        while loud < 10:
            frame = await track.recv()
            recording.set()
            loud += loud_windows(bytes(frame.planes[0]), RATE)

    listening = asyncio.create_task(listen())
    await recording.wait()
    await audio_server.play(speech)
    await asyncio.wait_for(listening, 5)
    pid = reader.pid
    assert pid is not None
    await track.close()
    assert process_gone(pid)
    assert (await track.ended).reason == "closed"
