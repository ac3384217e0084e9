"""Errors the Realtime client raises, by what the caller should do about them."""

from __future__ import annotations


class RealtimeError(Exception):
    """Base class: something went wrong talking to the Realtime API."""

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status


class RealtimeAuthError(RealtimeError):
    """The endpoint refused the key (401/403): ask the user for a new one."""


class RealtimeRateLimitError(RealtimeError):
    """429: too many requests, or the account's quota is used up (`quota` tells which)."""

    @property
    def quota(self) -> bool:
        return self.code == "insufficient_quota"


class RealtimeBadRequestError(RealtimeError):
    """400: the offer or session config was refused; the server's message says why."""


class RealtimeMessageTooLarge(RealtimeError):
    """An event over the data channel's message size limit (e.g. very long instructions):
    refused before anything was sent."""

    def __init__(self, message: str, *, size: int) -> None:
        super().__init__(message)
        self.size = size


class RealtimeConnectError(RealtimeError):
    """The endpoint or the peer could not be reached in time (5xx, network, ICE): try later."""


class RealtimeSessionClosed(RealtimeError):
    """The session ended while the caller was waiting on it."""


class RealtimeCallGone(RealtimeError):
    """The call to hang up had already ended (404): not a failure."""
