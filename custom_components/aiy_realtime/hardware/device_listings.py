"""What `pactl` and `arecord`/`aplay` print about devices, read into names and descriptions."""

from __future__ import annotations

from dataclasses import dataclass
import json
import re
from typing import Any, NamedTuple


class AudioDevice(NamedTuple):
    """A device a terminal can use: the name its settings take, and what a person calls it."""

    name: str
    description: str


@dataclass(frozen=True, slots=True)
class Devices:
    """What a backend offers: sources (PulseAudio sources, ALSA capture PCMs) and sinks
    (PulseAudio sinks, ALSA playback PCMs), with the defaults where the backend says."""

    sources: tuple[AudioDevice, ...]
    sinks: tuple[AudioDevice, ...]
    default_source: str | None = None
    default_sink: str | None = None


def pactl_json_devices(text: str) -> list[AudioDevice]:
    """Devices from `pactl -f json list sources|sinks`: monitors of outputs after real inputs."""
    entries: list[dict[str, Any]] = [e for e in json.loads(text) if isinstance(e, dict)]
    devices = [
        (_is_monitor(entry), AudioDevice(str(entry["name"]), _description(entry)))
        for entry in entries
        if entry.get("name")
    ]
    return [device for _, device in sorted(devices, key=lambda pair: pair[0])]


def _is_monitor(entry: dict[str, Any]) -> bool:
    properties = entry.get("properties")
    if isinstance(properties, dict) and properties.get("device.class") == "monitor":
        return True
    return str(entry["name"]).endswith(".monitor")


def _description(entry: dict[str, Any]) -> str:
    return str(entry.get("description") or entry["name"])


def pactl_short_devices(text: str) -> list[AudioDevice]:
    """Devices from `pactl list short sources|sinks` (a pactl without JSON): names only."""
    names = [line.split("\t")[1] for line in text.splitlines() if line.count("\t") >= 1]
    ordered = sorted(names, key=lambda name: name.endswith(".monitor"))
    return [AudioDevice(name, name) for name in ordered]


def pactl_defaults(text: str) -> tuple[str | None, str | None]:
    """The default source and sink from `pactl -f json info`."""
    info = json.loads(text)
    if not isinstance(info, dict):
        return None, None
    source = info.get("default_source_name")
    sink = info.get("default_sink_name")
    return (str(source) if source else None, str(sink) if sink else None)


# PCMs that never suit a voice terminal: multichannel and digital (S/PDIF) outputs, USB streams.
_UNSUITED_PCM = re.compile(r"^(surround\d+|iec958|usbstream)(:|$)")


def alsa_pcms(text: str) -> list[AudioDevice]:
    """PCMs from `arecord -L` / `aplay -L`: a name at the start of a line, its description
    indented below it (one or more lines)."""
    devices: list[AudioDevice] = []
    name: str | None = None
    words: list[str] = []
    for line in [*text.splitlines(), ""]:
        if line[:1].isspace():
            words.append(line.strip().rstrip(","))
            continue
        if name is not None and not _UNSUITED_PCM.match(name):
            devices.append(AudioDevice(name, ", ".join(w for w in words if w) or name))
        name, words = (line.strip() or None), []
    return devices


_CARD_LINE = re.compile(
    r"^card (?P<card>\d+): (?P<id>\S+) \[(?P<card_name>[^\]]*)\], "
    r"device (?P<device>\d+): [^\[]*\[(?P<device_name>[^\]]*)\]"
)


def alsa_card_devices(text: str) -> list[AudioDevice]:
    """Each card's devices from `arecord -l` / `aplay -l`, as `plughw:CARD=<id>,DEV=<n>`: the
    name that converts rate, format and channels (a Voice HAT's own format is 48 kHz S32 stereo)."""
    devices: list[AudioDevice] = []
    for line in text.splitlines():
        match = _CARD_LINE.match(line)
        if match is None:
            continue
        devices.append(
            AudioDevice(
                f"plughw:CARD={match['id']},DEV={match['device']}",
                f"{match['card_name']}: {match['device_name']}",
            )
        )
    return devices


def merged(*lists: list[AudioDevice]) -> list[AudioDevice]:
    """The devices of all lists in order, each name once (its first description wins)."""
    seen: dict[str, AudioDevice] = {}
    for devices in lists:
        for device in devices:
            seen.setdefault(device.name, device)
    return list(seen.values())
