"""Faults below the Realtime protocol, for the reliability suite: the events channel closed by the
answerer, and a network that stops carrying anything (ICE fails on the client's side)."""

from __future__ import annotations

from typing import Any

from .call import PeerCall


def close_channel(call: PeerCall) -> None:
    """The answerer closes the events channel; the connection itself stays up."""
    assert call.channel is not None
    call.channel.close()


def lose_network(call: PeerCall) -> None:
    """From now on the call's packets go nowhere, both ways, with no word to the client (no
    DTLS close, no SCTP abort): only the client's ICE consent checks can find out.

    The peer stops checking consent itself: it would find out too and drop its DTLS under its
    SCTP association, whose next retransmission then fails in a task nobody awaits (aiortc's
    own), which is the peer's noise, not the client's. Its call ends when the test closes it."""
    sctp = call.pc.sctp
    assert sctp is not None, "no association yet"
    connection: Any = sctp.transport.transport._connection  # aiortc keeps aioice's here
    if connection._query_consent_task is not None:
        connection._query_consent_task.cancel()
    for protocol in connection._protocols:
        protocol.datagram_received = _dropped
        protocol.send_stun = _dropped
        protocol.send_data = _dropped_async


def _dropped(*args: Any) -> None:
    return None


async def _dropped_async(*args: Any) -> None:
    return None
