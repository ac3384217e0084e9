"""Home Assistant's tools, as the model calls them through the chat log: bounded in time, and a
failure of any kind an error the model can read.

The chat log turns a tool's `HomeAssistantError` (and invalid arguments) into an error result for
the model; any other exception would end the whole turn, and a tool that never returns would hold
it until the turn's own timeout closed the session.
"""

from __future__ import annotations

import asyncio
from dataclasses import fields
from typing import override

import probatio

from homeassistant.components.conversation import ChatLog
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import llm

from ..const import LOGGER

TOOL_TIMEOUT = 30.0
"""Seconds a tool may take before the model is told it did not finish."""


class GuardedAPIInstance(llm.APIInstance):
    """An API instance whose tool calls end in a result or a `HomeAssistantError`."""

    @override
    def __post_init__(self) -> None:
        """The tools were checked when the instance this one copies was made."""

    @classmethod
    def around(cls, api: llm.APIInstance) -> GuardedAPIInstance:
        if isinstance(api, GuardedAPIInstance):
            return api
        return cls(**{field.name: getattr(api, field.name) for field in fields(api)})

    @override
    async def async_call_tool(self, tool_input: llm.ToolInput) -> llm.ToolResult:
        try:
            async with asyncio.timeout(TOOL_TIMEOUT):
                return await super().async_call_tool(tool_input)
        except HomeAssistantError, probatio.Invalid:
            raise
        except TimeoutError as err:
            raise HomeAssistantError(
                f"{tool_input.tool_name} did not finish within {TOOL_TIMEOUT:g} s"
            ) from err
        except Exception as err:
            LOGGER.debug("Tool %s failed", tool_input.tool_name, exc_info=True)
            raise HomeAssistantError(f"{tool_input.tool_name} failed: {err!r}") from err


def guard_tools(chat_log: ChatLog) -> None:
    """Have the chat log call its tools through a `GuardedAPIInstance`."""
    if chat_log.llm_api is not None:
        chat_log.llm_api = GuardedAPIInstance.around(chat_log.llm_api)
