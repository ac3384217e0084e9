"""The speaker's pump (realtime/audio.py): `played_out()` says whether what was queued went to
the speaker, so an announcement flushed or ended under it is not reported heard."""

from __future__ import annotations

import asyncio

from aiortc import MediaStreamTrack
import av

from custom_components.aiy_realtime.realtime.audio import AudioEnd, AudioPump

CHUNK = bytes(960)  # 10 ms of 48 kHz mono S16


class _Silent(MediaStreamTrack):
    """A remote track that sends nothing (the pump's audio is handed to it directly here)."""

    kind = "audio"

    async def recv(self) -> av.AudioFrame:
        await asyncio.Event().wait()
        raise AssertionError("never")


class _GatedSink:
    """A speaker whose every write waits until the test opens the gate."""

    rate = 48000
    channels = 1

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.written = 0
        self._ended: asyncio.Future[AudioEnd] = asyncio.get_running_loop().create_future()

    @property
    def ended(self) -> asyncio.Future[AudioEnd]:
        return self._ended

    async def write(self, pcm: bytes) -> None:
        await self.gate.wait()
        self.written += len(pcm)

    async def flush(self) -> None:
        """Nothing held beyond the write in progress."""

    async def close(self) -> None:
        if not self._ended.done():
            self._ended.set_result(AudioEnd("closed"))


async def _pump_with_three_chunks() -> tuple[AudioPump, _GatedSink]:
    sink = _GatedSink()
    pump = AudioPump(_Silent(), sink)
    for _ in range(3):
        pump._enqueue(CHUNK)  # as decoded audio arrives
    await asyncio.sleep(0)  # the writer takes the first and waits on the gate
    return pump, sink


async def test_played_out_is_true_once_everything_queued_went_to_the_speaker() -> None:
    pump, sink = await _pump_with_three_chunks()
    waiting = asyncio.ensure_future(pump.played_out())
    await asyncio.sleep(0.01)
    assert not waiting.done()
    sink.gate.set()
    assert await asyncio.wait_for(waiting, 2) is True
    assert sink.written == 3 * len(CHUNK)
    await pump.close()


async def test_played_out_is_false_when_the_audio_was_flushed_first() -> None:
    pump, sink = await _pump_with_three_chunks()
    waiting = asyncio.ensure_future(pump.played_out())
    await asyncio.sleep(0.01)
    await pump.flush()  # a barge-in, or the session ending: the rest is never played
    sink.gate.set()
    assert await asyncio.wait_for(waiting, 2) is False
    await pump.close()
