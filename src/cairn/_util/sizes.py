"""Byte counts for people: ``41.2 MB``, or ``16.0 MiB`` in steps of 1024, and back."""

from __future__ import annotations

import re

from cairn.errors import InvalidInput

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?i?b?)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "kib": 1024, "m": 1000**2, "mb": 1000**2,
          "mib": 1024**2, "g": 1000**3, "gb": 1000**3, "gib": 1024**3, "t": 1000**4,
          "tb": 1000**4, "tib": 1024**4}


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


def parse_size(text: str | int) -> int:
    """``5GiB``, ``500MB``, ``1048576`` as bytes (a size a person wrote in a config file)."""
    if isinstance(text, int):
        return text
    match = _SIZE.match(str(text))
    unit = (match.group(2) or "").lower() if match else ""
    if not match or unit not in _UNITS:
        raise InvalidInput(f"{text!r} is not a size (write it like 5GiB, 500MB or 1048576)")
    return int(float(match.group(1)) * _UNITS[unit])
