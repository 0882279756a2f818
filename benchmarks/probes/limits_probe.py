"""The physical limits: what the hardware and the libraries allow before any tool runs.

- BLAKE3 over bytes in memory, one thread and all threads (``max_threads=AUTO``);
- reading a file from the page cache, and BLAKE3 of that file through ``update_mmap``;
- copying that file to a new one on the same disk and ``fsync``-ing it (what a durable object
  store must do with new data);
- SQLite ``executemany`` of one row per metric point, in one transaction.
"""

from __future__ import annotations

import os
import sqlite3
import time
from typing import Any

from _common import main

CHUNK = 1 << 20


def _gbps(size: int, seconds: float) -> float:
    return size / seconds / 1e9


def mode_all(args: dict[str, Any]) -> dict[str, float]:
    import blake3

    size, path, rows = int(args["bytes"]), str(args["file"]), int(args["rows"])
    data = os.urandom(CHUNK) * (size // CHUNK)
    values: dict[str, float] = {}

    start = time.perf_counter()
    blake3.blake3(data).digest()
    values["blake3_1t_gbps"] = _gbps(len(data), time.perf_counter() - start)
    start = time.perf_counter()
    blake3.blake3(data, max_threads=blake3.blake3.AUTO).digest()
    values["blake3_mt_gbps"] = _gbps(len(data), time.perf_counter() - start)
    del data

    file_size = os.path.getsize(path)
    buf = bytearray(CHUNK)
    with open(path, "rb", buffering=0) as f:  # once to be sure it is in the page cache
        while f.readinto(buf):
            pass
    start = time.perf_counter()
    with open(path, "rb", buffering=0) as f:
        while f.readinto(buf):
            pass
    values["read_cached_gbps"] = _gbps(file_size, time.perf_counter() - start)
    start = time.perf_counter()
    blake3.blake3(max_threads=blake3.blake3.AUTO).update_mmap(path).digest()
    values["blake3_file_mt_gbps"] = _gbps(file_size, time.perf_counter() - start)

    copy = path + ".copy"
    os.sync()  # nothing else waiting to be written back
    start = time.perf_counter()
    with open(path, "rb", buffering=0) as src, open(copy, "wb", buffering=0) as dst:
        while n := src.readinto(buf):
            dst.write(memoryview(buf)[:n])
        os.fsync(dst.fileno())
    values["copy_fsync_gbps"] = _gbps(file_size, time.perf_counter() - start)
    os.remove(copy)

    db = str(args["db"])
    if os.path.exists(db):
        os.remove(db)
    con = sqlite3.connect(db)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("CREATE TABLE metrics (run_id TEXT, key TEXT, step INTEGER, value REAL, "
                "time INTEGER)")
    now = int(time.time() * 1000)
    points = [("0190c2a4e5f1", "loss", i, 1.0 / (i + 1), now) for i in range(rows)]
    start = time.perf_counter()
    with con:
        con.executemany("INSERT INTO metrics VALUES (?, ?, ?, ?, ?)", points)
    values["sqlite_rows_per_s"] = rows / (time.perf_counter() - start)
    con.close()
    return values


if __name__ == "__main__":
    main({"all": mode_all}, "blake3")
