"""A terminal's sound: PulseAudio or ALSA settings, whether they work, what devices there are,
and the microphone and speaker they give (recorder and player commands streaming raw PCM).

Everything here runs the command-line tools (`pactl`/`parec`/`pacat`, `arecord`/`aplay`) as
subprocesses: no sound library has to build on Home Assistant's Python, and a PulseAudio server
on another machine (`tcp:kit.local:4713`) works the same as the local one.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
import contextlib
from dataclasses import dataclass
import os
import shutil

from custom_components.aiy_realtime.hardware.pcm_process import ProcessReader, ProcessSink

from .audio_problems import AudioUnavailable, UnavailableReason
from .device_listings import (
    AudioDevice,
    Devices,
    alsa_card_devices,
    alsa_pcms,
    merged,
    pactl_defaults,
    pactl_json_devices,
    pactl_short_devices,
)

__all__ = [
    "AlsaBackend",
    "AudioBackend",
    "AudioDevice",
    "AudioUnavailable",
    "Devices",
    "PulseAudioBackend",
    "check",
    "list_devices",
    "microphone",
    "speaker",
]

CHECK_TIMEOUT = 3.0
"""Seconds a check or a listing may take: a PulseAudio server that does not answer by then
(a host that drops packets) counts as unreachable."""

# Low latency without underruns on a busy Pi: the recorder hands over every 20 ms (one frame of
# the session's track); the player keeps about three frames queued.
CAPTURE_LATENCY_MS = 20
PLAYBACK_LATENCY_MS = 60
ALSA_CAPTURE_BUFFER_MS = 200  # only fills when the reader lags; a larger one loses nothing
ALSA_PLAYBACK_BUFFER_MS = 80
CLIENT_NAME = "AIY Realtime"

PULSE_PACKAGE = "pulseaudio-utils"
ALSA_PACKAGE = "alsa-utils"


@dataclass(frozen=True, slots=True)
class PulseAudioBackend:
    """Sound through a PulseAudio server (`parec`/`pacat`).

    `server` None: the `PULSE_SERVER` environment variable (Home Assistant OS gives it to the
    core container), else the local default. `source`/`sink` None: the server's defaults.
    """

    server: str | None = None
    source: str | None = None
    sink: str | None = None

    @property
    def server_in_use(self) -> str | None:
        """The server the tools will reach; None for libpulse's local default."""
        return self.server or os.environ.get("PULSE_SERVER") or None

    @property
    def server_words(self) -> str:
        server = self.server_in_use
        return f"the PulseAudio server {server}" if server else "the local PulseAudio server"


@dataclass(frozen=True, slots=True)
class AlsaBackend:
    """Sound through ALSA devices (`arecord`/`aplay`): `default`, `plughw:CARD=…,DEV=0`, …"""

    capture: str = "default"
    playback: str = "default"


type AudioBackend = PulseAudioBackend | AlsaBackend


# -- microphone and speaker ---------------------------------------------------------------------


def microphone(backend: AudioBackend, rate: int, channels: int = 1) -> ProcessReader:
    """A live reader of raw S16_LE PCM from the backend's input (starts on the first read)."""
    return ProcessReader(
        capture_command(backend, rate, channels), live=True, bytes_per_second=rate * channels * 2
    )


def speaker(backend: AudioBackend, rate: int, channels: int = 1) -> ProcessSink:
    """A sink playing raw S16_LE PCM on the backend's output (starts on the first write)."""
    return ProcessSink(playback_command(backend, rate, channels), rate=rate, channels=channels)


def capture_command(backend: AudioBackend, rate: int, channels: int) -> list[str]:
    if isinstance(backend, PulseAudioBackend):
        return [
            "parec",
            *_pulse_target(backend, backend.source),
            *_pulse_format(rate, channels),
            f"--latency-msec={CAPTURE_LATENCY_MS}",
            f"--process-time-msec={CAPTURE_LATENCY_MS // 2}",
            "--stream-name=microphone",
        ]
    return [
        "arecord",
        *_alsa_format(backend.capture, rate, channels),
        f"--buffer-time={ALSA_CAPTURE_BUFFER_MS * 1000}",
        f"--period-time={CAPTURE_LATENCY_MS * 1000}",
    ]


