"""Home Assistant's chat sessions, the same way on every release we support.

From 2026.11, `async_get_chat_session` takes the context of the user a conversation is for (the
first one owns it); a caller acting for nobody, such as a satellite starting a conversation,
passes None. Before 2026.11 there was no such argument.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
import inspect

from homeassistant.core import Context, HomeAssistant
from homeassistant.helpers import chat_session

_TAKES_CONTEXT = "context" in inspect.signature(chat_session.async_get_chat_session).parameters


def async_get_chat_session(
    hass: HomeAssistant, conversation_id: str | None, context: Context | None
) -> AbstractContextManager[chat_session.ChatSession]:
    """The chat session of `conversation_id` (a new one for None), for `context`'s user."""
    if _TAKES_CONTEXT:
        return chat_session.async_get_chat_session(  # type: ignore[call-arg,unused-ignore]
            hass, conversation_id, context=context
        )
    return chat_session.async_get_chat_session(hass, conversation_id)
