"""Config flow: an API key and its endpoint, then one conversation subentry per agent."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, override

import openai
import probatio

from homeassistant.config_entries import (
    SOURCE_REAUTH,
    SOURCE_RECONFIGURE,
    SOURCE_USER,
    ConfigEntry,
    ConfigEntryState,
    ConfigFlow,
    ConfigFlowResult,
    ConfigSubentryFlow,
    OptionsFlow,
)
from homeassistant.const import CONF_API_KEY
from homeassistant.core import callback
from homeassistant.data_entry_flow import section
from homeassistant.helpers.selector import (
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)

from .assistant.client import async_check_key, async_create_client, endpoint_from_data
from .const import (
    CONF_ADVANCED,
    CONF_ENDPOINT,
    CONF_ENDPOINT_URL,
    DEFAULT_TITLE,
    DOMAIN,
    LOGGER,
    SUBENTRY_ASSISTANT,
    SUBENTRY_TERMINAL,
)
from .flows.assistant import AssistantSubentryFlow, recommended_agent
from .flows.form import select
from .flows.options import PricesOptionsFlow
from .flows.terminal import TerminalSubentryFlow
from .realtime.endpoint import EndpointKind, InvalidEndpointURL

_PASSWORD = TextSelector(TextSelectorConfig(type=TextSelectorType.PASSWORD))


def _key_schema(with_endpoint: bool) -> probatio.Schema:
    fields: dict[Any, Any] = {probatio.Required(CONF_API_KEY): _PASSWORD}
    if with_endpoint:
        fields[probatio.Optional(CONF_ADVANCED)] = section(
            probatio.Schema(
                {
                    probatio.Required(CONF_ENDPOINT, default=EndpointKind.OPENAI.value): select(
                        [kind.value for kind in EndpointKind], CONF_ENDPOINT
                    ),
                    probatio.Optional(CONF_ENDPOINT_URL): TextSelector(
                        TextSelectorConfig(type=TextSelectorType.URL)
                    ),
                }
            ),
            {"collapsed": True},
        )
    return probatio.Schema(fields)


def _flatten(user_input: Mapping[str, Any]) -> dict[str, Any]:
    """Entry data from the form: the advanced section folded in, the URL only where it counts."""
    advanced = user_input.get(CONF_ADVANCED, {})
    kind = advanced.get(CONF_ENDPOINT, EndpointKind.OPENAI.value)
    data: dict[str, Any] = {CONF_API_KEY: user_input[CONF_API_KEY].strip(), CONF_ENDPOINT: kind}
    if kind != EndpointKind.OPENAI and advanced.get(CONF_ENDPOINT_URL):
        data[CONF_ENDPOINT_URL] = advanced[CONF_ENDPOINT_URL]
    return data


def _form_values(data: Mapping[str, Any]) -> dict[str, Any]:
    """The form's suggested values for stored entry data (the key is never shown back)."""
    return {
        CONF_ADVANCED: {
            CONF_ENDPOINT: data.get(CONF_ENDPOINT, EndpointKind.OPENAI.value),
            CONF_ENDPOINT_URL: data.get(CONF_ENDPOINT_URL, ""),
        }
    }


def _key_check_error(err: Exception) -> str:
    """The form's error for a failed key check."""
    if isinstance(err, (openai.AuthenticationError, openai.PermissionDeniedError)):
        return "invalid_auth"
    if isinstance(err, openai.NotFoundError):
        return "endpoint_not_found"
    if isinstance(err, (openai.APIConnectionError, openai.InternalServerError)):
        return "cannot_connect"
    return "unknown"


class AiyRealtimeConfigFlow(ConfigFlow, domain=DOMAIN):
    """Ask for an API key (and where it is valid), and check it before creating the entry."""

    VERSION = 1
    MINOR_VERSION = 1

    @override
    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Add a key."""
        return await self._async_step_key(user_input, "user", with_endpoint=True)

    async def async_step_reauth(self, entry_data: Mapping[str, Any]) -> ConfigFlowResult:
        """Start reauth after the endpoint refused the stored key."""
        return await self.async_step_reauth_confirm()

    async def async_step_reauth_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for a new key for the same endpoint."""
        return await self._async_step_key(user_input, "reauth_confirm", with_endpoint=False)

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change the key or the endpoint."""
        return await self._async_step_key(user_input, "reconfigure", with_endpoint=True)

    async def _async_step_key(
        self, user_input: dict[str, Any] | None, step_id: str, *, with_endpoint: bool
    ) -> ConfigFlowResult:
        errors: dict[str, str] = {}
        existing = None
        if self.source == SOURCE_REAUTH:
            existing = self._get_reauth_entry()
        elif self.source == SOURCE_RECONFIGURE:
            existing = self._get_reconfigure_entry()

        if user_input is not None:
            data = _flatten(user_input)
            if existing is not None and not with_endpoint:
                data = {**existing.data, CONF_API_KEY: data[CONF_API_KEY]}
            if self.source == SOURCE_USER:
                self._async_abort_entries_match(data)
            elif any(
                entry.entry_id != existing.entry_id and dict(entry.data) == data
                for entry in self._async_current_entries(include_ignore=False)
                if existing is not None
            ):
                return self.async_abort(reason="already_configured")
            errors = await self._async_validate(data)
            if not errors:
                if existing is not None:
                    if existing.state is ConfigEntryState.LOADED:
                        # Its update listener reloads it (HA 2026.12 wants no second reload).
                        return self.async_update_and_abort(existing, data=data)
                    return self.async_update_reload_and_abort(existing, data=data)
                return self.async_create_entry(
                    title=DEFAULT_TITLE,
                    data=data,
                    subentries=[recommended_agent()],
                )

        suggested = user_input or (_form_values(existing.data) if existing else None)
        return self.async_show_form(
            step_id=step_id,
            data_schema=self.add_suggested_values_to_schema(_key_schema(with_endpoint), suggested),
            errors=errors,
        )

    async def _async_validate(self, data: Mapping[str, Any]) -> dict[str, str]:
        """Errors for the form, keyed like HA expects; empty when the key works."""
        try:
            endpoint = endpoint_from_data(data)
        except InvalidEndpointURL:
            return {"base": "invalid_url"}
        try:
            await async_check_key(await async_create_client(self.hass, endpoint))
        except Exception as err:
            error = _key_check_error(err)
            if error == "unknown":
                LOGGER.exception("Unexpected error while checking the API key: %s", err)
            else:
                # The SDK's error says the status and the server's words; never the key.
                LOGGER.debug("Key check against %s failed: %s", endpoint.base_url or "OpenAI", err)
            return {"base": error}
        return {}

    @staticmethod
    @callback
    @override
    def async_get_options_flow(config_entry: ConfigEntry) -> OptionsFlow:
        """Prices for the cost sensors."""
        return PricesOptionsFlow()

    @classmethod
    @callback
    @override
    def async_get_supported_subentry_types(
        cls, config_entry: ConfigEntry
    ) -> dict[str, type[ConfigSubentryFlow]]:
        """Agents are subentries: several per key."""
        return {
            SUBENTRY_ASSISTANT: AssistantSubentryFlow,
            SUBENTRY_TERMINAL: TerminalSubentryFlow,
        }
