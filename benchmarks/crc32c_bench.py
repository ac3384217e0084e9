"""What aiortc's SCTP checksum costs where google-crc32c has only its pure-Python fallback.

google-crc32c has no musllinux wheel, so Home Assistant's official image (musl, no compiler)
builds its sdist into pure Python. Measured in one run, each implementation swapped into
aiortc's SCTP (`aiortc.rtcsctptransport.crc32c`) in turn, rounds interleaved:
- the checksum of one 1200-byte packet (aiortc's data chunks are at most 1200 bytes);
- a text turn (data channel heavy): wall time and this process's CPU per turn;
- a voice session (data channel light: RTP carries the sound): this process's CPU per minute.
The local peer runs in its own process (as OpenAI does), so the CPU counted is the client's.
The fallback is also installed as Home Assistant's image gets it: `uv pip install --no-binary
google-crc32c` of the same version into a temporary directory, with `CC`/`CXX` set to
/bin/false (no compiler) and no cache; its per-packet cost is taken in a child process that
imports it from there. That child checks that the build gave the pure-Python implementation and
that its `python.py` is byte for byte the module the wheel installed here carries
(google_crc32c.python), which the text-turn and voice rows swap into aiortc in this process.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
import importlib.metadata
import json
import logging
import os
from pathlib import Path
import shutil
import subprocess
import sys
import tempfile
import time
import timeit
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aioice.ice  # noqa: E402
from aiortc import rtcsctptransport  # noqa: E402
import google_crc32c  # noqa: E402
from google_crc32c import python as google_python  # noqa: E402

from benchmarks.common import p50, publish  # noqa: E402
from benchmarks.peer_process import PeerProcess  # noqa: E402
from custom_components.aiy_realtime.realtime.audio import NullSink, PcmSourceTrack  # noqa: E402
from custom_components.aiy_realtime.realtime.config import SessionConfig, server_vad  # noqa: E402
from custom_components.aiy_realtime.realtime.endpoint import Endpoint  # noqa: E402
from custom_components.aiy_realtime.realtime.sctp_checksum import crc32c as tables  # noqa: E402
from custom_components.aiy_realtime.realtime.session import RealtimeSession  # noqa: E402
from custom_components.aiy_realtime.realtime.signaling import UnifiedSignaling  # noqa: E402
from tests.peer.http import VALID_KEY  # noqa: E402
from tests.peer.media import RATE, tone  # noqa: E402

type Checksum = Callable[[bytes], int]

IMPLEMENTATIONS: dict[str, Checksum] = {
    "google-crc32c C (glibc wheels)": google_crc32c.value,
    "google-crc32c pure Python (musl today)": google_python.value,
    "sctp_checksum tables (musl with this change)": tables,
}
PACKET = os.urandom(1200)
BUILT = "google-crc32c built with --no-binary, no compiler (a child process)"

FALLBACK_SNIPPET = """
import json, os, sys, timeit, warnings
with warnings.catch_warnings(record=True) as said:
    warnings.simplefilter("always")
    import google_crc32c
from pathlib import Path
packet = os.urandom(1200)
n = 300
print(json.dumps({
    "implementation": google_crc32c.implementation,
    "file": google_crc32c.__file__,
    "python_py": (Path(google_crc32c.__file__).parent / "python.py").read_text(),
    "warning": [str(w.message) for w in said if w.category is RuntimeWarning],
    "seconds": min(timeit.repeat(lambda: google_crc32c.value(packet), number=n, repeat=15)) / n,
}))
"""
UV = shutil.which("uv") or str(ROOT / ".cache" / "tools" / "bin" / "uv")
"""uv as scripts/setup finds it: from PATH, else the copy setup installed into .cache/tools."""


def install_fallback(target: Path) -> str:
    """google-crc32c of the version installed here, built from its sdist with no compiler;
    the log of the install."""
    version = importlib.metadata.version("google-crc32c")
    done = subprocess.run(
        [
            UV,
            "pip",
            "install",
            "--python",
            sys.executable,
            "--target",
            str(target),
            "--no-binary",
            "google-crc32c",
            "--no-deps",
            "--no-cache",
            f"google-crc32c=={version}",
        ],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "CC": "/bin/false", "CXX": "/bin/false"},
    )
    return done.stderr


def per_packet_us(checksum: Checksum) -> float:
    number = 20000 if checksum is google_crc32c.value else 200
    # The least of many short repeats: a neighbour's load on this shared machine only adds time.
    return min(timeit.repeat(lambda: checksum(PACKET), number=number, repeat=15)) / number * 1e6


def fallback_us(target: Path) -> dict[str, Any]:
    """The no-compiler build's per-packet µs, in a child importing it from `target`."""
    done = subprocess.run(
        [sys.executable, "-c", FALLBACK_SNIPPET],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(target)},
    )
    found: dict[str, Any] = json.loads(done.stdout)
    assert found["file"].startswith(str(target)), found["file"]
    assert found["implementation"] == "python", "the build without a compiler has its C path"
    same = found["python_py"] == Path(google_python.__file__).read_text()
    assert same, "the build's python.py is not the module measured in this process"
    return {"us": round(found["seconds"] * 1e6, 2), "warning": found["warning"]}


