"""The kit steps of a voice terminal's form: each asks only what the kit chosen so far needs,
boards fill in their sound, and pins or a pigpiod that cannot be used are said on the step that
asks for them, with nothing typed lost."""

from __future__ import annotations

from collections.abc import Callable
import json
import os
from pathlib import Path
import socket
from typing import Any

from gpiozero.exc import BadPinFactory
from gpiozero.pins.mock import MockFactory
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from homeassistant.config_entries import SOURCE_USER
from homeassistant.const import CONF_NAME
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import entity_registry as er

from custom_components.aiy_realtime.const import DOMAIN, SUBENTRY_TERMINAL
from custom_components.aiy_realtime.hardware import pins
from tests.audio_server import AudioServer
from tests.hardware.fake_pigpiod import FakePigpiod
from tests.hardware.fakes import FakePiGPIOFactory
from tests.helpers import ASSISTANT_ID, TERMINAL_ID, assistant, async_set_up_entry, terminal
from tests.kit_helpers import reserved
from tests.peer import LocalRealtimePeer

pytestmark = pytest.mark.usefixtures("openai_at_peer", "loopback_ice")

TEXTS = json.loads(
    (
        Path(__file__).parent.parent / "custom_components/aiy_realtime/translations/en.json"
    ).read_text()
)["config_subentries"]["voice_terminal"]
ALSA_CONF = Path(os.environ.get("ALSA_CONFIG_DIR", "/usr/share/alsa")) / "alsa.conf"
KIT = {"pins": "local", "long_press": "end_session", "led_idle": "off"}
TERMINAL_STEP = {
    "assistant": ASSISTANT_ID,
    "audio_backend": "pulseaudio",
    "idle_timeout": 60,
    "half_duplex": False,
}
"""The terminal step of a reconfigure, left as it was saved: what comes after it is tested."""
KIT_KEYS = ("board", "pins", "pigpio_host", "pigpio_port", "long_press", "led_idle")


@pytest.fixture
async def entry(hass: HomeAssistant, peer: LocalRealtimePeer) -> MockConfigEntry:
    return await async_set_up_entry(hass, assistant())


async def to_kit_step(
    hass: HomeAssistant, entry: MockConfigEntry, backend: str = "pulseaudio"
) -> dict[str, Any]:
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, SUBENTRY_TERMINAL), context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"],
        {
            CONF_NAME: "Kitchen kit",
            "assistant": ASSISTANT_ID,
            "audio_backend": backend,
            "idle_timeout": 30,
            "half_duplex": True,
        },
    )
    assert result["step_id"] == "kit"
    return result  # type: ignore[return-value]


async def submit(hass: HomeAssistant, result: dict[str, Any], data: dict[str, Any]) -> Any:
    return await hass.config_entries.subentries.async_configure(result["flow_id"], data)


def suggested(result: dict[str, Any], field: str) -> Any:
    key = next(k for k in result["data_schema"].schema if str(k) == field)
    return (key.description or {}).get("suggested_value")


def fields(result: dict[str, Any]) -> list[str]:
    """The fields the step shows, in order; each must have its label and its step a title (a
    missing one shows a raw key in the frontend)."""
    shown = [str(key) for key in result["data_schema"].schema]
    texts = TEXTS["step"][result["step_id"]]
    assert texts["title"]
    assert [field for field in shown if not texts["data"].get(field)] == []
    return shown


async def finish_on(hass: HomeAssistant, result: dict[str, Any], audio_server: AudioServer) -> Any:
    """Through the PulseAudio steps, with the test server's microphone and speaker."""
    assert result["step_id"] == "pulseaudio"
    result = await submit(hass, result, {"pulse_server": audio_server.server})
    assert result["step_id"] == "pulseaudio_devices"
    return await submit(
        hass, result, {"pulse_source": "kit_mic.monitor", "pulse_sink": "kit_speaker"}
    )


async def test_no_kit_asks_nothing_of_a_kit(
    hass: HomeAssistant, entry: MockConfigEntry, audio_server: AudioServer
) -> None:
    result = await to_kit_step(hass, entry)
    assert fields(result) == ["board"]  # no pins, pigpiod, long press or LED before a kit

    result = await submit(hass, result, {"board": "none"})

    result = await finish_on(hass, result, audio_server)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    (added,) = [s for s in entry.subentries.values() if s.subentry_type == SUBENTRY_TERMINAL]
    # Saved as the single kit step saved a terminal without a kit.
    assert {key: added.data.get(key) for key in KIT_KEYS} == {
        "board": "none",
        "pins": "local",
        "pigpio_host": None,
        "pigpio_port": 8888,
        "long_press": "end_session",
        "led_idle": "off",
    }
    registry = er.async_get(hass)
    assert registry.async_get_entity_id("event", DOMAIN, f"{added.subentry_id}_button") is None
    await hass.config_entries.async_unload(entry.entry_id)


