"""The local peer in its own process (as OpenAI is on its own machine), for benchmarks."""

from __future__ import annotations

import asyncio
from pathlib import Path
from subprocess import PIPE
import sys
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent

type Stats = dict[str, list[float]]
"""A conversation's first words → the peer's seconds per response so far."""


class PeerProcess:
    """`python -m tests.peer` (or another `module` serving it) in a child process, and its
    /_peer/stats."""

    def __init__(self, *options: str, module: str = "tests.peer") -> None:
        self.options = options
        self.module = module
        self.process: asyncio.subprocess.Process | None = None
        self.base_url = ""
        self._http: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", self.module, *self.options, cwd=ROOT, stdout=PIPE
        )
        assert self.process.stdout is not None
        line = (await self.process.stdout.readline()).decode()
        if not line.startswith("ready "):
            raise RuntimeError(f"the peer did not start: {line!r}")
        self.base_url = line.split()[1]
        self._http = aiohttp.ClientSession()

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    async def get(self, path: str) -> Any:
        """GET one of the peer's own routes (`/_peer/…`), as JSON."""
        assert self._http is not None
        async with self._http.get(self.base_url.removesuffix("/v1") + path) as response:
            return await response.json()

    async def stats(self) -> Stats:
        data = await self.get("/_peer/stats")
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