class Counting:
    """The checksum in use, counting the packets it sees."""

    def __init__(self, checksum: Checksum) -> None:
        self.checksum = checksum
        self.packets = 0
        self.bytes = 0

    def __call__(self, data: bytes) -> int:
        self.packets += 1
        self.bytes += len(data)
        return self.checksum(data)


def use(checksum: Checksum) -> None:
    rtcsctptransport.crc32c = checksum  # type: ignore[attr-defined]


class SpeakingReader:
    """A mic that says something (a 1 s tone) every `every` seconds, silent in between."""

    live = False

    def __init__(self, every: float) -> None:
        self._pcm = tone(1.0) + bytes(int((every - 1.0) * RATE) * 2)
        self._offset = 0

    async def read(self, size: int) -> bytes:
        if self._offset + size > len(self._pcm):
            self._offset = 0
        chunk = self._pcm[self._offset : self._offset + size]
        self._offset += size
        return chunk

    async def close(self) -> None:
        return None


async def text_turns(client: Any, turns: int, rounds: int) -> dict[str, dict[str, float]]:
    """Per implementation: p50 wall ms and mean CPU ms per warm text turn, SCTP packets a turn."""
    session = RealtimeSession(
        UnifiedSignaling(client), SessionConfig(model="gpt-realtime", output_modality="text")
    )
    await session.start()
    walls: dict[str, list[float]] = {name: [] for name in IMPLEMENTATIONS}
    cpus: dict[str, list[float]] = {name: [] for name in IMPLEMENTATIONS}
    packets: dict[str, int] = dict.fromkeys(IMPLEMENTATIONS, 0)
    sizes: dict[str, int] = dict.fromkeys(IMPLEMENTATIONS, 0)
    try:
        for _ in range(3):
            await session.ask("warm up")
        for round_index in range(rounds):
            for name, checksum in IMPLEMENTATIONS.items():
                counting = Counting(checksum)
                use(counting)
                for turn in range(turns):
                    cpu = time.process_time()
                    start = time.perf_counter()
                    await session.ask(f"round {round_index} turn {turn}: what is on?")
                    walls[name].append(time.perf_counter() - start)
                    cpus[name].append(time.process_time() - cpu)
                packets[name] += counting.packets
                sizes[name] += counting.bytes
    finally:
        use(google_crc32c.value)
        await session.close()
    count = turns * rounds
    return {
        name: {
            "wall_p50_ms": round(p50(walls[name]) * 1000, 2),
            "cpu_ms_per_turn": round(sum(cpus[name]) / count * 1000, 2),
            "packets_per_turn": round(packets[name] / count, 1),
            "bytes_per_turn": round(sizes[name] / count),
        }
        for name in IMPLEMENTATIONS
    }


async def voice_session(client: Any, seconds: float, rounds: int) -> dict[str, dict[str, float]]:
    """Per implementation: CPU seconds of this process per minute of a voice session in which
    the user speaks every 6 s and the peer answers (2.8 s of speech, transcripts on the channel).
    """
    mic = PcmSourceTrack(SpeakingReader(every=6.0), rate=RATE)
    session = RealtimeSession(
        UnifiedSignaling(client),
        SessionConfig(
            model="gpt-realtime",
            output_modality="audio",
            voice="marin",
            turn_detection=server_vad(),
        ),
        microphone=mic,
        speaker=NullSink(),
    )
    await session.start()
    cpu_total: dict[str, float] = dict.fromkeys(IMPLEMENTATIONS, 0.0)
    packets: dict[str, int] = dict.fromkeys(IMPLEMENTATIONS, 0)
    sizes: dict[str, int] = dict.fromkeys(IMPLEMENTATIONS, 0)
    try:
        await asyncio.sleep(2)
        for _ in range(rounds):
            for name, checksum in IMPLEMENTATIONS.items():
                counting = Counting(checksum)
                use(counting)
                cpu = time.process_time()
                await asyncio.sleep(seconds)
                cpu_total[name] += time.process_time() - cpu
                packets[name] += counting.packets
                sizes[name] += counting.bytes
    finally:
        use(google_crc32c.value)
        await session.close()
    minutes = seconds * rounds / 60
    return {
        name: {
            "cpu_s_per_minute": round(cpu_total[name] / minutes, 2),
            "packets_per_minute": round(packets[name] / minutes, 1),
            "bytes_per_minute": round(sizes[name] / minutes),
        }
        for name in IMPLEMENTATIONS
    }


