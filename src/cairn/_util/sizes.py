"""Byte counts for people: ``41.2 MB``."""

from __future__ import annotations


def human_size(n: int | None, base: int = 1000) -> str:
    """``n`` bytes in B, KB, MB, GB or TB steps of ``base`` (1000, or 1024); ``-`` for None."""
    if n is None:
        return "-"
    value = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < base or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= base
    return f"{n} B"
