"""Constants for AIY Realtime."""

from __future__ import annotations

import logging
from typing import Final

DOMAIN: Final = "aiy_realtime"
LOGGER = logging.getLogger(__package__)

CONF_ENDPOINT: Final = "endpoint"
CONF_ENDPOINT_URL: Final = "endpoint_url"
CONF_ADVANCED: Final = "advanced"

CONF_MODEL: Final = "model"
CONF_VOICE: Final = "voice"
CONF_TRANSCRIPTION_MODEL: Final = "transcription_model"
CONF_TURN_DETECTION: Final = "turn_detection"
CONF_GREETING: Final = "greeting"

DEFAULT_TITLE: Final = "AIY Realtime"
DEFAULT_CONVERSATION_NAME: Final = "AIY Realtime assistant"
DEFAULT_MODEL: Final = "gpt-realtime"
DEFAULT_VOICE: Final = "marin"
DEFAULT_TRANSCRIPTION_MODEL: Final = "gpt-4o-mini-transcribe"
DEFAULT_TURN_DETECTION: Final = "server_vad"
DEFAULT_GREETING: Final = "Greet the user briefly and ask how you can help."

TRANSCRIPTION_NONE: Final = "none"
TRANSCRIPTION_MODELS: Final = (
    TRANSCRIPTION_NONE,
    "gpt-4o-mini-transcribe",
    "gpt-4o-transcribe",
    "whisper-1",
)
TURN_DETECTION_NONE: Final = "none"
TURN_DETECTIONS: Final = ("server_vad", "semantic_vad", TURN_DETECTION_NONE)
VOICES: Final = (
    "marin",
    "cedar",
    "alloy",
    "ash",
    "ballad",
    "coral",
    "echo",
    "sage",
    "shimmer",
    "verse",
)

KEY_CHECK_TIMEOUT: Final = 10.0

CONNECT_TIMEOUT: Final = 15.0
TURN_TIMEOUT: Final = 60.0
"""Seconds one typed turn may take, tool rounds included, before the user is told."""
MAX_TOOL_ROUNDS: Final = 10

CONF_PRICES: Final = "prices"
PRICE_KEYS: Final = (
    "text_input",
    "cached_text_input",
    "text_output",
    "audio_input",
    "cached_audio_input",
    "audio_output",
)
# USD per 1M tokens, as published in late 2026; the user edits them in the entry's options.
_REALTIME_1: Final = {
    "text_input": 4.0,
    "cached_text_input": 0.4,
    "text_output": 16.0,
    "audio_input": 32.0,
    "cached_audio_input": 0.4,
    "audio_output": 64.0,
}
_REALTIME_2: Final = {**_REALTIME_1, "text_output": 24.0}
DEFAULT_PRICES: Final[dict[str, dict[str, float]]] = {
    "gpt-realtime": _REALTIME_1,
    "gpt-realtime-1.5": _REALTIME_1,
    "gpt-realtime-2": _REALTIME_2,
    "gpt-realtime-2.1": _REALTIME_2,
    "gpt-realtime-2.1-mini": {
        "text_input": 0.6,
        "cached_text_input": 0.06,
        "text_output": 2.4,
        "audio_input": 10.0,
        "cached_audio_input": 0.3,
        "audio_output": 20.0,
    },
}

ISSUE_INSUFFICIENT_QUOTA: Final = "insufficient_quota"
BILLING_URL: Final = "https://platform.openai.com/settings/organization/billing"
