"""One WebRTC peer connection to a Realtime answerer: the `oai-events` channel, one audio line.

The audio line carries Opus only, encoded and decoded by our code (audio.py) rather than by
aiortc's sender and receiver: see `WebRTCTransport.encode_microphone` and `decode_on_arrival`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
import contextlib
import logging
from typing import Any, ClassVar

from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCDataChannel,
    RTCIceServer,
    RTCPeerConnection,
    RTCRtpReceiver,
    RTCRtpSender,
    RTCRtpTransceiver,
    RTCSessionDescription,
)
from aiortc.exceptions import InvalidStateError
from aiortc.rtcrtpreceiver import StreamStatistics
from aiortc.rtp import RtpPacket
from openai.types.realtime import RealtimeSessionCreateRequestParam

from .audio import OPUS_CLOCK, ArrivingAudio, OpusMicrophone
from .errors import (
    RealtimeCallGone,
    RealtimeConnectError,
    RealtimeMessageTooLarge,
    RealtimeSessionClosed,
)
from .signaling import Signaling

_LOGGER = logging.getLogger(__name__)

CHANNEL_LABEL = "oai-events"


class WebRTCTransport:
    """Connects, carries JSON text both ways, hands over the remote audio track, hangs up.

    Callbacks run on the event loop; none of them may raise into aiortc.
    """

    encode_microphone: ClassVar[bool] = True
    """Send the microphone as Opus packets we encode (audio.OpusMicrophone), not as frames for
    aiortc's encoder. False: aiortc's own path (benchmarks/voice_bench.py compares the two)."""
    decode_on_arrival: ClassVar[bool] = True
    """Decode the answerer's packets as they arrive (audio.ArrivingAudio), not through aiortc's
    receiver (jitter buffer, decoder thread). False: aiortc's own path."""

    def __init__(
        self,
        signaling: Signaling,
        *,
        microphone: MediaStreamTrack | None = None,
        receive_audio: bool = True,
        ice_servers: Sequence[RTCIceServer] = (),
        on_message: Callable[[str], None],
        on_remote_audio: Callable[[MediaStreamTrack], None],
        on_lost: Callable[[str], None],
    ) -> None:
        self._signaling = signaling
        self._microphone = microphone
        self._receive_audio = receive_audio
        self._ice_servers = list(ice_servers)
        self._on_message = on_message
        self._on_remote_audio = on_remote_audio
        self._on_lost = on_lost
        self._pc: RTCPeerConnection | None = None
        self._channel: RTCDataChannel | None = None
        self._arriving: ArrivingAudio | None = None
        self._closing = False
        self.call_id: str | None = None

    @property
    def is_open(self) -> bool:
        return self._channel is not None and self._channel.readyState == "open"

    async def open(self, session: RealtimeSessionCreateRequestParam, timeout: float) -> None:
        """Offer, exchange, and wait until ICE/DTLS are connected and the channel is open."""
        try:
            async with asyncio.timeout(timeout):
                await self._open(session)
        except TimeoutError as err:
            await self.close()
            raise RealtimeConnectError(f"no connection within {timeout:g} s") from err
        except BaseException:
            await self.close()
            raise

    async def _open(self, session: RealtimeSessionCreateRequestParam) -> None:
        pc = RTCPeerConnection(RTCConfiguration(iceServers=self._ice_servers))
        self._pc = pc
        connected = asyncio.Event()
        channel_open = asyncio.Event()
        failed: asyncio.Future[str] = asyncio.get_running_loop().create_future()

        # The channel and the audio line must exist before the offer is made.
        channel = pc.createDataChannel(CHANNEL_LABEL)
        self._channel = channel
        encoded = self.encode_microphone and self._microphone is not None
        if self._microphone is not None:
            microphone = OpusMicrophone(self._microphone) if encoded else self._microphone
            transceiver = pc.addTransceiver(microphone, direction="sendrecv")
        else:
            transceiver = pc.addTransceiver("audio", direction="recvonly")
        if encoded or (self.decode_on_arrival and self._receive_audio):
            _opus_only(transceiver)
        self._listen(pc, channel, connected, channel_open, failed)

        offer = await pc.createOffer()
        await pc.setLocalDescription(offer)  # gathers every candidate: no trickle ICE
        answer = await self._signaling.exchange(pc.localDescription.sdp, session)
        self.call_id = answer.call_id
        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=answer.sdp, type="answer"))
        except Exception as err:  # aiortc says "unusable" in several ways (ValueError, KeyError…)
            raise RealtimeConnectError(f"the SDP answer is not usable: {err!r}") from err
        if not self._receive_audio:
            self._drop_remote_audio(pc)

        ready: asyncio.Future[Any] = asyncio.ensure_future(
            asyncio.gather(connected.wait(), channel_open.wait())
        )
        waiting: set[asyncio.Future[Any]] = {ready, failed}
        try:
            done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not ready.done():
                ready.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await ready
        if failed in done and not ready.done():
            raise RealtimeConnectError(f"ICE/DTLS {failed.result()}")

    def _listen(
        self,
        pc: RTCPeerConnection,
        channel: RTCDataChannel,
        connected: asyncio.Event,
        channel_open: asyncio.Event,
        failed: asyncio.Future[str],
    ) -> None:
        """Wire aiortc's callbacks to ours and to the events `_open` waits on."""

        @channel.on("open")
        def _channel_opened() -> None:
            channel_open.set()

        @channel.on("message")
        def _message(message: str | bytes) -> None:
            if isinstance(message, bytes):
                message = message.decode("utf-8", "replace")
            self._on_message(message)

        @channel.on("close")
        def _channel_closed() -> None:
            self._lost("channel closed")

        @pc.on("track")
        def _track(track: MediaStreamTrack) -> None:
            if track.kind == "audio" and self._receive_audio:
                self._on_remote_audio(self._arriving_audio(pc, track))

        @pc.on("connectionstatechange")
        def _state() -> None:
            state = pc.connectionState
            _LOGGER.debug("peer connection %s", state)
            if state == "connected":
                connected.set()
            elif state in ("failed", "closed"):
                if not failed.done():
                    failed.set_result(state)
                if connected.is_set():
                    self._lost(f"connection {state}")

    def _arriving_audio(self, pc: RTCPeerConnection, track: MediaStreamTrack) -> MediaStreamTrack:
        """The remote audio as the session gets it: decoded on arrival (ArrivingAudio, fed by
        the track's receiver), or aiortc's own track."""
        receiver = next(
            (t.receiver for t in pc.getTransceivers() if t.receiver.track is track), None
        )
        if not self.decode_on_arrival or receiver is None:
            return track
        arriving = ArrivingAudio()
        _feed(receiver, arriving)
        self._arriving = arriving
        return arriving

    @staticmethod
    def _drop_remote_audio(pc: RTCPeerConnection) -> None:
        """Discard the answerer's RTP on arrival (text sessions have no speaker).

        The offer still asks for audio (the Realtime API expects an audio line), but decoding
        audio nobody plays costs a text session most of its CPU. This is what aiortc itself does
        for a line that does not receive; it has no public switch for it.
        """
        for transceiver in pc.getTransceivers():
            if transceiver.kind == "audio":
                transceiver.receiver._enabled = False

    def _lost(self, why: str) -> None:
        if not self._closing:
            self._closing = True
            self._on_lost(why)

    def send(self, text: str) -> None:
        """Send one JSON event.

        Raises RealtimeSessionClosed when the channel is not open, and RealtimeMessageTooLarge
        for a message over what the answerer accepts (its SDP's max-message-size).
        """
        channel = self._channel
        if channel is None or channel.readyState != "open":
            raise RealtimeSessionClosed("the events channel is closed")
        try:
            channel.send(text)
        except InvalidStateError as err:
            raise RealtimeSessionClosed("the events channel is closed") from err
        except ValueError as err:
            size = len(text.encode())
            raise RealtimeMessageTooLarge(
                f"the message is too large for the connection ({size // 1024} kB): {err}",
                size=size,
            ) from err

    async def close(self) -> None:
        """Close the peer connection and hang up the call. Safe to call more than once."""
        self._closing = True
        pc, self._pc = self._pc, None
        self._channel = None
        if pc is not None:
            await pc.close()
        arriving, self._arriving = self._arriving, None
        if arriving is not None:
            arriving.stop()
        call_id, self.call_id = self.call_id, None
        if call_id:
            try:
                await self._signaling.hangup(call_id)
            except RealtimeCallGone:
                _LOGGER.debug("hung up %s: the call had already ended", call_id)
            except Exception as err:  # the call ends on its own when the peer goes
                _LOGGER.debug("hangup of %s failed: %s", call_id, err)
            else:
                _LOGGER.debug("hung up %s", call_id)


