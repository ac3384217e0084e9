"""What the integration itself tells the model (not the user): in English, which every Realtime
model follows whatever language it then speaks."""

from __future__ import annotations

GOODBYE = "The user is leaving: say a short goodbye."
TIME_IS_UP = (
    "This conversation has reached its time limit: tell the user so in one short sentence, "
    "and say goodbye."
)


def say_exactly(text: str) -> str:
    """Instructions to say `text` word for word (an announcement, a question, a greeting)."""
    return f"Say exactly the following to the user, word for word, and nothing else: {text}"


def you_asked(question: str) -> str:
    """Context for a session that asks a question and only listens for the answer."""
    return f"You asked the user: {question}"
