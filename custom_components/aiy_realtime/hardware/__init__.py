"""Google AIY Voice Kit hardware: button, LED, audio devices. Knows nothing of Home Assistant."""
