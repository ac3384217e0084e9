"""Devices as a terminal's settings and forms show them, whichever backend listed them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple


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
    sound_cards: int | None = None
    """ALSA: how many sound cards it found (its plugins, `pulse` and the like, are no card);
    None where the backend does not tell."""


def merged(*lists: list[AudioDevice]) -> list[AudioDevice]:
    """The devices of all lists in order, each name once (its first description wins)."""
    seen: dict[str, AudioDevice] = {}
    for devices in lists:
        for device in devices:
            seen.setdefault(device.name, device)
    return list(seen.values())
