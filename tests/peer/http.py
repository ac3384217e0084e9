"""The HTTP side of the local peer: OpenAI's REST shape on 127.0.0.1, with faults on request.

Routes are served both under `/v1` (OpenAI, custom endpoints) and `/openai/v1` (Azure, which
authenticates with an `api-key` header instead of a bearer token).
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field
import json
from typing import Any

from aiohttp import web

VALID_KEY = "sk-test-valid"
MODELS = ("gpt-realtime", "gpt-realtime-mini", "gpt-4o-mini-transcribe")


@dataclass(slots=True)
class HttpFault:
    """One canned failure for a route."""

    status: int
    code: str = "injected"
    message: str = "Injected by the test"
    delay: float = 0.0


@dataclass(slots=True)
class FaultPlan:
    """Failures queued per route name; each is used once."""

    queued: dict[str, deque[HttpFault]] = field(default_factory=dict)

    def add(self, route: str, fault: HttpFault) -> None:
        self.queued.setdefault(route, deque()).append(fault)

    def take(self, route: str) -> HttpFault | None:
        queue = self.queued.get(route)
        return queue.popleft() if queue else None


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

    def __init__(self, api_key: str = VALID_KEY) -> None:
        self.api_key = api_key
        self.faults = FaultPlan()
        self.requests: Counter[str] = Counter()
        self.last_headers: dict[str, dict[str, str]] = {}
        self._runner: web.AppRunner | None = None
        self.port = 0

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
        return app

    async def start(self) -> None:
        self._runner = web.AppRunner(self.build_app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def _authorized(self, request: web.Request) -> bool:
        if request.path.startswith("/openai/"):
            return request.headers.get("api-key") == self.api_key
        return request.headers.get("Authorization") == f"Bearer {self.api_key}"

    async def _guard(self, request: web.Request, route: str) -> web.Response | None:
        """Count the request; answer with a queued fault or a 401 when there is one."""
        self.requests[route] += 1
        self.last_headers[route] = dict(request.headers)
        if fault := self.faults.take(route):
            if fault.delay:
                import asyncio

                await asyncio.sleep(fault.delay)
            return error_response(
                fault.status,
                fault.code,
                fault.message,
                _ERROR_TYPES.get(fault.status, "server_error"),
            )
        if not self._authorized(request):
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
