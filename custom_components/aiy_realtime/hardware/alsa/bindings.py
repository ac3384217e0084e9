"""libasound (alsa-lib) through ctypes: the functions a terminal's sound uses, and a PCM handle.

Only alsa-lib's functions touch its opaque types (`snd_pcm_hw_params_t` and the like are made
with their `*_malloc` functions and read with their accessors): their layouts differ between
versions and builds. Only `struct pollfd` (POSIX) and the API's enum values are spelled out.
"""

from __future__ import annotations

from collections.abc import Iterator
import contextlib
import ctypes
from ctypes import (
    POINTER,
    byref,
    c_char_p,
    c_int,
    c_long,
    c_short,
    c_uint,
    c_ulong,
    c_ushort,
    c_void_p,
)
import enum
import errno
import threading
from typing import Any

from custom_components.aiy_realtime.hardware.audio_problems import AudioUnavailable

SONAME = "libasound.so.2"
"""By soname: `ctypes.util.find_library` finds nothing on Alpine (no ldconfig, no compiler)."""

STREAM_PLAYBACK = 0
STREAM_CAPTURE = 1
OPEN_NONBLOCK = 1
"""Opening fails at once with -EBUSY on a device in use (a blocking open would wait for it)."""
FORMAT_S16_LE = 2
ACCESS_RW_INTERLEAVED = 3
POLLIN = 0x001
POLLOUT = 0x004
POLLERR = 0x008
POLLHUP = 0x010
POLLNVAL = 0x020


class State(enum.IntEnum):
    """snd_pcm_state_t."""

    OPEN = 0
    SETUP = 1
    PREPARED = 2
    RUNNING = 3
    XRUN = 4
    DRAINING = 5
    PAUSED = 6
    SUSPENDED = 7
    DISCONNECTED = 8


class PollFd(ctypes.Structure):
    _fields_ = (("fd", c_int), ("events", c_short), ("revents", c_short))


_ErrorHandler = ctypes.CFUNCTYPE(None, c_char_p, c_int, c_char_p, c_int, c_char_p)
"""snd_lib_error_handler_t without its variadic tail (never read here)."""

