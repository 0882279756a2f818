"""Byte counts for people: ``41.2 MB``, or ``16.0 MiB`` in steps of 1024."""

from __future__ import annotations


def human_size(n: int | None, base: int = 1000) -> str:
    """``n`` bytes in steps of ``base``: KB, MB, GB, TB for 1000, KiB, MiB, GiB, TiB for 1024.

    ``-`` for None. Limits are powers of two and read round in binary units; file and data
    sizes read as a disk or a network states them, in decimal ones.
    """
    if n is None:
        return "-"
    units = (("bytes", "KiB", "MiB", "GiB", "TiB") if base == 1024
             else ("B", "KB", "MB", "GB", "TB"))
    value = float(n)
    for unit in units:
        if value < base or unit == units[-1]:
            return f"{value:.1f} {unit}" if unit != units[0] else f"{value:.0f} {unit}"
        value /= base
    return f"{n} B"
