"""Sound files on a terminal's speaker: an announcement's `media_id`, the pre-announce chime,
the sound of HA's connection test. HA's satellites hand such a URL to their device, which fetches
and plays it; this terminal's device is HA's own process, so it fetches and decodes the media
here (HA's ffmpeg) and writes the PCM to the speaker the sessions use. No session (no call) is
needed to play a file."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from pathlib import Path

import yarl

from homeassistant.components import assist_satellite, media_source
from homeassistant.components.assist_satellite.const import PREANNOUNCE_URL
from homeassistant.components.ffmpeg import get_ffmpeg_manager
from homeassistant.components.media_player.browse_media import async_process_play_media_url
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError

from ..const import DOMAIN, LOGGER
from ..hardware.audio_problems import AudioUnavailable
from ..hardware.terminal_sound import TerminalSound
from ..realtime.audio import AudioDeviceError

CHUNK_MS = 20
"""Milliseconds of sound written at a time: what the session's own speech writes."""
PREANNOUNCE_FILE = Path(assist_satellite.__file__).parent / "preannounce.mp3"
"""What HA serves at PREANNOUNCE_URL: read from disk, so the default chime needs no HA URL."""
URL_PROTOCOLS = "http,https,tcp,tls,crypto,httpproxy"
"""What ffmpeg may open for a URL (a playlist included): the web only, so a media_id cannot make
it read HA's files (`file:`) or reach other services, which no device fetching a URL can do."""
FILE_PROTOCOLS = "file"


@dataclass(frozen=True, slots=True)
class Media:
    """What ffmpeg reads (a local file or a URL), with what it may open to read it, and what the
    user asked for (for errors)."""

    source: str
    protocols: str
    asked: str

    @classmethod
    def file(cls, path: Path, asked: str) -> Media:
        return cls(f"file:{path}", FILE_PROTOCOLS, asked)


async def async_resolve(hass: HomeAssistant, media_id: str) -> Media:
    """Where `media_id` (a media-source ID, a URL, or a path on HA's own server) is read from;
    HomeAssistantError (translated) when HA cannot resolve it."""
    if media_id == PREANNOUNCE_URL:
        return Media.file(PREANNOUNCE_FILE, media_id)
    url = media_id
    if media_source.is_media_source_id(media_id):
        try:
            media = await media_source.async_resolve_media(hass, media_id, None)
        except HomeAssistantError as err:
            raise _unresolvable(media_id, err) from err
        if media.path is not None:  # a file HA has: no round trip through its HTTP server
            if not await hass.async_add_executor_job(media.path.is_file):
                raise _unresolvable(media_id, FileNotFoundError(f"no file {media.path.name}"))
            return Media.file(media.path, media_id)
        url = media.url
    try:
        # HA's own paths become a full, signed URL, as for any device that fetches them.
        url = async_process_play_media_url(hass, url)
    except HomeAssistantError as err:
        raise _unresolvable(media_id, err) from err
    if yarl.URL(url).scheme not in ("http", "https"):
        raise _unresolvable(media_id, ValueError("not a media source ID nor an http(s) URL"))
    return Media(url, URL_PROTOCOLS, media_id)


def _unresolvable(media_id: str, err: Exception) -> HomeAssistantError:
    return HomeAssistantError(
        translation_domain=DOMAIN,
        translation_key="media_unresolvable",
        translation_placeholders={"media_id": media_id, "reason": str(err) or type(err).__name__},
    )


async def async_play(hass: HomeAssistant, sound: TerminalSound, media: Media) -> None:
    """Decode `media` to the speaker's PCM and play it; returns once it has played.

    The speaker opens only once ffmpeg gave sound, so media it cannot read opens nothing.
    HomeAssistantError (translated) when it does not decode or the speaker fails.
    """
    try:
        process = await asyncio.create_subprocess_exec(
            *_decoder(hass, media, sound.rate),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
    except OSError as err:  # HA's ffmpeg binary is missing or does not run
        raise _unplayable(media, str(err)) from err
    assert process.stdout is not None
    assert process.stderr is not None
    errors = asyncio.ensure_future(process.stderr.read())
    chunk_bytes = sound.rate * CHUNK_MS // 1000 * 2
    try:
        first = await _read(process.stdout, chunk_bytes)
        if not first:
            await process.wait()
            raise _unplayable(media, (await errors).decode(errors="replace"))
        await _write(sound, media, first, process.stdout, chunk_bytes)
        if await process.wait() != 0:
            # Cut short (a download that broke): what came played, but not all of it.
            raise _unplayable(media, (await errors).decode(errors="replace"))
    finally:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
        errors.cancel()


async def _write(
    sound: TerminalSound,
    media: Media,
    first: bytes,
    decoded: asyncio.StreamReader,
    chunk_bytes: int,
) -> None:
    try:
        speaker = await sound.open_speaker()
    except AudioUnavailable as err:
        raise _speaker_failed(sound, err) from err
    try:
        chunk = first
        while chunk:
            await speaker.write(chunk)
            chunk = await _read(decoded, chunk_bytes)
    except AudioDeviceError as err:
        raise _speaker_failed(sound, err) from err
    finally:
        await speaker.close()  # plays out what the server still holds


def _decoder(hass: HomeAssistant, media: Media, rate: int) -> list[str]:
    """ffmpeg reading `media`, writing mono S16LE PCM at `rate` Hz."""
    binary = get_ffmpeg_manager(hass).binary
    return [
        *(binary, "-nostdin", "-hide_banner", "-loglevel", "error"),
        *("-protocol_whitelist", media.protocols, "-i", media.source),
        *("-vn", "-f", "s16le", "-acodec", "pcm_s16le"),
        *("-ac", "1", "-ar", str(rate), "pipe:1"),
    ]


async def _read(stream: asyncio.StreamReader, size: int) -> bytes:
    """Up to `size` bytes (fewer only at the end), so every chunk but the last is whole."""
    try:
        return await stream.readexactly(size)
    except asyncio.IncompleteReadError as err:
        return err.partial[: len(err.partial) // 2 * 2]


def _unplayable(media: Media, detail: str) -> HomeAssistantError:
    reason = detail.strip().splitlines()[-1] if detail.strip() else "no sound in it"
    LOGGER.warning("%s does not play: %s", media.asked, detail.strip() or reason)
    return HomeAssistantError(
        translation_domain=DOMAIN,
        translation_key="media_unplayable",
        translation_placeholders={"media_id": media.asked, "reason": reason},
    )


def _speaker_failed(sound: TerminalSound, err: Exception) -> HomeAssistantError:
    return HomeAssistantError(
        translation_domain=DOMAIN,
        translation_key="audio_unavailable",
        translation_placeholders={"terminal": sound.title, "reason": str(err)},
    )
