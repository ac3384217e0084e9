"""Stand-ins for recorders and players, and how to tell a process is gone."""

from __future__ import annotations

import os
import sys


def python_command(code: str) -> list[str]:
    """A tiny stand-in for a recorder or player: this Python running `code`."""
    return [sys.executable, "-c", code]


def process_gone(pid: int) -> bool:
    """True once the process has exited and been reaped (a zombie still counts as there)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False
