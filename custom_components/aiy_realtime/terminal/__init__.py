"""The voice terminal: one satellite's life while its entry is loaded (device.py), its Realtime
session and the spoken turns on it (session.py, turns.py), the AIY kit it drives (kit.py), its
settings as its subentry saves them (settings.py), its states as Home Assistant and the LED show
them (states.py) and the media it plays (media.py).

It may import chat/, assistant/, realtime/, hardware/, const and entity; never agent/, flows/,
the platform modules or the package's `__init__`."""