def playback_command(backend: AudioBackend, rate: int, channels: int) -> list[str]:
    if isinstance(backend, PulseAudioBackend):
        return [
            "pacat",
            "--playback",
            *_pulse_target(backend, backend.sink),
            *_pulse_format(rate, channels),
            f"--latency-msec={PLAYBACK_LATENCY_MS}",
            f"--process-time-msec={PLAYBACK_LATENCY_MS // 3}",
            "--stream-name=speaker",
        ]
    return [
        "aplay",
        *_alsa_format(backend.playback, rate, channels),
        f"--buffer-time={ALSA_PLAYBACK_BUFFER_MS * 1000}",
        f"--period-time={ALSA_PLAYBACK_BUFFER_MS * 1000 // 4}",
    ]


def _pulse_target(backend: PulseAudioBackend, device: str | None) -> list[str]:
    server = backend.server_in_use
    return [
        *([f"--server={server}"] if server else []),
        *([f"--device={device}"] if device else []),
        f"--client-name={CLIENT_NAME}",
    ]


def _pulse_format(rate: int, channels: int) -> list[str]:
    return ["--raw", "--format=s16le", f"--rate={rate}", f"--channels={channels}"]


def _alsa_format(device: str, rate: int, channels: int) -> list[str]:
    return ["-q", "-D", device, "-t", "raw", "-f", "S16_LE", "-r", str(rate), "-c", str(channels)]


# -- does it work -------------------------------------------------------------------------------


async def check(
    backend: AudioBackend, *, rate: int = 48000, channels: int = 1, timeout: float = CHECK_TIMEOUT
) -> None:
    """Raise AudioUnavailable unless the backend's commands, server and devices are there.

    PulseAudio: the server answers and the named source and sink exist. ALSA: the capture and
    playback devices open (briefly) for S16_LE at `rate`/`channels`. Bounded by `timeout`.
    """
    if isinstance(backend, PulseAudioBackend):
        _require(("pactl", "parec", "pacat"), PULSE_PACKAGE)
        devices = await list_devices(backend, timeout=timeout)
        _require_device(backend, "source", backend.source, devices.sources)
        _require_device(backend, "sink", backend.sink, devices.sinks)
        return
    _require(("arecord", "aplay"), ALSA_PACKAGE)
    # One sample recorded, nothing played: each device opens with the session's format.
    record_one = ["-s", "1", f"--period-time={CAPTURE_LATENCY_MS * 500}", os.devnull]
    async with _bounded(timeout, "the ALSA devices"):
        await _open_alsa(
            ["arecord", *_alsa_format(backend.capture, rate, channels), *record_one],
            backend.capture,
        )
        await _open_alsa(
            ["aplay", *_alsa_format(backend.playback, rate, channels), os.devnull],
            backend.playback,
        )


def _require(commands: Sequence[str], package: str) -> None:
    missing = [command for command in commands if shutil.which(command) is None]
    if missing:
        raise AudioUnavailable(
            "command_missing",
            f"{', '.join(missing)} not found: install {package} where Home Assistant runs",
        )


def _require_device(
    backend: PulseAudioBackend, kind: str, name: str | None, devices: Sequence[AudioDevice]
) -> None:
    if name is None or any(device.name == name for device in devices):
        return
    there = ", ".join(device.name for device in devices) or "none"
    raise AudioUnavailable(
        "device_missing", f"{backend.server_words} has no {kind} {name!r} (it has: {there})"
    )


async def _open_alsa(argv: list[str], device: str) -> None:
    status, _, said = await _run(argv)
    if status == 0:
        return
    lowered = said.lower()
    if "busy" in lowered:
        raise AudioUnavailable("device_busy", f"the ALSA device {device!r} is busy: {said}")
    if "connection refused" in lowered or "unable to connect" in lowered:
        raise AudioUnavailable(
            "server_unreachable", f"the ALSA device {device!r} cannot reach its server: {said}"
        )
    if "no such" in lowered or "unknown pcm" in lowered or "cannot find card" in lowered:
        raise AudioUnavailable("device_missing", f"there is no ALSA device {device!r}: {said}")
    raise AudioUnavailable("failed", f"the ALSA device {device!r} does not open: {said}")


