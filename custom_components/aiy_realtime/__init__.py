"""AIY Realtime: a speech-to-speech assistant on the OpenAI Realtime API for Home Assistant."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import openai

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import EVENT_HOMEASSISTANT_STOP, Platform
from homeassistant.core import Event, HomeAssistant
from homeassistant.exceptions import ConfigEntryAuthFailed, ConfigEntryNotReady
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.typing import ConfigType

from .agent.conversations import ConversationSessions
from .assistant.client import async_check_key, async_create_client, endpoint_from_data
from .assistant.retirements import async_remove_issues, async_update_issues
from .assistant.usage import UsageMeter
from .const import (
    CONF_MODEL,
    CONF_PRICES,
    DEFAULT_MODEL,
    DEFAULT_PRICES,
    DOMAIN,
    LOGGER,
    SUBENTRY_ASSISTANT,
    SUBENTRY_TERMINAL,
)
from .realtime.endpoint import Endpoint
from .realtime.signaling import UnifiedSignaling
from .services import async_setup_services
from .terminal.device import VoiceTerminal
from .terminal.settings import TerminalSettings

CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)
PLATFORMS: list[Platform] = [
    Platform.ASSIST_SATELLITE,
    Platform.BUTTON,
    Platform.CONVERSATION,
    Platform.EVENT,
    Platform.LIGHT,
    Platform.NUMBER,
    Platform.SELECT,
    Platform.SENSOR,
    Platform.SWITCH,
]


@dataclass(slots=True)
class AiyRealtimeData:
    """What a loaded entry keeps while it runs."""

    endpoint: Endpoint
    client: openai.AsyncOpenAI
    sessions: ConversationSessions
    meters: dict[str, UsageMeter] = field(default_factory=dict)
    """Per assistant (subentry id)."""
    terminals: dict[str, VoiceTerminal] = field(default_factory=dict)
    """Per voice terminal (subentry id)."""
    loaded: EntrySnapshot | None = None
    """What the entry said when it loaded, or when its settings were last applied live."""


@dataclass(frozen=True, slots=True)
class EntrySnapshot:
    """An entry's data, options and subentries, copied: HA changes a subentry in place, so
    the update listener could not otherwise tell what an update changed."""

    data: Mapping[str, Any]
    options: Mapping[str, Any]
    subentries: Mapping[str, tuple[str, str, Mapping[str, Any]]]
    """Per subentry id: its type, its title, its data."""

    @classmethod
    def of(cls, entry: ConfigEntry) -> EntrySnapshot:
        return cls(
            data=dict(entry.data),
            options=dict(entry.options),
            subentries={
                subentry_id: (subentry.subentry_type, subentry.title, dict(subentry.data))
                for subentry_id, subentry in entry.subentries.items()
            },
        )

    def live_changes(self, after: EntrySnapshot) -> list[str] | None:
        """The terminals whose settings alone changed since, which take them without a reload;
        None when something changed that only a reload applies.

        Reloaded for: the key, endpoint or prices (the client and meters are made at setup); a
        subentry added or removed (entities and terminals to make or drop); a title (device
        names); an assistant (its meter prices its model, its device shows it, its retirement
        issues are raised at setup); a terminal's sound or kit (opened once, entities by kit).
        """
        if (
            self.data != after.data
            or self.options != after.options
            or self.subentries.keys() != after.subentries.keys()
        ):
            return None
        changed = []
        for subentry_id, (kind, title, data) in after.subentries.items():
            old_kind, old_title, old_data = self.subentries[subentry_id]
            if (kind, title) != (old_kind, old_title):
                return None
            if data == old_data:
                continue
            if kind != SUBENTRY_TERMINAL or not TerminalSettings.applies_live(old_data, data):
                return None
            changed.append(subentry_id)
        return changed


type AiyRealtimeConfigEntry = ConfigEntry[AiyRealtimeData]


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register the integration's actions (config entries only otherwise)."""
    async_setup_services(hass)
    return True