async def against_peer[T](peer: PeerProcess, measure: Callable[[Any], Awaitable[T]]) -> T:
    """`measure` with a client of `peer`, both started here and closed after."""
    await peer.start()
    client = Endpoint.create("custom", VALID_KEY, peer.base_url).client()
    try:
        return await measure(client)
    finally:
        await client.close()
        await peer.close()


async def main(args: argparse.Namespace) -> dict[str, Any]:
    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]
    for checksum in IMPLEMENTATIONS.values():
        assert checksum(PACKET) == google_crc32c.value(PACKET)
    packet = {name: round(per_packet_us(f), 2) for name, f in IMPLEMENTATIONS.items()}
    with tempfile.TemporaryDirectory() as target:
        install_log = install_fallback(Path(target))
        built = fallback_us(Path(target))
    packet[BUILT] = built["us"]
    text = await against_peer(PeerProcess(), lambda c: text_turns(c, args.turns, args.rounds))
    voice = await against_peer(
        PeerProcess(module="benchmarks.voice_peer"),
        lambda c: voice_session(c, args.voice_seconds, args.rounds),
    )
    return {
        "per_packet_us": packet,
        "no_binary_build": {
            "install_log": install_log.strip().splitlines()[-3:],
            "warning_at_import": built["warning"],
        },
        "text_turn": text,
        "voice_session": voice,
        "samples": {
            "turns_per_round": args.turns,
            "rounds": args.rounds,
            "voice_seconds_per_round": args.voice_seconds,
        },
    }


def report(results: dict[str, Any]) -> str:
    packet: dict[str, float] = results["per_packet_us"]
    base_packet = packet[next(iter(IMPLEMENTATIONS))]
    text: dict[str, dict[str, float]] = results["text_turn"]
    voice: dict[str, dict[str, float]] = results["voice_session"]
    base_text = text[next(iter(IMPLEMENTATIONS))]
    base_voice = voice[next(iter(IMPLEMENTATIONS))]
    s = results["samples"]
    lines = [
        "| checksum of one 1200-byte SCTP packet | µs | x the C path |",
        "|---|---|---|",
        *(f"| {name} | {us} | {us / base_packet:.0f}x |" for name, us in packet.items()),
        "",
        "| aiortc's SCTP checksum | text turn p50 | CPU per turn | SCTP packets (bytes) a turn |"
        " voice: CPU per minute | SCTP packets (bytes) a minute |",
        "|---|---|---|---|---|---|",
    ]
    for name in IMPLEMENTATIONS:
        t, v = text[name], voice[name]
        lines.append(
            f"| {name} | {t['wall_p50_ms']} ms | {t['cpu_ms_per_turn']} ms"
            f" (+{t['cpu_ms_per_turn'] - base_text['cpu_ms_per_turn']:.2f}) |"
            f" {t['packets_per_turn']} ({t['bytes_per_turn']}) | {v['cpu_s_per_minute']} s"
            f" (+{v['cpu_s_per_minute'] - base_voice['cpu_s_per_minute']:.2f}) |"
            f" {v['packets_per_minute']} ({v['bytes_per_minute']}) |"
        )
    c_name, python_name, tables_name = IMPLEMENTATIONS
    lines += [
        "",
        "Remedy chosen: custom_components/aiy_realtime/realtime/sctp_checksum.py, swapped into"
        " aiortc's SCTP at setup only where google_crc32c reports `implementation == 'python'`"
        " (the C path stays where a wheel has it). Per packet it is"
        f" {packet[python_name] / packet[tables_name]:.0f}x faster than the fallback"
        f" ({packet[tables_name]} against {packet[python_name]} µs); a text turn's CPU is"
        f" {text[tables_name]['cpu_ms_per_turn']} ms with it,"
        f" {text[python_name]['cpu_ms_per_turn']} with the fallback and"
        f" {text[c_name]['cpu_ms_per_turn']} with C. It is pure Python (no wheel to be missing"
        " on musl), has no dependency and no licence to add, and silences"
        " google-crc32c's RuntimeWarning, which is no longer true once it runs. Not chosen:"
        " vendoring a C extension (Home Assistant's image has no compiler, and we would have to"
        " ship musllinux wheels ourselves); the `crc32c` package (LGPL; a further native"
        " dependency to check per platform).",
        "",
    ]
    lines.append(
        f"{s['rounds']} interleaved rounds of {s['turns_per_round']} text turns and"
        f" {s['voice_seconds_per_round']} s of voice per implementation; CPU is this process's"
        " (the client's), the peer runs in its own."
    )
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--voice-seconds", type=float, default=20.0)
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "crc32c_results.md")
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    results = asyncio.run(main(arguments))
    publish(
        arguments.output,
        "aiortc's SCTP checksum on musl",
        "this repository's machine (2 cores)",
        report(results),
        results,
    )