# -- what is there ------------------------------------------------------------------------------


async def list_devices(backend: AudioBackend, *, timeout: float = CHECK_TIMEOUT) -> Devices:
    """The sources and sinks the backend offers; AudioUnavailable when it cannot tell."""
    if isinstance(backend, PulseAudioBackend):
        _require(("pactl",), PULSE_PACKAGE)
        async with _bounded(timeout, backend.server_words, "server_unreachable"):
            return await _pulse_devices(backend)
    _require(("arecord", "aplay"), ALSA_PACKAGE)
    async with _bounded(timeout, "ALSA's device list"):
        return await _alsa_devices()


async def _pulse_devices(backend: PulseAudioBackend) -> Devices:
    server = backend.server_in_use
    pactl = ["pactl", *([f"--server={server}"] if server else [])]
    status, info, said = await _run([*pactl, "-f", "json", "info"])
    if status != 0 and "option" in said:
        return await _pulse_devices_without_json(backend, pactl)
    if status != 0:
        raise AudioUnavailable("server_unreachable", f"{backend.server_words}: {said}")
    sources = await _pactl_list(backend, [*pactl, "-f", "json", "list", "sources"])
    sinks = await _pactl_list(backend, [*pactl, "-f", "json", "list", "sinks"])
    try:
        default_source, default_sink = pactl_defaults(info)
        return Devices(
            tuple(pactl_json_devices(sources)),
            tuple(pactl_json_devices(sinks)),
            default_source,
            default_sink,
        )
    except (ValueError, KeyError, TypeError) as err:
        raise AudioUnavailable("failed", f"pactl printed what this cannot read: {err}") from err


async def _pulse_devices_without_json(backend: PulseAudioBackend, pactl: list[str]) -> Devices:
    sources = await _pactl_list(backend, [*pactl, "list", "short", "sources"])
    sinks = await _pactl_list(backend, [*pactl, "list", "short", "sinks"])
    return Devices(tuple(pactl_short_devices(sources)), tuple(pactl_short_devices(sinks)))


async def _pactl_list(backend: PulseAudioBackend, argv: list[str]) -> str:
    status, out, said = await _run(argv)
    if status != 0:
        raise AudioUnavailable("server_unreachable", f"{backend.server_words}: {said}")
    return out


async def _alsa_devices() -> Devices:
    sources = await _alsa_list("arecord")
    sinks = await _alsa_list("aplay")
    return Devices(
        tuple(sources),
        tuple(sinks),
        "default" if any(d.name == "default" for d in sources) else None,
        "default" if any(d.name == "default" for d in sinks) else None,
    )


async def _alsa_list(command: str) -> list[AudioDevice]:
    status, pcms, said = await _run([command, "-L"])
    if status != 0:
        raise AudioUnavailable("failed", f"{command} -L lists no devices: {said}")
    # Without sound cards `-l` says so and lists none; the PCMs (pulse, default) still count.
    _, cards, _ = await _run([command, "-l"])
    # A card's own plughw name first: it is the one to choose for a kit's sound card.
    return merged(alsa_card_devices(cards), alsa_pcms(pcms))


@contextlib.asynccontextmanager
async def _bounded(
    timeout: float, what: str, reason: UnavailableReason = "failed"
) -> AsyncIterator[None]:
    """Turns running out of time into AudioUnavailable (the command then running is killed)."""
    try:
        async with asyncio.timeout(timeout):
            yield
    except TimeoutError:
        raise AudioUnavailable(reason, f"{what} did not answer within {timeout:g} s") from None


async def _run(argv: list[str]) -> tuple[int, str, str]:
    """Runs a short command: (status, stdout, last line of stderr); killed when cancelled."""
    try:
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
    except OSError as err:
        raise AudioUnavailable(
            "command_missing", f"{argv[0]} could not start: {err.strerror or err}"
        ) from err
    try:
        out, stderr = await process.communicate()
    except asyncio.CancelledError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()
        raise
    said = [line.strip() for line in stderr.decode(errors="replace").splitlines() if line.strip()]
    assert process.returncode is not None
    return process.returncode, out.decode(errors="replace"), said[-1] if said else ""
