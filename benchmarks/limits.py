"""The physical limits beside the tools, and cairn's figures as a fraction of them.

Measured with cairn's interpreter (it has ``blake3``): BLAKE3 over bytes in memory on one
thread and on all (``max_threads=AUTO``), reading a file from the page cache, BLAKE3 of that
file, copying it on the scratch disk with ``fsync``, and SQLite ``executemany`` of one row per
metric point in one transaction. No tool hashes faster than the first four allow, and no
store that keeps new data durably writes faster than the copy with ``fsync``; the last is what
a plain row-per-point store can reach (cairn stores packed chunks, so it may go past it).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

from benchmarks.harness import Case, Context, Figure, Side, SideFn, human_bytes
from benchmarks.procs import run_probe

FIGURES = (
    Figure("blake3_1t_gbps", "BLAKE3 in memory, 1 thread", "GB/s", higher_is_better=True),
    Figure("blake3_mt_gbps", "BLAKE3 in memory, all threads", "GB/s", higher_is_better=True),
    Figure("read_cached_gbps", "read a file from the page cache", "GB/s", higher_is_better=True),
    Figure("blake3_file_mt_gbps", "BLAKE3 of that file (mmap, all threads)", "GB/s",
           higher_is_better=True),
    Figure("copy_fsync_gbps", "copy that file on the scratch disk, with fsync", "GB/s",
           higher_is_better=True),
    Figure("sqlite_rows_per_s", "SQLite executemany, 1 row a point, 1 transaction", "/s",
           higher_is_better=True, what="rows"),
)


@dataclass(frozen=True)
class Fraction:
    """cairn's ``figure`` in ``scenario`` divided by the limit ``limit``."""

    label: str
    scenario: str
    figure: str
    limit: str


FRACTIONS = (
    Fraction("metric ingest, batched", "logging", "batch_points_per_s", "sqlite_rows_per_s"),
    Fraction("metric ingest, per call with flush", "logging", "flushed_points_per_s",
             "sqlite_rows_per_s"),
    Fraction("new big file (whole snapshot command) vs BLAKE3 of the file", "data",
             "file_first_gbps", "blake3_file_mt_gbps"),
    Fraction("new big file (whole snapshot command) vs BLAKE3, 1 thread", "data",
             "file_first_gbps", "blake3_1t_gbps"),
    Fraction("new big file (whole snapshot command) vs page-cache read", "data",
             "file_first_gbps", "read_cached_gbps"),
    Fraction("new big file (whole snapshot command) vs copy + fsync on the disk", "data",
             "file_first_gbps", "copy_fsync_gbps"),
)


def _side(ctx: Context, size: int, rows: int) -> SideFn:
    folder = ctx.folder("limits")
    path = folder / "test.bin"
    with open(path, "wb") as f:
        for _ in range(size // (1 << 20)):
            f.write(os.urandom(1 << 20))

    def run() -> dict[str, float]:
        return run_probe(ctx.cairn, "limits_probe", "all",
                         {"bytes": size, "file": str(path), "rows": rows,
                          "db": str(folder / "limit.db")},
                         cwd=folder, timeout=ctx.timeout)

    return run


def cases(ctx: Context) -> Iterator[Case]:
    size, rows = ctx.size(200_000_000, 1_000_000_000), ctx.size(500_000, 2_000_000)
    yield Case("physical limits", FIGURES, Side("limit", _side(ctx, size, rows)),
               note=f"{human_bytes(size)} of data, {rows:,} SQLite rows")
