"""Load through a real Home Assistant core (scripts/bench): many turns, many conversations at once.

- 1000 sequential agent turns, in conversations of ten turns (a conversation's warm session
  answers its ten; then the conversation ends the way Home Assistant ends it, its chat session
  expiring, which closes the session and hangs up its call).
- 50 concurrent conversations: 50 warm sessions, all answering in the same instant, ten rounds.

Every turn must answer (`action_done` with the peer's words); any other result, exception, or a
warning or error logged by the integration, aiortc or aioice is counted as an error. Memory is the
resident set of Home Assistant's process (this one) at the start, once warm, and at the end; and
after the load what is left is counted: our sessions, the client's open peer connections, the
integration's and aiortc's running tasks, the calls the peer still has open.
"""

from __future__ import annotations

import argparse
import asyncio
from collections import Counter
from datetime import timedelta
import gc
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
from homeassistant.helpers import chat_session, entity_registry as er  # noqa: E402
from homeassistant.util import dt as dt_util  # noqa: E402

from benchmarks.common import p50, p95, publish  # noqa: E402
from benchmarks.home import home_assistant  # noqa: E402
from benchmarks.peer_process import PeerProcess  # noqa: E402
from custom_components.aiy_realtime.const import DOMAIN  # noqa: E402
from custom_components.aiy_realtime.flows.assistant import recommended_agent  # noqa: E402
from tests.reliability.leaks import open_client_connections, running_tasks  # noqa: E402

WATCHED_LOGGERS = ("custom_components.aiy_realtime", "aiortc", "aioice")


