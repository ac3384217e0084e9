"""Adding and changing a voice terminal through HA's subentry flow, against real PulseAudio."""

from __future__ import annotations

from collections.abc import Callable
import json
from pathlib import Path
from typing import Any

import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from homeassistant.config_entries import SOURCE_USER
from homeassistant.const import CONF_NAME
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import entity_registry as er

from custom_components.aiy_realtime.const import DOMAIN, SUBENTRY_TERMINAL
from tests.audio_server import AudioServer
from tests.helpers import ASSISTANT_ID, TERMINAL_ID, assistant, async_set_up_entry, terminal
from tests.peer import LocalRealtimePeer

pytestmark = pytest.mark.usefixtures("openai_at_peer", "loopback_ice")

TEXTS = json.loads(
    (
        Path(__file__).parent.parent / "custom_components/aiy_realtime/translations/en.json"
    ).read_text()
)["config_subentries"]["voice_terminal"]
TERMINAL = {
    "assistant": ASSISTANT_ID,
    "idle_timeout": 30,
    "half_duplex": False,
}


def options_of(result: dict[str, object], field: str) -> list[str]:
    schema = result["data_schema"].schema  # type: ignore[index, union-attr]
    key = next(k for k in schema if str(k) == field)
    return [option["value"] for option in schema[key].config["options"]]


async def begin(hass: HomeAssistant, entry: MockConfigEntry) -> dict[str, object]:
    return await hass.config_entries.subentries.async_init(  # type: ignore[return-value]
        (entry.entry_id, SUBENTRY_TERMINAL), context={"source": SOURCE_USER}
    )


async def submit(hass: HomeAssistant, result: dict[str, Any], data: dict[str, Any]) -> Any:
    return await hass.config_entries.subentries.async_configure(result["flow_id"], data)


def suggested(result: dict[str, Any], field: str) -> Any:
    key = next(k for k in result["data_schema"].schema if str(k) == field)
    return (key.description or {}).get("suggested_value")


def said(result: dict[str, Any]) -> dict[str, str]:
    """The form's errors as the user reads them: each its sentence, placeholders filled in (a
    missing text or placeholder fails here, as it would show a raw key in the frontend)."""
    placeholders = result.get("description_placeholders") or {}
    return {
        field: TEXTS["error"][key].format(**placeholders)
        for field, key in (result["errors"] or {}).items()
    }


def description(result: dict[str, Any]) -> str:
    """The step's description as the user reads it."""
    text: str = TEXTS["step"][result["step_id"]].get("description", "")
    return text.format(**(result.get("description_placeholders") or {}))


async def to_sound_step(
    hass: HomeAssistant, entry: MockConfigEntry, backend: str = "pulseaudio"
) -> Any:
    """A new terminal's form up to its sound step (no kit)."""
    result = await begin(hass, entry)
    result = await submit(
        hass, result, {CONF_NAME: "Kitchen terminal", **TERMINAL, "audio_backend": backend}
    )
    return await without_kit(hass, result)


def nothing_answers_by_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """libpulse's default server (client.conf, as on Home Assistant OS) is one that is not there."""
    client = tmp_path / "client.conf"
    client.write_text(f"default-server = unix:{tmp_path}/nobody\nautospawn = no\n")
    monkeypatch.setenv("PULSE_CLIENTCONFIG", str(client))
    monkeypatch.delenv("PULSE_SERVER", raising=False)


async def without_kit(hass: HomeAssistant, result: dict[str, object]) -> dict[str, object]:
    assert result["step_id"] == "kit"
    return await hass.config_entries.subentries.async_configure(  # type: ignore[return-value]
        result["flow_id"],  # type: ignore[arg-type]
        {"board": "none"},
    )


