"""Home Assistant's real frontend in a real browser (Debian's chromium, driven by Playwright)."""
