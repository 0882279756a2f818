"""Identifiers and clocks shared by every layer."""

from __future__ import annotations

import os
import time


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def uuid7_hex() -> str:
    """A time-ordered UUID (RFC 9562 version 7) as 32 hex digits: ids sort by creation time."""
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= ((rand >> 64) & 0xFFF) << 64
    value |= 0b10 << 62
    value |= rand & ((1 << 62) - 1)
    return f"{value:032x}"
