"""The test PulseAudio server itself: it runs, carries sound, serves ALSA, and leaves nothing."""

from __future__ import annotations

from pathlib import Path

from tests.audio_server import (
    RATE,
    AudioServer,
    loud_windows,
    speech_wav,
    tone,
    write_wav,
)
from tests.hardware.helpers import process_gone


async def test_the_server_has_the_kits_sinks_as_defaults(audio_server: AudioServer) -> None:
    info = await audio_server.pactl("info")
    assert f"Default Sink: {audio_server.speaker_sink}" in info
    assert f"Default Source: {audio_server.mic_source}" in info
    sinks = await audio_server.pactl("list", "short", "sinks")
    assert audio_server.mic_sink in sinks
    assert audio_server.speaker_sink in sinks


async def test_what_is_played_into_a_sink_is_heard_on_its_monitor(
    audio_server: AudioServer, tmp_path: Path
) -> None:
    wav = write_wav(tmp_path / "tone.wav", tone(0.5))
    async with audio_server.recorder(audio_server.mic_source) as recording:
        await audio_server.play(wav)
        await recording.wait_for_sound(windows=15)
    assert recording.loud_windows() >= 15
    # Nothing leaks across: the speaker heard nothing of it.
    assert loud_windows(await audio_server.record(0.2)) == 0


async def test_speech_is_made_at_test_time(tmp_path: Path) -> None:
    wav = await speech_wav("turn on the kitchen light", tmp_path / "speech.wav")
    import wave

    with wave.open(str(wav)) as speech:
        assert (speech.getframerate(), speech.getnchannels(), speech.getsampwidth()) == (RATE, 1, 2)
        pcm = speech.readframes(speech.getnframes())
    assert len(pcm) / 2 / RATE > 0.8  # a second or so of speech
    assert loud_windows(pcm) > 10


async def test_stopping_leaves_nothing_behind() -> None:
    server = await AudioServer.start()
    directory = server.directory
    async with server.recorder():
        pass
    pid = server.process.pid
    await server.stop()
    assert process_gone(pid)
    assert not directory.exists()
