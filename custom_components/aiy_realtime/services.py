"""The integration's actions: start and end a voice session, or say something, on a terminal.

Registered once for the integration (not per entry) and aimed at a terminal's satellite entity.
"""

from __future__ import annotations

import probatio

from homeassistant.components.assist_satellite import DOMAIN as SATELLITE_DOMAIN
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import config_validation as cv, service

from .const import DOMAIN

ATTR_INSTRUCTIONS = "instructions"
ATTR_GREETING = "greeting"
ATTR_GRACEFUL = "graceful"
ATTR_TEXT = "text"


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    """Register start_session, end_session and say."""
    service.async_register_platform_entity_service(
        hass,
        DOMAIN,
        "start_session",
        entity_domain=SATELLITE_DOMAIN,
        schema={
            probatio.Optional(ATTR_INSTRUCTIONS): cv.string,
            probatio.Optional(ATTR_GREETING): cv.string,
        },
        func="async_start_session",
    )
    service.async_register_platform_entity_service(
        hass,
        DOMAIN,
        "end_session",
        entity_domain=SATELLITE_DOMAIN,
        schema={probatio.Optional(ATTR_GRACEFUL, default=True): cv.boolean},
        func="async_end_session",
    )
    service.async_register_platform_entity_service(
        hass,
        DOMAIN,
        "say",
        entity_domain=SATELLITE_DOMAIN,
        schema={probatio.Required(ATTR_TEXT): cv.string},
        func="async_say",
    )
