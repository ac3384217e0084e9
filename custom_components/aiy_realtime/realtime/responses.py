"""What a response produced: text, transcript, tool calls, status and token usage."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from openai.types.realtime import RealtimeConversationItemFunctionCall, RealtimeResponse
from openai.types.realtime.realtime_response_usage import RealtimeResponseUsage


@dataclass(slots=True)
class Usage:
    """Token counts of one response (or a sum of several)."""

    input_tokens: int = 0
    output_tokens: int = 0
    input_text_tokens: int = 0
    input_audio_tokens: int = 0
    input_cached_tokens: int = 0
    input_cached_audio_tokens: int = 0
    output_text_tokens: int = 0
    output_audio_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    @classmethod
    def from_model(cls, usage: RealtimeResponseUsage | None) -> Usage:
        if usage is None:
            return cls()
        given = usage.input_token_details
        cached = given.cached_tokens_details if given is not None else None
        made = usage.output_token_details
        return cls(
            input_tokens=usage.input_tokens or 0,
            output_tokens=usage.output_tokens or 0,
            input_text_tokens=(given.text_tokens or 0) if given else 0,
            input_audio_tokens=(given.audio_tokens or 0) if given else 0,
            input_cached_tokens=(given.cached_tokens or 0) if given else 0,
            input_cached_audio_tokens=(cached.audio_tokens or 0) if cached else 0,
            output_text_tokens=(made.text_tokens or 0) if made else 0,
            output_audio_tokens=(made.audio_tokens or 0) if made else 0,
        )

    def __add__(self, other: Usage) -> Usage:
        return Usage(*(getattr(self, name) + getattr(other, name) for name in self.__slots__))


@dataclass(slots=True)
class ToolCall:
    """A function call the model made, arguments as the JSON text it sent."""

    call_id: str
    name: str
    arguments: str


@dataclass(slots=True)
class ResponseResult:
    """One `response.done`."""

    response_id: str
    status: str
    """completed, cancelled, failed or incomplete."""
    reason: str | None = None
    """Why it did not complete: the server's error message, or `turn_detected`,
    `client_cancelled`, `max_output_tokens`, `content_filter`."""
    error_code: str | None = None
    text: str = ""
    transcript: str = ""
    usage: Usage = field(default_factory=Usage)
    tool_calls: list[ToolCall] = field(default_factory=list)
    """Calls to run: only a completed response's (a cancelled one may have been cut off by the
    user saying "stop", and an incomplete one's arguments may be cut short)."""

    @classmethod
    def from_response(
        cls, response: RealtimeResponse, text: str, transcript: str
    ) -> ResponseResult:
        status = response.status or "completed"
        details = response.status_details
        error = details.error if details is not None else None
        code = (error.code or error.type) if error is not None else None
        # The API also says what went wrong in words; the SDK keeps that as an undeclared field.
        message = (error.model_extra or {}).get("message") if error is not None else None
        calls = [
            ToolCall(item.call_id or "", item.name, item.arguments)
            for item in response.output or ()
            if isinstance(item, RealtimeConversationItemFunctionCall)
        ]
        completed = status == "completed"
        return cls(
            response_id=response.id or "",
            status=status,
            reason=message or code or (details.reason if details is not None else None),
            error_code=code,
            text=text,
            transcript=transcript,
            usage=Usage.from_model(response.usage),
            tool_calls=calls if completed else [],
        )


@dataclass(slots=True)
class TurnResult:
    """A turn: a response and the follow-ups that tool calls led to."""

    status: str
    """completed, cancelled, failed, incomplete, tool_limit or closed."""
    responses: list[ResponseResult] = field(default_factory=list)
    error: str | None = None
    error_code: str | None = None
    """The server's error code when the turn failed (e.g. `insufficient_quota`)."""

    @property
    def text(self) -> str:
        return "".join(r.text or r.transcript for r in self.responses)

    @property
    def usage(self) -> Usage:
        total = Usage()
        for response in self.responses:
            total = total + response.usage
        return total

    @property
    def tool_calls(self) -> list[ToolCall]:
        return [call for response in self.responses for call in response.tool_calls]


class Turn:
    """A handle on one requested (or server-started) turn: stream its text, await its end."""

    def __init__(self, *, run_tools: bool = True) -> None:
        self.run_tools = run_tools
        """False: the turn ends at a response with tool calls; the caller answers them."""
        self.tool_rounds = 0
        self._deltas: asyncio.Queue[str | None] = asyncio.Queue()
        self._result: asyncio.Future[TurnResult] = asyncio.get_running_loop().create_future()
        self.responses: list[ResponseResult] = []

    @property
    def done(self) -> bool:
        return self._result.done()

    def add_delta(self, text: str) -> None:
        self._deltas.put_nowait(text)

    def finish(self, status: str, error: str | None = None, code: str | None = None) -> None:
        if not self._result.done():
            self._result.set_result(TurnResult(status, list(self.responses), error, code))
            self._deltas.put_nowait(None)

    async def deltas(self) -> AsyncIterator[str]:
        """Text (or audio transcript) as it arrives, across the turn's tool rounds."""
        while (delta := await self._deltas.get()) is not None:
            yield delta

    async def result(self) -> TurnResult:
        return await asyncio.shield(self._result)
