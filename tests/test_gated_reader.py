"""The half-duplex gate mutes by when sound was captured: a microphone read late still holds
the assistant's echo, and it must stay silent after the gate opens."""

from __future__ import annotations

import asyncio
import time

from custom_components.aiy_realtime.terminal.session import GatedReader

RATE = 16000
CHUNK = 640  # 20 ms of 16 kHz mono S16


class BacklogReader:
    """A microphone whose first `backlog` chunks were captured before anyone read them (as a
    busy loop finds them), then one chunk per 20 ms as a card delivers."""

    def __init__(self, backlog: int) -> None:
        self.backlog = backlog
        self.started = time.monotonic() - backlog * 0.02
        self.chunks = 0

    async def read(self, size: int) -> bytes:
        due = self.started + (self.chunks + 1) * 0.02
        if (wait := due - time.monotonic()) > 0:
            await asyncio.sleep(wait)
        self.chunks += 1
        return b"\x01\x02" * (size // 2)

    async def close(self) -> None:
        """Nothing to free."""


async def test_echo_captured_before_the_gate_opened_stays_silent() -> None:
    reader = BacklogReader(backlog=10)
    gate = GatedReader(reader, rate=RATE)
    gate.open = False
    first = await gate.read(CHUNK)  # also tells the gate the microphone's clock
    assert first == bytes(CHUNK)
    gate.hear_from(time.monotonic())
    heard = [await gate.read(CHUNK) for _ in range(15)]
    silent = [chunk == bytes(CHUNK) for chunk in heard]
    # The 9 chunks left of the backlog were captured before the gate opened: all silent.
    assert silent[:9] == [True] * 9
    # What the microphone captures after it opened comes through.
    assert silent[-4:] == [False] * 4


async def test_an_open_gate_hands_everything_on() -> None:
    gate = GatedReader(BacklogReader(backlog=3), rate=RATE)
    assert [await gate.read(CHUNK) for _ in range(5)] == [b"\x01\x02" * (CHUNK // 2)] * 5
