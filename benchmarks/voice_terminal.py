"""One voice terminal's Home Assistant in a process of its own, for benchmarks/voice_bench.py.

Run with `PYTHONPATH` at a checkout of this repository (the current tree, or an older commit's:
voice_bench.py runs one of each), so that the integration, tests/helpers and benchmarks/home
imported are that checkout's. It sets up a real Home Assistant core with an agent and a voice
terminal on the bench's PulseAudio server, prints `{"ready": pid}` and then answers one JSON
line on stdout for each command it reads on stdin:

- `{"do": "start"}`: start a session (the action, blocking); `{"pids": [...]}`: this process's
  child processes then (the old path's `parec`/`pacat`; none in the new one).
- `{"do": "end"}`: end it; `{"writes": [[monotonic, peak, samples], ...]}`: each chunk handed to
  the terminal's speaker during the session (when, its loudest sample, its length).
- `{"do": "starts", "reload": bool, "sessions": n}`: action → listening, `n` sessions one after
  the other, after reloading the entry first when asked (the first of them is then cold).
- `{"do": "quit"}`.

Nothing here measures CPU: voice_bench.py reads this process and its children from /proc.
With `BENCH_PROFILE` set to a directory, each session (start to end) is profiled with cProfile
on the event loop's thread and written there as `<path>-<n>.pstats`, to find where the time goes
(cProfile slows what it watches: read its shares, not its seconds).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import contextlib
import cProfile
import importlib
import json
import logging
import os
from pathlib import Path
import sys
import time
from typing import Any

import aioice.ice
import numpy as np

from homeassistant.const import EVENT_STATE_CHANGED
from homeassistant.core import Event, EventStateChangedData, HomeAssistant, callback
from homeassistant.helpers import entity_registry as er

from benchmarks.home import home_assistant
from custom_components.aiy_realtime.const import DOMAIN
from tests.helpers import TERMINAL_ID, assistant, terminal

FIRST_READS: list[float] = []
"""perf_counter() of each microphone's first sound delivered to the session."""
WRITES: list[list[float]] = []
"""[monotonic(), peak, samples] of each chunk handed to a speaker while a session runs."""


def note_write(pcm: bytes) -> None:
    samples = np.frombuffer(pcm, dtype="<i2")
    peak = int(np.abs(samples.astype(np.int32)).max()) if samples.size else 0
    WRITES.append([time.monotonic(), peak, samples.size])


def noting_first_read(microphone: type[Any]) -> type[Any]:
    """The terminal's microphone class, noting when an instance first delivers sound."""

    class Noted(microphone):  # type: ignore[misc]
        _noted = False

        async def read(self, size: int) -> bytes:
            pcm: bytes = await super().read(size)
            if pcm and not self._noted:
                self._noted = True
                FIRST_READS.append(time.perf_counter())
            return pcm

    return Noted


def noting_writes(speaker: type[Any]) -> type[Any]:
    """The terminal's speaker class, noting each chunk handed to it (either way it takes one)."""

    class Noted(speaker):  # type: ignore[misc]
        def write_nowait(self, pcm: bytes) -> bool:
            taken: bool = super().write_nowait(pcm)
            if taken:
                note_write(pcm)
            return taken

        async def write(self, pcm: bytes) -> None:
            note_write(pcm)
            await super().write(pcm)

    return Noted


def hook(module: Any, name: str, noting: Callable[[type[Any]], type[Any]]) -> None:
    """Make the module's class `name` the noting subclass of itself (the module's code looks
    it up by name when it makes a microphone or a speaker)."""
    setattr(module, name, noting(getattr(module, name)))


def instrument() -> str:
    """Hook the microphone of whichever path this checkout has; which one it is."""
    try:
        importlib.import_module("custom_components.aiy_realtime.hardware.pcm_process")
    except ImportError:
        module = importlib.import_module("custom_components.aiy_realtime.hardware.terminal_sound")
        hook(module, "PulseMicrophone", noting_first_read)
        hook(module, "PulseSpeaker", noting_writes)
        return "libpulse in-process"
    # The path before: audio_devices.microphone() made a ProcessReader running parec.
    module = importlib.import_module("custom_components.aiy_realtime.hardware.audio_devices")
    hook(module, "ProcessReader", noting_first_read)
    hook(module, "ProcessSink", noting_writes)
    return "parec/pacat child processes"


