"""The `llm` platform: LLM tools of this integration, offered to its own agents only.

Home Assistant's `llm` integration loads it by name (as `conversation.py` and the other
platforms), so it stays at the top; what the tool changes, the running turn, is in `chat/`.
"""

from __future__ import annotations

from typing import override

from homeassistant.components.llm import LLMTools
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import llm

from .chat.conversation import current_turn
from .const import DOMAIN


class EndSessionTool(llm.Tool):
    """The model ends the conversation's Realtime session once it has said goodbye."""

    name = f"{DOMAIN}__end_session"
    title = "End session"
    description = (
        "End this conversation when the user says goodbye or asks you to stop. "
        "Call it, then say a short goodbye: the session closes when you have finished speaking."
    )
    annotations = llm.ToolAnnotations(destructive=False, idempotent=True, open_world=False)
    integration = DOMAIN

    @override
    async def async_call(
        self, hass: HomeAssistant, tool_input: llm.ToolInput, llm_context: llm.LLMContext
    ) -> llm.ToolResult:
        turn = current_turn.get()
        if turn is not None:
            turn.end_requested = True
            return llm.ToolResult(
                data={"ended": True, "note": "The session closes after your reply."}
            )
        return llm.ToolResult(
            data={"error": "No Realtime session is open for this conversation."}, error=True
        )


@callback
def async_get_tools(
    hass: HomeAssistant, llm_context: llm.LLMContext, api_id: str
) -> LLMTools | None:
    """Our tools, when one of our agents asks; other agents have no session to end."""
    if llm_context.platform != DOMAIN:
        return None
    return LLMTools(tools=[EndSessionTool()])
