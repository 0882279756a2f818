"""Identifiers and clocks shared by every layer."""

from __future__ import annotations

import os
import threading
import time


def now_ms() -> int:
    return time.time_ns() // 1_000_000


_lock = threading.Lock()
_last = [0, 0]  # the last (ms, 12-bit sequence) handed out, for monotonic ids within one ms


def uuid7_hex() -> str:
    """A time-ordered UUID (RFC 9562 version 7) as 32 hex digits: ids sort by creation time.

    Within one millisecond the 12-bit ``rand_a`` field counts up (RFC 9562, method 1), so ids
    made by one process never go backwards.
    """
    rand = int.from_bytes(os.urandom(8), "big")
    with _lock:
        ms = time.time_ns() // 1_000_000
        if ms <= _last[0]:
            ms = _last[0]
            seq = _last[1] + 1
            if seq > 0xFFF:  # more than 4096 ids in one millisecond: borrow the next one
                ms, seq = ms + 1, 0
        else:
            seq = (rand >> 52) & 0x7FF  # a random start that leaves room to count up
        _last[0], _last[1] = ms, seq
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= seq << 64
    value |= 0b10 << 62
    value |= rand & ((1 << 62) - 1)
    return f"{value:032x}"
