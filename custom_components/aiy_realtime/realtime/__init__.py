"""Client for the OpenAI Realtime API (GA) over WebRTC. Knows nothing of Home Assistant."""
