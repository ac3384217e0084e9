"""The steps of the config, subentry and options flows that config_flow.py (which stays at the
top, where Home Assistant looks for it) puts together: an assistant's (assistant.py), a
terminal's (terminal.py) with its kit (kit.py) and sound (sound.py), the prices (options.py) and
the selectors they share (form.py). It may import terminal/ (only to read a kit's settings as the
terminal will), assistant/, chat/, realtime/, hardware/, const and entity; never agent/, the
platform modules or the package's `__init__`."""