def _opus_only(transceiver: RTCRtpTransceiver) -> None:
    """Offer Opus alone on the audio line: what our encoder sends and our decoder takes (the
    Realtime API answers Opus in any case)."""
    capabilities = RTCRtpSender.getCapabilities("audio")
    transceiver.setCodecPreferences(
        [codec for codec in capabilities.codecs if codec.mimeType.lower() == "audio/opus"]
    )


def _feed(receiver: RTCRtpReceiver, arriving: ArrivingAudio) -> None:
    """Give the receiver's RTP packets to `arriving` instead of aiortc's jitter buffer and
    decoder thread.

    aiortc has no public switch for this (as for `_drop_remote_audio`): the receiver's packet
    handler is replaced on this one receiver. It still counts what arrives for its RTCP receiver
    reports, as aiortc's handler does (when the counters are where aiortc 1.x keeps them).
    """
    streams: dict[int, StreamStatistics] | None = getattr(
        receiver, "_RTCRtpReceiver__remote_streams", None
    )

    async def arrived(packet: RtpPacket, arrival_time_ms: int) -> None:
        try:
            if streams is not None:
                statistics = streams.get(packet.ssrc)
                if statistics is None:
                    statistics = streams[packet.ssrc] = StreamStatistics(OPUS_CLOCK)
                statistics.add(packet)
            arriving.receive(packet.payload, packet.sequence_number)
        except Exception:  # nothing may raise into aiortc's receiving task
            _LOGGER.debug("an arriving audio packet could not be handled", exc_info=True)

    receiver._handle_rtp_packet = arrived  # type: ignore[method-assign]
