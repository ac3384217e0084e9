"""The part of libpulse's C API this integration uses, declared for ctypes.

Loaded by its soname: `ctypes.util.find_library` finds nothing on Alpine (no ldconfig cache, no
compiler), which is what Home Assistant's official image is. Structures are declared up to the
last field read: libpulse only ever appends fields, and they are read through pointers it owns.
"""

from __future__ import annotations

import ctypes
from ctypes import (
    CFUNCTYPE,
    POINTER,
    Structure,
    c_char_p,
    c_int,
    c_int64,
    c_size_t,
    c_uint8,
    c_uint32,
    c_uint64,
    c_ulong,
    c_void_p,
)
import functools
from typing import Any

from custom_components.aiy_realtime.hardware.audio_problems import AudioUnavailable

SONAME = "libpulse.so.0"

PA_INVALID_INDEX = 0xFFFFFFFF
CHANNELS_MAX = 32

# pa_context_state_t
CONTEXT_READY = 4
CONTEXT_FAILED = 5
CONTEXT_TERMINATED = 6
CONTEXT_NOAUTOSPAWN = 0x1

# pa_stream_state_t
STREAM_READY = 2
STREAM_FAILED = 3
STREAM_TERMINATED = 4

# pa_stream_flags_t
STREAM_INTERPOLATE_TIMING = 0x0002
STREAM_AUTO_TIMING_UPDATE = 0x0008
STREAM_DONT_MOVE = 0x0200
STREAM_ADJUST_LATENCY = 0x2000

SAMPLE_S16LE = 3
SEEK_RELATIVE = 0

# pa_error_code_t (the ones told apart)
ERR_NOENTITY = 5
ERR_CONNECTIONREFUSED = 6
ERR_TIMEOUT = 8
ERR_AUTHKEY = 9
ERR_CONNECTIONTERMINATED = 11
ERR_KILLED = 12
ERR_INVALIDSERVER = 13
ERR_MODINITFAILED = 14
ERR_BUSY = 25

# pa_subscription_mask_t and pa_subscription_event_type_t
SUBSCRIPTION_MASK_SINK = 0x0001
SUBSCRIPTION_MASK_SOURCE = 0x0002
SUBSCRIPTION_MASK_MODULE = 0x0010
SUBSCRIPTION_MASK_SERVER = 0x0080
EVENT_FACILITY_MASK = 0x000F
EVENT_TYPE_MASK = 0x0030
FACILITY_SINK = 0
FACILITY_SOURCE = 1
FACILITY_MODULE = 4
FACILITY_SERVER = 7
EVENT_NEW = 0x0000
EVENT_CHANGE = 0x0010
EVENT_REMOVE = 0x0020


class SampleSpec(Structure):
    _fields_ = (("format", c_int), ("rate", c_uint32), ("channels", c_uint8))


class ChannelMap(Structure):
    _fields_ = (("channels", c_uint8), ("map", c_int * CHANNELS_MAX))


class CVolume(Structure):
    _fields_ = (("channels", c_uint8), ("values", c_uint32 * CHANNELS_MAX))


class BufferAttr(Structure):
    _fields_ = (
        ("maxlength", c_uint32),
        ("tlength", c_uint32),
        ("prebuf", c_uint32),
        ("minreq", c_uint32),
        ("fragsize", c_uint32),
    )


class ServerInfo(Structure):
    _fields_ = (
        ("user_name", c_char_p),
        ("host_name", c_char_p),
        ("server_version", c_char_p),
        ("server_name", c_char_p),
        ("sample_spec", SampleSpec),
        ("default_sink_name", c_char_p),
        ("default_source_name", c_char_p),
    )


class SourceInfo(Structure):
    _fields_ = (
        ("name", c_char_p),
        ("index", c_uint32),
        ("description", c_char_p),
        ("sample_spec", SampleSpec),
        ("channel_map", ChannelMap),
        ("owner_module", c_uint32),
        ("volume", CVolume),
        ("mute", c_int),
        ("monitor_of_sink", c_uint32),
    )


