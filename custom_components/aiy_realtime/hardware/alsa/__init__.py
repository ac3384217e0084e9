"""ALSA in-process through libasound (ctypes): device lists, checks, a microphone and a speaker.

For Home Assistant Core installs without a sound server (a Voice HAT on Raspberry Pi OS), and
the container's `/etc/asound.conf`, which routes `default` through the pulse plugin.
"""

from .bindings import load_libasound
from .devices import check_alsa, check_alsa_device, list_alsa_devices
from .streams import AlsaMicrophone, AlsaSpeaker

__all__ = [
    "AlsaMicrophone",
    "AlsaSpeaker",
    "check_alsa",
    "check_alsa_device",
    "list_alsa_devices",
    "load_libasound",
]
