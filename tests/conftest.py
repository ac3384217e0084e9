"""Shared fixtures: load this repository's integration, and serve the local Realtime peer."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Generator, Iterable
import logging
import os
from pathlib import Path
import tempfile
from typing import Any

from gpiozero.pins.mock import MockFactory, MockPWMPin
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import CONF_API_KEY
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component

from tests.audio_server import STAND_INS_MARK
from tests.peer import LocalRealtimePeer
from tests.peer.http import VALID_KEY
from tests.reliability.keyscan import SCAN
from tests.reliability.tally import TALLY, count_the_scan

REPO_COMPONENTS = str(Path(__file__).resolve().parent.parent / "custom_components")


def _put_this_integration_first() -> None:
    """The harness imports its own `custom_components` package, which would shadow ours."""
    import custom_components

    if REPO_COMPONENTS not in custom_components.__path__:
        custom_components.__path__.insert(0, REPO_COMPONENTS)


_put_this_integration_first()


AUDIO_COMMANDS = ("pactl", "parec", "pacat", "paplay", "parecord", "arecord", "aplay", "amixer")
"""What Home Assistant's official image does not have (pulseaudio-utils, alsa-utils)."""
_AUDIO_COMMAND_LOG = Path(tempfile.mkdtemp(prefix="aiy-no-audio-commands-")) / "ran.log"


def _take_audio_commands_away() -> None:
    """Every test runs as in the official image: the audio commands on PATH are stand-ins
    that only write down that someone ran them (the harness keeps the real ones by full path,
    see tests/audio_server.py)."""
    bin_dir = _AUDIO_COMMAND_LOG.parent / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / STAND_INS_MARK).touch()  # the harness's own tools skip this directory
    for command in AUDIO_COMMANDS:
        stand_in = bin_dir / command
        stand_in.write_text(f'#!/bin/sh\necho "{command} $*" >> "{_AUDIO_COMMAND_LOG}"\nexit 127\n')
        stand_in.chmod(0o755)
    os.environ["PATH"] = f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "allow_logged_errors(*patterns): errors in the log this test expects"
    )
    _take_audio_commands_away()


RELIABILITY_REPORT = Path(__file__).resolve().parent.parent / "docs" / "reliability.md"
RELIABILITY_COMMAND = "AIY_RELIABILITY_REPORT=1 .venv/bin/python -m pytest -q tests/reliability"


def pytest_sessionfinish(session: pytest.Session) -> None:
    """In a pytest-xdist worker: its reliability tally goes to the controller."""
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        count_the_scan(SCAN)
        workeroutput["aiy_reliability_tally"] = TALLY.to_data()


def pytest_testnodedown(node: Any, error: object) -> None:
    """A pytest-xdist worker finished: its reliability tally is counted in (xdist's hook)."""
    data = getattr(node, "workeroutput", {}).get("aiy_reliability_tally")
    if data:
        TALLY.add(data)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    _print_the_reliability_table(terminalreporter)
    _print_why_each_failed(terminalreporter)


def _print_the_reliability_table(terminalreporter: pytest.TerminalReporter) -> None:
    count_the_scan(SCAN)
    if not TALLY.cases:
        return
    terminalreporter.section("reliability: faults and bad input, counted")
    terminalreporter.write_line(TALLY.table())
    if os.environ.get("AIY_RELIABILITY_REPORT") == "1":
        TALLY.write(RELIABILITY_REPORT, RELIABILITY_COMMAND)
        terminalreporter.write_line(f"written to {RELIABILITY_REPORT}")


def _print_why_each_failed(terminalreporter: pytest.TerminalReporter) -> None:
    """What each failure said, again at the very end, a few lines each: CI keeps only the tail
    of the output, and a rare failure should be readable from it."""
    reports = [
        *terminalreporter.stats.get("failed", []),
        *terminalreporter.stats.get("error", []),
    ]
    if not reports:
        return
    terminalreporter.section("why (the E lines of each failure)")
    for report in reports:
        said = [
            line
            for line in str(report.longrepr).splitlines()
            if line.lstrip(" |").startswith("E ") or "Error:" in line or "assert " in line
        ]
        terminalreporter.write_line(f"{report.nodeid} ({report.when}):")
        for line in said[-20:]:
            terminalreporter.write_line(f"  {line[:300]}")


