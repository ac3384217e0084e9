"""Tests of the Realtime client (no Home Assistant) against the local peer on loopback."""