async def test_a_kit_on_this_machine_asks_no_pigpiod(
    hass: HomeAssistant, entry: MockConfigEntry, kit_pins: MockFactory, audio_server: AudioServer
) -> None:
    result = await to_kit_step(hass, entry)

    result = await submit(hass, result, {"board": "voice_hat"})

    assert result["step_id"] == "kit_pins"
    assert fields(result) == ["pins", "long_press", "led_idle"]
    assert suggested(result, "pins") == "local"
    result = await submit(hass, result, {**KIT, "long_press": "event_only", "led_idle": "ready"})
    result = await finish_on(hass, result, audio_server)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    (added,) = [s for s in entry.subentries.values() if s.subentry_type == SUBENTRY_TERMINAL]
    assert {key: added.data.get(key) for key in KIT_KEYS} == {
        "board": "voice_hat",
        "pins": "local",
        "pigpio_host": None,
        "pigpio_port": 8888,
        "long_press": "event_only",
        "led_idle": "ready",
    }
    await hass.config_entries.async_unload(entry.entry_id)


async def test_a_voice_hat_fills_in_its_sound_card(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    kit_pins: MockFactory,
    tmp_path: Path,
    alsa_config: Callable[[str], None],
) -> None:
    # ALSA's `default` as the Home Assistant container has it (the pulse plugin), whatever
    # cards this machine has: the ALSA step is the plain one.
    asound = tmp_path / "asound.conf"
    asound.write_text("pcm.!default {\n type pulse\n}\nctl.!default {\n type pulse\n}\n")
    alsa_config(f"{ALSA_CONF}:{asound}")
    result = await to_kit_step(hass, entry, backend="alsa")

    result = await submit(hass, result, {"board": "voice_hat"})
    result = await submit(hass, result, KIT)

    assert result["step_id"] == "alsa"
    assert suggested(result, "alsa_capture") == "plughw:CARD=sndrpigooglevoi,DEV=0"
    assert suggested(result, "alsa_playback") == "plughw:CARD=sndrpigooglevoi,DEV=0"
    await hass.config_entries.async_unload(entry.entry_id)


