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


_UNIT_MS = {"m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 7 * 86_400_000}


def parse_expiry(text: str, now_ms: int) -> int | None:
    """When something given ``--expires TEXT`` ends, in ms; ``None`` for ``never``.

    ``TEXT`` is a span from now (``90m``, ``12h``, ``30d``, ``8w``) or an ISO 8601 date or
    time (``2027-01-31``, read as 00:00 UTC, or ``2027-01-31T18:00+01:00``).
    """
    value = text.strip().lower()
    if value in ("never", "none", ""):
        return None
    number, unit = value[:-1], value[-1:]
    if unit in _UNIT_MS and number.isdigit() and int(number) > 0:
        return now_ms + int(number) * _UNIT_MS[unit]
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{text!r} is not an expiry: give a span such as 30d, 12h, 90m or "
                         "8w, a date such as 2027-01-31, or never") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp() * 1000)