@pytest.fixture(autouse=True)
def no_audio_command_ran() -> Generator[None]:
    """Fails the test in which anything ran pactl, parec, arecord... (the stand-ins log it)."""
    yield
    if _AUDIO_COMMAND_LOG.exists():
        ran = _AUDIO_COMMAND_LOG.read_text()
        _AUDIO_COMMAND_LOG.unlink()
        pytest.fail(f"an audio command ran (the official image has none): {ran}")


@pytest.fixture(autouse=True)
def fail_on_logged_errors(
    request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture
) -> Generator[None]:
    """An error in the log is a failure, even when the test's assertions hold.

    Set up before (so torn down after) every other fixture: errors logged while HA stops or the
    entry unloads count too.
    """
    yield
    marker = request.node.get_closest_marker("allow_logged_errors")
    allowed = marker.args if marker else ()
    records = [
        *caplog.get_records("setup"),
        *caplog.get_records("call"),
        *caplog.records,  # teardown so far
    ]
    assert logged_problems(records, allowed) == [], "errors or deprecation reports were logged"


def is_deprecation_report(record: logging.LogRecord) -> bool:
    """Home Assistant's word that this integration uses something it will remove (frame.py's
    report_usage, logged as a warning or not at all in a release that still allows it)."""
    message = record.getMessage()
    return "Detected that custom integration" in message and "will stop working" in message


def logged_problems(records: Iterable[logging.LogRecord], allowed: Iterable[str]) -> list[str]:
    """Errors and deprecation reports among `records`, but those with an allowed text."""
    allowed = tuple(allowed)
    return [
        f"{r.name}: {r.getMessage()}"
        for r in records
        if (r.levelno >= logging.ERROR or is_deprecation_report(r))
        and not any(a in r.getMessage() for a in allowed)
    ]


@pytest.fixture(autouse=True)
async def load_this_integration(hass: HomeAssistant, enable_custom_integrations: None) -> None:
    """Make HA find *this* repository's integration in every test, with core set up.

    `conversation` (our dependency) needs the `homeassistant` integration's exposed entities.
    """
    _put_this_integration_first()
    assert await async_setup_component(hass, "homeassistant", {})


@pytest.fixture
async def peer(socket_enabled: None) -> AsyncGenerator[LocalRealtimePeer]:
    """The local peer on a free loopback port."""
    server = LocalRealtimePeer()
    await server.start()
    yield server
    await server.close()


@pytest.fixture
def openai_at_peer(peer: LocalRealtimePeer, monkeypatch: pytest.MonkeyPatch) -> LocalRealtimePeer:
    """Send the default OpenAI endpoint to the peer, the way the SDK allows (OPENAI_BASE_URL)."""
    monkeypatch.setenv("OPENAI_BASE_URL", peer.base_url)
    return peer


@pytest.fixture
def mock_config_entry(hass: HomeAssistant) -> MockConfigEntry:
    """An entry for the default endpoint with the recommended agent, added but not set up."""
    from custom_components.aiy_realtime.const import CONF_ENDPOINT, DOMAIN
    from custom_components.aiy_realtime.flows.assistant import recommended_agent

    entry = MockConfigEntry(
        domain=DOMAIN,
        title="AIY Realtime",
        data={CONF_API_KEY: VALID_KEY, CONF_ENDPOINT: "openai"},
        subentries_data=[recommended_agent()],
    )
    entry.add_to_hass(hass)
    return entry


@pytest.fixture
def loopback_ice(monkeypatch: pytest.MonkeyPatch) -> None:
    """The harness fakes one network adapter (10.10.10.10); aioice must use loopback instead."""
    import aioice.ice

    monkeypatch.setattr(aioice.ice, "get_host_addresses", lambda use_ipv4, use_ipv6: ["127.0.0.1"])


