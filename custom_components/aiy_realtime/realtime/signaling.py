"""SDP offer/answer over HTTP: `POST /realtime/calls`, unified (API key) or ephemeral."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import openai
from openai import AsyncOpenAI, HttpxBinaryResponseContent
from openai.types.realtime import RealtimeSessionCreateRequestParam

from .errors import (
    RealtimeAuthError,
    RealtimeBadRequestError,
    RealtimeCallGone,
    RealtimeConnectError,
    RealtimeError,
    RealtimeRateLimitError,
)


@dataclass(frozen=True, slots=True)
class Answer:
    """The answerer's SDP and the call id from `Location` (None if the server gave none)."""

    sdp: str
    call_id: str | None


class Signaling(Protocol):
    """How the offer reaches the Realtime API and how the call is hung up."""

    async def exchange(
        self, offer_sdp: str, session: RealtimeSessionCreateRequestParam
    ) -> Answer: ...

    async def hangup(self, call_id: str) -> None: ...


def _call_id(location: str | None) -> str | None:
    if not location:
        return None
    return location.rstrip("/").rsplit("/", 1)[-1] or None


def translate_error(err: Exception) -> RealtimeError:
    """The SDK's error as one of ours, keeping the server's code and message."""
    if isinstance(err, openai.APIStatusError):
        body = err.body if isinstance(err.body, dict) else {}
        detail = body.get("error", body) if isinstance(body, dict) else {}
        code = detail.get("code") if isinstance(detail, dict) else None
        message = detail.get("message") if isinstance(detail, dict) else None
        text = str(message or err.message)
        status = err.status_code
        if status in (401, 403):
            return RealtimeAuthError(text, code=code, status=status)
        if status == 429:
            return RealtimeRateLimitError(text, code=code, status=status)
        if 400 <= status < 500:
            return RealtimeBadRequestError(text, code=code, status=status)
        return RealtimeConnectError(text, code=code, status=status)
    if isinstance(err, (openai.APIConnectionError, TimeoutError)):
        return RealtimeConnectError(str(err) or type(err).__name__)
    return RealtimeError(str(err) or type(err).__name__)


async def hang_up(client: AsyncOpenAI, call_id: str, timeout: float) -> None:
    """End a call; RealtimeCallGone if it had already ended (the peer left first)."""
    try:
        await client.realtime.calls.hangup(call_id, timeout=timeout)
    except openai.NotFoundError as err:
        raise RealtimeCallGone(str(err)) from err


class UnifiedSignaling:
    """Offer and session config in one multipart request, authenticated with the API key."""

    def __init__(self, client: AsyncOpenAI, timeout: float = 10.0) -> None:
        self._client = client
        self._timeout = timeout

    async def exchange(self, offer_sdp: str, session: RealtimeSessionCreateRequestParam) -> Answer:
        try:
            raw = await self._client.realtime.calls.with_raw_response.create(
                sdp=offer_sdp, session=session, timeout=self._timeout
            )
        except Exception as err:
            raise translate_error(err) from err
        return Answer(sdp=raw.text, call_id=_call_id(raw.headers.get("location")))

    async def hangup(self, call_id: str) -> None:
        await hang_up(self._client, call_id, self._timeout)


class EphemeralSignaling:
    """Mint a short-lived client secret, then post the bare offer (`application/sdp`) with it.

    The way a browser or a device that must not hold the real key connects.
    """

    def __init__(self, client: AsyncOpenAI, timeout: float = 10.0) -> None:
        self._client = client
        self._timeout = timeout

    async def exchange(self, offer_sdp: str, session: RealtimeSessionCreateRequestParam) -> Answer:
        try:
            secret = await self._client.realtime.client_secrets.create(
                session=session, timeout=self._timeout
            )
            ephemeral = self._client.with_options(api_key=secret.value)
            # Public SDK type, not its HTTP library's response: that library is the SDK's to change.
            reply = await ephemeral.post(
                "/realtime/calls",
                cast_to=HttpxBinaryResponseContent,
                content=offer_sdp.encode(),
                options={
                    "headers": {"Content-Type": "application/sdp", "Accept": "application/sdp"},
                    "timeout": self._timeout,
                },
            )
        except Exception as err:
            raise translate_error(err) from err
        location = reply.response.headers.get("location")
        return Answer(sdp=reply.text, call_id=_call_id(location))

    async def hangup(self, call_id: str) -> None:
        await hang_up(self._client, call_id, self._timeout)
