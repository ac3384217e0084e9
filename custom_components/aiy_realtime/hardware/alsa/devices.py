"""What ALSA offers (its PCM hints and each card's devices) and whether a terminal's devices open.

alsa-lib's calls here can block (a `pulse` PCM connects to its server, the configuration is
read on first use), so each runs in a thread of its own that ends with it: nothing is left
behind when the caller gives up waiting.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from ctypes import POINTER, byref, c_int, c_void_p, string_at
import errno
import re
import threading

from custom_components.aiy_realtime.hardware.audio_problems import AudioUnavailable
from custom_components.aiy_realtime.hardware.device_listings import AudioDevice, Devices, merged

from .bindings import STREAM_CAPTURE, STREAM_PLAYBACK, AlsaError, Pcm, free, load_libasound

CHECK_TIMEOUT = 3.0
"""Seconds a listing or a check may take (a `pulse` PCM whose server drops packets)."""
CHECK_PERIOD_US = 20_000
CHECK_BUFFER_US = 80_000

_UNSUITED_PCM = re.compile(r"^(surround\d+|iec958|usbstream)(:|$)")
"""PCMs that never suit a voice terminal: multichannel, digital (S/PDIF) outputs, USB streams."""


async def in_thread[T](work: Callable[[], T], undo: Callable[[T], None] | None = None) -> T:
    """`work()` in a thread of its own; if the caller stops waiting, `undo` gets its result."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[T] = loop.create_future()

    def deliver(result: T | None, error: BaseException | None) -> None:
        if done.cancelled():
            if error is None and undo is not None:
                undo(result)  # type: ignore[arg-type]
        elif error is not None:
            done.set_exception(error)
        else:
            done.set_result(result)  # type: ignore[arg-type]

    def run() -> None:
        try:
            result, error = work(), None
        except BaseException as err:  # handed to the waiting task
            result, error = None, err
        try:
            loop.call_soon_threadsafe(deliver, result, error)
        except RuntimeError:  # the loop closed meanwhile
            if error is None and undo is not None:
                undo(result)  # type: ignore[arg-type]

    thread = threading.Thread(target=run, name="aiy-alsa", daemon=True)
    thread.start()
    try:
        return await done
    finally:
        if done.done():
            thread.join()  # it only has to return: nothing outlives the call


# -- what is there --------------------------------------------------------------------------


async def list_alsa_devices(timeout: float = CHECK_TIMEOUT) -> Devices:
    """Capture and playback devices: each card's `plughw:` devices, then ALSA's PCM hints."""
    try:
        async with asyncio.timeout(timeout):
            sources, sinks, cards = await in_thread(_list_devices)
    except TimeoutError:
        raise AudioUnavailable(
            "failed", f"ALSA's device list did not come within {timeout:g} s"
        ) from None
    return Devices(
        tuple(sources),
        tuple(sinks),
        "default" if any(d.name == "default" for d in sources) else None,
        "default" if any(d.name == "default" for d in sinks) else None,
        cards,
    )


def _list_devices() -> tuple[list[AudioDevice], list[AudioDevice], int]:
    cards_capture, cards_playback, cards = _card_devices()
    hints_capture, hints_playback = _pcm_hints()
    # A card's own plughw name first: it is the one to choose for a kit's sound card.
    return merged(cards_capture, hints_capture), merged(cards_playback, hints_playback), cards


def _pcm_hints() -> tuple[list[AudioDevice], list[AudioDevice]]:
    lib = load_libasound()
    hints = POINTER(c_void_p)()
    code = lib.snd_device_name_hint(-1, b"pcm", byref(hints))
    if code < 0:
        raise AudioUnavailable("failed", f"ALSA lists no devices: {AlsaError(code, 'listing')}")
    capture: list[AudioDevice] = []
    playback: list[AudioDevice] = []
    try:
        index = 0
        while hint := hints[index]:
            index += 1
            name = _hint(hint, b"NAME")
            if not name or _UNSUITED_PCM.match(name):
                continue
            lines = (_hint(hint, b"DESC") or "").splitlines()
            device = AudioDevice(
                name, ", ".join(w for w in (s.strip() for s in lines) if w) or name
            )
            direction = _hint(hint, b"IOID")  # None: both ways
            if direction in (None, "Input"):
                capture.append(device)
            if direction in (None, "Output"):
                playback.append(device)
    finally:
        lib.snd_device_name_free_hint(hints)
    return capture, playback


def _hint(hint: int, field: bytes) -> str | None:
    value = load_libasound().snd_device_name_get_hint(hint, field)
    if not value:
        return None
    try:
        return string_at(value).decode(errors="replace")
    finally:
        free(value)


def _card_devices() -> tuple[list[AudioDevice], list[AudioDevice], int]:
    lib = load_libasound()
    capture: list[AudioDevice] = []
    playback: list[AudioDevice] = []
    cards = 0
    card = c_int(-1)
    while lib.snd_card_next(byref(card)) >= 0 and card.value >= 0:
        cards += 1
        ctl = c_void_p()
        if lib.snd_ctl_open(byref(ctl), f"hw:{card.value}".encode(), 0) < 0:
            continue  # a card going away as it is listed
        try:
            found = _devices_of(ctl)
        finally:
            lib.snd_ctl_close(ctl)
        for stream, (card_id, name) in found:
            (capture if stream == STREAM_CAPTURE else playback).append(AudioDevice(card_id, name))
    return capture, playback, cards