@pytest.fixture
async def lights(hass: HomeAssistant) -> None:
    """Two real lights (template lights over input booleans); the bedroom is not exposed."""
    from homeassistant.components.homeassistant.exposed_entities import async_expose_entity

    def light(name: str, switch: str) -> dict[str, object]:
        target = {"entity_id": f"input_boolean.{switch}"}
        return {
            "name": name,
            "unique_id": f"light-{switch}",
            "state": f"{{{{ is_state('input_boolean.{switch}', 'on') }}}}",
            "turn_on": {"action": "input_boolean.turn_on", "target": target},
            "turn_off": {"action": "input_boolean.turn_off", "target": target},
        }

    assert await async_setup_component(
        hass, "input_boolean", {"input_boolean": {"kitchen": {}, "bedroom": {}}}
    )
    assert await async_setup_component(
        hass,
        "template",
        {
            "template": [
                {"light": [light("Kitchen light", "kitchen"), light("Bedroom light", "bedroom")]}
            ]
        },
    )
    await hass.async_block_till_done()
    assert hass.states.get("light.kitchen_light") is not None
    async_expose_entity(hass, "conversation", "light.kitchen_light", True)
    async_expose_entity(hass, "conversation", "light.bedroom_light", False)


@pytest.fixture
async def agent_entry(
    hass: HomeAssistant,
    openai_at_peer: LocalRealtimePeer,
    mock_config_entry: MockConfigEntry,
    loopback_ice: None,
) -> AsyncGenerator[MockConfigEntry]:
    """The recommended agent, set up against the peer; unloaded (sessions closed) afterwards."""
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    yield mock_config_entry
    if mock_config_entry.state is ConfigEntryState.LOADED:
        await hass.config_entries.async_unload(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    assert openai_at_peer.active_calls == 0, "a session outlived its entry"
    assert openai_at_peer.all_violations() == []


from tests.audio_server import AudioServer  # noqa: E402 - kept beside the fixture that uses it


@pytest.fixture
async def audio_server(monkeypatch: pytest.MonkeyPatch) -> AsyncGenerator[AudioServer]:
    """A real PulseAudio server of the test's own (null sinks `kit_mic`, `kit_speaker`); it and
    every helper it started are stopped afterwards."""
    server = await AudioServer.start()
    # As on Home Assistant OS: the server is named by a client.conf only, never PULSE_SERVER.
    monkeypatch.delenv("PULSE_SERVER", raising=False)
    monkeypatch.setenv("PULSE_CLIENTCONFIG", str(server.client_conf))
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def voice_entry(
    hass: HomeAssistant,
    openai_at_peer: LocalRealtimePeer,
    loopback_ice: None,
    audio_server: AudioServer,
    request: pytest.FixtureRequest,
) -> AsyncGenerator[MockConfigEntry]:
    """An assistant and a terminal on the test's PulseAudio server (options by `indirect`
    parametrisation: {"assistant": {...}, "terminal": {...}}); unloaded afterwards, nothing of
    it left behind."""
    from tests.helpers import assistant, async_set_up_entry, terminal
    from tests.voice_helpers import our_streams

    options = getattr(request, "param", {})
    entry = await async_set_up_entry(
        hass,
        assistant(**options.get("assistant", {})),
        terminal(audio_server.server, **options.get("terminal", {})),
    )
    yield entry
    await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    assert openai_at_peer.active_calls == 0, "a call outlived its entry"
    assert openai_at_peer.all_violations() == []
    assert await our_streams(audio_server) == (0, 0), "a recorder or player outlived its entry"


@pytest.fixture
def kit_pins(monkeypatch: pytest.MonkeyPatch) -> Generator[MockFactory]:
    """This machine's GPIO: gpiozero's mock pins (PWM-capable, as lgpio's are)."""
    from custom_components.aiy_realtime.hardware import pins

    factory = MockFactory(pin_class=MockPWMPin)
    monkeypatch.setattr(pins, "local_factory", lambda: factory)
    yield factory
    factory.reset()


@pytest.fixture
def alsa_config(monkeypatch: pytest.MonkeyPatch) -> Generator[Callable[[str], None]]:
    """Points alsa-lib at the test's own configuration (ALSA_CONFIG_PATH), read afresh: it keeps
    its parsed configuration per process."""
    from custom_components.aiy_realtime.hardware.alsa import bindings

    def use(path: str) -> None:
        monkeypatch.setenv("ALSA_CONFIG_PATH", path)
        bindings.forget_configuration()

    yield use
    bindings.forget_configuration()
