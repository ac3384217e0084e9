"""One bridge between Home Assistant's chat log and a Realtime session.

The text agent and the voice session both go through it: the session is told what the chat log
has and it has not, each response streams into the chat log, its tool calls run through the chat
log (so exposure, intents and traces apply) and their results go back, round after round.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
import json
from typing import Any

from homeassistant.components import conversation
from homeassistant.helpers import llm

from ..realtime.config import OutputModality
from ..realtime.items import SystemText
from ..realtime.responses import ResponseResult, Turn, TurnResult, Usage
from .conversation import RealtimeConversation
from .history import content_items, tool_output

type UsageCallback = Callable[[Usage], None]
type SpokenText = Callable[[ResponseResult], Awaitable[str]]
"""The part of a spoken response the user heard (all of it, unless they spoke over it)."""


class TurnFailed(Exception):
    """The model's response failed or stopped short, or the session closed mid-turn."""

    def __init__(self, result: TurnResult) -> None:
        super().__init__(result.error or result.status)
        self.result = result

    @property
    def code(self) -> str | None:
        return self.result.error_code


@dataclass(slots=True)
class TurnProgress:
    """How far a turn got where others can see it."""

    streamed: bool = False
    """Some of the answer reached the chat log (and whoever listens to it)."""


@dataclass(slots=True)
class ChatBridge:
    """A conversation's session and the chat log it answers, for one agent."""

    realtime: RealtimeConversation
    """The session, and what of the chat log it has been told."""
    agent_id: str
    on_usage: UsageCallback
    max_tool_rounds: int
    output_modality: OutputModality | None = None
    """What follow-up responses are asked for (None: the session's own)."""
    spoken: SpokenText | None = None
    """Voice: the text of a spoken response goes into the chat log once known, as `spoken` says
    (what was heard of it); text responses stream into it as they are written."""

    def tell(self, chat_log: conversation.ChatLog, context: str | None = None) -> None:
        """Send the session what the chat log has and the session has not seen yet, after the
        turn's volatile context (the time) when that changed.

        Each entry counts as seen once tried: one the session refused (too long for the
        channel, say) is not tried again with the next turn. Home Assistant keeps a failed
        turn's message in the chat log from 2026.11 on; it used to drop it.
        """
        known = self.realtime
        session = known.session
        if context is not None and context != known.context:
            session.add_items([SystemText(context)])
            known.context = context
        for part in known.unseen(chat_log):
            known.mark_seen(part)
            session.add_items(content_items(part))

    async def ask(
        self, chat_log: conversation.ChatLog, context: str | None, progress: TurnProgress
    ) -> bool:
        """Answer the chat log's new content (a typed turn); see `answer`."""
        self.tell(chat_log, context)
        first = self.realtime.session.create_response(
            output_modality=self.output_modality, run_tools=False
        )
        return await self.answer(first, chat_log, progress)

    async def answer(
        self, first: Turn, chat_log: conversation.ChatLog, progress: TurnProgress
    ) -> bool:
        """Stream `first` (asked for, or started by the server) into the chat log, and the
        responses its tool calls lead to, in at most `max_tool_rounds` responses.

        False if the last one still called tools (their outputs are in the session, unanswered).
        """
        session = self.realtime.session
        turn = first
        for _ in range(self.max_tool_rounds):
            stream = self._deltas(turn, chat_log.llm_api is not None, progress)
            added = [
                content
                async for content in chat_log.async_add_delta_content_stream(self.agent_id, stream)
            ]
            # The model's own messages and calls are in the session already; HA's results go back.
            results = 0
            for content in added:
                if isinstance(content, conversation.ToolResultContent):
                    session.send_tool_output(content.tool_call_id, tool_output(content))
                    results += 1
                self.realtime.mark_seen(content)
            if not results:
                return True
            turn = session.create_response(output_modality=self.output_modality, run_tools=False)
        return False

    async def _deltas(
        self, turn: Turn, can_run_tools: bool, progress: TurnProgress
    ) -> AsyncIterator[
        conversation.AssistantContentDeltaDict | conversation.ToolResultContentDeltaDict
    ]:
        """The chat log's view of one response: a message, its text, then its tool calls.

        Only a completed response's calls are run: a cancelled or incomplete one's never are.
        """
        yield {"role": "assistant"}
        if self.spoken is None:
            async for text in turn.deltas():
                progress.streamed = True
                yield {"content": text}
            result = await turn.result()
        else:
            result = await turn.result()
            if result.responses and (text := await self.spoken(result.responses[-1])):
                progress.streamed = True
                yield {"content": text}
        self.on_usage(result.usage)
        if result.status in ("failed", "closed"):
            raise TurnFailed(result)
        if result.status in ("incomplete", "cancelled") and not result.text:
            raise TurnFailed(result)
        calls: list[llm.ToolInput] = []
        refused: list[conversation.ToolResultContentDeltaDict] = []
        for call in result.tool_calls:
            name = self.realtime.toolset.ha_name(call.name)
            arguments, problem = _parse_arguments(call.arguments)
            if problem is None and not can_run_tools:
                problem = "no tools are available in this conversation"
            if problem is None:
                calls.append(llm.ToolInput(tool_name=name, tool_args=arguments, id=call.call_id))
                continue
            # Recorded but not run by HA; the model gets the error as the call's output.
            calls.append(llm.ToolInput(name, {}, id=call.call_id, external=True))
            refused.append(
                {
                    "role": "tool_result",
                    "tool_call_id": call.call_id,
                    "tool_name": name,
                    "result": llm.ToolResult(data={"error": problem}, error=True),
                }
            )
        if calls:
            yield {"tool_calls": calls}
        for delta in refused:
            yield delta


def _parse_arguments(text: str) -> tuple[dict[str, Any], str | None]:
    try:
        arguments = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError as err:
        return {}, f"arguments are not valid JSON: {err.msg}"
    if not isinstance(arguments, dict):
        return {}, "arguments must be a JSON object"
    return arguments, None
