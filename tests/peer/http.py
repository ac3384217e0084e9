"""The HTTP side of the local peer: OpenAI's REST shape on 127.0.0.1, with faults on request.

Routes are served both under `/v1` (OpenAI, custom endpoints) and `/openai/v1` (Azure, which
authenticates with an `api-key` header instead of a bearer token). Routes under `/_peer/` are the
peer's own, for a test, a benchmark or a developer in another process; OpenAI has nothing like
them.
"""

from __future__ import annotations

import asyncio
from collections import Counter, deque
from dataclasses import dataclass, field
import json
import signal
from typing import Any

from aiohttp import web

from .call import PeerCall, new_id
from .schema import ProtocolViolation, validate_session_config
from .script import Script

VALID_KEY = "sk-test-valid"
MODELS = (
    "gpt-realtime-2.1",
    "gpt-realtime-2.1-mini",
    "gpt-realtime-2",
    "gpt-realtime",
    "gpt-realtime-mini",
    "gpt-live-transcribe",
    "gpt-4o-mini-transcribe",
)


@dataclass(slots=True)
class HttpFault:
    """One canned failure for a route."""

    status: int
    code: str = "injected"
    message: str = "Injected by the test"
    delay: float = 0.0
    sdp: str | None = None
    """Answer the call with this as the SDP (status `status`, a Location header), not an error."""
    no_location: bool = False
    """Answer the call as usual, but without its Location header (the call id)."""


@dataclass(slots=True)
class FaultPlan:
    """Failures queued per route name; each is used once."""

    queued: dict[str, deque[HttpFault]] = field(default_factory=dict)

    def add(self, route: str, fault: HttpFault) -> None:
        self.queued.setdefault(route, deque()).append(fault)

    def take(self, route: str) -> HttpFault | None:
        queue = self.queued.get(route)
        return queue.popleft() if queue else None

    def peek(self, route: str) -> HttpFault | None:
        queue = self.queued.get(route)
        return queue[0] if queue else None


def error_response(status: int, code: str, message: str, error_type: str) -> web.Response:
    """OpenAI's JSON error shape."""
    body = {"error": {"message": message, "type": error_type, "param": None, "code": code}}
    return web.json_response(body, status=status)


_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    403: "invalid_request_error",
    404: "invalid_request_error",
    429: "insufficient_quota",
}


