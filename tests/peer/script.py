"""What the peer's model says and does, scripted per test."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
import json
from typing import Any


@dataclass(slots=True)
class Rule:
    """When the user's message contains `when`, call `tool` with `arguments`, then say `then`.

    `arguments` may be a dict (sent as JSON), a raw string (to send bad JSON on purpose) or a
    function of the user's text. `then` may use `{output}` for the tool's output, or be a function
    of it.
    `tool` names a session tool exactly or by its last `__` part (`HassTurnOn` finds
    `intent__HassTurnOn`); a name the session lacks is called anyway, like a model that errs.
    """

    when: str
    tool: str | None = None
    arguments: dict[str, Any] | str | Callable[[str], dict[str, Any]] = field(default_factory=dict)
    then: str | Callable[[str], str] = "Done."
    say: str | None = None
    """With no tool: the reply."""
    repeat: bool = False
    """Call the tool again after every output (a model stuck in a loop)."""
    also: tuple[tuple[str, dict[str, Any]], ...] = ()
    """More calls (tool, arguments) in the same response as `tool`'s, as a reasoning model
    makes them when the session allows `parallel_tool_calls`; without it, only `tool` is
    called. `then` gets every output, joined by "; "."""
    ends: str = "completed"
    """How the response with the call ends: `incomplete` (out of tokens) or `cancelled` (the
    user spoke over it) leave a call the client must not run."""

    def reply_after(self, output: str) -> str:
        if callable(self.then):
            return self.then(output)
        return self.then.replace("{output}", output)

    def arguments_json(self, user_text: str) -> str:
        if isinstance(self.arguments, str):
            return self.arguments
        if callable(self.arguments):
            return json.dumps(self.arguments(user_text))
        return json.dumps(self.arguments)


@dataclass(slots=True)
class Script:
    rules: list[Rule] = field(default_factory=list)
    seconds_per_word: float = 0.06
    delay_per_delta: float = 0.0
    """A slow model: seconds between deltas."""
    delay_before_response: float = 0.0
    hears: deque[str] = field(default_factory=deque)
    """What the user says, utterance by utterance: each turn the peer hears (speech its VAD
    detects, or a client's commit) takes the next one as what the model understood and as its
    transcript. With none left the transcription fails and the model understood nothing."""
    transcript_delay: float = 0.0
    """Seconds before a user's transcription arrives: late enough, after the answer has begun
    (as at OpenAI), so a client must place it by its item id, not by its arrival."""
    on_idle: str = "Are you still there?"
    """What the model says when the user stayed silent for the idle timeout."""
    not_understood: str = "Sorry, I did not catch that."
    """The reply to a user's turn with nothing understood in it."""

    def rule_for(self, user_text: str) -> Rule | None:
        return next((r for r in self.rules if r.when.lower() in user_text.lower()), None)

    def reply_to_instructions(self, instructions: str) -> str:
        """What the pretend model says when a response brings its own instructions: the text it
        is told to say word for word, else the last paragraph (what was asked on top of the
        session's instructions, which come first)."""
        asked = instructions.rsplit("\n\n", 1)[-1].strip()
        marker = "word for word, and nothing else:"
        if marker in asked:
            return asked.split(marker, 1)[1].strip()
        return asked

    def reply(self, user_text: str) -> str:
        rule = self.rule_for(user_text)
        if rule is not None and rule.say is not None:
            return rule.say
        if not user_text.strip():
            return self.not_understood
        return f"You said: {user_text}"
