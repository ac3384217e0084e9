"""Constants for AIY Realtime."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Final

from .assistant.models import REALTIME_MODELS, TRANSCRIPTION_MODELS
from .assistant.usage import load_prices

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
CONF_VOICE_SETTINGS: Final = "voice_settings"
CONF_REASONING_EFFORT: Final = "reasoning_effort"

SUBENTRY_ASSISTANT: Final = "conversation"
SUBENTRY_TERMINAL: Final = "voice_terminal"

CONF_ASSISTANT: Final = "assistant"
CONF_AUDIO: Final = "audio"
CONF_AUDIO_BACKEND: Final = "audio_backend"
CONF_PULSE_SERVER: Final = "pulse_server"
CONF_PULSE_SOURCE: Final = "pulse_source"
CONF_PULSE_SINK: Final = "pulse_sink"
CONF_ALSA_CAPTURE: Final = "alsa_capture"
CONF_ALSA_PLAYBACK: Final = "alsa_playback"
CONF_IDLE_TIMEOUT: Final = "idle_timeout"
CONF_HALF_DUPLEX: Final = "half_duplex"
CONF_ECHO_CANCELLATION: Final = "echo_cancellation"
CONF_NOISE_REDUCTION: Final = "noise_reduction"
NOISE_REDUCTION_OFF: Final = "off"
NOISE_REDUCTIONS: Final = ("far_field", "near_field", NOISE_REDUCTION_OFF)
DEFAULT_NOISE_REDUCTION: Final = "far_field"
"""A speaker a metre or more away (the kit's): OpenAI's "far field"; a headset is "near field"."""
BACKEND_PULSEAUDIO: Final = "pulseaudio"
BACKEND_ALSA: Final = "alsa"
AUDIO_BACKENDS: Final = (BACKEND_PULSEAUDIO, BACKEND_ALSA)
DEFAULT_IDLE_TIMEOUT: Final = 30
MIN_IDLE_TIMEOUT: Final = 5
MAX_IDLE_TIMEOUT: Final = 240
"""Seconds of silence before a voice session ends. Below Home Assistant's chat session timeout
(5 minutes, `chat_session.CONVERSATION_TIMEOUT`) with room to spare: a session that waited longer
would find its chat session forgotten, and its next turn would start a second conversation id.
Past the API's own limit (30 s) the terminal's timer alone ends the session."""
DEFAULT_TERMINAL_NAME: Final = "Voice terminal"
AUDIO_RATE: Final = 48000
"""Opus's own rate: the microphone and the speaker need no resampling on the way."""

CONF_BOARD: Final = "board"
CONF_PINS: Final = "pins"
CONF_PIGPIO_HOST: Final = "pigpio_host"
CONF_PIGPIO_PORT: Final = "pigpio_port"
CONF_BUTTON_PIN: Final = "button_pin"
CONF_LED_PIN: Final = "led_pin"
CONF_AMP_PIN: Final = "amp_pin"
CONF_LONG_PRESS: Final = "long_press"
CONF_LED_IDLE: Final = "led_idle"
PINS_LOCAL: Final = "local"
PINS_REMOTE: Final = "remote"
PIN_LOCATIONS: Final = (PINS_LOCAL, PINS_REMOTE)
LONG_PRESS_END: Final = "end_session"
LONG_PRESS_EVENT: Final = "event_only"
LONG_PRESS_NOTHING: Final = "nothing"
LONG_PRESS_ACTIONS: Final = (LONG_PRESS_END, LONG_PRESS_EVENT, LONG_PRESS_NOTHING)
LED_IDLE_CHOICES: Final = ("off", "ready")
ISSUE_KIT_UNAVAILABLE: Final = "kit_unavailable"

EVENT_SESSION_STARTED: Final = f"{DOMAIN}_session_started"
EVENT_SESSION_ENDED: Final = f"{DOMAIN}_session_ended"
EVENT_TRANSCRIPT: Final = f"{DOMAIN}_transcript"
ISSUE_AUDIO_UNAVAILABLE: Final = "audio_unavailable"

DEFAULT_TITLE: Final = "AIY Realtime"
DEFAULT_CONVERSATION_NAME: Final = "AIY Realtime assistant"
DEFAULT_MODEL: Final = REALTIME_MODELS[0]
DEFAULT_VOICE: Final = "marin"
DEFAULT_TRANSCRIPTION_MODEL: Final = TRANSCRIPTION_MODELS[0]
REASONING_EFFORTS: Final = ("minimal", "low", "medium", "high", "xhigh")
DEFAULT_REASONING_EFFORT: Final = "low"
"""A voice answer should start within a second; more effort is for harder questions."""
DEFAULT_TURN_DETECTION: Final = "server_vad"
DEFAULT_GREETING: Final = "Greet the user briefly and ask how you can help."

TURN_DETECTIONS: Final = ("server_vad", "semantic_vad")
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
# USD per 1M tokens as published in late 2026, kept as data so new prices need no code. Read once,
# at import, which Home Assistant runs in its import executor (loader.py) rather than on the event
# loop; a broken file fails the import instead of pricing wrongly.
DEFAULT_PRICES: Final = load_prices(Path(__file__).with_name("prices.json"))

ISSUE_INSUFFICIENT_QUOTA: Final = "insufficient_quota"
ISSUE_RETIRING_MODEL: Final = "retiring_model"
"""One per assistant and model kind: `retiring_model_<kind>_<subentry id>`."""
BILLING_URL: Final = "https://platform.openai.com/settings/organization/billing"
