"""The CRC32C swapped into aiortc's SCTP where google-crc32c has only its Python fallback."""

from __future__ import annotations

import asyncio
import random

from aiortc import RTCConfiguration, RTCPeerConnection, rtcsctptransport
import google_crc32c
from google_crc32c import python as google_python
import pytest

from custom_components.aiy_realtime.realtime import sctp_checksum
from custom_components.aiy_realtime.realtime.sctp_checksum import crc32c

RFC_3720_B4 = [
    (bytes(32), 0x8A9136AA),
    (b"\xff" * 32, 0x62A8AB43),
    (bytes(range(32)), 0x46DD794E),
    (bytes(range(31, -1, -1)), 0x113FDB5C),
]
"""RFC 3720 appendix B.4 (the CRC as its four bytes read little-endian), and below, the
catalogue's check value of CRC-32C ('123456789')."""


@pytest.mark.parametrize(("data", "expected"), [*RFC_3720_B4, (b"123456789", 0xE3069283)])
def test_known_vectors(data: bytes, expected: int) -> None:
    assert crc32c(data) == expected
    assert google_crc32c.value(data) == expected


def test_same_as_google_crc32c_on_random_data() -> None:
    rng = random.Random(3720)
    # Every length around the 8-byte steps, then SCTP-sized packets (aiortc's are ≤ 1200 bytes).
    lengths = [*range(40), *(rng.randrange(40, 1500) for _ in range(300)), 1200, 65536]
    for length in lengths:
        data = rng.randbytes(length)
        assert crc32c(data) == google_crc32c.value(data), length
    sample = rng.randbytes(333)
    assert crc32c(sample) == google_python.value(sample)  # type: ignore[no-untyped-call]
    # aiortc passes bytes; a memoryview or bytearray gives the same.
    assert crc32c(memoryview(sample)) == crc32c(bytearray(sample)) == crc32c(sample)


def test_c_extension_is_left_in_place() -> None:
    assert google_crc32c.implementation == "c", "this machine's google-crc32c has its C path"
    before = rtcsctptransport.crc32c  # type: ignore[attr-defined]
    assert sctp_checksum.install() == "c"
    assert rtcsctptransport.crc32c is before  # type: ignore[attr-defined]


async def test_aiortc_sctp_runs_on_it_when_google_has_only_python(
    monkeypatch: pytest.MonkeyPatch, socket_enabled: None
) -> None:
    """As in the official image: the swap happens, and a real data channel works through it."""
    monkeypatch.setattr(google_crc32c, "implementation", "python")
    monkeypatch.setattr(rtcsctptransport, "crc32c", google_python.value)
    assert sctp_checksum.install() == "tables"
    assert rtcsctptransport.crc32c is crc32c  # type: ignore[attr-defined]
    packets = 0

    def counting(data: bytes) -> int:
        nonlocal packets
        packets += 1
        return crc32c(data)

    monkeypatch.setattr(rtcsctptransport, "crc32c", counting)
    offerer = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    answerer = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    received: asyncio.Queue[str] = asyncio.Queue()
    opened = asyncio.Event()

    @answerer.on("datachannel")
    def on_channel(channel: object) -> None:
        channel.on("message", received.put_nowait)  # type: ignore[attr-defined]

    channel = offerer.createDataChannel("oai-events")
    channel.on("open", opened.set)
    try:
        await offerer.setLocalDescription(await offerer.createOffer())
        await answerer.setRemoteDescription(offerer.localDescription)
        await answerer.setLocalDescription(await answerer.createAnswer())
        await offerer.setRemoteDescription(answerer.localDescription)
        await asyncio.wait_for(opened.wait(), 10)
        # One small message, one spanning several SCTP packets.
        messages = ["hello", "x" * 5000]
        for message in messages:
            channel.send(message)
        assert [await asyncio.wait_for(received.get(), 10) for _ in messages] == messages
    finally:
        await offerer.close()
        await answerer.close()
    assert packets > 10, "aiortc's SCTP did not checksum through the swapped function"