_p = c_void_p
_PROTOTYPES: dict[str, tuple[Any, tuple[Any, ...]]] = {
    "snd_strerror": (c_char_p, (c_int,)),
    "snd_lib_error_set_handler": (c_int, (_ErrorHandler,)),
    "snd_config_update_free_global": (c_int, ()),
    # device lists
    "snd_device_name_hint": (c_int, (c_int, c_char_p, POINTER(POINTER(c_void_p)))),
    "snd_device_name_get_hint": (c_void_p, (c_void_p, c_char_p)),
    "snd_device_name_free_hint": (c_int, (POINTER(c_void_p),)),
    "snd_card_next": (c_int, (POINTER(c_int),)),
    "snd_ctl_open": (c_int, (POINTER(c_void_p), c_char_p, c_int)),
    "snd_ctl_close": (c_int, (_p,)),
    "snd_ctl_card_info_malloc": (c_int, (POINTER(c_void_p),)),
    "snd_ctl_card_info_free": (None, (_p,)),
    "snd_ctl_card_info": (c_int, (_p, _p)),
    "snd_ctl_card_info_get_id": (c_char_p, (_p,)),
    "snd_ctl_card_info_get_name": (c_char_p, (_p,)),
    "snd_ctl_pcm_next_device": (c_int, (_p, POINTER(c_int))),
    "snd_ctl_pcm_info": (c_int, (_p, _p)),
    "snd_pcm_info_malloc": (c_int, (POINTER(c_void_p),)),
    "snd_pcm_info_free": (None, (_p,)),
    "snd_pcm_info_set_device": (None, (_p, c_uint)),
    "snd_pcm_info_set_subdevice": (None, (_p, c_uint)),
    "snd_pcm_info_set_stream": (None, (_p, c_int)),
    "snd_pcm_info_get_name": (c_char_p, (_p,)),
    # a PCM
    "snd_pcm_open": (c_int, (POINTER(c_void_p), c_char_p, c_int, c_int)),
    "snd_pcm_close": (c_int, (_p,)),
    "snd_pcm_hw_params_malloc": (c_int, (POINTER(c_void_p),)),
    "snd_pcm_hw_params_free": (None, (_p,)),
    "snd_pcm_hw_params_any": (c_int, (_p, _p)),
    "snd_pcm_hw_params_set_rate_resample": (c_int, (_p, _p, c_uint)),
    "snd_pcm_hw_params_set_access": (c_int, (_p, _p, c_int)),
    "snd_pcm_hw_params_set_format": (c_int, (_p, _p, c_int)),
    "snd_pcm_hw_params_set_channels": (c_int, (_p, _p, c_uint)),
    "snd_pcm_hw_params_set_rate": (c_int, (_p, _p, c_uint, c_int)),
    "snd_pcm_hw_params_set_period_time_near": (c_int, (_p, _p, POINTER(c_uint), POINTER(c_int))),
    "snd_pcm_hw_params_set_buffer_time_near": (c_int, (_p, _p, POINTER(c_uint), POINTER(c_int))),
    "snd_pcm_hw_params": (c_int, (_p, _p)),
    "snd_pcm_hw_params_get_period_size": (c_int, (_p, POINTER(c_ulong), POINTER(c_int))),
    "snd_pcm_hw_params_get_buffer_size": (c_int, (_p, POINTER(c_ulong))),
    "snd_pcm_sw_params_malloc": (c_int, (POINTER(c_void_p),)),
    "snd_pcm_sw_params_free": (None, (_p,)),
    "snd_pcm_sw_params_current": (c_int, (_p, _p)),
    "snd_pcm_sw_params_set_avail_min": (c_int, (_p, _p, c_ulong)),
    "snd_pcm_sw_params_set_start_threshold": (c_int, (_p, _p, c_ulong)),
    "snd_pcm_sw_params": (c_int, (_p, _p)),
    "snd_pcm_prepare": (c_int, (_p,)),
    "snd_pcm_start": (c_int, (_p,)),
    "snd_pcm_drop": (c_int, (_p,)),
    "snd_pcm_recover": (c_int, (_p, c_int, c_int)),
    "snd_pcm_state": (c_int, (_p,)),
    "snd_pcm_avail_update": (c_long, (_p,)),
    "snd_pcm_delay": (c_int, (_p, POINTER(c_long))),
    "snd_pcm_readi": (c_long, (_p, c_void_p, c_ulong)),
    "snd_pcm_writei": (c_long, (_p, c_void_p, c_ulong)),
    "snd_pcm_poll_descriptors_count": (c_int, (_p,)),
    "snd_pcm_poll_descriptors": (c_int, (_p, POINTER(PollFd), c_uint)),
    "snd_pcm_poll_descriptors_revents": (c_int, (_p, POINTER(PollFd), c_uint, POINTER(c_ushort))),
}

_lib: ctypes.CDLL | None = None
_libc: ctypes.CDLL | None = None
_load_lock = threading.Lock()
_said = threading.local()
"""Where alsa-lib's error messages go while `collecting_messages` runs in that thread."""


def _keep_error(
    file: bytes | None, line: int, function: bytes | None, err: int, fmt: bytes | None
) -> None:
    # Kept for the caller to classify a failure (the pulse plugin's `pulse_connect`, say) rather
    # than printed on Home Assistant's stderr. The format's arguments are not readable here.
    said: list[str] | None = getattr(_said, "messages", None)
    if said is not None:
        said.append(f"{(function or b'').decode(errors='replace')}: {(fmt or b'').decode()}")


_on_error: Any = _ErrorHandler(_keep_error)
"""Kept here for as long as alsa-lib may call it (the whole process)."""


def load_libasound() -> ctypes.CDLL:
    """libasound with the prototypes used here; AudioUnavailable("library_missing") without it."""
    global _lib, _libc  # loaded once per process, as the dynamic linker does
    with _load_lock:
        if _lib is None:
            _lib = open_library(SONAME)
            _lib.snd_lib_error_set_handler(_on_error)
            _libc = ctypes.CDLL(None)
            _libc.free.argtypes = (c_void_p,)
            _libc.free.restype = None
        return _lib


def open_library(soname: str) -> ctypes.CDLL:
    """The library `soname` with alsa-lib's prototypes; AudioUnavailable when it cannot load."""
    try:
        lib = ctypes.CDLL(soname)
        for name, (restype, argtypes) in _PROTOTYPES.items():
            function = getattr(lib, name)
            function.restype = restype
            function.argtypes = argtypes
    except (OSError, AttributeError) as err:
        raise AudioUnavailable(
            "library_missing",
            f"ALSA's library ({soname}) cannot be loaded where Home Assistant runs: {err}",
        ) from err
    return lib