async def test_custom_pins_that_make_no_kit_are_said(
    hass: HomeAssistant, entry: MockConfigEntry, kit_pins: MockFactory, audio_server: AudioServer
) -> None:
    result = await to_kit_step(hass, entry)
    result = await submit(hass, result, {"board": "custom"})
    assert result["step_id"] == "custom_pins"
    assert suggested(result, "button_pin") == 23  # the Voice HAT's, to start from

    result = await submit(hass, result, {"button_pin": 5, "led_pin": 5})

    assert result["errors"] == {"base": "board_pin_twice"}
    assert "GPIO5" in result["description_placeholders"]["problem"]
    result = await submit(hass, result, {})
    assert result["errors"] == {"base": "board_no_parts"}
    result = await submit(hass, result, {"button_pin": 5, "led_pin": 6})
    assert result["step_id"] == "kit_pins"  # where these pins are, once they make a kit
    result = await submit(hass, result, KIT)
    assert result["step_id"] == "pulseaudio"
    result = await submit(hass, result, {"pulse_server": audio_server.server})
    assert result["step_id"] == "pulseaudio_devices"
    result = await submit(
        hass, result, {"pulse_source": "kit_mic.monitor", "pulse_sink": "kit_speaker"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    (added,) = [s for s in entry.subentries.values() if s.subentry_type == SUBENTRY_TERMINAL]
    assert (added.data["board"], added.data["button_pin"], added.data["led_pin"]) == (
        "custom",
        5,
        6,
    )
    assert added.data["amp_pin"] is None
    assert kit_pins.pin(6).function == "output"  # the reloaded entry drives the kit's LED
    await hass.config_entries.async_unload(entry.entry_id)


async def test_this_machine_without_gpio_is_said(
    hass: HomeAssistant, entry: MockConfigEntry, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_gpio() -> Any:
        raise BadPinFactory("Unable to load any default pin factory!")

    monkeypatch.setattr(pins, "local_factory", no_gpio)
    result = await to_kit_step(hass, entry)
    result = await submit(hass, result, {"board": "voice_bonnet"})

    result = await submit(hass, result, {**KIT, "led_idle": "ready"})

    # Said where the pins' place is chosen, which is where another place can be.
    assert result["step_id"] == "kit_pins"
    assert result["errors"] == {"base": "gpio_no_gpio"}
    assert "pigpiod" in result["description_placeholders"]["problem"]
    assert suggested(result, "led_idle") == "ready"  # nothing chosen is lost
    result = await submit(hass, result, {**KIT, "pins": "remote"})
    assert result["step_id"] == "kit_remote"
    await hass.config_entries.async_unload(entry.entry_id)


async def test_a_remote_kit_needs_a_pigpiod_that_answers(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    monkeypatch: pytest.MonkeyPatch,
    socket_enabled: None,
) -> None:
    FakePiGPIOFactory.made = []
    monkeypatch.setattr(pins, "remote_factory_class", lambda: FakePiGPIOFactory)
    result = await to_kit_step(hass, entry)
    result = await submit(hass, result, {"board": "voice_bonnet"})
    result = await submit(hass, result, {**KIT, "pins": "remote"})
    assert result["step_id"] == "kit_remote"
    assert fields(result) == ["pigpio_host", "pigpio_port"]
    assert suggested(result, "pigpio_port") == 8888

    result = await submit(hass, result, {"pigpio_host": " "})
    assert result["errors"] == {"pigpio_host": "host_needed"}

    with socket.socket() as refusing:
        refusing.bind(("127.0.0.1", 0))
        port = refusing.getsockname()[1]
        result = await submit(hass, result, {"pigpio_host": "127.0.0.1", "pigpio_port": port})
    assert result["step_id"] == "kit_remote"
    assert result["errors"] == {"base": "gpio_remote_refused"}
    assert f"127.0.0.1:{port}" in result["description_placeholders"]["problem"]
    assert suggested(result, "pigpio_host") == "127.0.0.1"  # nothing typed is lost
    assert suggested(result, "pigpio_port") == port

    with FakePigpiod() as pigpiod:
        port = pigpiod.port
        result = await submit(hass, result, {"pigpio_host": "127.0.0.1", "pigpio_port": port})
    # The kit's own PulseAudio server (its network module) is the one suggested.
    assert result["step_id"] == "pulseaudio"
    assert suggested(result, "pulse_server") == "tcp:127.0.0.1"
    (probed,) = FakePiGPIOFactory.made
    assert probed.closed
    await hass.config_entries.async_unload(entry.entry_id)


async def test_removing_the_kit_removes_its_entities(
    hass: HomeAssistant,
    peer: LocalRealtimePeer,
    kit_pins: MockFactory,
    audio_server: AudioServer,
) -> None:
    entry = await async_set_up_entry(
        hass, assistant(), terminal(audio_server.server, board="voice_hat", pins="local")
    )
    registry = er.async_get(hass)
    kit_entities = [
        registry.async_get_entity_id("event", DOMAIN, f"{TERMINAL_ID}_button"),
        registry.async_get_entity_id("light", DOMAIN, f"{TERMINAL_ID}_led"),
    ]
    assert None not in kit_entities

    result = await entry.start_subentry_reconfigure_flow(hass, TERMINAL_ID)
    assert result["step_id"] == "terminal"
    result = await submit(
        hass,
        result,
        TERMINAL_STEP,
    )
    assert result["step_id"] == "kit"
    assert suggested(result, "board") == "voice_hat"
    result = await submit(hass, result, {"board": "none"})
    result = await finish_on(hass, result, audio_server)
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()

    assert [registry.async_get(entity_id) for entity_id in kit_entities] == [None, None]
    assert reserved(kit_pins) == []  # the old kit's pins went with it
    await hass.config_entries.async_unload(entry.entry_id)


async def test_reconfigure_starts_each_kit_step_from_the_terminal_s_kit(
    hass: HomeAssistant,
    peer: LocalRealtimePeer,
    audio_server: AudioServer,
    monkeypatch: pytest.MonkeyPatch,
    socket_enabled: None,
) -> None:
    FakePiGPIOFactory.made = []
    monkeypatch.setattr(pins, "remote_factory_class", lambda: FakePiGPIOFactory)
    with FakePigpiod() as pigpiod:
        port = pigpiod.port
        kit = {
            "board": "voice_bonnet",
            "pins": "remote",
            "pigpio_host": "127.0.0.1",
            "pigpio_port": port,
            "long_press": "event_only",
            "led_idle": "ready",
        }
        entry = await async_set_up_entry(hass, assistant(), terminal(audio_server.server, **kit))

        result = await entry.start_subentry_reconfigure_flow(hass, TERMINAL_ID)
        result = await submit(
            hass,
            result,
            TERMINAL_STEP,
        )
        assert result["step_id"] == "kit"
        assert suggested(result, "board") == "voice_bonnet"
        result = await submit(hass, result, {"board": "voice_bonnet"})
        assert result["step_id"] == "kit_pins"
        assert [suggested(result, key) for key in ("pins", "long_press", "led_idle")] == [
            "remote",
            "event_only",
            "ready",
        ]
        result = await submit(
            hass, result, {"pins": "remote", "long_press": "event_only", "led_idle": "ready"}
        )
        assert result["step_id"] == "kit_remote"
        assert suggested(result, "pigpio_host") == "127.0.0.1"
        assert suggested(result, "pigpio_port") == port
        result = await submit(hass, result, {"pigpio_host": "127.0.0.1", "pigpio_port": port})
        result = await finish_on(hass, result, audio_server)

        assert result["reason"] == "reconfigure_successful"
        await hass.async_block_till_done()
        data = entry.subentries[TERMINAL_ID].data
        assert {key: data.get(key) for key in KIT_KEYS} == kit
        await hass.config_entries.async_unload(entry.entry_id)