class Problems(logging.Handler):
    """Warnings and errors the integration, aiortc or aioice log while the load runs."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.seen: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(WATCHED_LOGGERS):
            self.seen[f"{record.levelname} {record.name}: {record.getMessage()[:120]}"] += 1


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError("no VmRSS")


class Turns:
    """Runs turns and keeps what they took and what went wrong."""

    def __init__(self, hass: HomeAssistant, agent_id: str) -> None:
        self.hass = hass
        self.agent_id = agent_id
        self.seconds: list[float] = []
        self.errors: Counter[str] = Counter()

    async def one(self, conversation_id: str, number: int) -> None:
        text = f"turn {number} of {conversation_id}"
        start = time.perf_counter()
        try:
            result = await conversation.async_converse(
                self.hass, text, conversation_id, Context(), agent_id=self.agent_id
            )
        except Exception as err:
            self.errors[f"{type(err).__name__}: {err}"] += 1
            return
        self.seconds.append(time.perf_counter() - start)
        said = result.response.speech.get("plain", {}).get("speech", "")
        if result.response.response_type.value != "action_done" or said != f"You said: {text}":
            self.errors[f"{result.response.response_type.value}: {said[:120]}"] += 1


def end_conversations(hass: HomeAssistant) -> None:
    """Every chat session ends as if five idle minutes had passed: Home Assistant's own clean-up
    (the one its timer runs) with a clock six minutes on, so each warm session closes with it.
    Its pending timer is cancelled first, as running it would (the clean-up schedules the next
    one itself: two would each hold a context, and the chat logs in it, for five minutes)."""
    cleanup = hass.data.get(chat_session.DATA_CHAT_SESSION_CLEANUP)
    if cleanup is not None:
        if cleanup.unsub is not None:
            cleanup.unsub()
        cleanup._cleanup(dt_util.utcnow() + timedelta(minutes=6))


async def left_over(hass: HomeAssistant, entry: Any, peer: PeerProcess) -> dict[str, int]:
    """What is still open a moment after every conversation ended."""
    end_conversations(hass)
    for _ in range(100):
        await asyncio.sleep(0.1)
        stats = await peer.get("/_peer/stats")
        if not stats["calls"] and open_client_connections() == 0:
            break
    gc.collect()
    return {
        "sessions": len(entry.runtime_data.sessions.conversations()),
        "client_peer_connections": open_client_connections(),
        "tasks": len(running_tasks()),
        "peer_calls": len((await peer.get("/_peer/stats"))["calls"]),
    }


async def sequential(turns: Turns, count: int, per_conversation: int) -> dict[str, Any]:
    """`count` turns one after another; memory noted after each tenth (warm: the first) and at
    the end."""
    memory: dict[str, Any] = {"start": rss_mib()}
    tenths: list[float] = []
    for number in range(count):
        conversation_id = f"seq-{number // per_conversation}"
        await turns.one(conversation_id, number)
        if (number + 1) % per_conversation == 0:
            end_conversations(turns.hass)
        if (number + 1) % (count // 10) == 0:
            if "warm" not in memory:
                memory["warm"] = rss_mib()
            tenths.append(rss_mib())
    await asyncio.sleep(0.5)  # the last conversation's call hangs up
    gc.collect()
    memory["end"] = rss_mib()
    memory["each_tenth"] = tenths
    return memory


async def concurrent(turns: Turns, conversations: int, rounds: int) -> dict[str, float]:
    """`conversations` conversations answering at the same instant, `rounds` times."""
    ids = [f"many-{n}" for n in range(conversations)]
    memory = {"start": rss_mib()}
    for round_ in range(rounds):
        await asyncio.gather(*(turns.one(cid, round_) for cid in ids))
        if round_ == 0:
            memory["warm"] = rss_mib()
    end_conversations(turns.hass)
    await asyncio.sleep(0.5)
    gc.collect()
    memory["end"] = rss_mib()
    return memory


def summary(turns: Turns, seconds: float, memory: dict[str, Any]) -> dict[str, Any]:
    return {
        "turns": len(turns.seconds) + sum(turns.errors.values()),
        "errors": sum(turns.errors.values()),
        "error_kinds": dict(turns.errors.most_common(5)),
        "turn_p50_ms": round(p50(turns.seconds) * 1000, 1) if turns.seconds else None,
        "turn_p95_ms": round(p95(turns.seconds) * 1000, 1) if turns.seconds else None,
        "turns_per_second": round(len(turns.seconds) / seconds, 1),
        "rss_mib": memory,
        "rss_growth_after_warm_mib": round(memory["end"] - memory["warm"], 1),
    }


async def main(args: argparse.Namespace) -> dict[str, Any]:
    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]  # type: ignore[assignment]
    problems = Problems()
    logging.getLogger().addHandler(problems)
    peer = PeerProcess("--quiet-when-idle")
    await peer.start()
    os.environ["OPENAI_BASE_URL"] = peer.base_url
    results: dict[str, Any] = {}
    try:
        async with home_assistant(recommended_agent()) as (hass, entry):
            (subentry_id,) = entry.subentries
            agent_id = er.async_get(hass).async_get_entity_id("conversation", DOMAIN, subentry_id)
            assert agent_id is not None
            results["rss_before_any_turn_mib"] = rss_mib()

            turns = Turns(hass, agent_id)
            start = time.perf_counter()
            memory = await sequential(turns, args.turns, args.per_conversation)
            results["sequential"] = summary(turns, time.perf_counter() - start, memory)
            results["sequential"]["left_over"] = await left_over(hass, entry, peer)

            turns = Turns(hass, agent_id)
            start = time.perf_counter()
            memory = await concurrent(turns, args.conversations, args.rounds)
            results["concurrent"] = summary(turns, time.perf_counter() - start, memory)
            results["concurrent"]["left_over"] = await left_over(hass, entry, peer)
            stats = await peer.get("/_peer/stats")
            results["peer_violations"] = len(stats["violations"])
    finally:
        await peer.close()
        logging.getLogger().removeHandler(problems)
    results["logged_problems"] = sum(problems.seen.values())
    results["logged_problem_kinds"] = dict(problems.seen.most_common(5))
    results["samples"] = {
        "turns": args.turns,
        "per_conversation": args.per_conversation,
        "conversations": args.conversations,
        "rounds": args.rounds,
    }
    return results


def report(results: dict[str, Any]) -> str:
    s = results["samples"]
    seq, many = results["sequential"], results["concurrent"]

    def left(part: dict[str, Any]) -> str:
        return ", ".join(f"{what} {count}" for what, count in part["left_over"].items())

    def rss(part: dict[str, Any]) -> str:
        m = part["rss_mib"]
        return (
            f"{m['start']} → {m['warm']} (warm) → {m['end']} MiB;"
            f" **{part['rss_growth_after_warm_mib']:+} MiB** after warm-up"
        )

    return "\n".join(
        [
            "| load | turns | errors | turn p50 / p95 | memory (RSS of HA's process)"
            " | left after |",
            "|---|---|---|---|---|---|",
            f"| sequential turns, {s['per_conversation']} per conversation |"
            f" {seq['turns']} | **{seq['errors']}** |"
            f" {seq['turn_p50_ms']} / {seq['turn_p95_ms']} ms | {rss(seq)} | {left(seq)} |",
            f"| {s['conversations']} concurrent conversations, {s['rounds']} rounds |"
            f" {many['turns']} | **{many['errors']}** |"
            f" {many['turn_p50_ms']} / {many['turn_p95_ms']} ms | {rss(many)} | {left(many)} |",
            "",
            f"Warnings or errors logged by the integration, aiortc or aioice during the run:"
            f" **{results['logged_problems']}**; protocol violations the peer saw:"
            f" **{results['peer_violations']}**.",
        ]
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=1000)
    parser.add_argument("--per-conversation", type=int, default=10)
    parser.add_argument("--conversations", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "load_results.md")
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    results = asyncio.run(main(arguments))
    publish(
        arguments.output,
        "Load benchmark results",
        "this repository's machine (2 cores), through a real Home Assistant core, "
        "the peer in its own process",
        report(results),
        results,
    )