async def test_add_a_terminal_on_the_default_pulseaudio_server(
    hass: HomeAssistant, peer: LocalRealtimePeer, audio_server: AudioServer
) -> None:
    # The server's own defaults are what the devices step starts from.
    await audio_server.pactl("set-default-sink", audio_server.mic_sink)
    entry = await async_set_up_entry(hass, assistant())

    result = await begin(hass, entry)
    assert result["step_id"] == "terminal"
    assert options_of(result, "assistant") == [ASSISTANT_ID]
    result = await submit(
        hass,
        result,
        {CONF_NAME: "Kitchen terminal", **TERMINAL, "audio_backend": "pulseaudio"},
    )
    result = await without_kit(hass, result)

    # First the server: empty is Home Assistant's default (the test's client.conf names it).
    assert result["step_id"] == "pulseaudio"
    assert result["errors"] is None
    assert suggested(result, "pulse_server") in (None, "")
    result = await submit(hass, result, {})

    # Then that server's devices, its defaults chosen.
    assert result["step_id"] == "pulseaudio_devices"
    assert result["errors"] is None
    assert "kit_mic.monitor" in options_of(result, "pulse_source")
    assert "kit_speaker" in options_of(result, "pulse_sink")
    assert suggested(result, "pulse_source") == "kit_mic.monitor"
    assert suggested(result, "pulse_sink") == audio_server.mic_sink
    assert audio_server.server in description(result)
    result = await submit(
        hass, result, {"pulse_source": "kit_mic.monitor", "pulse_sink": "kit_speaker"}
    )
    await hass.async_block_till_done()

    assert result["type"] is FlowResultType.CREATE_ENTRY
    (added,) = [s for s in entry.subentries.values() if s.subentry_type == SUBENTRY_TERMINAL]
    assert added.title == "Kitchen terminal"
    # Saved as the default, not the address it has today: it follows Home Assistant's.
    assert added.data["pulse_server"] == ""
    assert (added.data["pulse_source"], added.data["pulse_sink"]) == (
        "kit_mic.monitor",
        "kit_speaker",
    )
    # The entry reloaded with it: the terminal's satellite is there and available.
    entity_id = er.async_get(hass).async_get_entity_id(
        "assist_satellite", DOMAIN, added.subentry_id
    )
    assert entity_id is not None
    assert hass.states.get(entity_id).state == "idle"
    await hass.config_entries.async_unload(entry.entry_id)


