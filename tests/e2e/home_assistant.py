"""A real Home Assistant in a process of its own, on a fresh config directory, as a user runs it:
`hass --config DIR`, with this integration linked in as HACS would install it and the local
Realtime peer in its own process."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
import contextlib
from dataclasses import dataclass
import importlib.util
import os
from pathlib import Path
import shutil
import signal
import socket
import sys
import time

import aiohttp

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 120.0
"""Seconds a fresh Home Assistant may take to serve its frontend (first start sets up a lot)."""
STOP_TIMEOUT = 60.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _dev_entry(storage: Path) -> object:
    """scripts/dev_entry.py, pointed at `storage`: its `bind_http` writes HA's http store as the
    UI would (a port in configuration.yaml would need confirming in the UI first)."""
    path = ROOT / "scripts" / "dev_entry.py"
    spec = importlib.util.spec_from_file_location("aiy_dev_entry", path)
    assert spec is not None
    assert spec.loader is not None
    module = sys.modules.get(spec.name)
    if module is None:
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)
    module.STORAGE = storage  # type: ignore[attr-defined]
    return module


@dataclass
class Process:
    process: asyncio.subprocess.Process
    log: Path

    async def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        if self.process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.process.wait(), timeout)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


@dataclass
class Peer:
    process: Process
    url: str


async def start_peer(directory: Path) -> Peer:
    """`python -m tests.peer --demo` (the pretend model of the offline demo) on a free port."""
    log = directory / "peer.log"
    port = free_port()
    with log.open("w") as out:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.peer",
            "--demo",
            "--port",
            str(port),
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=out,
        )
    assert process.stdout is not None
    line = (await asyncio.wait_for(process.stdout.readline(), 30)).decode()
    assert line.startswith("ready "), f"the peer said {line!r}: {log.read_text()}"
    return Peer(Process(process, log), line.split()[1])


@dataclass
class HomeAssistant:
    process: Process
    url: str
    config: Path


def _fresh_config(config: Path) -> int:
    """A config directory with nothing but configuration.yaml and the integration (linked, as
    HACS would have copied it), serving on a free port; returns the port."""
    config.mkdir(parents=True)
    shutil.copy(ROOT / "config" / "configuration.yaml", config / "configuration.yaml")
    (config / "custom_components").mkdir()
    (config / "custom_components" / "aiy_realtime").symlink_to(
        ROOT / "custom_components" / "aiy_realtime"
    )
    port = free_port()
    _dev_entry(config / ".storage").bind_http("127.0.0.1", port)  # type: ignore[attr-defined]
    return port


async def start_home_assistant(config: Path) -> HomeAssistant:
    """`hass --config` on a fresh config directory, until its frontend answers."""
    port = await asyncio.to_thread(_fresh_config, config)
    log = config / "hass.out"
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "OPENAI_BASE_URL")}
    with log.open("w") as out:
        process = await asyncio.create_subprocess_exec(
            str(Path(sys.executable).parent / "hass"),
            "--config",
            str(config),
            cwd=ROOT,
            stdout=out,
            stderr=asyncio.subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    home = HomeAssistant(Process(process, log), f"http://127.0.0.1:{port}", config)
    deadline = time.monotonic() + START_TIMEOUT
    async with aiohttp.ClientSession() as http:
        while True:
            if process.returncode is not None:
                raise RuntimeError(f"Home Assistant exited:\n{home.process.tail()}")
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(f"{home.url}/api/onboarding") as response:
                    if response.status == 200:
                        return home
            if time.monotonic() > deadline:
                await home.process.stop()
                raise RuntimeError(f"Home Assistant did not serve in time:\n{home.process.tail()}")
            await asyncio.sleep(0.5)


@contextlib.asynccontextmanager
async def running(directory: Path) -> AsyncIterator[tuple[HomeAssistant, Peer]]:
    peer = await start_peer(directory)
    try:
        home = await start_home_assistant(directory / "config")
        try:
            yield home, peer
        finally:
            await home.process.stop()
    finally:
        await peer.process.stop(5)
