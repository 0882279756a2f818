"""Remember file hashes by (device, inode, size, mtime_ns) so unchanged files are never rehashed.

Speed: re-checking a large tree must cost a ``stat`` and a dict lookup per file. The rows of a
device are loaded with one query the first time a file of that device is looked up, and new
entries are written in one ``executemany`` inside one transaction by ``flush()`` (also on
leaving a ``with`` block, and automatically every ``FLUSH_EVERY`` entries).

Racy entries: a file written twice within one tick of its filesystem's clock keeps its size
and mtime, so a hash taken between the two writes would be wrongly trusted forever. Like
git's and DVC's "racy" entries, a hash is only remembered when the file's mtime is at least
``RACY_WINDOW_NS`` (2 s, enough for coarse filesystem clocks and small clock skew on network
filesystems) older than the moment the file was stat-ed before hashing. A file changed
within the last two seconds is simply hashed again next time; because such entries are never
stored, every entry found in the cache can be trusted without further checks. A file whose
size or mtime changed while it was being hashed is not remembered either.

``StatCache(None)`` keeps the entries in memory only (for one process); ``stat_cache=None``
in the tree functions means no cache at all.
"""

from __future__ import annotations

import os
import stat as stat_mod
import time
from collections.abc import Callable
from types import TracebackType

from cairn.objects.hashing import hash_fd
from cairn.store import statcache as stat_rows
from cairn.store.db import Database

RACY_WINDOW_NS = 2_000_000_000
FLUSH_EVERY = 50_000


class StatCache:
    """Maps a file's identity and version to its oid; ``db=None`` keeps it in memory only."""

    def __init__(
        self, db: Database | None = None, *, clock: Callable[[], int] = time.time_ns
    ) -> None:
        self._db = db
        self._clock = clock
        # device -> inode -> (size, mtime_ns, oid), as os.stat reports them (unsigned)
        self._rows: dict[int, dict[int, tuple[int, int, str]]] = {}
        self._pending: dict[tuple[int, int], tuple[int, int, str]] = {}
        self.hits = 0
        self.misses = 0

    # -- lookups ---------------------------------------------------------------------------
    def _device(self, device: int) -> dict[int, tuple[int, int, str]]:
        rows = self._rows.get(device)
        if rows is None:
            rows = {} if self._db is None else stat_rows.device_entries(self._db, device)
            self._rows[device] = rows
        return rows

    def get(self, st: os.stat_result) -> str | None:
        """The remembered oid of the file ``st`` describes, or ``None`` if it may have changed."""
        rows = self._rows.get(st.st_dev)
        if rows is None:
            rows = self._device(st.st_dev)
        row = rows.get(st.st_ino)
        if row is not None and row[0] == st.st_size and row[1] == st.st_mtime_ns:
            self.hits += 1
            return row[2]
        self.misses += 1
        return None

    # -- updates ---------------------------------------------------------------------------
    def put(self, st: os.stat_result, oid: str, *, stat_time_ns: int | None = None) -> bool:
        """Remember ``oid`` for ``st``, taken at ``stat_time_ns`` (default: now), unless racy.

        Returns whether the entry was kept.
        """
        now = self._clock() if stat_time_ns is None else stat_time_ns
        if st.st_mtime_ns > now - RACY_WINDOW_NS:
            return False
        value = (st.st_size, st.st_mtime_ns, oid)
        self._device(st.st_dev)[st.st_ino] = value
        if self._db is not None:
            self._pending[(st.st_dev, st.st_ino)] = value
            if len(self._pending) >= FLUSH_EVERY:
                self.flush()
        return True

    def hash_file(self, path: str | os.PathLike[str]) -> str:
        """The oid of the file at ``path``: from the cache when unchanged, else hashed."""
        stat_time = self._clock()
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        try:
            before = os.fstat(fd)
            if stat_mod.S_ISREG(before.st_mode):
                cached = self.get(before)
                if cached is not None:
                    return cached
            oid = hash_fd(fd)
            after = os.fstat(fd)
        finally:
            os.close(fd)
        if stat_mod.S_ISREG(before.st_mode) and _same_version(before, after):
            self.put(before, oid, stat_time_ns=stat_time)
        return oid

    def flush(self) -> None:
        """Write the new entries to the database in one transaction."""
        if self._db is None or not self._pending:
            return
        with self._db.write() as w:
            stat_rows.remember(w, self._pending)
        self._pending.clear()

    def __enter__(self) -> StatCache:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.flush()


def _same_version(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_size, a.st_mtime_ns, a.st_ino) == (b.st_size, b.st_mtime_ns, b.st_ino)