async def async_setup_entry(hass: HomeAssistant, entry: AiyRealtimeConfigEntry) -> bool:
    """Check the key once, then keep a client for the entry's lifetime."""
    endpoint = endpoint_from_data(entry.data)
    client = await async_create_client(hass, endpoint)
    try:
        await async_check_key(client)
    except (openai.AuthenticationError, openai.PermissionDeniedError) as err:
        LOGGER.debug("Key check failed: %s", err)
        raise ConfigEntryAuthFailed(
            translation_domain=DOMAIN, translation_key="invalid_auth"
        ) from err
    except openai.APIStatusError as err:
        LOGGER.debug("Key check failed: %s", err)
        raise ConfigEntryNotReady(
            translation_domain=DOMAIN,
            translation_key="api_error",
            translation_placeholders={"status": str(err.status_code)},
        ) from err
    except openai.OpenAIError as err:
        LOGGER.debug("Key check failed: %s", err)
        raise ConfigEntryNotReady(
            translation_domain=DOMAIN, translation_key="cannot_connect"
        ) from err

    # The user's prices over the shipped ones: a model priced after the user saved the table
    # (an update of this integration) still gets a price.
    prices = {**DEFAULT_PRICES, **entry.options.get(CONF_PRICES, {})}
    entry.runtime_data = AiyRealtimeData(
        endpoint=endpoint,
        client=client,
        sessions=ConversationSessions(hass, lambda: UnifiedSignaling(client)),
        meters={
            subentry_id: UsageMeter(subentry.data.get(CONF_MODEL, DEFAULT_MODEL), prices)
            for subentry_id, subentry in entry.subentries.items()
            if subentry.subentry_type == SUBENTRY_ASSISTANT
        },
    )
    data = entry.runtime_data
    data.loaded = EntrySnapshot.of(entry)
    for subentry_id, subentry in entry.subentries.items():
        if subentry.subentry_type == SUBENTRY_TERMINAL:
            terminal = VoiceTerminal(hass, entry, subentry, data)
            data.terminals[subentry_id] = terminal
            # A terminal whose sound does not work is unavailable, with a repair issue: the
            # entry (and its typed assistants) still load.
            await terminal.async_check_audio()
            # Likewise a kit whose pins cannot be used: a repair issue, its entities unavailable.
            if terminal.kit is not None:
                await terminal.kit.async_open()
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    # Each load, so an assistant switched (or removed) since loses its issue.
    async_update_issues(hass, entry)
    entry.async_on_unload(entry.add_update_listener(_async_reload_on_update))

    async def _hang_up_on_stop(event: Event) -> None:
        # HA stops without unloading entries: hang up, rather than leave calls to time out.
        await _async_close_sessions(entry)

    # Not async_listen_once: its remover fails (and logs) when the entry unloads after the stop.
    entry.async_on_unload(hass.bus.async_listen(EVENT_HOMEASSISTANT_STOP, _hang_up_on_stop))
    return True


async def async_unload_entry(hass: HomeAssistant, entry: AiyRealtimeConfigEntry) -> bool:
    """Close every open session and unload the platforms; the shared HTTP client stays HA's."""
    await _async_close_sessions(entry)
    return await hass.config_entries.async_unload_platforms(entry, PLATFORMS)


async def async_remove_entry(hass: HomeAssistant, entry: AiyRealtimeConfigEntry) -> None:
    """The entry's repair issues go with it."""
    async_remove_issues(hass, entry.entry_id)


async def _async_close_sessions(entry: AiyRealtimeConfigEntry) -> None:
    data = entry.runtime_data
    await asyncio.gather(
        data.sessions.async_close_all(),
        *(terminal.async_close() for terminal in data.terminals.values()),
    )


async def _async_reload_on_update(hass: HomeAssistant, entry: AiyRealtimeConfigEntry) -> None:
    """Apply a change of the entry or its subentries: a terminal's settings straight onto the
    live terminal, anything else by reloading the entry.

    A reload hangs up every terminal's call and every typed conversation of the entry, so a
    setting changed often (a terminal's entities change its subentry) must not cost one.
    """
    data = entry.runtime_data
    now = EntrySnapshot.of(entry)
    changed = data.loaded.live_changes(now) if data.loaded is not None else None
    if changed is None:
        await hass.config_entries.async_reload(entry.entry_id)
        return
    data.loaded = now
    for terminal_id in changed:
        data.terminals[terminal_id].apply_settings()
