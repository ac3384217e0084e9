"""Tests of the kit's hardware layer and of audio through real processes, without Home Assistant."""