def free(pointer: int | None) -> None:
    """Frees what alsa-lib allocated for the caller (snd_device_name_get_hint's strings)."""
    assert _libc is not None
    _libc.free(pointer)


def address_of(data: bytes) -> int:
    """Where `data`'s bytes are (valid while `data` lives): written from without a copy."""
    address = ctypes.cast(c_char_p(data), c_void_p).value
    assert address is not None
    return address


def strerror(code: int) -> str:
    """alsa-lib's words for an error code (negative, as its functions return them)."""
    words: bytes | None = load_libasound().snd_strerror(code)
    return words.decode(errors="replace") if words else f"error {code}"


@contextlib.contextmanager
def collecting_messages() -> Iterator[list[str]]:
    """alsa-lib's error messages in this thread while the block runs."""
    messages: list[str] = []
    _said.messages = messages
    try:
        yield messages
    finally:
        _said.messages = None


def forget_configuration() -> None:
    """Drop alsa-lib's parsed configuration: the next open reads the files (and
    ALSA_CONFIG_PATH) afresh. Only while no PCM is open."""
    load_libasound().snd_config_update_free_global()


class AlsaError(Exception):
    """An alsa-lib call failed: `code` (negative errno), what was done, and what was said."""

    def __init__(self, code: int, doing: str, messages: list[str] | None = None) -> None:
        self.code = code
        self.doing = doing
        self.messages = list(messages or [])
        self.words = strerror(code)
        super().__init__(f"{doing}: {self.words}")

    @property
    def connecting_failed(self) -> bool:
        """The pulse plugin (or another client plugin) could not reach its server."""
        if self.code in (-errno.ECONNREFUSED, -errno.EHOSTUNREACH, -errno.ETIMEDOUT):
            return True
        return any("connect" in message.lower() for message in self.messages)


def _check(code: int, doing: str) -> int:
    if code < 0:
        raise AlsaError(code, doing)
    return code


