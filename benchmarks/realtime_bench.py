"""Realtime client benchmarks, all measured in one run on this machine (see scripts/bench).

- session ready: RealtimeSession.start() against the local peer (HTTP offer/answer with the
  session config, ICE, DTLS, SCTP, then session.created), p50, and its ratio to a bare two-peer
  aiortc connect (same machine, same loopback ICE, data channel + audio line, no HTTP).
- turn overhead: a warm text turn timed by the client minus the peer's own time for the response.
- CPU per minute of full-duplex audio: mic track in, peer speaking out, in this one process
  (client and peer together: an upper bound for the client alone).
- RSS growth over sequential sessions (start, one turn, close).
- CPU of 50 idle text sessions, this process only: the peer runs in its own process and sends
  audio all the time (the worst case), which a text session drops on arrival.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
from pathlib import Path
import resource
import sys
import time
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aioice.ice  # noqa: E402
from aiortc import RTCConfiguration, RTCPeerConnection  # noqa: E402

from benchmarks.common import p50, p95, publish  # noqa: E402
from benchmarks.peer_process import PeerProcess  # noqa: E402
from custom_components.aiy_realtime.realtime.audio import (  # noqa: E402
    NullSink,
    PcmSourceTrack,
    SilenceReader,
)
from custom_components.aiy_realtime.realtime.config import SessionConfig  # noqa: E402
from custom_components.aiy_realtime.realtime.endpoint import Endpoint  # noqa: E402
from custom_components.aiy_realtime.realtime.session import RealtimeSession  # noqa: E402
from custom_components.aiy_realtime.realtime.signaling import UnifiedSignaling  # noqa: E402
from tests.peer import LocalRealtimePeer  # noqa: E402
from tests.peer.http import VALID_KEY  # noqa: E402
from tests.peer.media import tone  # noqa: E402

TEXT = SessionConfig(model="gpt-realtime", output_modality="text")


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def bare_connect() -> float:
    """Two aiortc peers, data channel + audio, offer/answer in memory, until the channel opens."""
    offerer = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    answerer = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    opened = asyncio.Event()
    start = time.perf_counter()
    channel = offerer.createDataChannel("oai-events")
    channel.on("open", opened.set)
    offerer.addTransceiver("audio", direction="recvonly")
    await offerer.setLocalDescription(await offerer.createOffer())
    await answerer.setRemoteDescription(offerer.localDescription)
    await answerer.setLocalDescription(await answerer.createAnswer())
    await offerer.setRemoteDescription(answerer.localDescription)
    await asyncio.wait_for(opened.wait(), 10)
    elapsed = time.perf_counter() - start
    await offerer.close()
    await answerer.close()
    return elapsed


def new_session(client: Any, config: SessionConfig = TEXT, **kwargs: Any) -> RealtimeSession:
    return RealtimeSession(UnifiedSignaling(client), config, **kwargs)


async def session_ready(client: Any) -> float:
    session = new_session(client)
    start = time.perf_counter()
    await session.start()
    elapsed = time.perf_counter() - start
    await session.close()
    return elapsed


async def turn_overheads(client: Any, peer: LocalRealtimePeer, turns: int) -> list[float]:
    session = new_session(client)
    await session.start()
    call = peer.call()
    overheads: list[float] = []
    for index in range(turns + 5):
        start = time.perf_counter()
        await session.ask(f"turn number {index}")
        total = time.perf_counter() - start
        if index >= 5:  # warm
            overheads.append(total - call.response_seconds[-1])
    await session.close()
    return overheads


async def cpu_per_audio_minute(client: Any, peer: LocalRealtimePeer, seconds: float) -> float:
    config = SessionConfig(model="gpt-realtime", output_modality="audio", voice="marin")
    mic = PcmSourceTrack(SilenceReader(), rate=24000)
    session = new_session(client, config, microphone=mic, speaker=NullSink())
    await session.start()
    call = peer.call()
    call.speech.play(tone(seconds))
    cpu_start = time.process_time()
    await asyncio.sleep(seconds)
    cpu = time.process_time() - cpu_start
    assert call.mic_frames > seconds * 40, call.mic_frames
    pump = session.audio_pump
    assert pump is not None
    assert pump.frames > seconds * 40, pump.frames
    await session.close()
    return cpu * 60 / seconds


async def rss_growth(client: Any, sessions: int) -> tuple[float, float]:
    async def one() -> None:
        session = new_session(client)
        await session.start()
        await session.ask("hi")
        await session.close()

    for _ in range(20):
        await one()
    gc.collect()
    before = rss_mb()
    for _ in range(sessions):
        await one()
    gc.collect()
    return before, rss_mb()


async def idle_sessions_cpu(count: int, seconds: float, *, decode: bool = False) -> float:
    """Share of one core this process spends holding `count` open text sessions.

    `decode`: give them a (null) speaker, so the audio is decoded as it was before text sessions
    dropped it: the comparison in the same run.
    """
    peer = PeerProcess()
    await peer.start()
    client = Endpoint.create("custom", VALID_KEY, peer.base_url).client()
    speaker = {"speaker": NullSink()} if decode else {}
    sessions = [new_session(client, **speaker) for _ in range(count)]
    try:
        for session in sessions:
            await session.start()
        await asyncio.sleep(1)
        cpu_start = time.process_time()
        await asyncio.sleep(seconds)
        return (time.process_time() - cpu_start) / seconds
    finally:
        for session in sessions:
            await session.close()
        await client.close()
        await peer.close()


async def main(args: argparse.Namespace) -> dict[str, Any]:
    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]  # type: ignore[assignment]
    peer = LocalRealtimePeer(keep_calls=False)
    await peer.start()
    client = Endpoint.create("custom", VALID_KEY, peer.base_url).client()
    try:
        for _ in range(3):  # warm imports and codecs
            await bare_connect()
            await session_ready(client)
        bare: list[float] = []
        ready: list[float] = []
        for _ in range(args.connects):  # interleaved, so drift hits both alike
            bare.append(await bare_connect())
            ready.append(await session_ready(client))
        overhead = await turn_overheads(client, peer, args.turns)
        cpu = await cpu_per_audio_minute(client, peer, args.audio_seconds)
        rss_before, rss_after = await rss_growth(client, args.sessions)
        idle = await idle_sessions_cpu(args.idle_sessions, args.idle_seconds)
        idle_decoding = await idle_sessions_cpu(args.idle_sessions, args.idle_seconds, decode=True)
    finally:
        await client.close()
        await peer.close()
    return {
        "session_ready_p50_ms": round(p50(ready) * 1000, 1),
        "bare_aiortc_connect_p50_ms": round(p50(bare) * 1000, 1),
        "ready_to_bare_ratio": round(p50(ready) / p50(bare), 2),
        "turn_overhead_p50_ms": round(p50(overhead) * 1000, 2),
        "turn_overhead_p95_ms": round(p95(overhead) * 1000, 2),
        "cpu_seconds_per_audio_minute": round(cpu, 2),
        "rss_before_mb": round(rss_before, 1),
        "rss_after_mb": round(rss_after, 1),
        "rss_growth_mb": round(rss_after - rss_before, 1),
        "idle_sessions_cpu_percent": round(idle * 100, 1),
        "idle_sessions_decoding_cpu_percent": round(idle_decoding * 100, 1),
        "idle_decoding_to_dropping_ratio": round(idle_decoding / idle, 1),
        "samples": {
            "connects": args.connects,
            "turns": args.turns,
            "audio_seconds": args.audio_seconds,
            "sessions": args.sessions,
            "idle_sessions": args.idle_sessions,
            "idle_seconds": args.idle_seconds,
        },
    }


def report(results: dict[str, Any]) -> str:
    s = results["samples"]
    return "\n".join(
        [
            "| measure | result | goal |",
            "|---|---|---|",
            f"| session ready, p50 ({s['connects']} runs) | {results['session_ready_p50_ms']} ms |"
            " |",
            f"| bare two-peer aiortc connect, p50 | {results['bare_aiortc_connect_p50_ms']} ms | |",
            f"| ready / bare | **{results['ready_to_bare_ratio']}x** | ≤ 1.5x |",
            f"| turn overhead over the peer's time, warm, p50 ({s['turns']} turns) |"
            f" **{results['turn_overhead_p50_ms']} ms** (p95 {results['turn_overhead_p95_ms']}) |"
            " ≤ 5 ms |",
            f"| CPU per minute of full-duplex audio (client + peer in one process) |"
            f" {results['cpu_seconds_per_audio_minute']} s | |",
            f"| RSS growth over {s['sessions']} sequential sessions |"
            f" **{results['rss_growth_mb']} MB** ({results['rss_before_mb']} →"
            f" {results['rss_after_mb']} MB) | ≤ 5 MB |",
            f"| CPU of {s['idle_sessions']} idle text sessions, the peer sending audio all the time"
            f" (this process only) | **{results['idle_sessions_cpu_percent']}%** of a core"
            f" (decoding it: {results['idle_sessions_decoding_cpu_percent']}%,"
            f" {results['idle_decoding_to_dropping_ratio']}x) | |",
        ]
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connects", type=int, default=20)
    parser.add_argument("--turns", type=int, default=50)
    parser.add_argument("--audio-seconds", type=float, default=10.0)
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--idle-sessions", type=int, default=50)
    parser.add_argument("--idle-seconds", type=float, default=5.0)
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "results.md")
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    results = asyncio.run(main(arguments))
    publish(
        arguments.output,
        "Benchmark results",
        "this repository's machine (2 cores)",
        report(results),
        results,
    )
