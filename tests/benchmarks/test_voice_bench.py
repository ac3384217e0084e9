"""The voice bench's own pieces: how it finds an answer's onset, pairs onsets into latencies,
unpacks the old path and hears the speaker's monitor. No timing decides a pass."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path
import tempfile

from benchmarks.voice_bench import (
    LOUD,
    OLD_COMMIT,
    QUIET_BEFORE_ONSET,
    RATE,
    MonitorRecorder,
    latencies,
    old_checkout,
    onsets,
)
from tests.audio_server import AudioServer, tone, write_wav

QUIET = (0.0, 0, QUIET_BEFORE_ONSET)


def test_an_onset_is_the_first_loud_chunk_after_quiet() -> None:
    loud = math.ceil(LOUD)  # peaks are whole samples
    soft = loud - 1
    chunks = [
        (0.0, loud, 240),  # loud from the start: an onset (nothing before it was heard)
        (0.1, loud, 240),  # still the same answer
        (0.2, soft, QUIET_BEFORE_ONSET - 1),  # a pause too short to end it
        (0.3, loud, 240),
        (0.4, soft, QUIET_BEFORE_ONSET),  # long enough
        (0.5, loud, 240),
    ]
    assert onsets(chunks) == [0.0, 0.5]
    assert onsets([QUIET, QUIET]) == []


def test_each_sent_onset_is_paired_with_the_first_arrival_after_it_within_a_second() -> None:
    assert latencies([1.0, 5.0, 9.0], [0.5, 1.25, 1.5, 5.5, 10.5]) == [0.25, 0.5]


def test_the_old_path_is_unpacked_from_its_commit() -> None:
    with tempfile.TemporaryDirectory() as directory:
        root = old_checkout(OLD_COMMIT, Path(directory))
        hardware = root / "custom_components" / "aiy_realtime" / "hardware"
        assert (hardware / "pcm_process.py").is_file()
        assert not (hardware / "pulse").exists()
        assert (root / "tests" / "helpers.py").is_file()
        assert (root / "benchmarks" / "home.py").is_file()


async def test_the_monitor_hears_a_tone_played_into_the_speaker(audio_server: AudioServer) -> None:
    silence_then_tone = bytes(RATE // 2 * 2) + tone(0.5)
    with tempfile.TemporaryDirectory() as directory:
        wav = write_wav(Path(directory) / "tone.wav", silence_then_tone)
        monitor = MonitorRecorder(audio_server)
        await monitor.start()
        try:
            loop = asyncio.get_running_loop()
            began = loop.time()
            await audio_server.play(wav, audio_server.speaker_sink)
            await asyncio.sleep(0.3)
        finally:
            await monitor.stop()
    heard = onsets(monitor.chunks)
    assert len(heard) == 1, heard
    # The tone begins half a second into the file: not before it was played.
    assert heard[0] > began + 0.4
