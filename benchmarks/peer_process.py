"""The local peer in its own process (as OpenAI is on its own machine), for benchmarks."""

from __future__ import annotations

import asyncio
from pathlib import Path
from subprocess import PIPE
import sys

import aiohttp

ROOT = Path(__file__).resolve().parent.parent

type Stats = dict[str, list[float]]
"""A conversation's first words → the peer's seconds per response so far."""


class PeerProcess:
    """`python -m tests.peer` in a child process, and its /_peer/stats."""

    def __init__(self, *options: str) -> None:
        self.options = options
        self.process: asyncio.subprocess.Process | None = None
        self.base_url = ""
        self._http: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.peer", *self.options, cwd=ROOT, stdout=PIPE
        )
        assert self.process.stdout is not None
        line = (await self.process.stdout.readline()).decode()
        if not line.startswith("ready "):
            raise RuntimeError(f"the peer did not start: {line!r}")
        self.base_url = line.split()[1]
        self._http = aiohttp.ClientSession()

    async def stats(self) -> Stats:
        assert self._http is not None
        url = self.base_url.removesuffix("/v1") + "/_peer/stats"
        async with self._http.get(url) as response:
            data = await response.json()
        assert not data["violations"], data["violations"]
        return {
            call["user_texts"][0]: call["response_seconds"]
            for call in data["calls"].values()
            if call["user_texts"]
        }

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
        if self.process is not None:
            self.process.terminate()
            await asyncio.wait_for(self.process.wait(), 10)
