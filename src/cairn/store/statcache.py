"""The ``stat_cache`` table: file hashes remembered by (device, inode, size, mtime_ns).

The rules for what may be remembered live in ``objects/statcache.py``; here is only how the
rows are stored. Device and inode numbers are unsigned 64-bit while the table's BIGINT is
signed, so they are stored shifted into the signed range and shifted back on reading.
"""

from __future__ import annotations

from collections.abc import Mapping

from cairn.store.db import Database, Writer

_U64 = 1 << 64
_I64_MAX = (1 << 63) - 1

#: (size, mtime_ns, oid) of one file version
Entry = tuple[int, int, str]


def _signed(value: int) -> int:
    return value - _U64 if value > _I64_MAX else value


def device_entries(db: Database, device: int) -> dict[int, Entry]:
    """Every remembered file of ``device``, by inode (one query for the whole device)."""
    found = db.query("SELECT inode, size, mtime_ns, oid FROM stat_cache WHERE device = ?",
                     (_signed(device),))
    return {(i + _U64 if i < 0 else i): (s, m, o) for i, s, m, o in found}


def remember(w: Writer, entries: Mapping[tuple[int, int], Entry]) -> None:
    """Store entries keyed by (device, inode), replacing what those files had."""
    if entries:
        w.executemany(
            "INSERT INTO stat_cache (device, inode, size, mtime_ns, oid) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (device, inode) DO UPDATE SET "
            "size = excluded.size, mtime_ns = excluded.mtime_ns, oid = excluded.oid",
            [(_signed(d), _signed(i), *v) for (d, i), v in entries.items()],
        )
