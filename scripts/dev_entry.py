"""Make sure the local HA (config/) has an AIY Realtime entry for this run of scripts/develop.

`offline URL`: an entry titled "AIY Realtime (offline demo)" pointing at the local peer.
`openai`: an entry titled "AIY Realtime" with the key in $OPENAI_API_KEY.
Switching modes changes the one entry in place, so its agent and entity ids stay.
`--port N` (default 8123): HA's web server listens on 127.0.0.1:N only.
`--pulse-server unix:/…/native` (with `--pulse-source`, `--pulse-sink`; empty: the server's
defaults): a voice terminal "Demo terminal" on that PulseAudio server, speaking with the entry's
first assistant; kept and switched in place like the entry. Without a server an existing one is
left as it is (Home Assistant then reports that its sound does not work).
Run before HA starts: it edits HA's own storage files, in HA's own formats (ConfigEntry.as_dict,
the http store's stable/pending slots).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
import json
import os
from pathlib import Path
import sys
from types import MappingProxyType
from typing import Any

import probatio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from homeassistant.components.http.config import (  # noqa: E402
    HTTP_CONFIG_CREATED_AT,
    HTTP_CONFIG_ERROR,
    HTTP_CONFIG_ERROR_MESSAGE,
    HTTP_STORAGE_SCHEMA,
    KEY_PENDING,
    KEY_STABLE,
    KEY_YAML_MIGRATION_DONE,
    STORAGE_KEY as HTTP_STORAGE_KEY,
    STORAGE_MINOR_VERSION as HTTP_STORAGE_MINOR_VERSION,
    STORAGE_VERSION as HTTP_STORAGE_VERSION,
)
from homeassistant.components.http.const import (  # noqa: E402
    CONF_SERVER_HOST,
    CONF_SERVER_PORT,
)
from homeassistant.config_entries import (  # noqa: E402
    STORAGE_KEY,
    STORAGE_VERSION,
    STORAGE_VERSION_MINOR,
    ConfigEntry,
    ConfigSubentry,
)
from homeassistant.util import dt as dt_util  # noqa: E402
from homeassistant.util.ulid import ulid_now  # noqa: E402

from custom_components.aiy_realtime.const import (  # noqa: E402
    BACKEND_PULSEAUDIO,
    CONF_ASSISTANT,
    CONF_AUDIO_BACKEND,
    CONF_ENDPOINT,
    CONF_ENDPOINT_URL,
    CONF_HALF_DUPLEX,
    CONF_IDLE_TIMEOUT,
    CONF_PULSE_SERVER,
    CONF_PULSE_SINK,
    CONF_PULSE_SOURCE,
    DEFAULT_TITLE,
    DOMAIN,
    SUBENTRY_ASSISTANT,
    SUBENTRY_TERMINAL,
)
from custom_components.aiy_realtime.flows.assistant import recommended_agent  # noqa: E402

STORAGE = ROOT / "config" / ".storage"
OFFLINE_TITLE = f"{DEFAULT_TITLE} (offline demo)"
OFFLINE_KEY = "sk-offline-demo"
TERMINAL_TITLE = "Demo terminal"
TERMINAL_IDLE_TIMEOUT = 60
"""Seconds of silence before the demo's session ends: time to type a `scripts/say`."""


def wanted(mode: str, url: str | None) -> tuple[str, dict[str, Any]]:
    if mode == "offline":
        assert url
        return OFFLINE_TITLE, {
            "api_key": OFFLINE_KEY,
            CONF_ENDPOINT: "custom",
            CONF_ENDPOINT_URL: url,
        }
    key = os.environ.get("OPENAI_API_KEY", "").strip()
    if not key:
        sys.exit("OPENAI_API_KEY is empty")
    return DEFAULT_TITLE, {"api_key": key, CONF_ENDPOINT: "openai"}


PIPELINES_KEY = "assist_pipeline.pipelines"
AGENT_ENTITY = "conversation.aiy_realtime_assistant"


def agent_entity(entry_id: str) -> str:
    """The agent's entity id: from HA's entity registry once HA has named it."""
    registry = STORAGE / "core.entity_registry"
    if registry.exists():
        for entity in json.loads(registry.read_text())["data"]["entities"]:
            if entity.get("config_entry_id") == entry_id and entity["entity_id"].startswith(
                "conversation."
            ):
                return str(entity["entity_id"])
    return AGENT_ENTITY


