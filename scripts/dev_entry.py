"""Make sure the local HA (config/) has an AIY Realtime entry for this run of scripts/develop.

`offline URL`: an entry titled "AIY Realtime (offline demo)" pointing at the local peer.
`openai`: an entry titled "AIY Realtime" with the key in $OPENAI_API_KEY.
Switching modes changes the one entry in place, so its agent and entity ids stay.
Run before HA starts: it edits HA's own storage file, in HA's own format (ConfigEntry.as_dict).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
import sys
from types import MappingProxyType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from homeassistant.config_entries import (  # noqa: E402
    STORAGE_KEY,
    STORAGE_VERSION,
    STORAGE_VERSION_MINOR,
    ConfigEntry,
)
from homeassistant.util.ulid import ulid_now  # noqa: E402

from custom_components.aiy_realtime.config_flow import recommended_agent  # noqa: E402
from custom_components.aiy_realtime.const import (  # noqa: E402
    CONF_ENDPOINT,
    CONF_ENDPOINT_URL,
    DEFAULT_TITLE,
    DOMAIN,
)

OFFLINE_TITLE = f"{DEFAULT_TITLE} (offline demo)"
OFFLINE_KEY = "sk-offline-demo"


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
    registry = ROOT / "config" / ".storage" / "core.entity_registry"
    if registry.exists():
        for entity in json.loads(registry.read_text())["data"]["entities"]:
            if entity.get("config_entry_id") == entry_id and entity["entity_id"].startswith(
                "conversation."
            ):
                return str(entity["entity_id"])
    return AGENT_ENTITY


def prefer_our_pipeline(agent: str) -> None:
    """An Assist pipeline on our agent, preferred, so the Assist dialog talks to it at once."""
    path = ROOT / "config" / ".storage" / PIPELINES_KEY
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


def main(mode: str, url: str | None) -> None:
    path = ROOT / "config" / ".storage" / STORAGE_KEY
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
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(stored, indent=2))
    prefer_our_pipeline(agent_entity(entry_id))
    print(f"[develop] {action} the config entry {title!r}; Assist uses it", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None)
