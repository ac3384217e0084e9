"""A local Realtime-compatible peer: the HTTP surface of OpenAI's API and a WebRTC answerer."""

from .http import FaultPlan, HttpFault, LocalRealtimePeer

__all__ = ["FaultPlan", "HttpFault", "LocalRealtimePeer"]
