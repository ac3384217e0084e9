"""The session's table of server events against the official SDK's: every type placed."""

from __future__ import annotations

from custom_components.aiy_realtime.realtime.config import SessionConfig
from custom_components.aiy_realtime.realtime.server_events import sdk_server_event_types
from custom_components.aiy_realtime.realtime.session import RealtimeSession


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
        if route.handler is None:
            assert route.ignored_because, f"{kind} is ignored without a reason"
        else:
            # Handled events are read through the SDK's own model for that type.
            assert route.model is sdk[kind], kind