class SinkInfo(Structure):
    _fields_ = (
        ("name", c_char_p),
        ("index", c_uint32),
        ("description", c_char_p),
        ("sample_spec", SampleSpec),
        ("channel_map", ChannelMap),
        ("owner_module", c_uint32),
    )


class ModuleInfo(Structure):
    _fields_ = (("index", c_uint32), ("name", c_char_p), ("argument", c_char_p))


# -- libpulse's own main loop (mainloop.h), run a step at a time -------------------------------


class MainloopApi(Structure):
    """Opaque here: `pa_mainloop_get_api` hands it out, `pa_context_new` takes it."""


PollFunc = CFUNCTYPE(c_int, c_void_p, c_ulong, c_int, c_void_p)
"""`pa_poll_func`: (struct pollfd *ufds, nfds, timeout in ms or -1, userdata) → poll's result."""

POLLIN = 0x001
POLLPRI = 0x002
POLLOUT = 0x004


# -- callbacks libpulse calls back ---------------------------------------------------------------

ContextNotifyCb = CFUNCTYPE(None, c_void_p, c_void_p)
ContextSuccessCb = CFUNCTYPE(None, c_void_p, c_int, c_void_p)
ContextIndexCb = CFUNCTYPE(None, c_void_p, c_uint32, c_void_p)
ContextSubscribeCb = CFUNCTYPE(None, c_void_p, c_int, c_uint32, c_void_p)
ServerInfoCb = CFUNCTYPE(None, c_void_p, POINTER(ServerInfo), c_void_p)
SourceInfoCb = CFUNCTYPE(None, c_void_p, POINTER(SourceInfo), c_int, c_void_p)
SinkInfoCb = CFUNCTYPE(None, c_void_p, POINTER(SinkInfo), c_int, c_void_p)
ModuleInfoCb = CFUNCTYPE(None, c_void_p, POINTER(ModuleInfo), c_int, c_void_p)
StreamNotifyCb = CFUNCTYPE(None, c_void_p, c_void_p)
StreamRequestCb = CFUNCTYPE(None, c_void_p, c_size_t, c_void_p)
StreamSuccessCb = CFUNCTYPE(None, c_void_p, c_int, c_void_p)

_PROTOTYPES: dict[str, tuple[Any, list[Any]]] = {
    "pa_strerror": (c_char_p, [c_int]),
    "pa_mainloop_new": (c_void_p, []),
    "pa_mainloop_free": (None, [c_void_p]),
    "pa_mainloop_get_api": (POINTER(MainloopApi), [c_void_p]),
    "pa_mainloop_set_poll_func": (None, [c_void_p, PollFunc, c_void_p]),
    "pa_mainloop_prepare": (c_int, [c_void_p, c_int]),
    "pa_mainloop_poll": (c_int, [c_void_p]),
    "pa_mainloop_dispatch": (c_int, [c_void_p]),
    "pa_context_new": (c_void_p, [POINTER(MainloopApi), c_char_p]),
    "pa_context_unref": (None, [c_void_p]),
    "pa_context_connect": (c_int, [c_void_p, c_char_p, c_int, c_void_p]),
    "pa_context_disconnect": (None, [c_void_p]),
    "pa_context_get_state": (c_int, [c_void_p]),
    "pa_context_errno": (c_int, [c_void_p]),
    "pa_context_get_server": (c_char_p, [c_void_p]),
    "pa_context_set_state_callback": (None, [c_void_p, ContextNotifyCb, c_void_p]),
    "pa_context_set_subscribe_callback": (None, [c_void_p, ContextSubscribeCb, c_void_p]),
    "pa_context_subscribe": (c_void_p, [c_void_p, c_int, ContextSuccessCb, c_void_p]),
    "pa_context_get_server_info": (c_void_p, [c_void_p, ServerInfoCb, c_void_p]),
    "pa_context_get_source_info_list": (c_void_p, [c_void_p, SourceInfoCb, c_void_p]),
    "pa_context_get_sink_info_list": (c_void_p, [c_void_p, SinkInfoCb, c_void_p]),
    "pa_context_get_module_info_list": (c_void_p, [c_void_p, ModuleInfoCb, c_void_p]),
    "pa_context_load_module": (c_void_p, [c_void_p, c_char_p, c_char_p, ContextIndexCb, c_void_p]),
    "pa_context_unload_module": (c_void_p, [c_void_p, c_uint32, ContextSuccessCb, c_void_p]),
    "pa_operation_unref": (None, [c_void_p]),
    "pa_operation_cancel": (None, [c_void_p]),
    "pa_stream_new": (c_void_p, [c_void_p, c_char_p, POINTER(SampleSpec), c_void_p]),
    "pa_stream_unref": (None, [c_void_p]),
    "pa_stream_get_state": (c_int, [c_void_p]),
    "pa_stream_set_state_callback": (None, [c_void_p, StreamNotifyCb, c_void_p]),
    "pa_stream_set_read_callback": (None, [c_void_p, StreamRequestCb, c_void_p]),
    "pa_stream_set_write_callback": (None, [c_void_p, StreamRequestCb, c_void_p]),
    "pa_stream_connect_record": (c_int, [c_void_p, c_char_p, POINTER(BufferAttr), c_int]),
    "pa_stream_connect_playback": (
        c_int,
        [c_void_p, c_char_p, POINTER(BufferAttr), c_int, c_void_p, c_void_p],
    ),
    "pa_stream_disconnect": (c_int, [c_void_p]),
    "pa_stream_peek": (c_int, [c_void_p, POINTER(c_void_p), POINTER(c_size_t)]),
    "pa_stream_drop": (c_int, [c_void_p]),
    "pa_stream_write": (c_int, [c_void_p, c_char_p, c_size_t, c_void_p, c_int64, c_int]),
    "pa_stream_writable_size": (c_size_t, [c_void_p]),
    "pa_stream_flush": (c_void_p, [c_void_p, StreamSuccessCb, c_void_p]),
    "pa_stream_drain": (c_void_p, [c_void_p, StreamSuccessCb, c_void_p]),
    "pa_stream_get_device_name": (c_char_p, [c_void_p]),
    "pa_usec_to_bytes": (c_size_t, [c_uint64, POINTER(SampleSpec)]),
}


