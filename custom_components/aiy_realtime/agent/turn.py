"""An agent's turn: find or open the conversation's session, run the turn, say what failed."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from homeassistant.components import conversation
from homeassistant.config_entries import ConfigEntry, ConfigSubentry
from homeassistant.core import HomeAssistant

from ..assistant.problems import (
    TurnProblem,
    async_answered,
    async_create_quota_issue,
    problem_of_code,
)
from ..assistant.retirements import retired_error
from ..assistant.settings import Assistant
from ..assistant.usage import UsageMeter
from ..chat.bridge import ChatBridge, TurnFailed, TurnProgress
from ..chat.conversation import SessionKey, TurnState, current_turn
from ..chat.instructions import split_prompt
from ..chat.toolset import ToolSet
from ..const import (
    ISSUE_INSUFFICIENT_QUOTA,
    LOGGER,
    MAX_TOOL_ROUNDS,
    TURN_TIMEOUT,
)
from ..realtime.config import SessionConfig
from ..realtime.errors import (
    RealtimeAuthError,
    RealtimeBadRequestError,
    RealtimeError,
    RealtimeMessageTooLarge,
    RealtimeRateLimitError,
    RealtimeSessionClosed,
)
from ..realtime.session import CloseReason
from .conversations import ConversationSessions, SessionsClosed


class AgentRuntime(Protocol):
    """What a turn takes from its entry's runtime data: the sessions, and a meter per assistant.

    The entry's own type is the package's (`AiyRealtimeConfigEntry`), which holds the terminals
    too; a room does not import the top, so the agent names only what it reads.
    """

    @property
    def sessions(self) -> ConversationSessions: ...

    @property
    def meters(self) -> Mapping[str, UsageMeter]: ...


class AgentError(Exception):
    """What went wrong, as one of our translated texts: the entity answers with it."""

    def __init__(self, key: str, **placeholders: str) -> None:
        super().__init__(key)
        self.key = key
        self.placeholders = placeholders


@dataclass(slots=True)
class Outcome:
    finished: bool
    """False when the turn stopped at the tool-round limit."""
    ended: bool
    """The model ended the session (`end_session`)."""


@dataclass(slots=True)
class _TurnPlan:
    """What one turn needs, worked out once for all its attempts.

    The registry and meter are the entry's as the turn began: a reload meanwhile gives the entry
    new ones, and this turn must close what it opened in its own.
    """

    key: SessionKey
    config: SessionConfig
    toolset: ToolSet
    context: str | None
    """The volatile part of the prompt (the time), told as a conversation item."""
    sessions: ConversationSessions
    meter: UsageMeter
    state: TurnState


class _DropBeforeAnswer(Exception):
    """A reused session turned out dead before anything reached the chat log: try a new one."""


class RealtimeAgent:
    """Answers chat logs for one agent (subentry) on warm Realtime sessions."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry[Any],
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

    async def async_answer(self, chat_log: conversation.ChatLog, agent_id: str) -> Outcome:
        """Answer the chat log's new content; raises AgentError."""
        data: AgentRuntime = self.entry.runtime_data
        system = chat_log.content[0]
        instructions, context = (
            split_prompt(system.content or "") if system.role == "system" else ("", None)
        )
        toolset = ToolSet.from_api(chat_log.llm_api)
        plan = _TurnPlan(
            key=(self.subentry.subentry_id, chat_log.conversation_id),
            config=Assistant.from_options(self.subentry.data).text_config(
                instructions or None, toolset
            ),
            toolset=toolset,
            context=context,
            sessions=data.sessions,
            meter=data.meters[self.subentry.subentry_id],
            state=TurnState(),
        )
        async with plan.sessions.turn(plan.key):
            token = current_turn.set(plan.state)
            try:
                async with asyncio.timeout(self.turn_timeout):
                    try:
                        finished = await self._attempt(chat_log, agent_id, plan)
                    except _DropBeforeAnswer:
                        LOGGER.debug("The session of %s was gone; answering on a new one", plan.key)
                        finished = await self._attempt(chat_log, agent_id, plan, fresh=True)
            except TimeoutError as err:
                LOGGER.warning("No answer within %s s; closing the session", self.turn_timeout)
                await plan.sessions.async_close(plan.key, CloseReason.ERROR)
                raise AgentError("unreachable") from err
            except SessionsClosed as err:
                raise AgentError("stopped") from err
            except TurnFailed as err:
                raise self._turn_error(err, plan) from err
            except RealtimeError as err:
                raise self._client_error(err, plan) from err
            finally:
                current_turn.reset(token)
            if plan.state.end_requested:
                await plan.sessions.async_close(plan.key, CloseReason.MODEL_ENDED)
        async_answered(self.hass)
        return Outcome(finished=finished, ended=plan.state.end_requested)

    async def _attempt(
        self,
        chat_log: conversation.ChatLog,
        agent_id: str,
        plan: _TurnPlan,
        *,
        fresh: bool = False,
    ) -> bool:
        """One try at the turn; raises _DropBeforeAnswer when a second try is safe."""
        sessions = plan.sessions
        current = None if fresh else sessions.get(plan.key)
        reused = current is not None and current.alive
        progress = TurnProgress()
        try:
            if current is not None and reused:
                if current.session.config.needs_new_session(plan.config):
                    reused = False
                else:
                    await current.session.configure(plan.config)
            if current is None or not reused:
                current = await sessions.async_open(plan.key, plan.config, plan.toolset)
            current.toolset = plan.toolset
            chat_log.async_trace(
                {
                    "realtime": {
                        "call_id": current.session.call_id,
                        "reused_session": reused,
                        "model": plan.config.model,
                        "tools": [tool.name for tool in plan.toolset.tools],
                    }
                }
            )
            bridge = ChatBridge(
                current,
                agent_id,
                on_usage=plan.meter.record,
                max_tool_rounds=self.max_tool_rounds,
                output_modality="text",
            )
            return await bridge.ask(chat_log, plan.context, progress)
        except (TurnFailed, RealtimeSessionClosed) as err:
            closed = isinstance(err, RealtimeSessionClosed) or err.result.status == "closed"
            # What reached the chat log (and whoever listens to it) must never come twice.
            if reused and closed and not progress.streamed and not sessions.closed:
                raise _DropBeforeAnswer from err
            raise

    def _client_error(self, err: RealtimeError, plan: _TurnPlan) -> AgentError:
        LOGGER.debug("Realtime error: %r", err)
        if isinstance(err, RealtimeSessionClosed) and plan.sessions.closed:
            return AgentError("stopped")
        if isinstance(err, RealtimeMessageTooLarge):
            return AgentError("too_large", size=str(max(1, err.size // 1024)))
        if isinstance(err, RealtimeAuthError):
            self.entry.async_start_reauth(self.hass)
            return AgentError("invalid_auth")
        if isinstance(err, RealtimeRateLimitError):
            return self._limit_error(quota=err.quota)
        if isinstance(err, RealtimeBadRequestError):
            # OpenAI refuses a shut-down model like any unknown one: the date tells them apart.
            if (retired := retired_error(self.subentry, voice=False)) is not None:
                assert retired.translation_key is not None
                return AgentError(
                    retired.translation_key, **(retired.translation_placeholders or {})
                )
            return AgentError("bad_request", message=err.message)
        return AgentError("unreachable")

    def _turn_error(self, err: TurnFailed, plan: _TurnPlan) -> AgentError:
        LOGGER.debug("Turn failed: %s (%s)", err, err.code)
        status = err.result.status
        if status == "closed" and plan.sessions.closed:
            return AgentError("stopped")
        if status == "closed":
            return AgentError("unreachable")
        if status in ("incomplete", "cancelled"):
            return AgentError("response_unfinished", reason=str(err))
        if (problem := problem_of_code(err.code)) in (TurnProblem.QUOTA, TurnProblem.RATE_LIMITED):
            return self._limit_error(quota=problem is TurnProblem.QUOTA)
        if problem is TurnProblem.AUTH:  # as the voice path does: the key must be renewed
            self.entry.async_start_reauth(self.hass)
            return AgentError("invalid_auth")
        return AgentError("response_failed", message=str(err))

    def _limit_error(self, *, quota: bool) -> AgentError:
        if not quota:
            return AgentError("rate_limited")
        async_create_quota_issue(self.hass)
        return AgentError(ISSUE_INSUFFICIENT_QUOTA)
