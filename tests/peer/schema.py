"""Validation of what crosses the wire against the official `openai.types.realtime` models.

The SDK's models accept unknown fields (pydantic `extra="allow"`), which would let beta names such
as `modalities` or `temperature` through; here any field a model does not declare is a violation.
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


def validate_client_event(data: Any) -> Any:
    return _validate(_CLIENT, data, f"client event {_type(data)}")


def validate_server_event(data: Any) -> Any:
    return _validate(_SERVER, data, f"server event {_type(data)}")


def validate_session_config(data: Any) -> Any:
    return _validate(_SESSION, data, "session config")


def _type(data: Any) -> str:
    return str(data.get("type")) if isinstance(data, dict) else repr(type(data))
