"""A pretend model for offline development: it turns things on and off, and says goodbye.

In a voice session (the demo terminal of scripts/develop) it also greets, says what it is asked
to say (announcements, `start_conversation`) and says goodbye when the session ends. What the
user said comes from `Script.hears`: nobody speaks into the demo's null-sink microphone, so
`scripts/say` tells the peer (`POST /_peer/hear`) what the next speech it hears means, then plays
that speech into the microphone.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from .script import Rule, Script

if TYPE_CHECKING:
    from .http import LocalRealtimePeer

GREETING = "Hello, this is the offline demo. What can I do for you?"
GOODBYE = "Goodbye!"


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
    return DemoScript(
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
        # Speech (a tone) about as long as spoken words: a voice terminal's states can be seen.
        seconds_per_word=0.3,
        delay_per_delta=0.03,
    )


# -- what a response's instructions make the demo say -----------------------------------------

_WORD_FOR_WORD = re.compile(r"\b(?:word for word|exactly)\b[^:]*:\s*(?P<text>.+)$", re.I | re.S)
"""An announcement: "Say exactly the following …: {text}" (the integration's SAY_EXACTLY)."""
_GREET = re.compile(r"\b(?:greet|hello|welcome)", re.I)


def spoken(instructions: str) -> str:
    """What the demo says when a response comes with these instructions: as a model would
    follow them, roughly (the plain peer says the instructions themselves). What the response
    asks for is their last paragraph: the session's own instructions may come first."""
    asked = instructions.rsplit("\n\n", 1)[-1].strip()
    if found := _WORD_FOR_WORD.search(asked):
        return found.group("text").strip()
    if _GREET.search(asked):
        return GREETING
    if "goodbye" in asked.lower():
        return GOODBYE
    return asked


class DemoScript(Script):
    """The demo's model: its rules, and responses asked for with instructions say what those
    instructions ask for."""

    def reply_to_instructions(self, instructions: str) -> str:
        return spoken(instructions)


def use_demo(peer: LocalRealtimePeer) -> None:
    """Make `peer` the demo model."""
    peer.script = demo_script()
