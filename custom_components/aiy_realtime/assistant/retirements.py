"""Assistants set to a model OpenAI is shutting down: a repair issue each, and the reason a call
for such a model is refused once the date has passed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from homeassistant.config_entries import ConfigEntry, ConfigSubentry
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import dt as dt_util

from ..const import (
    CONF_MODEL,
    CONF_TRANSCRIPTION_MODEL,
    DEFAULT_MODEL,
    DEFAULT_TRANSCRIPTION_MODEL,
    DOMAIN,
    ISSUE_RETIRING_MODEL,
    SUBENTRY_ASSISTANT,
)
from .models import ModelKind, Retirement, retirement_of

SETTING: Final[Mapping[ModelKind, tuple[str, str]]] = {
    "realtime": (CONF_MODEL, DEFAULT_MODEL),
    "transcription": (CONF_TRANSCRIPTION_MODEL, DEFAULT_TRANSCRIPTION_MODEL),
}
"""Where an assistant keeps each kind of model, and what it uses when the field is missing."""


def issue_id(kind: ModelKind, subentry_id: str) -> str:
    return f"{ISSUE_RETIRING_MODEL}_{kind}_{subentry_id}"


def model_of(kind: ModelKind, subentry: ConfigSubentry) -> str:
    key, default = SETTING[kind]
    return str(subentry.data.get(key, default))


def placeholders(
    kind: ModelKind, subentry: ConfigSubentry, retirement: Retirement
) -> dict[str, str]:
    """What the issue, its fix flow and the refusal at connect say: the same words for all."""
    return {
        "assistant": subentry.title,
        "model": model_of(kind, subentry),
        "date": retirement.shutdown.isoformat(),
        "successor": retirement.successor,
    }


@callback
def async_update_issues(hass: HomeAssistant, entry: ConfigEntry[Any]) -> None:
    """One issue per assistant and kind of model that is retiring; none for the others (an
    assistant changed or removed since loses its issue)."""
    wanted: set[str] = set()
    for subentry_id, subentry in entry.subentries.items():
        if subentry.subentry_type != SUBENTRY_ASSISTANT:
            continue
        for kind in SETTING:
            if (retirement := retirement_of(kind, model_of(kind, subentry))) is None:
                continue
            issue = issue_id(kind, subentry_id)
            wanted.add(issue)
            ir.async_create_issue(
                hass,
                DOMAIN,
                issue,
                is_fixable=True,
                is_persistent=False,
                severity=ir.IssueSeverity.WARNING,
                translation_key=f"{ISSUE_RETIRING_MODEL}_{kind}",
                translation_placeholders=placeholders(kind, subentry, retirement),
                data={"entry_id": entry.entry_id, "subentry_id": subentry_id, "kind": kind},
            )
    for (domain, issue), found in list(ir.async_get(hass).issues.items()):
        if (
            domain == DOMAIN
            and issue.startswith(ISSUE_RETIRING_MODEL)
            and issue not in wanted
            and (found.data or {}).get("entry_id") == entry.entry_id
        ):
            ir.async_delete_issue(hass, DOMAIN, issue)


@callback
def async_remove_issues(hass: HomeAssistant, entry_id: str) -> None:
    """The entry is gone, and with it its assistants' issues."""
    for (domain, issue), found in list(ir.async_get(hass).issues.items()):
        if domain == DOMAIN and (found.data or {}).get("entry_id") == entry_id:
            ir.async_delete_issue(hass, DOMAIN, issue)


def retired_error(subentry: ConfigSubentry, *, voice: bool) -> HomeAssistantError | None:
    """The translated reason a refused call has when one of the assistant's models is past its
    shutdown date (the Realtime model first; the transcription model only matters by voice)."""
    today = dt_util.now().date()
    kinds: tuple[ModelKind, ...] = ("realtime", "transcription") if voice else ("realtime",)
    for kind in kinds:
        retirement = retirement_of(kind, model_of(kind, subentry))
        if retirement is not None and retirement.passed(today):
            return HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key=f"{ISSUE_RETIRING_MODEL}_{kind}",
                translation_placeholders=placeholders(kind, subentry, retirement),
            )
    return None
