"""What a session may leave behind when it ends badly: the client's peer connections, asyncio
tasks of the integration or of aiortc/aioice, and subprocesses (recorders, players)."""

from __future__ import annotations

import asyncio
import gc
import os
from pathlib import Path

from aiortc import RTCPeerConnection

from tests.peer import LocalRealtimePeer

_OURS = ("custom_components/aiy_realtime", "/aiortc/", "/aioice/")


def open_client_connections(peer: LocalRealtimePeer | None = None) -> int:
    """The client's RTCPeerConnections not closed yet (the peer's own are told apart, when it
    runs in this process)."""
    peers = {id(call.pc) for call in peer.all_calls} if peer is not None else set()
    return sum(
        1
        for obj in gc.get_objects()
        if isinstance(obj, RTCPeerConnection)
        and id(obj) not in peers
        and obj.connectionState != "closed"
    )


def running_tasks() -> list[str]:
    """Tasks running code of the integration, aiortc or aioice (the peer's are not counted)."""
    found = []
    for task in asyncio.all_tasks():
        if task.done() or task is asyncio.current_task():
            continue
        code = getattr(task.get_coro(), "cr_code", None)
        filename = code.co_filename if code is not None else ""
        if any(part in filename for part in _OURS) and "/tests/peer/" not in filename:
            found.append(f"{task.get_name()} {code.co_qualname if code else ''}")
    return found


def child_processes(*allowed: int) -> list[str]:
    """Live child processes of this test run, but `allowed` (the test's PulseAudio server)."""
    me = str(os.getpid())
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in allowed:
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces and parentheses
        comm, rest = stat[stat.index("(") + 1 : stat.rindex(")")], stat[stat.rindex(")") + 2 :]
        state, ppid = rest.split()[:2]
        if ppid == me and state != "Z":
            found.append(f"{entry.name} {comm}")
    return found
