"""The session's table of server events against the official SDK's: every type placed."""

from __future__ import annotations

from typing import get_args

from openai.types.realtime import RealtimeServerEvent
import pydantic

from custom_components.aiy_realtime.realtime.config import SessionConfig
from custom_components.aiy_realtime.realtime.server_events import Handled, Ignored
from custom_components.aiy_realtime.realtime.session import RealtimeSession


def sdk_server_event_types() -> dict[str, type[pydantic.BaseModel]]:
    """Every server event type the SDK knows, with its model."""
    union = get_args(RealtimeServerEvent)[0]
    found: dict[str, type[pydantic.BaseModel]] = {}
    for model in get_args(union):
        for kind in get_args(model.model_fields["type"].annotation):
            found[kind] = model
    return found


class _NoSignaling:
    async def exchange(self, offer_sdp: str, session: object) -> object:
        raise AssertionError("never connects")

    async def hangup(self, call_id: str) -> None:
        raise AssertionError("never connects")


async def test_every_server_event_of_the_sdk_is_handled_or_ignored_with_a_reason() -> None:
    session = RealtimeSession(_NoSignaling(), SessionConfig())  # type: ignore[arg-type]
    table = session._server_events()
    sdk = sdk_server_event_types()

    assert len(sdk) >= 46, "the SDK's union was not read"
    assert sorted(set(sdk) - set(table)) == [], "server events the session does not place"
    assert sorted(set(table) - set(sdk)) == [], "names the protocol does not have"
    for kind, route in table.items():
        match route:
            case Ignored(because):
                assert because, f"{kind} is ignored without a reason"
            case Handled(model):
                # Read through the SDK's own model for that type.
                assert model is sdk[kind], kind
