"""The local peer as the voice benchmark's model: `python -m benchmarks.voice_peer`.

Every utterance it hears (its energy VAD) is understood as the same words, and answered with the
same sentence, spoken as a tone. It notes when the first frame of each answer leaves its audio
track for aiortc's encoder (`time.monotonic()`, one clock for every process on the machine), and
serves those times at `/_bench/onsets`: the start of the playout latency the benchmark measures.
Prints `ready <base URL>` once it listens, like `python -m tests.peer`.
"""

from __future__ import annotations

import argparse
import asyncio
from collections import deque
import contextlib
import logging
import time

from aiohttp import web
import aioice.ice
import av

from tests.peer import LocalRealtimePeer, call as peer_call
from tests.peer.media import SpeechTrack
from tests.peer.script import Rule, Script

HEARD = "Turn on the kitchen light"
ANSWER = "Certainly, the kitchen light is on now, and the hallway light as well, anything else?"
"""Fourteen words: 2.8 s of tone at 0.2 s a word."""
SECONDS_PER_WORD = 0.2

ONSETS: list[float] = []
"""When each answer's first sounding frame left the peer's track (monotonic seconds)."""


class MarkedSpeechTrack(SpeechTrack):
    """The peer's voice, noting the moment each stretch of sound begins (silence is zeros)."""

    def __init__(self, *, quiet_when_idle: bool = False) -> None:
        super().__init__(quiet_when_idle=quiet_when_idle)
        self._sounding = False

    async def recv(self) -> av.AudioFrame:
        frame = await super().recv()
        sounding = bool(frame.to_ndarray().any())
        if sounding and not self._sounding:
            ONSETS.append(time.monotonic())
        self._sounding = sounding
        return frame


class BenchPeer(LocalRealtimePeer):
    def build_app(self) -> web.Application:
        app = super().build_app()
        app.router.add_get("/_bench/onsets", self._onsets)
        return app

    async def _onsets(self, request: web.Request) -> web.Response:
        return web.json_response({"onsets": ONSETS, "calls": len(self.calls)})


def bench_script() -> Script:
    return Script(
        rules=[Rule(when="", say=ANSWER)],
        seconds_per_word=SECONDS_PER_WORD,
        hears=deque([HEARD] * 100_000),
    )


async def serve(args: argparse.Namespace) -> None:
    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]  # type: ignore[assignment]
    peer_call.SpeechTrack = MarkedSpeechTrack  # type: ignore[misc]
    peer = BenchPeer(keep_calls=False)
    peer.script = bench_script()
    await peer.serve_until_signalled(args.port)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    logging.basicConfig(level=logging.WARNING)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(parser.parse_args()))
