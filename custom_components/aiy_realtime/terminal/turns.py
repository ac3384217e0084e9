"""A voice session's conversation as Home Assistant's chat log keeps it: the user's words in the
order they were said, then each answer as it was heard, its tools run through the log."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
import logging
import time

from homeassistant.components import conversation
from homeassistant.core import HomeAssistant

from ..assistant.problems import TurnProblem, async_answered, problem_of_code, problem_of_error
from ..chat.bridge import ChatBridge, TurnFailed, TurnProgress
from ..chat.conversation import TurnState, current_turn
from ..chat.sessions import async_get_chat_session
from ..realtime.errors import RealtimeError, RealtimeSessionClosed
from ..realtime.responses import ResponseResult, Turn
from ..realtime.session import RealtimeSession

_LOGGER = logging.getLogger(__name__)

TRANSCRIPT_GRACE = 1.0
"""Seconds the user's words are waited for after the answer to them is done (tools run only
then, so waiting that long costs the answer nothing)."""
PLAYED_WAIT = 60.0
"""Seconds a spoken answer may take to play before it goes into the log as it stands."""

type Transcribed = Callable[[str, str], None]
"""Told (role, text) of every transcript as it becomes known."""


@dataclass(slots=True)
class _Answer:
    turn: Turn
    items: list[str]
    """The user's audio items this turn answers, in the order they were committed."""
    state: TurnState


@dataclass(slots=True)
class _LateWords:
    text: str


