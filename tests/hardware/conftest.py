"""Hardware tests run without Home Assistant, on real processes and a real PulseAudio server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
import os
from pathlib import Path
import threading

import pytest


@pytest.fixture(autouse=True)
def load_this_integration() -> None:
    """No Home Assistant here (overrides the HA fixture of the same name)."""


def child_processes() -> set[int]:
    """Process ids of this process's children (any thread's), zombies included."""
    found: set[int] = set()
    for children in Path(f"/proc/{os.getpid()}/task").glob("*/children"):
        found.update(int(pid) for pid in children.read_text().split())
    return found


@pytest.fixture(autouse=True)
async def nothing_left_running() -> AsyncGenerator[None]:
    """Each test ends with no process, task or thread of its own still there."""
    processes = child_processes()
    threads = set(threading.enumerate())
    yield
    await asyncio.sleep(0)  # done callbacks of what just ended
    here = asyncio.current_task()
    tasks = [task for task in asyncio.all_tasks() if task is not here and not task.done()]
    assert tasks == [], "tasks left running"
    assert child_processes() - processes == set(), "processes left running"
    assert set(threading.enumerate()) - threads == set(), "threads left running"