class LocalRealtimePeer:
    """An aiohttp server speaking the Realtime API's HTTP surface on loopback."""

    def __init__(
        self, api_key: str = VALID_KEY, *, keep_calls: bool = True, quiet_when_idle: bool = False
    ) -> None:
        self.api_key = api_key
        self.keep_calls = keep_calls
        """Keep every call (with its events) for assertions; off for long benchmark runs."""
        self.quiet_when_idle = quiet_when_idle
        """Calls send no audio between speech (see SpeechTrack)."""
        self.faults = FaultPlan()
        self.connect_delay = 0.0
        """Seconds every call request waits before it is answered (a slow edge)."""
        self.shut_down: set[str] = set()
        """Models OpenAI no longer serves: a call asking for one (as the session's model or its
        transcription model) is refused as OpenAI refuses any model it does not have."""
        self.requests: Counter[str] = Counter()
        self.last_headers: dict[str, dict[str, str]] = {}
        self._runner: web.AppRunner | None = None
        self.port = 0
        self.script = Script()
        self.calls: dict[str, PeerCall] = {}
        self.all_calls: list[PeerCall] = []
        self.secrets: set[str] = set()
        self.secret_sessions: dict[str, dict[str, Any]] = {}
        """The session each client secret was made for: its calls start with it."""
        self.hangups: list[str] = []
        self.session_configs: list[dict[str, Any]] = []
        self.violations: list[str] = []

    @property
    def url(self) -> str:
        """Root URL; OpenAI-shaped base URL is `url + "/v1"`, Azure's resource URL is `url`."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def build_app(self) -> web.Application:
        app = web.Application()
        for prefix in ("/v1", "/openai/v1"):
            app.router.add_get(f"{prefix}/models", self._models)
            app.router.add_post(f"{prefix}/realtime/calls", self._create_call)
            app.router.add_post(f"{prefix}/realtime/client_secrets", self._client_secret)
            app.router.add_post(f"{prefix}/realtime/calls/{{call_id}}/hangup", self._hangup)
        app.router.add_get("/_peer/stats", self._stats)
        app.router.add_get("/_peer/hear", self._hearing)
        app.router.add_post("/_peer/hear", self._hear)
        app.router.add_delete("/_peer/hear", self._hear)
        return app

    async def _stats(self, request: web.Request) -> web.Response:
        """What a peer in another process saw (benchmarks): its own time per response."""
        return web.json_response(
            {
                "calls": {
                    call.call_id: {
                        "user_texts": call.user_texts(),
                        "response_seconds": call.response_seconds,
                    }
                    for call in self.calls.values()
                },
                "requests": dict(self.requests),
                "violations": self.all_violations(),
            }
        )

    # Test-only: what the model "understands" of the next speech it hears. A test sets
    # `script.hears` itself; a peer in its own process (scripts/develop's demo, used by
    # scripts/say) is told here. Loopback only, like the whole peer.

    async def _hearing(self, request: web.Request) -> web.Response:
        """What is queued to be heard, and how many calls listen."""
        return web.json_response({"hears": list(self.script.hears), "listening": self._listening()})

    async def _hear(self, request: web.Request) -> web.Response:
        """POST `{"text": "..."}`: the next speech heard is understood as this text, instead of
        anything still queued (409 when no call listens). DELETE: forget the queue."""
        if request.method == "DELETE":
            self.script.hears.clear()
            return web.json_response({"hears": []})
        try:
            body = await request.json()
            text = str(body["text"]).strip()
        except ValueError, KeyError, TypeError:
            return error_response(
                400, "invalid_value", 'expected {"text": "..."}', "invalid_request_error"
            )
        if not text:
            return error_response(
                400, "invalid_value", "the text is empty", "invalid_request_error"
            )
        if not (listening := self._listening()):
            return error_response(
                409, "no_call", "no voice call is listening", "invalid_request_error"
            )
        self.script.hears.clear()
        self.script.hears.append(text)
        return web.json_response({"hears": [text], "listening": listening})

    def _listening(self) -> int:
        """Open calls whose microphone is listened to (turn detection on)."""
        return sum(1 for call in self.calls.values() if call.hearing.on)

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._runner = web.AppRunner(self.build_app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def serve_until_signalled(self, port: int = 0) -> None:
        """As a process of its own: start, print `ready <base URL>` for whoever started it, and
        close on SIGINT or SIGTERM."""
        await self.start(port=port)
        print(f"ready {self.base_url}", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await self.close()

    async def close(self) -> None:
        for call in list(self.calls.values()):
            await call.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def _authorized(self, request: web.Request, *, ephemeral: bool = False) -> bool:
        if request.path.startswith("/openai/") and request.headers.get("api-key") == self.api_key:
            return True
        bearer = request.headers.get("Authorization", "").removeprefix("Bearer ")
        return bearer == self.api_key or (ephemeral and bearer in self.secrets)

    @property
    def active_calls(self) -> int:
        return len(self.calls)

    def call(self) -> PeerCall:
        """The one open call (tests with a single session)."""
        (call,) = self.calls.values()
        return call

    def all_violations(self) -> list[str]:
        """Everything off-schema seen on any call, in either direction."""
        found = list(self.violations)
        for call in self.all_calls:
            found.extend(call.violations)
        return found

    async def _guard(
        self, request: web.Request, route: str, *, ephemeral: bool = False
    ) -> web.Response | None:
        """Count the request; answer with a queued fault or a 401 when there is one."""
        self.requests[route] += 1
        self.last_headers[route] = dict(request.headers)
        if fault := self.faults.take(route):
            if fault.delay:
                await asyncio.sleep(fault.delay)
            if fault.sdp is not None:
                return web.Response(
                    status=fault.status,
                    text=fault.sdp,
                    content_type="application/sdp",
                    headers={"Location": "/v1/realtime/calls/rtc_injected"},
                )
            return error_response(
                fault.status,
                fault.code,
                fault.message,
                _ERROR_TYPES.get(fault.status, "server_error"),
            )
        if not self._authorized(request, ephemeral=ephemeral):
            return error_response(
                401, "invalid_api_key", "Incorrect API key provided.", "invalid_request_error"
            )
        return None

    async def _models(self, request: web.Request) -> web.Response:
        if (refused := await self._guard(request, "models")) is not None:
            return refused
        data: list[dict[str, Any]] = [
            {"id": model, "object": "model", "created": 1_760_000_000, "owned_by": "system"}
            for model in MODELS
        ]
        return web.Response(
            text=json.dumps({"object": "list", "data": data}), content_type="application/json"
        )

    async def _create_call(self, request: web.Request) -> web.Response:
        bearer = request.headers.get("Authorization", "").removeprefix("Bearer ")
        ephemeral = bearer.startswith("ek_")
        located = True
        if (planned := self.faults.peek("calls")) is not None and planned.no_location:
            self.faults.take("calls")
            located = False
        if (refused := await self._guard(request, "calls", ephemeral=ephemeral)) is not None:
            return refused
        session: dict[str, Any] = {}
        if request.content_type == "application/sdp":
            if not ephemeral:
                return error_response(
                    400,
                    "invalid_request",
                    "application/sdp needs a client secret",
                    "invalid_request_error",
                )
            offer = await request.text()
            session = dict(self.secret_sessions.get(bearer, {}))
        elif request.content_type == "multipart/form-data":
            form = await request.post()
            offer = _field_text(form.get("sdp"))
            raw_session = _field_text(form.get("session"))
            try:
                session = json.loads(raw_session) if raw_session else {}
                validate_session_config(session)
            except (ValueError, ProtocolViolation) as err:
                self.violations.append(str(err))
                return error_response(400, "invalid_value", str(err)[:300], "invalid_request_error")
        else:
            return error_response(
                400,
                "invalid_content_type",
                f"unsupported {request.content_type}",
                "invalid_request_error",
            )
        if (gone := self._shut_down_model(session)) is not None:
            return error_response(
                404,
                "model_not_found",
                f"The model `{gone}` does not exist or you do not have access to it.",
                "invalid_request_error",
            )
        if self.connect_delay:
            await asyncio.sleep(self.connect_delay)
        if "v=0" not in offer:
            return error_response(
                400, "invalid_offer", "The SDP offer is not valid.", "invalid_request_error"
            )
        if self.keep_calls:
            self.session_configs.append(session)
        call = PeerCall(new_id("rtc"), session, self.script, quiet_when_idle=self.quiet_when_idle)
        call.on_closed = lambda c: self.calls.pop(c.call_id, None)
        self.calls[call.call_id] = call
        if self.keep_calls:
            self.all_calls.append(call)
        answer = await call.answer(offer)
        prefix = "/openai/v1" if request.path.startswith("/openai/") else "/v1"
        return web.Response(
            status=201,
            text=answer,
            content_type="application/sdp",
            headers={"Location": f"{prefix}/realtime/calls/{call.call_id}"} if located else {},
        )

    def _shut_down_model(self, session: dict[str, Any]) -> str | None:
        transcription = ((session.get("audio") or {}).get("input") or {}).get("transcription")
        asked = [session.get("model"), (transcription or {}).get("model")]
        return next((m for m in asked if m in self.shut_down), None)

    async def _client_secret(self, request: web.Request) -> web.Response:
        if (refused := await self._guard(request, "client_secrets")) is not None:
            return refused
        body = await request.json()
        try:
            validate_session_config(body.get("session") or {"type": "realtime"})
        except ProtocolViolation as err:
            self.violations.append(str(err))
            return error_response(400, "invalid_value", str(err)[:300], "invalid_request_error")
        value = new_id("ek")
        self.secrets.add(value)
        self.secret_sessions[value] = body.get("session") or {}
        return web.json_response(
            {"value": value, "expires_at": 1_900_000_000, "session": body.get("session") or {}}
        )

    async def _hangup(self, request: web.Request) -> web.Response:
        if (refused := await self._guard(request, "hangup")) is not None:
            return refused
        call_id = request.match_info["call_id"]
        if self.keep_calls:
            self.hangups.append(call_id)
        call = self.calls.get(call_id)
        if call is None:
            return error_response(404, "call_not_found", "No such call.", "invalid_request_error")
        await call.close()
        return web.Response(status=200)


def _field_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode()
    return bytes(value.file.read()).decode()
