"""The assistants of an entry: `conversation` subentries, created and changed in one form."""

from __future__ import annotations

from typing import Any

import probatio

from homeassistant.config_entries import (
    SOURCE_USER,
    ConfigSubentryData,
    ConfigSubentryFlow,
    SubentryFlowResult,
)
from homeassistant.const import CONF_LLM_HASS_API, CONF_NAME, CONF_PROMPT
from homeassistant.data_entry_flow import section
from homeassistant.helpers import llm
from homeassistant.helpers.selector import (
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    TemplateSelector,
)

from ..assistant.models import REALTIME_MODELS, TRANSCRIPTION_MODELS
from ..const import (
    CONF_GREETING,
    CONF_MODEL,
    CONF_REASONING_EFFORT,
    CONF_TRANSCRIPTION_MODEL,
    CONF_TURN_DETECTION,
    CONF_VOICE,
    CONF_VOICE_SETTINGS,
    DEFAULT_CONVERSATION_NAME,
    DEFAULT_GREETING,
    DEFAULT_MODEL,
    DEFAULT_REASONING_EFFORT,
    DEFAULT_TRANSCRIPTION_MODEL,
    DEFAULT_TURN_DETECTION,
    DEFAULT_VOICE,
    REASONING_EFFORTS,
    TURN_DETECTIONS,
    VOICES,
)
from .form import models, select

RECOMMENDED_CONVERSATION_OPTIONS: dict[str, Any] = {
    CONF_LLM_HASS_API: [llm.LLM_API_ASSIST],
    CONF_PROMPT: llm.DEFAULT_INSTRUCTIONS_PROMPT,
    CONF_MODEL: DEFAULT_MODEL,
    CONF_REASONING_EFFORT: DEFAULT_REASONING_EFFORT,
    CONF_VOICE: DEFAULT_VOICE,
    CONF_TRANSCRIPTION_MODEL: DEFAULT_TRANSCRIPTION_MODEL,
    CONF_TURN_DETECTION: DEFAULT_TURN_DETECTION,
    CONF_GREETING: DEFAULT_GREETING,
}
VOICE_SETTINGS = (CONF_VOICE, CONF_TRANSCRIPTION_MODEL, CONF_TURN_DETECTION, CONF_GREETING)
"""What only voice sessions read: the form keeps them in a section of their own."""


def recommended_agent() -> ConfigSubentryData:
    """The agent a new entry starts with (the offline demo and the tests start from it too)."""
    return ConfigSubentryData(
        data=dict(RECOMMENDED_CONVERSATION_OPTIONS),
        subentry_type="conversation",
        title=DEFAULT_CONVERSATION_NAME,
        unique_id=None,
    )


class AssistantSubentryFlow(ConfigSubentryFlow):
    """Create or change one assistant."""

    options: dict[str, Any]

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> SubentryFlowResult:
        """Add an assistant, starting from working defaults."""
        self.options = dict(RECOMMENDED_CONVERSATION_OPTIONS)
        return await self.async_step_init()

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Change an assistant."""
        self.options = {**RECOMMENDED_CONVERSATION_OPTIONS, **self._get_reconfigure_subentry().data}
        return await self.async_step_init()

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> SubentryFlowResult:
        """One form with every assistant setting; the voice ones in a collapsed section."""
        is_new = self.source == SOURCE_USER
        if user_input is not None:
            voice = user_input.pop(CONF_VOICE_SETTINGS, {})
            user_input = {**user_input, **voice}
            if not user_input.get(CONF_LLM_HASS_API):
                user_input.pop(CONF_LLM_HASS_API, None)
                self.options.pop(CONF_LLM_HASS_API, None)
            if not user_input.get(CONF_GREETING):
                user_input[CONF_GREETING] = ""
            self.options.update(user_input)
            title = self.options.pop(CONF_NAME, None)
            if is_new:
                return self.async_create_entry(
                    title=title or DEFAULT_CONVERSATION_NAME, data=self.options
                )
            return self.async_update_and_abort(
                self._get_entry(), self._get_reconfigure_subentry(), data=self.options
            )

        apis = llm.async_get_apis(self.hass)
        known = {api.id for api in apis}
        if selected := self.options.get(CONF_LLM_HASS_API):
            self.options[CONF_LLM_HASS_API] = [api for api in selected if api in known]

        fields: dict[Any, Any] = {}
        if is_new:
            fields[probatio.Required(CONF_NAME, default=DEFAULT_CONVERSATION_NAME)] = str
        fields.update(
            {
                probatio.Optional(CONF_PROMPT): TemplateSelector(),
                probatio.Optional(CONF_LLM_HASS_API): SelectSelector(
                    SelectSelectorConfig(
                        options=[SelectOptionDict(label=api.name, value=api.id) for api in apis],
                        multiple=True,
                    )
                ),
                probatio.Required(CONF_MODEL, default=DEFAULT_MODEL): models(REALTIME_MODELS),
                probatio.Required(CONF_REASONING_EFFORT, default=DEFAULT_REASONING_EFFORT): select(
                    REASONING_EFFORTS, CONF_REASONING_EFFORT
                ),
                probatio.Required(CONF_VOICE_SETTINGS): section(
                    probatio.Schema(
                        {
                            probatio.Required(CONF_VOICE, default=DEFAULT_VOICE): select(
                                VOICES, CONF_VOICE
                            ),
                            probatio.Required(
                                CONF_TRANSCRIPTION_MODEL, default=DEFAULT_TRANSCRIPTION_MODEL
                            ): models(TRANSCRIPTION_MODELS),
                            probatio.Required(
                                CONF_TURN_DETECTION, default=DEFAULT_TURN_DETECTION
                            ): select(TURN_DETECTIONS, CONF_TURN_DETECTION),
                            probatio.Optional(CONF_GREETING): TemplateSelector(),
                        }
                    ),
                    {"collapsed": True},
                ),
            }
        )
        suggested = {
            **{k: v for k, v in self.options.items() if k not in VOICE_SETTINGS},
            CONF_VOICE_SETTINGS: {k: self.options[k] for k in VOICE_SETTINGS if k in self.options},
        }
        return self.async_show_form(
            step_id="init",
            data_schema=self.add_suggested_values_to_schema(probatio.Schema(fields), suggested),
        )