class Pcm:
    """An open, configured PCM in non-blocking mode: S16_LE interleaved at `rate`/`channels`.

    Made with `open` (which may block a while: the pulse plugin connects to its server then,
    so call it off the event loop); every other call returns at once.
    """

    def __init__(self, lib: ctypes.CDLL, handle: c_void_p, name: str, stream: int) -> None:
        self._lib = lib
        self._handle: c_void_p | None = handle
        self.name = name
        self.stream = stream
        self.period_frames = 0
        self.buffer_frames = 0

    @classmethod
    def open(
        cls,
        name: str,
        stream: int,
        rate: int,
        channels: int,
        *,
        period_us: int,
        buffer_us: int,
        start_frames: int | None = None,
    ) -> Pcm:
        """Opens and configures `name`; AlsaError says why not.

        `start_frames`: playback starts by itself once this much is queued (None: ALSA's default).
        """
        lib = load_libasound()
        handle = c_void_p()
        with collecting_messages() as said:
            code = lib.snd_pcm_open(byref(handle), name.encode(), stream, OPEN_NONBLOCK)
        if code < 0:
            raise AlsaError(code, "opening", said)
        pcm = cls(lib, handle, name, stream)
        try:
            pcm._configure(rate, channels, period_us, buffer_us, start_frames)
        except BaseException:
            pcm.close()
            raise
        return pcm

    def _configure(
        self, rate: int, channels: int, period_us: int, buffer_us: int, start_frames: int | None
    ) -> None:
        lib, handle = self._lib, self._handle
        hw = c_void_p()
        _check(lib.snd_pcm_hw_params_malloc(byref(hw)), "allocating hardware parameters")
        try:
            _check(lib.snd_pcm_hw_params_any(handle, hw), "reading its formats")
            _check(lib.snd_pcm_hw_params_set_rate_resample(handle, hw, 1), "allowing resampling")
            _check(
                lib.snd_pcm_hw_params_set_access(handle, hw, ACCESS_RW_INTERLEAVED),
                "choosing interleaved access",
            )
            _check(lib.snd_pcm_hw_params_set_format(handle, hw, FORMAT_S16_LE), "choosing S16_LE")
            _check(lib.snd_pcm_hw_params_set_channels(handle, hw, channels), f"{channels} channels")
            _check(lib.snd_pcm_hw_params_set_rate(handle, hw, rate, 0), f"rate {rate} Hz")
            period, buffer, direction = c_uint(period_us), c_uint(buffer_us), c_int(0)
            _check(
                lib.snd_pcm_hw_params_set_period_time_near(handle, hw, byref(period), None),
                "choosing the period",
            )
            _check(
                lib.snd_pcm_hw_params_set_buffer_time_near(handle, hw, byref(buffer), None),
                "choosing the buffer",
            )
            _check(lib.snd_pcm_hw_params(handle, hw), "setting its format")
            frames = c_ulong()
            _check(
                lib.snd_pcm_hw_params_get_period_size(hw, byref(frames), byref(direction)),
                "reading the period",
            )
            self.period_frames = frames.value
            _check(lib.snd_pcm_hw_params_get_buffer_size(hw, byref(frames)), "reading the buffer")
            self.buffer_frames = frames.value
        finally:
            lib.snd_pcm_hw_params_free(hw)
        sw = c_void_p()
        _check(lib.snd_pcm_sw_params_malloc(byref(sw)), "allocating software parameters")
        try:
            _check(lib.snd_pcm_sw_params_current(handle, sw), "reading software parameters")
            _check(
                lib.snd_pcm_sw_params_set_avail_min(handle, sw, self.period_frames),
                "waking once a period",
            )
            if start_frames is not None:
                _check(
                    lib.snd_pcm_sw_params_set_start_threshold(
                        handle, sw, min(start_frames, self.buffer_frames)
                    ),
                    "setting the start threshold",
                )
            _check(lib.snd_pcm_sw_params(handle, sw), "setting software parameters")
        finally:
            lib.snd_pcm_sw_params_free(sw)
        _check(lib.snd_pcm_prepare(handle), "preparing")

    @property
    def is_open(self) -> bool:
        return self._handle is not None

    def _h(self) -> c_void_p:
        if self._handle is None:
            raise AlsaError(-errno.EBADFD, "using a closed device")
        return self._handle

    def close(self) -> None:
        handle, self._handle = self._handle, None
        if handle is not None:
            self._lib.snd_pcm_close(handle)

    def state(self) -> State:
        return State(self._lib.snd_pcm_state(self._h()))

    def start(self) -> int:
        return int(self._lib.snd_pcm_start(self._h()))

    def prepare(self) -> int:
        return int(self._lib.snd_pcm_prepare(self._h()))

    def drop(self) -> int:
        return int(self._lib.snd_pcm_drop(self._h()))

    def recover(self, code: int) -> int:
        """Recovers from an xrun (-EPIPE) or suspend (-ESTRPIPE), quietly; 0 or an error."""
        return int(self._lib.snd_pcm_recover(self._h(), code, 1))

    def avail(self) -> int:
        """Frames that can be read or written now, or a negative error code."""
        return int(self._lib.snd_pcm_avail_update(self._h()))

    def delay(self) -> int:
        """Frames until what is written now is heard (playback), or a negative error code."""
        frames = c_long()
        code = self._lib.snd_pcm_delay(self._h(), byref(frames))
        return int(code) if code < 0 else frames.value

    def readi(self, buffer: ctypes.Array[ctypes.c_char], frames: int) -> int:
        return int(self._lib.snd_pcm_readi(self._h(), buffer, frames))

    def writei(self, address: int, frames: int) -> int:
        """Writes `frames` from memory at `address` (see `address_of`)."""
        return int(self._lib.snd_pcm_writei(self._h(), address, frames))

    def poll_descriptors(self) -> ctypes.Array[PollFd]:
        count = _check(self._lib.snd_pcm_poll_descriptors_count(self._h()), "counting its fds")
        fds = (PollFd * count)()
        filled = _check(self._lib.snd_pcm_poll_descriptors(self._h(), fds, count), "its fds")
        return (PollFd * filled).from_buffer(fds) if filled < count else fds

    def revents(self, fds: ctypes.Array[PollFd]) -> int:
        """What the fds' `revents` (set by the caller) mean for this PCM: POLLIN/POLLOUT/POLLERR."""
        events = c_ushort()
        code = self._lib.snd_pcm_poll_descriptors_revents(self._h(), fds, len(fds), byref(events))
        return POLLERR if code < 0 else events.value
