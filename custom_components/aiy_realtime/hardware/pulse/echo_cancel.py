"""PulseAudio's echo canceller (`module-echo-cancel`) over a terminal's source and sink.

The module gives a source that is the microphone minus what the sink plays: the assistant does
not hear itself, so the user can talk over it (barge-in) on a kit whose speaker sits beside its
microphones. `webrtc` is tried first and `speex` after: a server may be built without webrtc's
audio processing (a public report says Home Assistant OS's is).

Modules outlive the client that loaded them, so a canceller is named after its terminal and one
left over from before (Home Assistant killed, the machine lost power) is unloaded first.
"""

from __future__ import annotations

from dataclasses import dataclass
import logging

from custom_components.aiy_realtime.hardware.audio_problems import AudioUnavailable

from .connection import PulseConnection

_LOGGER = logging.getLogger(__name__)

MODULE = "module-echo-cancel"
METHODS = ("webrtc", "speex")
METHOD_ARGS = {"webrtc": 'aec_args="analog_gain_control=0 digital_gain_control=0"'}
"""No gain control: webrtc's analog one sets the *master* source's volume (the microphone's own,
shared with every other client, kept after the module goes), starting it at a third, which left
speech below the server's voice activity threshold. OpenAI's input needs no gain of ours."""
NAME_PREFIX = "aiy_realtime_ec_"


@dataclass(frozen=True, slots=True)
class EchoCanceller:
    """A loaded canceller: its module, the method it runs, and the devices to use instead."""

    module: int
    method: str
    source: str
    sink: str


def names_for(key: str) -> tuple[str, str]:
    """The canceller's source and sink names for a terminal (PulseAudio names: no spaces)."""
    safe = "".join(c if c.isalnum() else "_" for c in key)
    return f"{NAME_PREFIX}{safe}_source", f"{NAME_PREFIX}{safe}_sink"


async def remove_leftovers(connection: PulseConnection, key: str) -> int:
    """Unloads any canceller of this terminal's still on the server; how many there were."""
    source, _ = names_for(key)
    removed = 0
    for module in await connection.modules():
        if module.name == MODULE and f"source_name={source} " in f"{module.argument} ":
            await connection.unload_module(module.index)
            removed += 1
    return removed


async def load(
    connection: PulseConnection, key: str, source: str | None, sink: str | None, title: str
) -> EchoCanceller | None:
    """Loads a canceller over `source`/`sink` (None: the server's defaults); None when the
    server has no method that loads (the reasons are logged)."""
    await remove_leftovers(connection, key)
    source_name, sink_name = names_for(key)
    description = "".join(c for c in title if c.isalnum() or c in " -_") or "terminal"
    base = [
        f"source_name={source_name}",
        f"sink_name={sink_name}",
        *([f"source_master={source}"] if source else []),
        *([f"sink_master={sink}"] if sink else []),
        # A value with spaces in double quotes, the description inside in single quotes.
        f"source_properties=\"device.description='{description} (echo cancelled)'\"",
        f"sink_properties=\"device.description='{description} (echo cancelled)'\"",
    ]
    for method in METHODS:
        try:
            arguments = [*base, f"aec_method={method}", *filter(None, [METHOD_ARGS.get(method)])]
            index = await connection.load_module(MODULE, " ".join(arguments))
        except AudioUnavailable as err:
            if err.reason == "server_unreachable":
                raise
            _LOGGER.debug("%s: echo cancellation with %s does not load: %s", title, method, err)
            continue
        return EchoCanceller(index, method, source_name, sink_name)
    return None
