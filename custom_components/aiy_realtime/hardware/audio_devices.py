"""A terminal's sound settings, whether they work, and what devices there are: PulseAudio
through libpulse and ALSA through libasound, both in this process.

No command-line tool is run: Home Assistant's official image has the libraries (libpulse,
alsa-lib and ALSA's pulse plugin) but not pulseaudio-utils or alsa-utils.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from .audio_problems import AudioUnavailable, UnavailableReason
from .device_listings import AudioDevice, Devices
from .pulse.connection import PulseConnection, server_words

__all__ = [
    "AlsaBackend",
    "AudioBackend",
    "AudioDevice",
    "AudioUnavailable",
    "Devices",
    "PulseAudioBackend",
    "PulseListing",
    "UnavailableReason",
    "alsa_problems",
    "check",
    "list_devices",
    "pulse_listing",
]

CHECK_TIMEOUT = 3.0
"""Seconds a check or a listing may take: a PulseAudio server that does not answer by then
(a host that drops packets) counts as unreachable."""


@dataclass(frozen=True, slots=True)
class PulseAudioBackend:
    """Sound through a PulseAudio server.

    `server` None: the one libpulse's own configuration names (`PULSE_SERVER`, else
    `default-server` in client.conf: Home Assistant OS's audio server). `source`/`sink` None:
    the server's defaults.
    """

    server: str | None = None
    source: str | None = None
    sink: str | None = None

    @property
    def server_words(self) -> str:
        return server_words(self.server)


@dataclass(frozen=True, slots=True)
class AlsaBackend:
    """Sound through ALSA devices: `default`, `plughw:CARD=…,DEV=0`, …"""

    capture: str = "default"
    playback: str = "default"


type AudioBackend = PulseAudioBackend | AlsaBackend


async def list_devices(backend: AudioBackend, *, timeout: float = CHECK_TIMEOUT) -> Devices:
    """The sources and sinks the backend offers; AudioUnavailable when it cannot tell."""
    if isinstance(backend, PulseAudioBackend):
        with await PulseConnection.open(backend.server, timeout=timeout) as connection:
            return await pulse_devices(connection)
    from .alsa import list_alsa_devices

    return await list_alsa_devices()


class PulseListing(NamedTuple):
    """A PulseAudio server's devices and its address (what libpulse chose for the default)."""

    address: str
    devices: Devices


async def pulse_listing(server: str | None, *, timeout: float = CHECK_TIMEOUT) -> PulseListing:
    """What `server` (None: libpulse's default) has; AudioUnavailable when it cannot tell."""
    with await PulseConnection.open(server, timeout=timeout) as connection:
        return PulseListing(connection.address, await pulse_devices(connection))


async def pulse_devices(connection: PulseConnection) -> Devices:
    """A server's sources (microphones first, monitors of outputs after) and sinks."""
    info = await connection.server_info()
    sources = sorted(await connection.sources(), key=lambda device: device.monitor)
    sinks = await connection.sinks()
    return Devices(
        tuple(AudioDevice(d.name, d.description) for d in sources),
        tuple(AudioDevice(d.name, d.description) for d in sinks),
        info.default_source,
        info.default_sink,
    )


async def check(
    backend: AudioBackend, *, rate: int = 48000, channels: int = 1, timeout: float = CHECK_TIMEOUT
) -> None:
    """Raise AudioUnavailable unless the backend's server and devices are there.

    PulseAudio: the server answers and the named source and sink exist. ALSA: the capture and
    playback devices open (briefly) with the session's format.
    """
    if isinstance(backend, PulseAudioBackend):
        with await PulseConnection.open(backend.server, timeout=timeout) as connection:
            require_devices(connection.words, backend, await pulse_devices(connection))
        return
    from .alsa import check_alsa

    await check_alsa(backend.capture, backend.playback, rate, channels)


async def alsa_problems(
    backend: AlsaBackend, *, rate: int = 48000, channels: int = 1, timeout: float = CHECK_TIMEOUT
) -> tuple[AudioUnavailable | None, AudioUnavailable | None]:
    """Why the capture device and why the playback device do not open (None: it does), each
    checked on its own so that both are told."""
    from .alsa import check_alsa_device

    problems: list[AudioUnavailable | None] = []
    for name, capture in ((backend.capture, True), (backend.playback, False)):
        try:
            await check_alsa_device(name, rate, channels, capture=capture, timeout=timeout)
        except AudioUnavailable as err:
            problems.append(err)
        else:
            problems.append(None)
    return problems[0], problems[1]


def require_devices(server: str, backend: PulseAudioBackend, devices: Devices) -> None:
    """AudioUnavailable (`device_missing`) unless the backend's source and sink are listed."""
    for kind, name, listed in (
        ("source", backend.source, devices.sources),
        ("sink", backend.sink, devices.sinks),
    ):
        if name is None or any(device.name == name for device in listed):
            continue
        there = ", ".join(device.name for device in listed) or "none"
        raise AudioUnavailable(
            "device_missing", f"{server} has no {kind} {name!r} (it has: {there})"
        )