def prefer_our_pipeline(agent: str) -> None:
    """An Assist pipeline on our agent, preferred, so the Assist dialog talks to it at once."""
    path = STORAGE / PIPELINES_KEY
    if path.exists():
        stored = json.loads(path.read_text())
    else:
        stored = {"version": 1, "minor_version": 2, "key": PIPELINES_KEY, "data": {"items": []}}
    items: list[dict[str, Any]] = stored["data"]["items"]
    ours = next((p for p in items if p.get("name") == DEFAULT_TITLE), None)
    if ours is None:
        ours = {
            "conversation_engine": agent,
            "conversation_language": "*",
            "id": ulid_now().lower(),
            "language": "en",
            "name": DEFAULT_TITLE,
            "stt_engine": None,
            "stt_language": None,
            "tts_engine": None,
            "tts_language": None,
            "tts_voice": None,
            "wake_word_entity": None,
            "wake_word_id": None,
            "prefer_local_intents": False,
        }
        items.append(ours)
    ours["conversation_engine"] = agent
    stored["data"]["preferred_item"] = ours["id"]
    path.write_text(json.dumps(stored, indent=2))


HTTP_META = (HTTP_CONFIG_CREATED_AT, HTTP_CONFIG_ERROR, HTTP_CONFIG_ERROR_MESSAGE)


def bind_http(host: str, port: int) -> None:
    """HA's web server on host:port only, stored as if set in HA's UI (Settings > Network).

    HA 2026.10 keeps HTTP settings in its http store: `stable` (confirmed), `pending` (on trial:
    the UI asks to confirm it within 5 minutes, else HA reverts and restarts) and whether the
    one-time YAML migration is done. An `http:` block in configuration.yaml would be migrated
    as pending (the countdown after onboarding) and then flagged as ignored YAML for good, so
    the host and port go straight to `stable`: nothing pending, nothing left to migrate. Other
    settings a developer changed in the UI stay.
    """
    path = STORAGE / HTTP_STORAGE_KEY
    stored = json.loads(path.read_text()) if path.exists() else None
    kept: dict[str, Any] = {}
    if stored and stored.get("version") == HTTP_STORAGE_VERSION:
        kept = {k: v for k, v in stored["data"][KEY_STABLE].items() if k not in HTTP_META}
    try:
        stable = HTTP_STORAGE_SCHEMA({**kept, CONF_SERVER_HOST: host, CONF_SERVER_PORT: port})
    except probatio.Invalid:  # e.g. a certificate that is gone: start from HA's defaults
        kept = {}
        stable = HTTP_STORAGE_SCHEMA({CONF_SERVER_HOST: host, CONF_SERVER_PORT: port})
    if (
        stored
        and kept == stable
        and stored["data"][KEY_PENDING] is None
        and stored["data"][KEY_YAML_MIGRATION_DONE]
    ):
        return
    data = {
        KEY_STABLE: {
            **stable,
            HTTP_CONFIG_CREATED_AT: dt_util.utcnow().isoformat(),
            HTTP_CONFIG_ERROR: None,
            HTTP_CONFIG_ERROR_MESSAGE: None,
        },
        KEY_PENDING: None,
        KEY_YAML_MIGRATION_DONE: True,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps(
            {
                "version": HTTP_STORAGE_VERSION,
                "minor_version": HTTP_STORAGE_MINOR_VERSION,
                "key": HTTP_STORAGE_KEY,
                "data": data,
            },
            indent=2,
        )
    )
    path.chmod(0o600)  # HA keeps this store private
    print(f"[develop] HA listens on http://{host}:{port} (its http store)", file=sys.stderr)


@dataclass(frozen=True, slots=True)
class Pulse:
    """Where the demo terminal's sound is: a PulseAudio server, its source and its sink."""

    server: str
    source: str = ""
    sink: str = ""


