"""Assist agent benchmarks through a real Home Assistant core (scripts/bench).

The local peer runs in its own process, as OpenAI would be on its own machine; it reports its own
time per response, which is subtracted from what the agent took.

- agent turn overhead: `conversation.async_converse` on a warm conversation, minus the peer's
  time for the response (what HA's chat log, our agent and the Realtime client add).
- 50 concurrent conversations: 50 warm sessions open at once. Turns go round them one at a time
  (does holding 50 sessions slow a turn?), then all 50 answer in the same instant (a burst: the
  overhead then includes waiting for the other 49 on HA's one event loop).
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
import logging
import os
from pathlib import Path
import sys
import time
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aioice.ice  # noqa: E402

from homeassistant.components import conversation  # noqa: E402
from homeassistant.core import Context, HomeAssistant  # noqa: E402
from homeassistant.helpers import entity_registry as er  # noqa: E402

from benchmarks.common import p50, p95, publish  # noqa: E402
from benchmarks.home import home_assistant  # noqa: E402
from benchmarks.peer_process import PeerProcess  # noqa: E402
from custom_components.aiy_realtime.const import DOMAIN  # noqa: E402
from custom_components.aiy_realtime.flows.assistant import recommended_agent  # noqa: E402


async def converse(hass: HomeAssistant, agent_id: str, text: str, conversation_id: str) -> float:
    start = time.perf_counter()
    result = await conversation.async_converse(
        hass, text, conversation_id, Context(), agent_id=agent_id
    )
    elapsed = time.perf_counter() - start
    assert result.response.response_type.value == "action_done", result.response.speech
    return elapsed


async def measured(
    peer: PeerProcess, turns: dict[str, Callable[[], Awaitable[float]]]
) -> tuple[list[float], float]:
    """Run the turns (conversation's first words → turn) at once: each one's overhead, and the
    CPU this process spent on them (not on asking the peer for its times)."""
    before = await peer.stats()
    cpu_start = time.process_time()
    totals = await asyncio.gather(*(turn() for turn in turns.values()))
    cpu = time.process_time() - cpu_start
    after = await peer.stats()
    overheads = [
        total - sum(after[first][len(before[first]) :])
        for first, total in zip(turns, totals, strict=True)
    ]
    return overheads, cpu


async def open_conversations(hass: HomeAssistant, agent_id: str, count: int) -> list[str]:
    ids = [f"bench-{n}" for n in range(count)]
    await asyncio.gather(*(converse(hass, agent_id, f"open {cid}", cid) for cid in ids))
    return ids


def turn(hass: HomeAssistant, agent_id: str, cid: str) -> Callable[[], Awaitable[float]]:
    return lambda: converse(hass, agent_id, "what time is it in the kitchen", cid)


async def run(hass: HomeAssistant, agent_id: str, peer: PeerProcess, args: Any) -> dict[str, Any]:
    (single,) = await open_conversations(hass, agent_id, 1)
    warm: list[float] = []
    for index in range(args.turns + 5):
        overhead, _ = await measured(peer, {f"open {single}": turn(hass, agent_id, single)})
        if index >= 5:
            warm += overhead
    ids = await open_conversations(hass, agent_id, args.conversations)
    round_robin: list[float] = []
    burst: list[float] = []
    burst_cpu = 0.0
    for _ in range(args.rounds):
        for cid in ids:
            overhead, _ = await measured(peer, {f"open {cid}": turn(hass, agent_id, cid)})
            round_robin += overhead
        overhead, cpu = await measured(
            peer, {f"open {cid}": turn(hass, agent_id, cid) for cid in ids}
        )
        burst += overhead
        burst_cpu += cpu
    return {
        "agent_turn_overhead_p50_ms": round(p50(warm) * 1000, 2),
        "agent_turn_overhead_p95_ms": round(p95(warm) * 1000, 2),
        "open_sessions_overhead_p50_ms": round(p50(round_robin) * 1000, 2),
        "open_sessions_overhead_p95_ms": round(p95(round_robin) * 1000, 2),
        "burst_overhead_p50_ms": round(p50(burst) * 1000, 2),
        "burst_overhead_p95_ms": round(p95(burst) * 1000, 2),
        "burst_cpu_per_turn_ms": round(burst_cpu / len(burst) * 1000, 2),
        "samples": {
            "turns": args.turns,
            "conversations": args.conversations,
            "rounds": args.rounds,
        },
    }


async def main(args: argparse.Namespace) -> dict[str, Any]:
    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]  # type: ignore[assignment]
    peer = PeerProcess("--quiet-when-idle")
    await peer.start()
    os.environ["OPENAI_BASE_URL"] = peer.base_url
    try:
        async with home_assistant(recommended_agent()) as (hass, entry):
            (subentry_id,) = entry.subentries
            agent_id = er.async_get(hass).async_get_entity_id("conversation", DOMAIN, subentry_id)
            assert agent_id is not None
            results = await run(hass, agent_id, peer, args)
    finally:
        await peer.close()
    return results


def report(results: dict[str, Any]) -> str:
    s = results["samples"]
    n = s["conversations"]
    return "\n".join(
        [
            "| measure | result | goal |",
            "|---|---|---|",
            f"| agent turn overhead over the peer's time, warm, p50 ({s['turns']} turns) |"
            f" **{results['agent_turn_overhead_p50_ms']} ms**"
            f" (p95 {results['agent_turn_overhead_p95_ms']}) | ≤ 5 ms |",
            f"| {n} concurrent conversations (sessions open), overhead per turn, p95"
            f" ({s['rounds']}x{n} turns) | **{results['open_sessions_overhead_p95_ms']} ms**"
            f" (p50 {results['open_sessions_overhead_p50_ms']}) | ≤ 20 ms |",
            f"| {n} conversations answering in the same instant, overhead per turn, p95"
            f" ({s['rounds']} bursts) | {results['burst_overhead_p95_ms']} ms"
            f" (p50 {results['burst_overhead_p50_ms']}) | |",
            f"| CPU of Home Assistant's process per turn in those bursts |"
            f" {results['burst_cpu_per_turn_ms']} ms | |",
        ]
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=50)
    parser.add_argument("--conversations", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "agent_results.md")
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    results = asyncio.run(main(arguments))
    publish(
        arguments.output,
        "Agent benchmark results",
        "this repository's machine (2 cores), through a real Home Assistant core, "
        "the peer in its own process",
        report(results),
        results,
    )
