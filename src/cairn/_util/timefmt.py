"""Human and machine forms of times and durations."""

from __future__ import annotations

import time
from datetime import UTC, datetime


def iso_ms(ms: int | None) -> str | None:
    """Milliseconds since the epoch as ISO 8601 UTC (``2026-11-27T14:06:23.123Z``)."""
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def ago(ms: int | None, now_ms: int | None = None) -> str:
    """A short relative time: ``12s ago``, ``5m ago``, ``3h ago``, else the local date."""
    if ms is None:
        return "-"
    now = now_ms if now_ms is not None else time.time_ns() // 1_000_000
    seconds = max(0, (now - ms) // 1000)
    if seconds < 60:
        return f"{seconds}s ago"
    if seconds < 3600:
        return f"{seconds // 60}m ago"
    if seconds < 86400:
        return f"{seconds // 3600}h ago"
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ms / 1000))


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"
