"""Home Assistant's LLM tools as Realtime function tools, under names OpenAI accepts."""

from __future__ import annotations

from dataclasses import dataclass, field
import hashlib
import re
from typing import Any

import probatio

from homeassistant.helpers import llm

from ..realtime.config import FunctionTool

MAX_NAME_LENGTH = 64
_NOT_ALLOWED = re.compile(r"[^a-zA-Z0-9_-]")
# Top-level JSON Schema keywords a function's parameters may not use.
_UNSUPPORTED_KEYS = frozenset({"oneOf", "anyOf", "allOf", "enum", "not"})


def wire_name(name: str) -> str:
    """A function name OpenAI accepts (`^[a-zA-Z0-9_-]{1,64}$`), stable for a given HA name."""
    cleaned = _NOT_ALLOWED.sub("_", name) or "tool"
    if cleaned == name and len(name) <= MAX_NAME_LENGTH:
        return name
    digest = hashlib.sha1(name.encode()).hexdigest()[:8]
    return f"{cleaned[: MAX_NAME_LENGTH - 9]}_{digest}"


_converted: dict[tuple[str, str, str], dict[str, Any]] = {}
_CACHE_SIZE = 512


def tool_parameters(tool: llm.Tool, custom_serializer: Any) -> dict[str, Any]:
    """The tool's schema as JSON Schema, the way core's OpenAI agent converts it.

    Every turn gets fresh tool objects with equal schemas; converting them again cost more than
    the rest of a turn's own work, so results are kept by what they depend on.
    """
    key = (
        tool.name,
        repr(tool.parameters.schema),
        getattr(custom_serializer, "__qualname__", repr(custom_serializer)),
    )
    if (known := _converted.get(key)) is not None:
        return known
    schema: dict[str, Any] = probatio.to_openapi(
        tool.parameters, custom_serializer=custom_serializer, openapi_version="3.1.0"
    )
    converted = {k: v for k, v in schema.items() if k not in _UNSUPPORTED_KEYS}
    if len(_converted) >= _CACHE_SIZE:
        _converted.clear()
    _converted[key] = converted
    return converted


@dataclass(slots=True)
class ToolSet:
    """The tools offered in a session, and the way back from a wire name to HA's name."""

    tools: list[FunctionTool] = field(default_factory=list)
    to_ha: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_api(cls, api: llm.APIInstance | None) -> ToolSet:
        toolset = cls()
        if api is None:
            return toolset
        for tool in api.tools:
            name = wire_name(tool.name)
            if name in toolset.to_ha:  # two HA names cleaned to one: keep the first
                continue
            toolset.to_ha[name] = tool.name
            toolset.tools.append(
                FunctionTool(
                    name=name,
                    description=tool.description or tool.title or "",
                    parameters=tool_parameters(tool, api.custom_serializer),
                )
            )
        return toolset

    def ha_name(self, name: str) -> str:
        """HA's name for a called function; an unknown name stays as the model sent it."""
        return self.to_ha.get(name, name)
