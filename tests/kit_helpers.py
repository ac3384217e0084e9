"""What the kit's tests share: its pins, and a finger on its button."""

from __future__ import annotations

import asyncio
from typing import Any

from gpiozero.pins.mock import MockFactory

from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er

from custom_components.aiy_realtime.const import DOMAIN
from tests.helpers import TERMINAL_ID

BUTTON, LED, AMP = 23, 25, 16
"""The Voice HAT's pins (BCM)."""


def reserved(factory: MockFactory) -> list[Any]:
    return [pin for pin, owners in factory._reservations.items() if owners]


def entity(hass: HomeAssistant, platform: str, suffix: str) -> str:
    entity_id = er.async_get(hass).async_get_entity_id(platform, DOMAIN, f"{TERMINAL_ID}_{suffix}")
    assert entity_id is not None
    return entity_id


async def press(hass: HomeAssistant, factory: MockFactory, seconds: float = 0.15) -> None:
    """A finger on the arcade button (pulled up: pressed is low), from another thread as
    gpiozero's own edge callbacks come."""
    pin = factory.pin(BUTTON)
    await hass.async_add_executor_job(pin.drive_low)
    await asyncio.sleep(seconds)
    await hass.async_add_executor_job(pin.drive_high)