async def test_a_typed_server_s_own_devices_are_listed_after_one_clear_error(
    hass: HomeAssistant,
    peer: LocalRealtimePeer,
    audio_server: AudioServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    nothing_answers_by_default(tmp_path, monkeypatch)
    entry = await async_set_up_entry(hass, assistant())

    # The step opens quietly although nothing answers yet: nobody asked for anything.
    result = await to_sound_step(hass, entry)
    assert result["step_id"] == "pulseaudio"
    assert result["errors"] is None
    assert description(result) == TEXTS["step"]["pulseaudio"]["description"]  # nothing added

    result = await submit(hass, result, {})
    assert result["step_id"] == "pulseaudio"
    assert said(result) == {"base": TEXTS["error"]["audio_default_server_unreachable"]}

    result = await submit(hass, result, {"pulse_server": "unix:/nonexistent/native"})
    assert result["step_id"] == "pulseaudio"
    assert said(result) == {
        "pulse_server": TEXTS["error"]["audio_server_unreachable"].format(
            server="unix:/nonexistent/native"
        )
    }
    # Said once: not again in the description, and libpulse's own words are nowhere.
    assert "nonexistent" not in description(result)
    assert "pa_context" not in json.dumps(result["description_placeholders"])
    assert suggested(result, "pulse_server") == "unix:/nonexistent/native"  # nothing lost

    result = await submit(hass, result, {"pulse_server": audio_server.server})
    assert result["step_id"] == "pulseaudio_devices"
    assert result["errors"] is None
    assert options_of(result, "pulse_source") == ["kit_mic.monitor", "kit_speaker.monitor"]
    assert options_of(result, "pulse_sink") == ["kit_mic", "kit_speaker"]
    assert audio_server.server in description(result)

    # A device the server does not have is said on its own field, once.
    result = await submit(hass, result, {"pulse_source": "kit_mic.monitor", "pulse_sink": "gone"})
    assert result["step_id"] == "pulseaudio_devices"
    assert said(result) == {"pulse_sink": TEXTS["error"]["audio_device_missing"]}
    assert suggested(result, "pulse_sink") == "gone"
    result = await submit(hass, result, {"pulse_source": "kit_mic.monitor"})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    (added,) = [s for s in entry.subentries.values() if s.subentry_type == SUBENTRY_TERMINAL]
    assert added.data["pulse_server"] == audio_server.server
    assert added.data["pulse_sink"] == ""  # left empty: the server's default
    await hass.config_entries.async_unload(entry.entry_id)


async def test_home_assistant_s_own_server_is_offered(
    hass: HomeAssistant,
    peer: LocalRealtimePeer,
    audio_server: AudioServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Where Home Assistant runs with PULSE_SERVER (scripts/develop's demo server), that server
    is a choice of the server field."""
    monkeypatch.setenv("PULSE_SERVER", audio_server.server)
    entry = await async_set_up_entry(hass, assistant())

    result = await to_sound_step(hass, entry)

    assert result["step_id"] == "pulseaudio"
    assert options_of(result, "pulse_server") == [audio_server.server]
    await hass.config_entries.async_unload(entry.entry_id)


async def test_reconfigure_starts_from_the_terminal_s_server_and_devices(
    hass: HomeAssistant, peer: LocalRealtimePeer, audio_server: AudioServer
) -> None:
    entry = await async_set_up_entry(hass, assistant(), terminal(audio_server.server))

    result = await entry.start_subentry_reconfigure_flow(hass, TERMINAL_ID)
    result = await submit(hass, result, {**TERMINAL, "audio_backend": "pulseaudio"})
    result = await without_kit(hass, result)
    assert result["step_id"] == "pulseaudio"
    assert result["errors"] is None
    assert suggested(result, "pulse_server") == audio_server.server
    result = await submit(hass, result, {"pulse_server": audio_server.server})
    assert result["step_id"] == "pulseaudio_devices"
    assert suggested(result, "pulse_source") == "kit_mic.monitor"
    assert suggested(result, "pulse_sink") == "kit_speaker"
    result = await submit(
        hass, result, {"pulse_source": "kit_speaker.monitor", "pulse_sink": "kit_speaker"}
    )

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    assert entry.subentries[TERMINAL_ID].data["pulse_source"] == "kit_speaker.monitor"
    assert entry.subentries[TERMINAL_ID].data["pulse_server"] == audio_server.server
    await hass.config_entries.async_unload(entry.entry_id)


def no_sound_card() -> bool:
    cards = Path("/proc/asound/cards")
    return not cards.exists() or "no soundcards" in cards.read_text()


@pytest.mark.skipif(not no_sound_card(), reason="this machine has a sound card")
async def test_alsa_without_a_sound_card_says_so_once(
    hass: HomeAssistant, peer: LocalRealtimePeer, alsa_config: Callable[[str], None]
) -> None:
    alsa_config(str(Path("/usr/share/alsa/alsa.conf")))  # the system's: plugins, no card
    entry = await async_set_up_entry(hass, assistant())

    result = await to_sound_step(hass, entry, backend="alsa")

    # Said as the step opens, as what there is, not as an error of something not yet chosen.
    assert result["step_id"] == "alsa_no_card"
    assert result["errors"] is None
    assert "null" in options_of(result, "alsa_capture")
    assert suggested(result, "alsa_capture") in (None, "")  # no `default` to suggest

    result = await submit(hass, result, {"alsa_capture": "default", "alsa_playback": "null"})
    assert result["step_id"] == "alsa_no_card"
    assert said(result) == {"alsa_capture": TEXTS["error"]["audio_device_missing"]}
    assert description(result) == TEXTS["step"]["alsa_no_card"]["description"]  # said once
    assert suggested(result, "alsa_capture") == "default"
    await hass.config_entries.async_unload(entry.entry_id)


async def test_alsa_with_nothing_to_choose_ends_the_flow_with_why(
    hass: HomeAssistant, peer: LocalRealtimePeer, alsa_config: Callable[[str], None], tmp_path: Path
) -> None:
    empty = tmp_path / "asound.conf"
    empty.write_text("")
    alsa_config(str(empty))
    entry = await async_set_up_entry(hass, assistant())

    result = await to_sound_step(hass, entry, backend="alsa")

    if no_sound_card():
        assert result["type"] is FlowResultType.ABORT
        assert result["reason"] == "alsa_no_device"
    else:  # the machine's card is there whatever the configuration says
        assert result["step_id"] == "alsa"
    await hass.config_entries.async_unload(entry.entry_id)


async def test_a_terminal_needs_an_assistant(hass: HomeAssistant, peer: LocalRealtimePeer) -> None:
    entry = MockConfigEntry(domain=DOMAIN, data={"api_key": "sk-test-valid", "endpoint": "openai"})
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)

    result = await begin(hass, entry)

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "no_assistant"
    await hass.config_entries.async_unload(entry.entry_id)
