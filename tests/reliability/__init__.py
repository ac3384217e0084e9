"""Faults and bad input, counted: each case says how often it ran and how each run ended."""
