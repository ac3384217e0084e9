"""PulseAudio in Home Assistant's own process: libpulse through ctypes, on the asyncio loop.

`library` declares the part of libpulse's C API used here, `mainloop` steps libpulse's own main loop
from asyncio, `connection` is one context (server info, devices, modules, events) and `streams` the
microphone and speaker on it. No thread and no child process: the official Home Assistant image
has libpulse but none of PulseAudio's command-line tools.
"""
