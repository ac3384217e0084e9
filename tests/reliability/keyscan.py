"""Looking for the API key everywhere a user or a bug report could see it: every log record
made (DEBUG for the integration and its libraries, see conftest.DEBUG_LOGGERS; the root logger's
level for the rest), every event fired, every state and attribute, and the entry's
diagnostics."""

from __future__ import annotations

from collections import Counter
import json
import logging
from typing import Any

KEY = "sk-aiy-reliability-Zq7xW4pLk9Tn2Rv8"
"""The suite's API key: long and odd enough that it never appears by chance."""


def _text(value: Any) -> str:
    return json.dumps(value, default=repr, ensure_ascii=False)


class KeyScan(logging.Handler):
    """Counts what it looked at, per place, and keeps where the key was found."""

    def __init__(self, key: str = KEY) -> None:
        super().__init__(logging.NOTSET)
        self.key = key
        self.seen: Counter[str] = Counter()
        self.found: list[str] = []
        self._formatter = logging.Formatter()

    def look(self, where: str, text: str) -> None:
        self.seen[where] += 1
        if self.key in text:
            self.found.append(f"{where}: {text[:300]}")

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.exc_info:
            text += self._formatter.formatException(record.exc_info)
        if record.stack_info:
            text += record.stack_info
        self.look("log records", f"{record.name}: {text}")

    def event(self, event_type: str, data: Any) -> None:
        self.look("events", f"{event_type} {_text(data)}")

    def state(self, entity_id: str, state: str, attributes: Any) -> None:
        self.look("states and attributes", f"{entity_id}={state} {_text(attributes)}")

    def diagnostics(self, data: Any) -> None:
        self.look("diagnostics", _text(data))


SCAN = KeyScan()
"""One scan over the whole run (per process: a pytest-xdist worker hands its count on)."""