def satellite(hass: HomeAssistant) -> str:
    entity_id = er.async_get(hass).async_get_entity_id("assist_satellite", DOMAIN, TERMINAL_ID)
    assert entity_id is not None
    return entity_id


async def action(hass: HomeAssistant, service: str, **data: Any) -> None:
    await hass.services.async_call(
        DOMAIN, service, {"entity_id": satellite(hass), **data}, blocking=True
    )


async def start_session(hass: HomeAssistant) -> None:
    await action(hass, "start_session")


async def end_session(hass: HomeAssistant) -> None:
    await action(hass, "end_session", graceful=False)


def child_pids() -> list[int]:
    return [
        int(pid)
        for listing in Path(f"/proc/{os.getpid()}/task").glob("*/children")
        for pid in listing.read_text().split()
    ]


async def to_listening(hass: HomeAssistant) -> dict[str, float]:
    """Milliseconds from the start action to: the action returning (the session ready), the
    satellite's state `listening`, the microphone's first sound; `listening` is the last."""
    entity_id = satellite(hass)
    listening: list[float] = []

    @callback
    def changed(event: Event[EventStateChangedData]) -> None:
        new = event.data["new_state"]
        if event.data["entity_id"] == entity_id and new is not None and new.state == "listening":
            listening.append(time.perf_counter())

    reads = len(FIRST_READS)
    unlisten = hass.bus.async_listen(EVENT_STATE_CHANGED, changed)
    start = time.perf_counter()
    try:
        await action(hass, "start_session")
        ready = time.perf_counter()
        async with asyncio.timeout(10):
            while len(FIRST_READS) == reads or not listening:  # noqa: ASYNC110 - notes, polled
                await asyncio.sleep(0.002)
    finally:
        unlisten()
    mic, state = FIRST_READS[reads], listening[0]
    return {
        "ready_ms": (ready - start) * 1000,
        "state_ms": (state - start) * 1000,
        "mic_live_ms": (mic - start) * 1000,
        "listening_ms": (max(ready, state, mic) - start) * 1000,
    }


async def serve() -> None:
    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]
    path = instrument()
    lines = asyncio.StreamReader()
    loop = asyncio.get_running_loop()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(lines), sys.stdin)

    def answer(value: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(value) + "\n")
        sys.stdout.flush()

    profiles = os.environ.get("BENCH_PROFILE")
    profiler: cProfile.Profile | None = None
    sessions = 0
    async with home_assistant(assistant(), terminal(os.environ["BENCH_PULSE_SERVER"])) as (
        hass,
        entry,
    ):
        answer({"ready": os.getpid(), "path": path})
        while line := await lines.readline():
            command = json.loads(line)
            match command["do"]:
                case "start":
                    WRITES.clear()
                    if profiles:
                        profiler = cProfile.Profile()
                        profiler.enable()
                    await action(hass, "start_session")
                    answer({"pids": child_pids()})
                case "end":
                    await action(hass, "end_session", graceful=False)
                    if profiler is not None:
                        profiler.disable()
                        sessions += 1
                        name = "new" if "libpulse" in path else "old"
                        profiler.dump_stats(Path(profiles) / f"{name}-{sessions}.pstats")
                        profiler = None
                    answer({"writes": WRITES[:]})
                    WRITES.clear()
                case "starts":
                    if command["reload"]:
                        assert await hass.config_entries.async_reload(entry.entry_id)
                        await hass.async_block_till_done()
                        await asyncio.sleep(0.5)
                    found = []
                    for _ in range(command["sessions"]):
                        found.append(await to_listening(hass))
                        await action(hass, "end_session", graceful=False)
                        await asyncio.sleep(0.3)
                    answer({"starts": found})
                case "quit":
                    answer({})
                    break


if __name__ == "__main__":
    logging.basicConfig(level=logging.ERROR)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())
