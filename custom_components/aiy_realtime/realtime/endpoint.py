"""Where the Realtime API lives: OpenAI, Azure OpenAI or any OpenAI-compatible base URL."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from openai import AsyncOpenAI

OPENAI_BASE_URL = "https://api.openai.com/v1"


class EndpointKind(StrEnum):
    """The kinds of endpoint a user can choose."""

    OPENAI = "openai"
    AZURE = "azure"
    CUSTOM = "custom"


class InvalidEndpointURL(ValueError):
    """The URL given for an Azure or custom endpoint is not an http(s) URL."""


def normalize_url(url: str) -> str:
    """Return `url` without trailing slashes, query or fragment; raise if it is not http(s)."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidEndpointURL(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


@dataclass(frozen=True, slots=True)
class Endpoint:
    """An API key and the place it is valid for."""

    kind: EndpointKind
    api_key: str
    url: str | None = None
    """Azure: the resource URL; custom: the base URL (the part before `/realtime/calls`)."""

    @classmethod
    def create(cls, kind: str, api_key: str, url: str | None = None) -> Endpoint:
        """Build an endpoint from user input, normalizing the URL (raises InvalidEndpointURL)."""
        endpoint_kind = EndpointKind(kind)
        if endpoint_kind is EndpointKind.OPENAI:
            return cls(endpoint_kind, api_key, None)
        return cls(endpoint_kind, api_key, normalize_url(url or ""))

    @property
    def base_url(self) -> str | None:
        """The SDK's base URL; None lets the SDK pick OpenAI's (or OPENAI_BASE_URL)."""
        if self.kind is EndpointKind.AZURE:
            assert self.url is not None
            # Azure's GA surface is the v1 API under /openai/v1, whatever the resource's host.
            url = self.url.removesuffix("/openai/v1").removesuffix("/openai")
            return f"{url}/openai/v1"
        return self.url

    @property
    def headers(self) -> dict[str, str]:
        """Extra headers: Azure authenticates an API key with `api-key`."""
        if self.kind is EndpointKind.AZURE:
            return {"api-key": self.api_key}
        return {}

    def client(self, http_client: Any = None) -> AsyncOpenAI:
        """An SDK client for this endpoint, optionally on a caller-owned HTTP client."""
        return AsyncOpenAI(
            api_key=self.api_key,
            base_url=self.base_url,
            default_headers=self.headers,
            http_client=http_client,
            max_retries=0,
        )