FUNCTIONS = tuple(_PROTOTYPES)

QUEUE_NOTHING = frozenset(
    {
        "pa_strerror",
        "pa_context_get_state",
        "pa_context_errno",
        "pa_context_get_server",
        "pa_stream_get_state",
        "pa_stream_peek",
        "pa_stream_drop",
        "pa_stream_writable_size",
        "pa_stream_get_device_name",
        "pa_usec_to_bytes",
    }
)
"""Functions that read or drop what libpulse holds and send nothing to the server: a call to
one leaves no work for its main loop (the microphone calls peek and drop for every block)."""


class LibPulse:
    """libpulse's functions, each with its prototype set."""

    def __init__(self, cdll: ctypes.CDLL) -> None:
        for name, (restype, argtypes) in _PROTOTYPES.items():
            function = getattr(cdll, name)
            function.restype = restype
            function.argtypes = argtypes
            setattr(self, name, function)
        libc = ctypes.CDLL(None)  # the process's own C library: glibc or musl
        self.poll = libc.poll
        self.poll.restype = c_int
        self.poll.argtypes = [c_void_p, c_ulong, c_int]

    def __getattr__(self, name: str) -> Any:  # for the type checker: set in __init__
        raise AttributeError(name)

    def strerror(self, code: int) -> str:
        said: bytes | None = self.pa_strerror(code)
        return said.decode(errors="replace") if said else f"error {code}"


@functools.cache
def _load() -> LibPulse | str:
    try:
        return LibPulse(ctypes.CDLL(SONAME))
    except (OSError, AttributeError) as err:
        return str(err)


def libpulse() -> LibPulse:
    """libpulse, loaded once; AudioUnavailable (`library_missing`) where it is not there."""
    loaded = _load()
    if isinstance(loaded, str):
        raise AudioUnavailable(
            "library_missing", f"libpulse ({SONAME}) cannot be loaded here: {loaded}"
        )
    return loaded


def text(value: bytes | None) -> str:
    """A C string from libpulse as text ("" for NULL)."""
    return value.decode(errors="replace") if value else ""


__all__ = ["LibPulse", "c_void_p", "libpulse", "text"]