def _devices_of(ctl: c_void_p) -> list[tuple[int, tuple[str, str]]]:
    """(stream, (plughw name, description)) for each device and direction a card has."""
    lib = load_libasound()
    info, pcm_info = c_void_p(), c_void_p()
    if lib.snd_ctl_card_info_malloc(byref(info)) < 0:
        return []
    if lib.snd_pcm_info_malloc(byref(pcm_info)) < 0:
        lib.snd_ctl_card_info_free(info)
        return []
    found: list[tuple[int, tuple[str, str]]] = []
    try:
        if lib.snd_ctl_card_info(ctl, info) < 0:
            return []
        card_id = (lib.snd_ctl_card_info_get_id(info) or b"").decode(errors="replace")
        card_name = (lib.snd_ctl_card_info_get_name(info) or b"").decode(errors="replace")
        device = c_int(-1)
        while lib.snd_ctl_pcm_next_device(ctl, byref(device)) >= 0 and device.value >= 0:
            for stream in (STREAM_CAPTURE, STREAM_PLAYBACK):
                lib.snd_pcm_info_set_device(pcm_info, device.value)
                lib.snd_pcm_info_set_subdevice(pcm_info, 0)
                lib.snd_pcm_info_set_stream(pcm_info, stream)
                if lib.snd_ctl_pcm_info(ctl, pcm_info) < 0:
                    continue  # no such direction on this device
                words = (lib.snd_pcm_info_get_name(pcm_info) or b"").decode(errors="replace")
                found.append(
                    (
                        stream,
                        (f"plughw:CARD={card_id},DEV={device.value}", f"{card_name}: {words}"),
                    )
                )
    finally:
        lib.snd_pcm_info_free(pcm_info)
        lib.snd_ctl_card_info_free(info)
    return found


# -- does it work ---------------------------------------------------------------------------


async def check_alsa(
    capture: str, playback: str, rate: int, channels: int, *, timeout: float = CHECK_TIMEOUT
) -> None:
    """Opens each device briefly with the session's format (S16_LE, `rate`, `channels`);
    AudioUnavailable says which does not, and why."""
    await check_alsa_device(capture, rate, channels, capture=True, timeout=timeout)
    await check_alsa_device(playback, rate, channels, capture=False, timeout=timeout)


async def check_alsa_device(
    name: str, rate: int, channels: int, *, capture: bool, timeout: float = CHECK_TIMEOUT
) -> None:
    """Opens one device briefly for recording (`capture`) or playing; AudioUnavailable when
    it does not."""
    pcm = await open_pcm(
        name,
        STREAM_CAPTURE if capture else STREAM_PLAYBACK,
        rate,
        channels,
        period_us=CHECK_PERIOD_US,
        buffer_us=CHECK_BUFFER_US,
        timeout=timeout,
    )
    pcm.close()


async def open_pcm(
    name: str,
    stream: int,
    rate: int,
    channels: int,
    *,
    period_us: int,
    buffer_us: int,
    start_frames: int | None = None,
    timeout: float = CHECK_TIMEOUT,
) -> Pcm:
    """An open PCM (opened in a thread); AudioUnavailable with the reason when it does not open."""
    try:
        async with asyncio.timeout(timeout):
            return await in_thread(
                lambda: Pcm.open(
                    name,
                    stream,
                    rate,
                    channels,
                    period_us=period_us,
                    buffer_us=buffer_us,
                    start_frames=start_frames,
                ),
                Pcm.close,
            )
    except TimeoutError:
        raise AudioUnavailable(
            "server_unreachable" if "pulse" in name or name == "default" else "failed",
            f"the ALSA device {name!r} did not open within {timeout:g} s",
        ) from None
    except AlsaError as err:
        raise unavailable(name, stream, rate, channels, err) from err


def unavailable(
    name: str, stream: int, rate: int, channels: int, err: AlsaError
) -> AudioUnavailable:
    """Why `name` does not open, for code and for people."""
    said = f"(ALSA says: {err.words})"
    if err.code == -errno.EBUSY:
        return AudioUnavailable(
            "device_busy", f"the ALSA device {name!r} is in use by another program {said}"
        )
    if err.connecting_failed:
        return AudioUnavailable(
            "server_unreachable", f"the ALSA device {name!r} cannot reach its sound server {said}"
        )
    if err.code in (-errno.ENOENT, -errno.ENODEV, -errno.ENXIO) or any(
        "Unknown PCM" in message for message in err.messages
    ):
        return AudioUnavailable("device_missing", f"there is no ALSA device {name!r} {said}")
    if err.doing != "opening":
        layout = "mono" if channels == 1 else f"{channels}-channel"
        return AudioUnavailable(
            "failed",
            f"the ALSA device {name!r} does not take 16-bit {layout} sound at {rate} Hz "
            f"({err.doing}: {err.words})",
        )
    what = "recording" if stream == STREAM_CAPTURE else "playing"
    return AudioUnavailable("failed", f"the ALSA device {name!r} does not open for {what} {said}")