def keep_terminal(entry: dict[str, Any], pulse: Pulse | None) -> str | None:
    """The entry's "Demo terminal" on `pulse`, added or switched in place; what was done, to
    tell the developer."""
    subentries: list[dict[str, Any]] = entry.setdefault("subentries", [])
    assistants = [s["subentry_id"] for s in subentries if s["subentry_type"] == SUBENTRY_ASSISTANT]
    ours = next(
        (
            s
            for s in subentries
            if s["subentry_type"] == SUBENTRY_TERMINAL and s["title"] == TERMINAL_TITLE
        ),
        None,
    )
    if pulse is None:
        if ours is None:
            return None
        return (
            f"kept the voice terminal {TERMINAL_TITLE!r} as it was: no sound server this run, "
            "so Home Assistant reports that its sound does not work"
        )
    if not assistants:
        print(f"[develop] no assistant in the entry: no {TERMINAL_TITLE!r}", file=sys.stderr)
        return None
    sound = {
        CONF_AUDIO_BACKEND: BACKEND_PULSEAUDIO,
        CONF_PULSE_SERVER: pulse.server,
        CONF_PULSE_SOURCE: pulse.source,
        CONF_PULSE_SINK: pulse.sink,
    }
    if ours is None:
        subentry = ConfigSubentry(
            data=MappingProxyType(
                {
                    CONF_ASSISTANT: assistants[0],
                    **sound,
                    CONF_IDLE_TIMEOUT: TERMINAL_IDLE_TIMEOUT,
                    CONF_HALF_DUPLEX: False,
                }
            ),
            subentry_type=SUBENTRY_TERMINAL,
            title=TERMINAL_TITLE,
            unique_id=None,
        )
        subentries.append(json.loads(json.dumps(subentry.as_dict())))
        return f"added the voice terminal {TERMINAL_TITLE!r} on {pulse.server}"
    # What a developer changed in the UI (timeout, half duplex) stays; the sound follows the run.
    data = ours["data"]
    if data.get(CONF_ASSISTANT) not in assistants:
        data[CONF_ASSISTANT] = assistants[0]
    data.update(sound)
    return f"switched the voice terminal {TERMINAL_TITLE!r} to {pulse.server}"


def main(mode: str, url: str | None, pulse: Pulse | None = None) -> None:
    path = STORAGE / STORAGE_KEY
    if path.exists():
        stored = json.loads(path.read_text())
    else:
        stored = {
            "version": STORAGE_VERSION,
            "minor_version": STORAGE_VERSION_MINOR,
            "key": STORAGE_KEY,
            "data": {"entries": []},
        }
    title, data = wanted(mode, url)
    entries: list[dict[str, Any]] = stored["data"]["entries"]
    ours = [
        e for e in entries if e["domain"] == DOMAIN and e["title"] in (OFFLINE_TITLE, DEFAULT_TITLE)
    ]
    for extra in ours[1:]:
        entries.remove(extra)
    if ours:
        # One entry switched between modes: its agent, entity ids and pipeline stay.
        ours[0].update(title=title, data=data)
        entry_id = ours[0]["entry_id"]
        action = "switched"
    else:
        entry = ConfigEntry(
            data=data,
            discovery_keys=MappingProxyType({}),
            domain=DOMAIN,
            minor_version=1,
            options=None,
            source="user",
            subentries_data=[recommended_agent()],
            title=title,
            unique_id=None,
            version=1,
        )
        entries.append(json.loads(json.dumps(entry.as_dict(), default=str)))
        entry_id = entry.entry_id
        action = "added"
    ours_now = next(e for e in entries if e["entry_id"] == entry_id)
    terminal = keep_terminal(ours_now, pulse)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(stored, indent=2))
    prefer_our_pipeline(agent_entity(entry_id))
    print(f"[develop] {action} the config entry {title!r}; Assist uses it", file=sys.stderr)
    if terminal:
        print(f"[develop] {terminal}", file=sys.stderr)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["offline", "openai"])
    parser.add_argument("url", nargs="?", help="offline: the local peer's base URL")
    parser.add_argument("--port", type=int, default=8123, help="HA's port on 127.0.0.1")
    parser.add_argument("--pulse-server", help="a voice terminal on this PulseAudio server")
    parser.add_argument("--pulse-source", default="", help="its microphone (empty: default)")
    parser.add_argument("--pulse-sink", default="", help="its speaker (empty: default)")
    args = parser.parse_args()
    bind_http("127.0.0.1", args.port)
    pulse = (
        Pulse(args.pulse_server, args.pulse_source, args.pulse_sink) if args.pulse_server else None
    )
    main(args.mode, args.url, pulse)
