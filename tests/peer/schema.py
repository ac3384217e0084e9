"""Validation of what crosses the wire against the official `openai.types.realtime` models.

The SDK's models accept unknown fields (pydantic `extra="allow"`), which would let beta names such
as `modalities` or `temperature` through; here any field a model does not declare is a violation.
The SDK's models also leave out the bounds OpenAI's OpenAPI document gives some fields
(openai/openai-openapi, openapi.yaml); those are checked here as the API checks them.
"""

from __future__ import annotations

from typing import Annotated, Any, Union, get_args

from openai.types.realtime import (
    RealtimeClientEvent,
    RealtimeServerEvent,
    RealtimeSessionCreateRequest,
)
import pydantic


class ProtocolViolation(AssertionError):
    """Something on the wire does not match the GA schema."""


def _discriminated(union_alias: Any) -> pydantic.TypeAdapter[Any]:
    union = get_args(union_alias)[0]
    members = tuple(m for m in get_args(union) if "type" in getattr(m, "model_fields", {}))
    return pydantic.TypeAdapter(
        Annotated[Union[members], pydantic.Field(discriminator="type")]  # noqa: UP007
    )


_CLIENT = _discriminated(RealtimeClientEvent)
_SERVER = _discriminated(RealtimeServerEvent)
_SESSION = pydantic.TypeAdapter(RealtimeSessionCreateRequest)


def _undeclared(value: Any, path: str) -> list[str]:
    """Paths of fields present in the data but not declared by the model that took them."""
    found: list[str] = []
    if isinstance(value, pydantic.BaseModel):
        for name in value.model_extra or {}:
            found.append(f"{path}.{name}")
        for name in type(value).model_fields:
            found.extend(_undeclared(getattr(value, name), f"{path}.{name}"))
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            found.extend(_undeclared(item, f"{path}[{index}]"))
    return found


def _validate(adapter: pydantic.TypeAdapter[Any], data: Any, what: str) -> Any:
    try:
        model = adapter.validate_python(data)
    except pydantic.ValidationError as err:
        raise ProtocolViolation(f"{what} does not match the GA schema: {err}\n{data!r}") from err
    if extra := _undeclared(model, what):
        raise ProtocolViolation(f"{what} has fields the GA schema does not know: {extra}\n{data!r}")
    return model


IDLE_TIMEOUT_MS_RANGE = (5000, 30000)
"""server_vad's `idle_timeout_ms`: `minimum: 5000, maximum: 30000` in the OpenAPI document."""


def _check_bounds(session: Any, what: str) -> None:
    """Raise as the API refuses a value outside its documented range."""
    if not isinstance(session, dict):
        return
    detection = ((session.get("audio") or {}).get("input") or {}).get("turn_detection") or {}
    timeout = detection.get("idle_timeout_ms") if isinstance(detection, dict) else None
    if timeout is None:
        return
    low, high = IDLE_TIMEOUT_MS_RANGE
    if not low <= timeout <= high:
        raise ProtocolViolation(
            f"{what}: Invalid 'session.audio.input.turn_detection.idle_timeout_ms': expected a"
            f" value between {low} and {high}, but got {timeout} instead."
        )


def validate_client_event(data: Any) -> Any:
    model = _validate(_CLIENT, data, f"client event {_type(data)}")
    if _type(data) == "session.update":
        _check_bounds(data.get("session"), "client event session.update")
    return model


def validate_server_event(data: Any) -> Any:
    return _validate(_SERVER, data, f"server event {_type(data)}")


def validate_session_config(data: Any) -> Any:
    model = _validate(_SESSION, data, "session config")
    _check_bounds(data, "session config")
    return model


def _type(data: Any) -> str:
    return str(data.get("type")) if isinstance(data, dict) else repr(type(data))