class VoiceTurns:
    """Takes the session's turns one after another; stops once told to, after the one it is on
    (whose log entries are kept), and reports an `end_session` request through the turn state."""

    def __init__(
        self,
        hass: HomeAssistant,
        session: RealtimeSession,
        bridge: ChatBridge,
        *,
        conversation_id: str,
        provide_llm_data: Callable[[conversation.ChatLog], Awaitable[None]],
        on_transcript: Transcribed,
        on_failed: Callable[[TurnProblem, str], None],
    ) -> None:
        self.hass = hass
        self.session = session
        self.bridge = bridge
        self.conversation_id = conversation_id
        self._provide_llm_data = provide_llm_data
        self._on_transcript = on_transcript
        self._on_failed = on_failed
        self._queue: asyncio.Queue[_Answer | _LateWords | None] = asyncio.Queue()
        self._committed: list[str] = []
        self._words: dict[str, asyncio.Future[str | None]] = {}
        self._spoken_at: dict[str, float] = {}
        self._askers: list[tuple[float, asyncio.Future[str | None]]] = []
        self.end_requested = asyncio.Event()

    # -- what the session says -----------------------------------------------------------------

    def speech_started(self, item_id: str, at: float) -> None:
        """The user began to speak, at `at` (monotonic, when the microphone heard it)."""
        self._spoken_at[item_id] = at

    def committed(self, item_id: str) -> None:
        self._committed.append(item_id)
        self._future_of(item_id)

    def transcribed(self, item_id: str, text: str | None) -> None:
        """The words of an audio item (None: not understood)."""
        words = self._future_of(item_id)
        if words.done():
            return
        words.set_result(text)
        if text:
            self._on_transcript("user", text)
            spoken_at = self._spoken_at.get(item_id, time.monotonic())
            for after, asker in self._askers:
                if spoken_at >= after and not asker.done():
                    asker.set_result(text)

    def server_turn(self, turn: Turn) -> None:
        """A response the server started: the answer to what was committed since the last."""
        items, self._committed = self._committed, []
        self._queue.put_nowait(_Answer(turn, items, TurnState()))

    def asked(self, turn: Turn) -> None:
        """A response asked for (a greeting, an announcement, a goodbye): no user words."""
        self._queue.put_nowait(_Answer(turn, [], TurnState()))

    async def next_words(self, after: float) -> str | None:
        """The words of the first utterance begun at `after` (monotonic) or later; None if the
        session ends first."""
        asker: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        self._askers.append((after, asker))
        try:
            return await asker
        finally:
            self._askers.remove((after, asker))

    def stop(self) -> None:
        """Finish the turn in hand (its log entries are kept), then stop."""
        self._queue.put_nowait(None)
        for words in self._words.values():
            if not words.done():
                words.set_result(None)
        for _, asker in self._askers:
            if not asker.done():
                asker.set_result(None)

    # -- the log -------------------------------------------------------------------------------

    async def run(self) -> None:
        while (work := await self._queue.get()) is not None:
            if isinstance(work, _LateWords):
                await self._log_late(work.text)
                continue
            texts = await self._words_in_time(work)
            await self._answer(work, texts)
            if work.state.end_requested:
                self.end_requested.set()

    async def _words_in_time(self, work: _Answer) -> list[str | None]:
        """The user's words for the turn, as far as they are known once the answer is done
        (and a grace after). Words that come later still go into the log, after the answer."""
        words = [self._future_of(item) for item in work.items]
        if not words or all(w.done() for w in words):
            return [self._take(item) for item in work.items]
        all_known = asyncio.ensure_future(asyncio.wait(words))
        answered = asyncio.ensure_future(_then_wait(work.turn.result(), TRANSCRIPT_GRACE))
        await asyncio.wait({all_known, answered}, return_when=asyncio.FIRST_COMPLETED)
        for waiting in (all_known, answered):
            waiting.cancel()
        texts: list[str | None] = []
        for item, known in zip(work.items, words, strict=True):
            if known.done():
                texts.append(self._take(item))
            else:
                _LOGGER.debug("the words of %s come after their answer", item)
                known.add_done_callback(self._late)
                texts.append(None)
        return texts

    def _late(self, words: asyncio.Future[str | None]) -> None:
        if not words.cancelled() and (text := words.result()):
            self._queue.put_nowait(_LateWords(text))

    async def _answer(self, work: _Answer, texts: list[str | None]) -> None:
        with self._chat_log() as chat_log:
            await self._provide_llm_data(chat_log)
            for text in texts:
                if text:
                    self._add_user_words(chat_log, text)
            token = current_turn.set(work.state)
            try:
                await self.bridge.answer(work.turn, chat_log, TurnProgress())
            except TurnFailed as err:
                if err.result.status == "failed":
                    # OpenAI's refusal (quota, rate limit, its own error): the user must hear
                    # of it, or they wait for an answer that never comes.
                    self._on_failed(problem_of_code(err.code), str(err))
                else:  # spoken over, cut off, or the session closing: nothing went wrong
                    _LOGGER.debug("a voice turn ended without an answer: %s", err)
            except RealtimeSessionClosed as err:
                _LOGGER.debug("a voice turn ended with its session: %s", err)
            except RealtimeError as err:
                self._on_failed(problem_of_error(err), str(err))
            else:
                async_answered(self.hass)
            finally:
                current_turn.reset(token)

    async def _log_late(self, text: str) -> None:
        with self._chat_log() as chat_log:
            self._add_user_words(chat_log, text)

    @contextmanager
    def _chat_log(self) -> Iterator[conversation.ChatLog]:
        """The conversation's chat log for one step: HA reopens it each time (a voice session
        may outlast a chat session's 5 idle minutes; each step keeps the chat session alive)."""
        with (
            async_get_chat_session(self.hass, self.conversation_id, None) as chat,
            conversation.async_get_chat_log(self.hass, chat) as chat_log,
        ):
            self.conversation_id = chat.conversation_id
            yield chat_log

    def _add_user_words(self, chat_log: conversation.ChatLog, text: str) -> None:
        content = conversation.UserContent(text)
        chat_log.async_add_user_content(content)
        self.bridge.realtime.mark_seen(content)  # the session heard it: never send it as text

    def _future_of(self, item_id: str) -> asyncio.Future[str | None]:
        if (words := self._words.get(item_id)) is None:
            words = asyncio.get_running_loop().create_future()
            self._words[item_id] = words
        return words

    def _take(self, item_id: str) -> str | None:
        words = self._words.pop(item_id, None)
        self._spoken_at.pop(item_id, None)
        return words.result() if words is not None and words.done() else None

    # -- what was heard ------------------------------------------------------------------------

    async def spoken(self, result: ResponseResult) -> str:
        """What the user heard of a spoken answer: all of it, or up to where they spoke.

        An answer that acts goes into the log at once, so that its actions run while it is
        said; a spoken-only one once it has played, as heard.
        """
        text = result.transcript or result.text
        playback = self.session.playback
        if not result.tool_calls:
            await playback.finished(result.response_id, PLAYED_WAIT)
            if playback.played_seconds(result.response_id) is None:
                # Cut off before its audio began: nothing of it was heard.
                text = text if result.status == "completed" else ""
            else:
                text = playback.heard(result.response_id, text)
        if text:
            self._on_transcript("assistant", text)
        return text


async def _then_wait(done: Awaitable[object], seconds: float) -> None:
    await done
    await asyncio.sleep(seconds)
