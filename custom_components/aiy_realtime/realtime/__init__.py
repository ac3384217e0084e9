"""Client for the OpenAI Realtime API (GA) over WebRTC. Knows nothing of Home Assistant."""

from .sctp_checksum import install as _install_sctp_checksum

# Before any module here imports aiortc: where google-crc32c has no C extension (the official
# image, musl), aiortc's SCTP gets a checksum ~3x faster than google-crc32c's fallback.
SCTP_CHECKSUM = _install_sctp_checksum()
