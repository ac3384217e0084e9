"""What OpenAI refusing a turn means to the user, the same for a typed turn and a spoken one: the
kind of problem from the server's error code, and the repair an empty account raises."""

from __future__ import annotations

from enum import StrEnum
from typing import Final

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir

from ..const import BILLING_URL, DOMAIN, ISSUE_INSUFFICIENT_QUOTA
from ..realtime.errors import (
    RealtimeAuthError,
    RealtimeError,
    RealtimeRateLimitError,
)

QUOTA_CODES: Final = frozenset({"insufficient_quota"})
RATE_LIMIT_CODES: Final = frozenset({"rate_limit_exceeded", "rate_limit_error"})
AUTH_CODES: Final = frozenset({"invalid_api_key", "invalid_authentication"})


class TurnProblem(StrEnum):
    """Why OpenAI gave no answer, as the state sensor's `last_error` names it."""

    QUOTA = "insufficient_quota"
    """The account has no credit left: nothing works until the user adds some (a repair)."""
    RATE_LIMITED = "rate_limited"
    """Too many requests for now: the next turn may work."""
    AUTH = "invalid_auth"
    """The key was refused: nothing works until the user gives a new one (reauth)."""
    FAILED = "response_failed"
    """Anything else the server reported (`server_error`, …): the next turn may work."""

    @property
    def lasting(self) -> bool:
        """Whether every later turn of the session would fail the same way."""
        return self in (TurnProblem.QUOTA, TurnProblem.AUTH)


def problem_of_code(code: str | None) -> TurnProblem:
    """The problem a failed response's error code names."""
    if code in QUOTA_CODES:
        return TurnProblem.QUOTA
    if code in RATE_LIMIT_CODES:
        return TurnProblem.RATE_LIMITED
    if code in AUTH_CODES:
        return TurnProblem.AUTH
    return TurnProblem.FAILED


def problem_of_error(err: RealtimeError) -> TurnProblem:
    """The problem a client error names."""
    if isinstance(err, RealtimeAuthError):
        return TurnProblem.AUTH
    if isinstance(err, RealtimeRateLimitError):
        return TurnProblem.QUOTA if err.quota else TurnProblem.RATE_LIMITED
    return problem_of_code(err.code)


@callback
def async_create_quota_issue(hass: HomeAssistant) -> None:
    """One repair for the whole integration: the account, not an assistant, is empty."""
    ir.async_create_issue(
        hass,
        DOMAIN,
        ISSUE_INSUFFICIENT_QUOTA,
        is_fixable=False,
        is_persistent=False,
        learn_more_url=BILLING_URL,
        severity=ir.IssueSeverity.ERROR,
        translation_key=ISSUE_INSUFFICIENT_QUOTA,
        translation_placeholders={"billing_url": BILLING_URL},
    )


@callback
def async_answered(hass: HomeAssistant) -> None:
    """An answer came: the account has credit again."""
    ir.async_delete_issue(hass, DOMAIN, ISSUE_INSUFFICIENT_QUOTA)
