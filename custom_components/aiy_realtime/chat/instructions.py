"""The system prompt, split into what stays put (the session's instructions) and what changes
every turn (the time), which the conversation is told as an item instead.

Home Assistant adds the time to the prompt, to the second, when no tool tells it; as session
instructions that would cost a `session.update` round trip on every turn.
"""

from __future__ import annotations

import re

from homeassistant.helpers import llm

_TEMPLATE = re.compile(r"\{\{.*?\}\}")


def _rendered(template: str) -> re.Pattern[str]:
    """A pattern for any rendering of a one-line template (its `{{ … }}` parts vary)."""
    parts = _TEMPLATE.split(template.strip())
    return re.compile("[^\n]+?".join(re.escape(part) for part in parts) + "\n?")


_VOLATILE = (_rendered(llm.DATE_TIME_PROMPT),)


def split_prompt(prompt: str) -> tuple[str, str | None]:
    """(instructions, context): the prompt without its volatile lines, and those lines."""
    found: list[str] = []

    def take(match: re.Match[str]) -> str:
        found.append(match.group(0).strip())
        return ""

    for pattern in _VOLATILE:
        prompt = pattern.sub(take, prompt)
    return prompt, "\n".join(found) or None
