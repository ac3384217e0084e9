"""A faster CRC32C for aiortc's SCTP where google-crc32c runs its pure-Python fallback.

aiortc checksums every SCTP packet it sends or receives (each data channel message, each SACK)
with google-crc32c. That package has no musllinux wheel, so in Home Assistant's official image,
which has no compiler, it installs its pure-Python code: one table lookup per byte, 2.4x the
cost of what follows on a 1200-byte packet (benchmarks/crc32c_results.md). This one reads eight
bytes a step and looks up four 16-bit slices in tables made for their place in the step; it is
swapped in only when the fallback is what loaded, since the C path is faster still.
"""

from __future__ import annotations

import array
from collections.abc import Buffer
import logging
import sys
from typing import Literal
import warnings

_LOGGER = logging.getLogger(__name__)

POLYNOMIAL = 0x82F63B78
"""Castagnoli's polynomial, bit-reversed (SCTP's checksum, RFC 9260 appendix A)."""

type Implementation = Literal["c", "tables", "google-python"]
"""What computes aiortc's SCTP checksum: google-crc32c's C extension, this module's tables, or
google-crc32c's byte-at-a-time fallback (where this module cannot run)."""


def _byte_tables(count: int) -> list[list[int]]:
    """tables[k][b]: the CRC register's change for byte b followed by k zero bytes."""
    first: list[int] = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ POLYNOMIAL if crc & 1 else crc >> 1
        first.append(crc)
    tables = [first]
    for _ in range(1, count):
        previous = tables[-1]
        tables.append([(value >> 8) ^ first[value & 0xFF] for value in previous])
    return tables


_BYTE = _byte_tables(8)
_FIRST = _BYTE[0]
_wide: tuple[array.array[int], ...] | None = None


def _wide_tables() -> tuple[array.array[int], ...]:
    """The four 65536-entry tables, one per 16-bit slice of an 8-byte step (made on first use:
    ~30 ms and 1 MB, which only the fallback's users pay). array('I') rather than lists of ints:
    a quarter of the memory for a few percent of the speed."""
    global _wide
    if _wide is None:
        made: list[array.array[int]] = []
        for slice_index in range(4):
            # The slice's low byte sits 7 - 2i bytes before the step's end, its high byte one less.
            low, high = _BYTE[7 - 2 * slice_index], _BYTE[6 - 2 * slice_index]
            made.append(array.array("I", [low[i & 0xFF] ^ high[i >> 8] for i in range(65536)]))
        _wide = tuple(made)
    return _wide


def crc32c(data: Buffer) -> int:
    """CRC32C of `data`, as google_crc32c.value gives it (little-endian machines only)."""
    view = memoryview(data).cast("B")
    w0, w1, w2, w3 = _wide_tables()
    crc = 0xFFFFFFFF
    whole = len(view) & ~7
    for word in view[:whole].cast("Q"):
        step = word ^ crc
        crc = (
            w0[step & 0xFFFF]
            ^ w1[(step >> 16) & 0xFFFF]
            ^ w2[(step >> 32) & 0xFFFF]
            ^ w3[step >> 48]
        )
    for byte in view[whole:]:
        crc = _FIRST[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def install() -> Implementation:
    """Give aiortc's SCTP this checksum when google-crc32c has only its Python fallback.

    Call before aiortc is imported elsewhere: google-crc32c warns at import that it is slow,
    which is no longer true once this runs, so that warning is silenced here.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=".*pure python implementation", category=RuntimeWarning
        )
        from aiortc import rtcsctptransport
        import google_crc32c

    if google_crc32c.implementation == "c":
        return "c"
    if sys.byteorder != "little":  # the 8-byte steps read the packet as little-endian words
        _LOGGER.warning("aiortc's SCTP checksum runs google-crc32c's slow pure-Python code")
        return "google-python"
    _wide_tables()
    # aiortc looks the name up in its module on each packet, so rebinding it there is enough.
    rtcsctptransport.crc32c = crc32c  # type: ignore[attr-defined]
    _LOGGER.debug("google-crc32c has no C extension here: aiortc's SCTP uses %s", __name__)
    return "tables"
