"""A pretend model for offline development: it turns things on and off, and says goodbye."""

from __future__ import annotations

import json
import re
from typing import Any

from .script import Rule, Script


def _target(verb: str) -> Any:
    pattern = re.compile(rf"{verb}\s+(?:the\s+)?(.+?)[.!?]*$", re.IGNORECASE)

    def arguments(user_text: str) -> dict[str, Any]:
        found = pattern.search(user_text)
        return {"name": found.group(1).strip() if found else user_text}

    return arguments


def _outcome(output: str) -> str:
    """What Home Assistant answered, in a sentence."""
    try:
        data = json.loads(output)
    except ValueError:
        return f"Home Assistant answered: {output}"
    if data.get("response_type") == "action_done":
        names = [t.get("name") for t in data.get("data", {}).get("success", [])]
        return f"Done: {', '.join(n for n in names if n) or 'OK'}."
    if "error" in data:
        return f"Home Assistant refused: {data.get('error_text') or data['error']}"
    return f"Home Assistant answered: {output}"


def demo_script() -> Script:
    return Script(
        rules=[
            Rule("turn on", tool="HassTurnOn", arguments=_target("turn on"), then=_outcome),
            Rule("turn off", tool="HassTurnOff", arguments=_target("turn off"), then=_outcome),
            Rule("goodbye", tool="end_session", then="Goodbye! This was the offline demo."),
            Rule(
                "help",
                say="I am the offline demo model. Try: turn on the kitchen light, "
                "turn off the kitchen light, or goodbye.",
            ),
        ],
        seconds_per_word=0.06,
        delay_per_delta=0.03,
    )
