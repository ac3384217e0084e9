"""The caller's side of a voice call on the peer: its microphone heard, its turns taken.

With turn detection on (`server_vad`, `semantic_vad`) the mic's frames are decoded and an energy
VAD (vad.py) finds speech, and the peer answers as OpenAI's edge does:
`input_audio_buffer.speech_started` → `speech_stopped` → `committed` → the user's audio item
(`conversation.item.added`/`done`, transcript null) → its transcription (what the test scripts in
`Script.hears`; `.failed` when nothing is scripted) → a response the server starts by itself.
Speech over an answer interrupts it (barge-in); silence after an answer times out into a prompt
(`idle_timeout_ms`).

With turn detection off (push-to-talk) the mic's packets are only counted, never decoded, and
only the client's `input_audio_buffer.commit` makes an item.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
import contextlib
from typing import Any, Protocol

from aiortc import MediaStreamTrack, RTCRtpReceiver
from aiortc.mediastreams import MediaStreamError
from aiortc.rtp import RtpPacket
import av

from .ids import new_id
from .script import Script
from .vad import EnergyVad, VadSettings, level

PACKET_MS = 20
"""aiortc sends 20 ms of audio per packet."""
OPUS_CLOCK = 48000
"""Opus's RTP clock (RFC 7587). The peer keeps its own, not the client's: it checks the client."""
MIN_COMMIT_MS = 100
"""OpenAI refuses to commit less audio than this."""


class Call(Protocol):
    """What the hearing needs of the call it belongs to."""

    script: Script

    def send_event(self, event: dict[str, Any]) -> None: ...

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]: ...

    def last_item_id(self) -> str | None: ...

    def add_item(self, item: dict[str, Any]) -> None:
        """Append to the conversation, announced with `conversation.item.added`/`done`."""

    @property
    def responding(self) -> bool:
        """A response is in progress."""

    @property
    def busy(self) -> bool:
        """A response is in progress or its audio is still playing."""

    async def barge_in(self) -> None:
        """Cancel the response (`turn_detected`) and cut its audio off where it was heard."""

    def start_server_response(self, say: str | None = None) -> None:
        """A response of the server's own, to the conversation (or saying `say`)."""


