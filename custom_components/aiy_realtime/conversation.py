"""The Assist conversation agent: one entity per agent subentry, answered on a Realtime session."""

from __future__ import annotations

from typing import Literal, override

from homeassistant.components import conversation
from homeassistant.components.conversation.models import AbstractConversationAgent
from homeassistant.const import CONF_LLM_HASS_API, CONF_PROMPT, MATCH_ALL
from homeassistant.core import HomeAssistant
from homeassistant.helpers import intent, translation
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from . import AiyRealtimeConfigEntry
from .agent.turn import AgentError, RealtimeAgent
from .chat.tool_guard import guard_tools
from .const import DOMAIN
from .entity import AiyRealtimeEntity

PARALLEL_UPDATES = 0


async def async_setup_entry(
    hass: HomeAssistant,
    entry: AiyRealtimeConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """One conversation entity per agent."""
    for subentry in entry.subentries.values():
        if subentry.subentry_type != "conversation":
            continue
        async_add_entities(
            [AiyRealtimeConversationEntity(RealtimeAgent(hass, entry, subentry))],
            config_subentry_id=subentry.subentry_id,
        )


async def async_translated(
    hass: HomeAssistant, language: str | None, key: str, **values: str
) -> str:
    """One of our exception texts in the user's language (HA fills missing ones from English)."""
    found = await translation.async_get_translations(
        hass, language or hass.config.language, "exceptions", [DOMAIN]
    )
    return found.get(f"component.{DOMAIN}.exceptions.{key}.message", key).format(**values)


class AiyRealtimeConversationEntity(
    conversation.ConversationEntity,
    AbstractConversationAgent,
    AiyRealtimeEntity,
):
    """A Realtime model as an Assist agent: text in, streamed text out, HA tools in between."""

    _attr_name = None
    _attr_supports_streaming = True

    def __init__(self, agent: RealtimeAgent) -> None:
        super().__init__(agent.entry, agent.subentry)
        self.agent = agent
        self._attr_unique_id = agent.subentry.subentry_id
        if agent.subentry.data.get(CONF_LLM_HASS_API):
            self._attr_supported_features = conversation.ConversationEntityFeature.CONTROL

    @property
    @override
    def supported_languages(self) -> list[str] | Literal["*"]:
        return MATCH_ALL

    @override
    async def async_added_to_hass(self) -> None:
        await super().async_added_to_hass()
        conversation.async_set_agent(self.hass, self.entry, self)

    @override
    async def async_will_remove_from_hass(self) -> None:
        conversation.async_unset_agent(self.hass, self.entry)
        await super().async_will_remove_from_hass()

    @override
    async def _async_handle_message(
        self,
        user_input: conversation.ConversationInput,
        chat_log: conversation.ChatLog,
    ) -> conversation.ConversationResult:
        options = self.subentry.data
        try:
            await chat_log.async_provide_llm_data(
                user_input.as_llm_context(DOMAIN),
                options.get(CONF_LLM_HASS_API),
                options.get(CONF_PROMPT),
                user_input.extra_system_prompt,
            )
        except conversation.ConverseError as err:
            return err.as_conversation_result()
        guard_tools(chat_log)

        try:
            outcome = await self.agent.async_answer(chat_log, self.entity_id)
        except AgentError as err:
            return await self._error_result(user_input, chat_log, err)
        if not outcome.finished:
            text = await async_translated(
                self.hass,
                user_input.language,
                "tool_limit",
                rounds=str(self.agent.max_tool_rounds),
            )
            chat_log.async_add_assistant_content_without_tools(
                conversation.AssistantContent(agent_id=self.entity_id, content=text)
            )
        result = conversation.async_get_result_from_chat_log(user_input, chat_log)
        if outcome.ended:
            result.continue_conversation = False
        return result

    async def _error_result(
        self,
        user_input: conversation.ConversationInput,
        chat_log: conversation.ChatLog,
        error: AgentError,
    ) -> conversation.ConversationResult:
        """What failed, as an answer the pipeline speaks or shows (never an exception: a voice
        user hears it, and a typed one reads it, in their language)."""
        response = intent.IntentResponse(language=user_input.language)
        response.async_set_error(
            intent.IntentResponseErrorCode.UNKNOWN,
            await async_translated(self.hass, user_input.language, error.key, **error.placeholders),
        )
        return conversation.ConversationResult(
            response=response, conversation_id=chat_log.conversation_id
        )
