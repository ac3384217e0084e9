"""What the server sends: decoded from JSON and read through the official SDK's models.

A session lists every server event type in one table of routes (see `RealtimeSession`): a
handler with the SDK model it reads, or a reason it is ignored. Only handled events are
validated, so an event of a known type with the wrong shape is reported, never half-read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
import json
from typing import Any, get_args

from openai.types.realtime import ConversationItem, RealtimeServerEvent
import pydantic


class MalformedEvent(ValueError):
    """A message that is not a JSON object with a string `type`."""


@dataclass(frozen=True, slots=True)
class Route:
    """What to do with one server event type."""

    model: type[pydantic.BaseModel] | None
    handler: Callable[[Any], None] | None
    ignored_because: str | None = None
    unreadable: Callable[[dict[str, Any]], None] | None = None
    """Called (after a warning) when an event does not read as `model`: for events whose mere
    arrival matters, so that a field the SDK does not know yet cannot stall a session."""

    def read(self, data: dict[str, Any]) -> pydantic.BaseModel:
        """The event as its SDK model; raises pydantic.ValidationError if it is not one."""
        assert self.model is not None
        return self.model.model_validate(data)


def handle[E: pydantic.BaseModel](
    model: type[E],
    handler: Callable[[E], None],
    *,
    unreadable: Callable[[dict[str, Any]], None] | None = None,
) -> Route:
    """Read events of this type as `model` and give them to `handler`."""
    return Route(model, handler, unreadable=unreadable)


def ignore(because: str) -> Route:
    """Events of this type change nothing here; `because` says why that is right."""
    return Route(None, None, because)


def decode(message: str | bytes) -> tuple[str, dict[str, Any]]:
    """The event's type and its fields; raises MalformedEvent."""
    try:
        data = json.loads(message)
    except ValueError as err:
        raise MalformedEvent("not JSON") from err
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        raise MalformedEvent("no event type")
    return data["type"], data


def sdk_server_event_types() -> dict[str, type[pydantic.BaseModel]]:
    """Every server event type the SDK knows, with its model."""
    union = get_args(RealtimeServerEvent)[0]
    found: dict[str, type[pydantic.BaseModel]] = {}
    for model in get_args(union):
        annotation = model.model_fields["type"].annotation
        for kind in get_args(annotation):
            found[kind] = model
    return found


_ITEM = pydantic.TypeAdapter[Any](ConversationItem)


def without_unknown_items(data: dict[str, Any]) -> dict[str, Any] | None:
    """A `response.*` event without the output items the SDK cannot read (a newer kind of
    item), or None when that is not what kept it from reading."""
    response = data.get("response")
    output = response.get("output") if isinstance(response, dict) else None
    if not isinstance(response, dict) or not isinstance(output, list):
        return None
    known = []
    for item in output:
        try:
            _ITEM.validate_python(item)
        except pydantic.ValidationError:
            continue
        known.append(item)
    if len(known) == len(output):
        return None
    return {**data, "response": {**response, "output": known}}
