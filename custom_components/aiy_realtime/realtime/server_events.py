"""What the server sends: decoded from JSON and read through the official SDK's models.

A session lists every server event type in one table (see `session_events.py`): `Handled` with
the SDK model it is read as, or `Ignored` with the reason. Only handled events are validated, so
an event of a known type with the wrong shape is reported, never half-read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
import json
from typing import Any, get_args

from openai.types.realtime import ConversationItem, RealtimeResponse
import pydantic

type Fields = dict[str, Any]


class MalformedEvent(ValueError):
    """A message that is not a JSON object with a string `type`."""


@dataclass(frozen=True, slots=True)
class Handled:
    """Events of this type are read as `model` and given to `handler`."""

    model: type[pydantic.BaseModel]
    handler: Callable[[Any], None]
    unreadable: Callable[[Fields], None] | None = None
    """For events whose arrival matters whatever they hold: called with the raw fields when they
    do not read as `model` (a field newer than the SDK), so the session is not left waiting."""


@dataclass(frozen=True, slots=True)
class Ignored:
    """Events of this type change nothing; `because` says why that is right."""

    because: str


type Route = Handled | Ignored


def handle[E: pydantic.BaseModel](
    model: type[E],
    handler: Callable[[E], None],
    *,
    unreadable: Callable[[Fields], None] | None = None,
) -> Handled:
    """Read events of this type as `model` and give them to `handler` (typed to match)."""
    return Handled(model, handler, unreadable)


def decode(message: str | bytes) -> tuple[str, Fields]:
    """The event's type and its fields; raises MalformedEvent."""
    try:
        data = json.loads(message)
    except ValueError as err:
        raise MalformedEvent("not JSON") from err
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        raise MalformedEvent("no event type")
    return data["type"], data


_ITEM = pydantic.TypeAdapter[Any](ConversationItem)
_STATUSES = {
    status
    for literal in get_args(RealtimeResponse.model_fields["status"].annotation)
    for status in get_args(literal)
}


def response_as_far_as_readable(fields: Fields) -> RealtimeResponse | None:
    """The `response` of a `response.*` event that does not read whole: its id and whatever else
    reads (items of a kind newer than the SDK are left out), or None without a usable id."""
    response = fields.get("response")
    if not isinstance(response, dict) or not isinstance(response.get("id"), str):
        return None
    readable: Fields = {"id": response["id"]}
    if response.get("status") in _STATUSES:
        readable["status"] = response["status"]
    for name in ("metadata", "status_details", "usage", "output"):
        value = response.get(name)
        if name == "output" and isinstance(value, list):
            value = [item for item in value if _reads(_ITEM, item)]
        if value is not None and _reads(RealtimeResponse, {name: value}):
            readable[name] = value
    return RealtimeResponse.model_validate(readable)


def _reads(model: type[pydantic.BaseModel] | pydantic.TypeAdapter[Any], value: Any) -> bool:
    try:
        if isinstance(model, pydantic.TypeAdapter):
            model.validate_python(value)
        else:
            model.model_validate(value)
    except pydantic.ValidationError:
        return False
    return True