class Hearing:
    """The mic of one call: counted always, heard with turn detection on."""

    def __init__(self, call: Call) -> None:
        self.call = call
        self.packets = 0
        """Mic packets received, decoded or not."""
        self.frames_heard = 0
        """Mic frames decoded and fed to the VAD."""
        self.heard: dict[str, str] = {}
        """What the model understood of each user audio item (by item id)."""
        self._buffered = 0
        """Packets in the input audio buffer (since the last commit or clear)."""
        self._detection: dict[str, Any] | None = None
        self._transcription: dict[str, Any] | None = None
        self._vad = EnergyVad(VadSettings())
        self._speech_item: str | None = None
        self._idle_since: int | None = None
        self._first_timestamp: int | None = None
        """The first mic packet's RTP timestamp: positions count from it, as the audio's own
        clock tells them (a packet the jitter buffer lost leaves no gap in the count)."""
        self._decoded_from: int | None = None
        """The position of the first packet handed to aiortc to decode: its decoded frames'
        `pts` count from that packet's timestamp."""

    @property
    def on(self) -> bool:
        """Turn detection is on: the mic is decoded and listened to."""
        return self._detection is not None

    def configure(self, session: dict[str, Any]) -> None:
        """Follow the session's `audio.input` (at creation and after every update)."""
        audio_input = (session.get("audio") or {}).get("input") or {}
        self._transcription = audio_input.get("transcription") or None
        detection = audio_input.get("turn_detection") or None
        if detection != self._detection:
            self._detection = detection
            position = self._vad.position_ms
            self._vad = EnergyVad(VadSettings.of(detection or {}))
            self._vad.position_ms = position
            self._vad.reset()
            self._speech_item = None

    # -- the microphone ------------------------------------------------------------------------

    def tap(self, receiver: RTCRtpReceiver) -> None:
        """Count every mic packet; let aiortc depacketize and decode them only while on.

        aiortc decodes whatever a receiver takes in, wanted or not: a peer serving many
        push-to-talk or text calls would spend its CPU decoding audio nobody listens to.
        """
        handle = receiver._handle_rtp_packet

        async def counted(packet: RtpPacket, arrival_time_ms: int) -> None:
            self.packets += 1
            self._buffered += 1
            at = self._position_of(packet.timestamp)
            if self.on:
                if self._decoded_from is None:
                    self._decoded_from = at
                await handle(packet, arrival_time_ms=arrival_time_ms)
            else:
                # Unheard audio still takes its place in the buffer: the positions of speech
                # (`audio_start_ms`) count all audio since the session began, as OpenAI's do.
                self._vad.position_ms = max(self._vad.position_ms, at + PACKET_MS)

        receiver._handle_rtp_packet = counted  # type: ignore[method-assign]

    async def listen(self, track: MediaStreamTrack) -> None:
        """Hear the decoded mic track until it ends (frames only arrive while on)."""
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                if self.on and isinstance(frame, av.AudioFrame):
                    await self._hear(frame)

    def _position_of(self, timestamp: int) -> int:
        """Milliseconds of mic audio before the RTP `timestamp` (Opus's 48 kHz clock)."""
        if self._first_timestamp is None:
            self._first_timestamp = timestamp
        return ((timestamp - self._first_timestamp) % 2**32) * 1000 // OPUS_CLOCK

    async def _hear(self, frame: av.AudioFrame) -> None:
        self.frames_heard += 1
        if frame.pts is not None and self._decoded_from is not None:
            self._vad.position_ms = self._decoded_from + max(0, frame.pts) * 1000 // OPUS_CLOCK
        match self._vad.feed(level(frame), frame.samples * 1000 // frame.sample_rate):
            case ("started", audio_start_ms):
                await self._speech_started(audio_start_ms)
            case ("stopped", audio_end_ms):
                self._speech_stopped(audio_end_ms)
            case None if self._timed_out():
                self._time_out()

    # -- a user's turn -------------------------------------------------------------------------

    async def _speech_started(self, audio_start_ms: int) -> None:
        assert self._detection is not None
        self._speech_item = item_id = new_id("item")
        self._idle_since = None
        self.call.send_event(
            {
                "type": "input_audio_buffer.speech_started",
                "audio_start_ms": audio_start_ms,
                "item_id": item_id,
            }
        )
        if self._detection.get("interrupt_response") is not False and self.call.busy:
            await self.call.barge_in()

    def _speech_stopped(self, audio_end_ms: int) -> None:
        assert self._detection is not None
        item_id = self._speech_item or new_id("item")
        self._speech_item = None
        self.call.send_event(
            {
                "type": "input_audio_buffer.speech_stopped",
                "audio_end_ms": audio_end_ms,
                "item_id": item_id,
            }
        )
        self._commit(item_id, self._next_heard(), self._buffered * PACKET_MS / 1000)
        if self._detection.get("create_response") is not False and not self.call.responding:
            self.call.start_server_response()

    def commit(self, event_id: str | None) -> None:
        """The client's `input_audio_buffer.commit`: push-to-talk, or a turn ended by hand."""
        buffered_ms = self._buffered * PACKET_MS
        if buffered_ms < MIN_COMMIT_MS:
            self.call.send_event(
                {
                    "type": "error",
                    "error": {
                        "type": "invalid_request_error",
                        "code": "input_audio_buffer_commit_empty",
                        "message": "Error committing input audio buffer: buffer too small. "
                        f"Expected at least {MIN_COMMIT_MS}ms of audio, but buffer only has "
                        f"{buffered_ms:.2f}ms of audio.",
                        "event_id": event_id,
                    },
                }
            )
            return
        item_id = self._speech_item or new_id("item")
        self._speech_item = None
        self._commit(item_id, self._next_heard(), buffered_ms / 1000)

    def clear(self) -> None:
        """The client's `input_audio_buffer.clear`."""
        self._buffered = 0
        self._vad.reset()
        self._speech_item = None
        self.call.send_event({"type": "input_audio_buffer.cleared"})

    def _next_heard(self) -> str | None:
        hears = self.call.script.hears
        return hears.popleft() if hears else None

    def _commit(self, item_id: str, heard: str | None, seconds: float) -> None:
        """The buffer becomes the user's audio item; its transcription follows."""
        self._buffered = 0
        self._vad.reset()
        self.heard[item_id] = heard or ""
        self.call.send_event(
            {
                "type": "input_audio_buffer.committed",
                "item_id": item_id,
                "previous_item_id": self.call.last_item_id(),
            }
        )
        self.call.add_item(
            {
                "id": item_id,
                "object": "realtime.item",
                "type": "message",
                "role": "user",
                "status": "completed",
                "content": [{"type": "input_audio", "transcript": None}],
            }
        )
        if self._transcription is not None:
            self.call.spawn(self._transcribe(item_id, heard, seconds))

    async def _transcribe(self, item_id: str, heard: str | None, seconds: float) -> None:
        if self.call.script.transcript_delay:
            await asyncio.sleep(self.call.script.transcript_delay)
        where = {"item_id": item_id, "content_index": 0}
        if heard is None:
            self.call.send_event(
                {
                    "type": "conversation.item.input_audio_transcription.failed",
                    **where,
                    "error": {
                        "type": "transcription_error",
                        "code": "audio_unintelligible",
                        "message": "The audio could not be transcribed.",
                        "param": None,
                    },
                }
            )
            return
        for index, word in enumerate(heard.split()):
            self.call.send_event(
                {
                    "type": "conversation.item.input_audio_transcription.delta",
                    **where,
                    "delta": word if index == 0 else " " + word,
                }
            )
        self.call.send_event(
            {
                "type": "conversation.item.input_audio_transcription.completed",
                **where,
                "transcript": heard,
                "usage": self._usage(heard, seconds),
            }
        )

    def _usage(self, transcript: str, seconds: float) -> dict[str, Any]:
        """whisper-1 bills by duration; the gpt-4o transcribers by tokens."""
        if (self._transcription or {}).get("model") == "whisper-1":
            return {"type": "duration", "seconds": round(seconds, 2)}
        audio_tokens = max(1, round(seconds * 10))
        text_tokens = len(transcript.split())
        return {
            "type": "tokens",
            "input_tokens": audio_tokens,
            "output_tokens": text_tokens,
            "total_tokens": audio_tokens + text_tokens,
            "input_token_details": {"audio_tokens": audio_tokens, "text_tokens": 0},
        }

    # -- silence after an answer ---------------------------------------------------------------

    def answered(self) -> None:
        """The last response is over and its audio played: from now on, silence counts."""
        if self._idle_timeout_ms() is not None and not self._vad.speaking:
            self._idle_since = self._vad.position_ms

    def _idle_timeout_ms(self) -> int | None:
        """Only server VAD has an idle timeout (as at OpenAI)."""
        detection = self._detection
        if detection is None or detection.get("type") != "server_vad":
            return None
        timeout = detection.get("idle_timeout_ms")
        return int(timeout) if timeout is not None else None

    def _timed_out(self) -> bool:
        timeout = self._idle_timeout_ms()
        return (
            timeout is not None
            and self._idle_since is not None
            and not self._vad.speaking
            and not self.call.busy
            and self._vad.position_ms - self._idle_since >= timeout
        )

    def _time_out(self) -> None:
        """The silent audio is committed as the user's turn, and the model prompts."""
        assert self._idle_since is not None
        audio_start_ms, self._idle_since = self._idle_since, None
        item_id = new_id("item")
        self.call.send_event(
            {
                "type": "input_audio_buffer.timeout_triggered",
                "audio_start_ms": audio_start_ms,
                "audio_end_ms": self._vad.position_ms,
                "item_id": item_id,
            }
        )
        self._commit(item_id, "", (self._vad.position_ms - audio_start_ms) / 1000)
        self.call.start_server_response(say=self.call.script.on_idle)
