"""Tests for AIY Realtime."""
