"""One call on the peer: an aiortc answerer that behaves like OpenAI's Realtime edge (GA)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
import contextlib
from dataclasses import dataclass
import json
import logging
import time
from typing import Any

from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCDataChannel,
    RTCPeerConnection,
    RTCSessionDescription,
)

from .hearing import Hearing
from .ids import new_id
from .media import RATE, SpeechTrack, tone
from .schema import ProtocolViolation, validate_client_event, validate_server_event
from .script import Script

__all__ = ["PeerCall", "new_id"]

_LOGGER = logging.getLogger(__name__)


@dataclass(slots=True)
class _Playing:
    """The assistant's audio item on the track, and where its audio starts there."""

    item_id: str
    response_id: str
    start: int


async def _connect_task_ended(pc: RTCPeerConnection) -> None:
    """Wait for the connect task aiortc left running for a call closed before it connected.

    `RTCPeerConnection.close()` does not wait for it, and a test's teardown would find it.
    """
    for task in asyncio.all_tasks():
        frame = getattr(task.get_coro(), "cr_frame", None)
        if (
            frame is not None
            and frame.f_code.co_name == "__connect"
            and frame.f_locals.get("self") is pc
        ):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(task), 5)


class PeerCall:
    """State of one Realtime call: its session, conversation and the response being made."""

    def __init__(
        self,
        call_id: str,
        session: dict[str, Any],
        script: Script,
        *,
        quiet_when_idle: bool = False,
    ) -> None:
        self.call_id = call_id
        self.script = script
        self.session: dict[str, Any] = dict(session)
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.speech = SpeechTrack(quiet_when_idle=quiet_when_idle)
        self.speech.on_drained = self._speech_drained
        self.channel: RTCDataChannel | None = None
        self.received: list[dict[str, Any]] = []
        self.sent: list[dict[str, Any]] = []
        self.violations: list[str] = []
        self.items: list[dict[str, Any]] = []
        self.hearing = Hearing(self)
        """The caller's mic: its turns, with turn detection on (see hearing.py)."""
        self.hearing.configure(self.session)
        self.responses = 0
        self.vanish_on_response = False
        """Go away when asked for the next response (a drop the client has not seen yet)."""
        self.fail_responses: list[tuple[str, str]] = []
        """(type, code) of responses to fail, in order, like `insufficient_quota`."""
        self.server_response_first: str | None = None
        """Say this in a response of the server's own (as voice activity starts one) the moment
        the client asks for its next response, which is then refused as already active."""
        self.created_extra: dict[str, Any] = {}
        """Fields laid over response.created's response (a value newer than the SDK)."""
        self.update_delay = 0.0
        """Seconds before a session.update is confirmed."""
        self.vanish_after_tool_output = False
        """Go away when asked to answer a tool's output (a drop in the middle of a turn)."""
        self.extra_output: list[dict[str, Any]] = []
        """Items added to every response.done's output (a kind of item newer than the SDK)."""
        self.session_view_extra: dict[str, Any] = {}
        """Fields laid over session.created's session (a field newer than the SDK)."""
        self.created_then: list[dict[str, Any]] = []
        """Events sent right behind session.created (an error that ends the session at once)."""
        self.reject_updates: list[tuple[str, str]] = []
        """(code, message) of `session.update`s to refuse with an `error`, in order."""
        self.response_seconds: list[float] = []
        """The peer's own time per response: response.create received to response.done sent."""
        self.closed = asyncio.Event()
        self._response: asyncio.Task[None] | None = None
        self._response_id: str | None = None
        self._cancel_reason = "client_cancelled"
        self._playing: _Playing | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.on_closed: Callable[[PeerCall], None] | None = None

    # -- signalling -------------------------------------------------------------------------------

    async def answer(self, offer_sdp: str) -> str:
        pc = self.pc

        @pc.on("datachannel")
        def _channel(channel: RTCDataChannel) -> None:
            self.channel = channel
            channel.on("message", self._on_message)
            self._send({"type": "session.created", "session": self._session_view()})
            for event in self.created_then:
                self._send(event)

        @pc.on("track")
        def _track(track: MediaStreamTrack) -> None:
            self._spawn(self.hearing.listen(track))

        @pc.on("connectionstatechange")
        async def _state() -> None:
            if pc.connectionState in ("failed", "closed"):
                await self.close()

        await pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
        for transceiver in pc.getTransceivers():
            if transceiver.kind == "audio":
                self.hearing.tap(transceiver.receiver)
                transceiver.sender.replaceTrack(self.speech)
                transceiver.direction = "sendrecv"
        answer = await pc.createAnswer()
        await pc.setLocalDescription(answer)
        return pc.localDescription.sdp

    async def close(self) -> None:
        if self.closed.is_set():
            return
        self.closed.set()
        if self._response is not None:
            self._response.cancel()
        for task in list(self._tasks):
            task.cancel()
        for task in [*self._tasks, *([self._response] if self._response else [])]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self.speech.stop()
        await self.pc.close()
        await _connect_task_ended(self.pc)
        if self.on_closed is not None:
            self.on_closed(self)

    # -- faults ---------------------------------------------------------------------------------

    def inject_raw(self, text: str) -> None:
        assert self.channel is not None
        self.channel.send(text)

    def inject(self, event: dict[str, Any]) -> None:
        self._send(event)

    async def expire(self) -> None:
        """What OpenAI does at 60 minutes: an error, then the channel closes."""
        self._send(
            {
                "type": "error",
                "event_id": new_id("event"),
                "error": {
                    "type": "invalid_request_error",
                    "code": "session_expired",
                    "message": "Your session hit the maximum duration of 60 minutes.",
                },
            }
        )
        await asyncio.sleep(0.05)
        await self.close()

    async def vanish(self) -> None:
        """The peer is gone without a word."""
        await self.close()

    # -- events -----------------------------------------------------------------------------------

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _send(self, event: dict[str, Any]) -> None:
        event.setdefault("event_id", new_id("event"))
        try:
            validate_server_event(event)
        except ProtocolViolation as err:  # the peer itself must stay faithful
            self.violations.append(f"peer sent: {err}")
        self.sent.append(event)
        if self.closed.is_set():
            return  # a closing peer says nothing more
        if self.channel is not None and self.channel.readyState == "open":
            self.channel.send(json.dumps(event))

    def _error(self, code: str, message: str, event_id: str | None, kind: str) -> None:
        self._send(
            {
                "type": "error",
                "error": {"type": kind, "code": code, "message": message, "event_id": event_id},
            }
        )

    def _on_message(self, message: str | bytes) -> None:
        try:
            data = json.loads(message)
        except ValueError:
            self.violations.append(f"not JSON: {message!r:.100}")
            self._error("invalid_json", "Invalid JSON", None, "invalid_request_error")
            return
        self.received.append(data)
        try:
            validate_client_event(data)
        except ProtocolViolation as err:
            self.violations.append(str(err))
            self._error(
                "invalid_value", str(err)[:300], data.get("event_id"), "invalid_request_error"
            )
            return
        handler = getattr(self, "_on_" + data["type"].replace(".", "_"), None)
        if handler is not None:
            handler(data)

    def _session_view(self) -> dict[str, Any]:
        view: dict[str, Any] = {"type": "realtime", "model": "gpt-realtime"}
        view.update((k, v) for k, v in self.session.items() if k not in {"id", "object"})
        view.update(self.session_view_extra)
        return view

    def _on_session_update(self, event: dict[str, Any]) -> None:
        if self.reject_updates:
            code, message = self.reject_updates.pop(0)
            self._error(code, message, event.get("event_id"), "invalid_request_error")
            return
        self.session.update(event["session"])
        self.hearing.configure(self.session)
        if self.update_delay:
            self._spawn(self._confirm_update_later())
        else:
            self._send({"type": "session.updated", "session": self._session_view()})

    async def _confirm_update_later(self) -> None:
        await asyncio.sleep(self.update_delay)
        self._send({"type": "session.updated", "session": self._session_view()})

    def _on_conversation_item_create(self, event: dict[str, Any]) -> None:
        item = dict(event["item"])
        item.setdefault("id", new_id("item"))
        item.setdefault("object", "realtime.item")
        item.setdefault("status", "completed")
        self.add_item(item)

    def _on_conversation_item_truncate(self, event: dict[str, Any]) -> None:
        item = next((i for i in self.items if i.get("id") == event["item_id"]), None)
        if item is None or item.get("role") != "assistant":
            self._error(
                "invalid_value",
                f"No assistant message with id '{event['item_id']}'.",
                event.get("event_id"),
                "invalid_request_error",
            )
            return
        self._send(
            {
                "type": "conversation.item.truncated",
                "item_id": item["id"],
                "content_index": event["content_index"],
                "audio_end_ms": event["audio_end_ms"],
            }
        )

    def _on_input_audio_buffer_commit(self, event: dict[str, Any]) -> None:
        self.hearing.commit(event.get("event_id"))

    def _on_input_audio_buffer_clear(self, event: dict[str, Any]) -> None:
        self.hearing.clear()

    def _on_response_create(self, event: dict[str, Any]) -> None:
        if self.vanish_on_response or (
            self.vanish_after_tool_output and self._pending_tool_output() is not None
        ):
            self._spawn(self.vanish())
            return
        if self.server_response_first is not None:
            said, self.server_response_first = self.server_response_first, None
            self._start_response({"instructions": said})
            # Queued after the response's first step, so `response.created` goes out first.
            asyncio.get_running_loop().call_soon(self._refuse_as_busy, event.get("event_id"))
            return
        if self.responding:
            self._refuse_as_busy(event.get("event_id"))
            return
        self._start_response(event.get("response") or {})

    def _start_response(self, request: dict[str, Any]) -> None:
        self._response_id = new_id("resp")
        self._cancel_reason = "client_cancelled"
        self._response = asyncio.get_running_loop().create_task(
            self._respond(self._response_id, request)
        )

    def _refuse_as_busy(self, event_id: str | None) -> None:
        self._error(
            "conversation_already_has_active_response",
            "Conversation already has an active response in progress.",
            event_id,
            "invalid_request_error",
        )

    def _on_response_cancel(self, event: dict[str, Any]) -> None:
        if self._response is not None and not self._response.done():
            self._cancel_reason = "client_cancelled"
            self._response.cancel()

    def _on_output_audio_buffer_clear(self, event: dict[str, Any]) -> None:
        self._cut_off_audio(truncate=False)

    def _cut_off_audio(self, *, truncate: bool) -> None:
        """Stop the assistant's audio now; with `truncate`, its item keeps what was heard."""
        playing, self._playing = self._playing, None
        if playing is None:
            return
        heard_ms = self.speech.played_since(playing.start) * 1000 // RATE
        self.speech.clear()
        self._send({"type": "output_audio_buffer.cleared", "response_id": playing.response_id})
        if truncate:
            self._send(
                {
                    "type": "conversation.item.truncated",
                    "item_id": playing.item_id,
                    "content_index": 0,
                    "audio_end_ms": heard_ms,
                }
            )

    def _speech_drained(self) -> None:
        playing, self._playing = self._playing, None
        if playing is not None:
            self._send({"type": "output_audio_buffer.stopped", "response_id": playing.response_id})
            self.hearing.answered()

    # -- what the hearing asks of the call (hearing.Call) ---------------------------------------

    def send_event(self, event: dict[str, Any]) -> None:
        self._send(event)

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        return self._spawn(coro)

    def last_item_id(self) -> str | None:
        return str(self.items[-1]["id"]) if self.items else None

    def add_item(self, item: dict[str, Any]) -> None:
        previous = self.last_item_id()
        self.items.append(item)
        self._send({"type": "conversation.item.added", "previous_item_id": previous, "item": item})
        self._send({"type": "conversation.item.done", "previous_item_id": previous, "item": item})

    @property
    def responding(self) -> bool:
        return self._response is not None and not self._response.done()

    @property
    def busy(self) -> bool:
        return self.responding or self._playing is not None

    async def barge_in(self) -> None:
        """What OpenAI does when the user speaks over an answer (`interrupt_response`): the
        response ends cancelled (`turn_detected`), then its audio is cut off and its item
        truncated to what was played."""
        response = self._response
        if response is not None and not response.done():
            self._cancel_reason = "turn_detected"
            response.cancel()
            await asyncio.wait([response])
        self._cut_off_audio(truncate=True)

    def start_server_response(self, say: str | None = None) -> None:
        """A response as voice activity starts one: no metadata, no request of the client's."""
        if not self.responding:
            self._start_response({"instructions": say} if say else {})

    @property
    def mic_frames(self) -> int:
        """Mic packets received (20 ms each), whether or not they were decoded."""
        return self.hearing.packets

    # -- responses -----------------------------------------------------------------------------

    def user_texts(self) -> list[str]:
        """What the user said, item by item: typed text, or what the model heard of audio."""
        return [
            " ".join(c.get("text", "") for c in item.get("content", []))
            if item["id"] not in self.hearing.heard
            else self.hearing.heard[item["id"]]
            for item in self.items
            if item.get("type") == "message" and item.get("role") == "user"
        ]

    def _last_user_text(self) -> str:
        texts = self.user_texts()
        return texts[-1] if texts else ""

    def _session_tool(self, wanted: str) -> str:
        names = [t.get("name", "") for t in self.session.get("tools") or []]
        for name in names:
            if name == wanted or name.endswith(f"__{wanted}"):
                return str(name)
        return wanted

    def _pending_tool_outputs(self) -> list[dict[str, Any]]:
        """The outputs the client sent since the model's last call(s), in their order."""
        outputs: list[dict[str, Any]] = []
        for item in reversed(self.items):
            if item.get("type") != "function_call_output":
                break
            outputs.insert(0, item)
        return outputs

    def _pending_tool_output(self) -> dict[str, Any] | None:
        if self.items and self.items[-1].get("type") == "function_call_output":
            return self.items[-1]
        return None

    async def _respond(self, response_id: str, request: dict[str, Any]) -> None:
        started = time.perf_counter()
        self.responses += 1
        modalities = request.get("output_modalities") or self.session.get("output_modalities")
        audio = (modalities or ["audio"]) == ["audio"]
        response: dict[str, Any] = {
            "id": response_id,
            "object": "realtime.response",
            "status": "in_progress",
            "output": [],
            "output_modalities": ["audio" if audio else "text"],
            "conversation_id": "conv_peer",
            "metadata": request.get("metadata"),
        }
        self._send({"type": "response.created", "response": {**response, **self.created_extra}})
        output: list[dict[str, Any]] = []
        status, details = "completed", None
        try:
            if self.script.delay_before_response:
                await asyncio.sleep(self.script.delay_before_response)
            user_text = self._last_user_text()
            rule = self.script.rule_for(user_text)
            tool_output = self._pending_tool_output()
            if self.fail_responses:
                kind, code = self.fail_responses.pop(0)
                status, details = (
                    "failed",
                    {"type": "failed", "error": {"type": kind, "code": code}},
                )
                reply = ""
            elif request.get("instructions"):
                reply = self.script.reply_to_instructions(str(request["instructions"]))
            elif tool_output is not None and rule is not None and not rule.repeat:
                reply = rule.reply_after(
                    "; ".join(str(o.get("output", "")) for o in self._pending_tool_outputs())
                )
            elif rule is not None and rule.tool is not None:
                calls = [(rule.tool, rule.arguments_json(user_text))]
                if self.session.get("parallel_tool_calls"):
                    calls += [(tool, json.dumps(args)) for tool, args in rule.also]
                for index, (tool, arguments) in enumerate(calls):
                    name = self._session_tool(tool)
                    output.append(await self._call_tool(response_id, name, arguments, index))
                reply = ""
                if rule.ends == "incomplete":
                    status = "incomplete"
                    details = {"type": "incomplete", "reason": "max_output_tokens"}
                elif rule.ends == "cancelled":
                    status = "cancelled"
                    details = {"type": "cancelled", "reason": "turn_detected"}
            else:
                reply = self.script.reply(user_text)
            if reply:
                await self._say(response_id, reply, audio, output)
        except asyncio.CancelledError:
            status, details = "cancelled", {"type": "cancelled", "reason": self._cancel_reason}
        words = max(1, sum(len(str(o)) for o in output) // 20)
        response.update(
            status=status,
            status_details=details,
            output=output + self.extra_output,
            usage={
                "total_tokens": 40 + words,
                "input_tokens": 40,
                "output_tokens": words,
                "input_token_details": {
                    "text_tokens": 40,
                    "audio_tokens": 0,
                    "cached_tokens": 0,
                    "image_tokens": 0,
                },
                "output_token_details": {
                    "text_tokens": 0 if audio else words,
                    "audio_tokens": words if audio else 0,
                },
            },
        )
        self._send({"type": "response.done", "response": response})
        self.response_seconds.append(time.perf_counter() - started)
        if self._playing is None:
            self.hearing.answered()

    async def _call_tool(
        self, response_id: str, name: str, arguments: str, output_index: int = 0
    ) -> dict[str, Any]:
        item = {
            "id": new_id("item"),
            "object": "realtime.item",
            "type": "function_call",
            "status": "in_progress",
            "call_id": new_id("call"),
            "name": name,
            "arguments": "",
        }
        self._send(
            {
                "type": "response.output_item.added",
                "response_id": response_id,
                "output_index": output_index,
                "item": dict(item),
            }
        )
        base = {
            "response_id": response_id,
            "item_id": item["id"],
            "output_index": output_index,
            "call_id": item["call_id"],
        }
        self._send({"type": "response.function_call_arguments.delta", **base, "delta": arguments})
        self._send(
            {
                "type": "response.function_call_arguments.done",
                **base,
                "name": name,
                "arguments": arguments,
            }
        )
        item.update(status="completed", arguments=arguments)
        self.items.append(item)
        self._item_done(response_id, item, output_index)
        return item

    def _item_done(self, response_id: str, item: dict[str, Any], output_index: int = 0) -> None:
        self._send(
            {
                "type": "response.output_item.done",
                "response_id": response_id,
                "output_index": output_index,
                "item": item,
            }
        )

    async def _say(
        self, response_id: str, text: str, audio: bool, output: list[dict[str, Any]]
    ) -> None:
        """Say `text` as the response's message item (added to `output` at once: a cancelled
        response reports it incomplete, with what was said of it)."""
        item_id = new_id("item")
        item: dict[str, Any] = {
            "id": item_id,
            "object": "realtime.item",
            "type": "message",
            "role": "assistant",
            "status": "in_progress",
            "content": [],
        }
        output.append(item)
        where = {"response_id": response_id, "item_id": item_id, "output_index": 0}
        self._send(
            {
                "type": "response.output_item.added",
                "response_id": response_id,
                "output_index": 0,
                "item": dict(item),
            }
        )
        previous = self.last_item_id()
        self.items.append(item)
        self._send(
            {"type": "conversation.item.added", "previous_item_id": previous, "item": dict(item)}
        )
        part: dict[str, Any] = (
            {"type": "audio", "transcript": ""} if audio else {"type": "text", "text": ""}
        )
        self._send(
            {"type": "response.content_part.added", **where, "content_index": 0, "part": dict(part)}
        )
        words = text.split(" ")
        if audio:
            start = self.speech.play(tone(max(0.2, self.script.seconds_per_word * len(words))))
            self._playing = _Playing(item_id, response_id, start)
            self._send({"type": "output_audio_buffer.started", "response_id": response_id})
        delta_type = (
            "response.output_audio_transcript.delta" if audio else "response.output_text.delta"
        )
        said = 0
        try:
            for index, word in enumerate(words):
                if self.script.delay_per_delta:
                    await asyncio.sleep(self.script.delay_per_delta)
                piece = word if index == 0 else " " + word
                self._send({"type": delta_type, **where, "content_index": 0, "delta": piece})
                said = index + 1
        except asyncio.CancelledError:
            partial = " ".join(words[:said])
            item.update(
                status="incomplete",
                content=[
                    {"type": "output_audio", "transcript": partial}
                    if audio
                    else {"type": "output_text", "text": partial}
                ],
            )
            if self._cancel_reason == "client_cancelled":
                # Like OpenAI on WebRTC: a cancelled response's audio is cut off. (Speech over
                # it cuts it off in barge_in, truncating the item as well.)
                self._cut_off_audio(truncate=False)
            raise
        if audio:
            self._send({"type": "response.output_audio.done", **where, "content_index": 0})
            self._send(
                {
                    "type": "response.output_audio_transcript.done",
                    **where,
                    "content_index": 0,
                    "transcript": text,
                }
            )
            part = {"type": "audio", "transcript": text}
            content = {"type": "output_audio", "transcript": text}
        else:
            self._send(
                {"type": "response.output_text.done", **where, "content_index": 0, "text": text}
            )
            part = {"type": "text", "text": text}
            content = {"type": "output_text", "text": text}
        self._send(
            {"type": "response.content_part.done", **where, "content_index": 0, "part": part}
        )
        item.update(status="completed", content=[content])
        self._item_done(response_id, item)
        self._send({"type": "conversation.item.done", "previous_item_id": previous, "item": item})
