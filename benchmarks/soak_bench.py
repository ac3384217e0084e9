"""Soak: one long voice session through a real Home Assistant core and PulseAudio (scripts/bench).

A voice terminal on a PulseAudio server the benchmark starts; a sentence spoken by espeak-ng is
played into its microphone every six seconds for the whole run (a `pacat` outside Home Assistant,
from one looped recording); the peer (its own process, benchmarks/voice_peer.py) hears each one
and answers with a spoken sentence, which the terminal plays. One session, `--minutes` long
(default 10). Every 30 s: the CPU of Home Assistant's process over those 30 s (every thread),
its resident memory, and the answers heard so far. Stable means the last third looks like the
first: CPU and memory are compared between them, and the session must still be the same one at
the end, ended by the action with nothing left running.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
from pathlib import Path
import statistics
import sys
import tempfile
import time
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aioice.ice  # noqa: E402

from homeassistant.core import Event, callback  # noqa: E402

from benchmarks.common import publish  # noqa: E402
from benchmarks.home import home_assistant  # noqa: E402
from benchmarks.load_bench import Problems, rss_mib  # noqa: E402
from benchmarks.peer_process import PeerProcess  # noqa: E402
from benchmarks.voice_bench import (  # noqa: E402
    looped,
    one_exchange,
    play_into_the_mic,
    stop,
)
from benchmarks.voice_terminal import end_session, start_session  # noqa: E402
from custom_components.aiy_realtime.const import (  # noqa: E402
    EVENT_SESSION_ENDED,
    EVENT_TRANSCRIPT,
)
from tests.audio_server import AudioServer, write_wav  # noqa: E402
from tests.helpers import TERMINAL_ID, assistant, terminal  # noqa: E402
from tests.reliability.leaks import child_processes  # noqa: E402


async def soak(
    args: argparse.Namespace, server: AudioServer, peer: PeerProcess, wav: Path
) -> dict[str, Any]:
    answers = 0
    ended: list[str] = []

    @callback
    def heard(event: Event) -> None:
        nonlocal answers
        answers += event.data["role"] == "assistant"

    @callback
    def on_end(event: Event) -> None:
        ended.append(str(event.data["reason"]))

    samples: list[dict[str, float]] = []
    async with home_assistant(assistant(), terminal(server.server)) as (hass, entry):
        voice = entry.runtime_data.terminals[TERMINAL_ID]
        hass.bus.async_listen(EVENT_TRANSCRIPT, heard)
        hass.bus.async_listen(EVENT_SESSION_ENDED, on_end)
        rss_before = rss_mib()
        await start_session(hass)
        session = voice.session
        speaking = await play_into_the_mic(server, wav)
        try:
            start = time.monotonic()
            for index in range(int(args.minutes * 60 / args.every)):
                cpu_start, wall_start = time.process_time(), time.monotonic()
                await asyncio.sleep(args.every)
                cpu = (time.process_time() - cpu_start) / (time.monotonic() - wall_start)
                samples.append(
                    {
                        "minute": round((time.monotonic() - start) / 60, 1),
                        "cpu_percent": round(cpu * 100, 2),
                        "rss_mib": rss_mib(),
                        "answers": answers,
                    }
                )
                print(samples[-1], flush=True)
                if voice.session is not session:
                    raise RuntimeError(f"the session ended after {index} samples: {ended}")
        finally:
            await stop(speaking)
            await end_session(hass)
        await asyncio.sleep(1)
        left = {
            "session": voice.session is not None,
            "ended": ended,
            "processes": child_processes(peer.pid, *server.pids),
        }
    return {"rss_before_session_mib": rss_before, "samples": samples, "end": left}


def third(samples: list[dict[str, float]], key: str, which: int) -> float:
    size = max(1, len(samples) // 3)
    part = samples[:size] if which == 0 else samples[-size:]
    return round(statistics.mean(s[key] for s in part), 2)


async def main(args: argparse.Namespace) -> dict[str, Any]:
    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]  # type: ignore[assignment]
    problems = Problems()
    logging.getLogger().addHandler(problems)
    server = await AudioServer.start()
    peer = PeerProcess(module="benchmarks.voice_peer")
    try:
        await peer.start()
        os.environ["OPENAI_BASE_URL"] = peer.base_url
        with tempfile.TemporaryDirectory() as directory:
            cycle = await one_exchange(Path(directory))
            wav = write_wav(Path(directory) / "loop.wav", looped(cycle, args.minutes * 60 + 30))
            results = await soak(args, server, peer, wav)
        violations = (await peer.get("/_peer/stats"))["violations"]
    finally:
        await peer.close()
        await server.stop()
        logging.getLogger().removeHandler(problems)
    samples = results["samples"]
    results |= {
        "minutes": args.minutes,
        "cpu_percent_first_third": third(samples, "cpu_percent", 0),
        "cpu_percent_last_third": third(samples, "cpu_percent", -1),
        "rss_mib_first_third": third(samples, "rss_mib", 0),
        "rss_mib_last_third": third(samples, "rss_mib", -1),
        "answers": samples[-1]["answers"] if samples else 0,
        "logged_problems": sum(problems.seen.values()),
        "logged_problem_kinds": dict(problems.seen.most_common(5)),
        "peer_violations": len(violations),
    }
    return results


def report(results: dict[str, Any]) -> str:
    samples = results["samples"]
    rss = [s["rss_mib"] for s in samples]
    end = results["end"]
    lines = [
        "| measure | result |",
        "|---|---|",
        f"| one voice session, full duplex, a sentence every 6 s | {results['minutes']} min,"
        f" {results['answers']} answers heard, ended by the action:"
        f" {', '.join(end['ended']) or 'not ended'}; session left: {end['session']};"
        f" processes left: {len(end['processes'])} |",
        f"| CPU of HA's process, first third → last third |"
        f" **{results['cpu_percent_first_third']}% → {results['cpu_percent_last_third']}%**"
        " of a core |",
        f"| RSS of HA's process, first third → last third (range) |"
        f" **{results['rss_mib_first_third']} → {results['rss_mib_last_third']} MiB**"
        f" ({min(rss)} to {max(rss)}; {results['rss_before_session_mib']} before the session) |",
        f"| warnings/errors logged by the integration, aiortc, aioice; peer's protocol"
        f" violations | {results['logged_problems']}; {results['peer_violations']} |",
        "",
        "| minute | CPU % | RSS MiB | answers |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {s['minute']} | {s['cpu_percent']} | {s['rss_mib']} | {s['answers']} |" for s in samples
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--every", type=float, default=30.0, help="seconds between samples")
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "soak_results.md")
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    results = asyncio.run(main(arguments))
    publish(
        arguments.output,
        "Soak benchmark results",
        "this repository's machine (2 cores), through a real Home Assistant core and a real "
        "PulseAudio server, the peer in its own process",
        report(results),
        results,
    )
