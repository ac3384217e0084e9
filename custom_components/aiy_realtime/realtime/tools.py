"""Running the model's function calls through a handler the caller gives."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
import json
import logging
from typing import Any

from .responses import ToolCall

_LOGGER = logging.getLogger(__name__)

type ToolHandler = Callable[[str, dict[str, Any]], Awaitable[Any]]
"""Called with the tool's name and parsed arguments; returns a JSON-able result or a string."""


class UnknownToolError(Exception):
    """A handler raises this for a tool it does not offer."""


async def run_tool_call(handler: ToolHandler | None, call: ToolCall) -> str:
    """The `function_call_output` text for a call: the result, or an error the model can read.

    Never raises: the model waits for an output to every call it makes.
    """
    try:
        arguments = json.loads(call.arguments) if call.arguments.strip() else {}
    except json.JSONDecodeError as err:
        return json.dumps({"error": f"arguments are not valid JSON: {err.msg}"})
    if not isinstance(arguments, dict):
        return json.dumps({"error": "arguments must be a JSON object"})
    if handler is None:
        return json.dumps({"error": f"unknown tool: {call.name}"})
    try:
        result = await handler(call.name, arguments)
    except UnknownToolError:
        return json.dumps({"error": f"unknown tool: {call.name}"})
    except Exception as err:
        _LOGGER.debug("tool %s failed", call.name, exc_info=True)
        return json.dumps({"error": f"{type(err).__name__}: {err}"})
    if isinstance(result, str):
        return result
    return json.dumps(result, default=str)
