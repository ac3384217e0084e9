"""An agent's turn: find or open the conversation's session, run the turn, map what fails."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from homeassistant.components import conversation
from homeassistant.config_entries import ConfigSubentry
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import issue_registry as ir

from . import AiyRealtimeConfigEntry
from .const import (
    BILLING_URL,
    CONF_MODEL,
    CONF_VOICE,
    DEFAULT_MODEL,
    DEFAULT_VOICE,
    DOMAIN,
    ISSUE_INSUFFICIENT_QUOTA,
    LOGGER,
    MAX_TOOL_ROUNDS,
    TURN_TIMEOUT,
)
from .realtime.errors import (
    RealtimeAuthError,
    RealtimeBadRequestError,
    RealtimeError,
    RealtimeRateLimitError,
)
from .realtime.events import SessionConfig
from .realtime.session import CloseReason
from .toolset import ToolSet
from .turns import TurnFailed, async_run_turn

QUOTA_CODES = frozenset({"insufficient_quota"})
RATE_LIMIT_CODES = frozenset({"rate_limit_exceeded", "rate_limit_error"})


class AssistantUnreachable(Exception):
    """The Realtime API could not be reached or went away mid-turn: tell the user, don't raise."""


@dataclass(slots=True)
class Outcome:
    finished: bool
    """False when the turn stopped at the tool-round limit."""
    ended: bool
    """The model ended the session (`end_session`)."""


class RealtimeAgent:
    """Answers chat logs for one agent (subentry) on warm Realtime sessions."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: AiyRealtimeConfigEntry,
        subentry: ConfigSubentry,
        *,
        turn_timeout: float = TURN_TIMEOUT,
        max_tool_rounds: int = MAX_TOOL_ROUNDS,
    ) -> None:
        self.hass = hass
        self.entry = entry
        self.subentry = subentry
        self.turn_timeout = turn_timeout
        self.max_tool_rounds = max_tool_rounds

    def session_config(self, chat_log: conversation.ChatLog, toolset: ToolSet) -> SessionConfig:
        options = self.subentry.data
        system = chat_log.content[0]
        return SessionConfig(
            model=options.get(CONF_MODEL, DEFAULT_MODEL),
            instructions=system.content if system.role == "system" else None,
            output_modality="text",
            voice=options.get(CONF_VOICE, DEFAULT_VOICE),
            tools=toolset.tools,
        )

    async def async_answer(self, chat_log: conversation.ChatLog, agent_id: str) -> Outcome:
        """Answer the chat log's new content; raises HomeAssistantError or AssistantUnreachable."""
        data = self.entry.runtime_data
        sessions = data.sessions
        meter = data.meters[self.subentry.subentry_id]
        conversation_id = chat_log.conversation_id
        toolset = ToolSet.from_api(chat_log.llm_api)
        config = self.session_config(chat_log, toolset)
        async with sessions.lock(conversation_id):
            # A session that died between turns may only show it now: then once more, fresh.
            for attempt in range(2):
                current = sessions.get(conversation_id)
                reused = current is not None and current.alive
                try:
                    async with asyncio.timeout(self.turn_timeout):
                        if current is None or not reused:
                            current = await sessions.async_open(conversation_id, config, toolset)
                        else:
                            current.toolset = toolset
                            if current.session.config != config:
                                await current.session.configure(config)
                        chat_log.async_trace(
                            {
                                "realtime": {
                                    "call_id": current.session.call_id,
                                    "reused_session": reused,
                                    "model": config.model,
                                    "tools": [tool.name for tool in toolset.tools],
                                }
                            }
                        )
                        finished = await async_run_turn(
                            current,
                            chat_log,
                            agent_id,
                            max_tool_rounds=self.max_tool_rounds,
                            on_usage=meter.record,
                        )
                except TurnFailed as err:
                    closed = err.result.status == "closed" and err.produced_nothing
                    if reused and attempt == 0 and closed:
                        continue
                    raise self._turn_error(err) from err
                except TimeoutError as err:
                    LOGGER.warning("No answer within %s s; closing the session", self.turn_timeout)
                    await sessions.async_close(conversation_id, CloseReason.ERROR)
                    raise AssistantUnreachable from err
                except RealtimeError as err:
                    if reused and attempt == 0 and current is not None and not current.alive:
                        continue
                    raise self._client_error(err) from err
                break
            assert current is not None  # every path that leaves the loop without one raised
            ended = current.end_requested
            if ended:
                await sessions.async_close(conversation_id, CloseReason.MODEL_ENDED)
        ir.async_delete_issue(self.hass, DOMAIN, ISSUE_INSUFFICIENT_QUOTA)
        return Outcome(finished=finished, ended=ended)

    def _client_error(self, err: RealtimeError) -> Exception:
        LOGGER.debug("Realtime error: %r", err)
        if isinstance(err, RealtimeAuthError):
            self.entry.async_start_reauth(self.hass)
            return HomeAssistantError(translation_domain=DOMAIN, translation_key="invalid_auth")
        if isinstance(err, RealtimeRateLimitError):
            return self._limit_error(quota=err.quota)
        if isinstance(err, RealtimeBadRequestError):
            return HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="bad_request",
                translation_placeholders={"message": err.message},
            )
        return AssistantUnreachable(str(err))

    def _turn_error(self, err: TurnFailed) -> Exception:
        LOGGER.debug("Turn failed: %s (%s)", err, err.code)
        if err.result.status == "closed":
            return AssistantUnreachable(str(err))
        if err.code in QUOTA_CODES or err.code in RATE_LIMIT_CODES:
            return self._limit_error(quota=err.code in QUOTA_CODES)
        return HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="response_failed",
            translation_placeholders={"message": str(err)},
        )

    def _limit_error(self, *, quota: bool) -> HomeAssistantError:
        if not quota:
            return HomeAssistantError(translation_domain=DOMAIN, translation_key="rate_limited")
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            ISSUE_INSUFFICIENT_QUOTA,
            is_fixable=False,
            is_persistent=False,
            learn_more_url=BILLING_URL,
            severity=ir.IssueSeverity.ERROR,
            translation_key=ISSUE_INSUFFICIENT_QUOTA,
            translation_placeholders={"billing_url": BILLING_URL},
        )
        return HomeAssistantError(
            translation_domain=DOMAIN, translation_key=ISSUE_INSUFFICIENT_QUOTA
        )
