"""Metric history stored in chunks, plus the latest value per key.

One row per point cannot reach a million points a second in SQLite (indexed inserts manage
about 210k rows/s on the reference machine), so each flush stores every series as one row
holding packed little-endian arrays: int64 steps, float64 values, int64 times in ms. The
latest value per key lives in its own table, kept current in the same transaction, so
listings never read the history.
"""

from __future__ import annotations

import math
import sys
from array import array
from collections.abc import Mapping, Sequence

from cairn.store.core import MetaStore
from cairn.store.db import Writer
from cairn.store.limits import check_key_budget
from cairn.store.series import Series

CHUNK_POINTS = 16_384
_SWAP = sys.byteorder != "little"


def _pack(a: array[int] | array[float]) -> bytes:
    if _SWAP:
        a = array(a.typecode, a)
        a.byteswap()
    return a.tobytes()


def _unpack(typecode: str, data: bytes) -> array[int] | array[float]:
    a = array(typecode)
    a.frombytes(bytes(data))
    if _SWAP:
        a.byteswap()
    return a


def write_series(w: Writer, run_id: str, series: Mapping[str, Series], *,
                 max_keys: int | None = None) -> None:
    """Append points to each series and move the latest values, in the caller's transaction.

    With ``max_keys``, a batch that would give the run more distinct keys is refused whole
    (``InvalidInput``) before anything is written.
    """
    if max_keys is not None:
        check_key_budget(w, "latest_metrics", run_id, list(series), max_keys)
    chunk_rows = []
    latest_rows = []
    for key, s in series.items():
        n = len(s)
        if n == 0:
            continue
        for start in range(0, n, CHUNK_POINTS):
            end = min(n, start + CHUNK_POINTS)
            steps = s.steps[start:end]
            chunk_rows.append((
                run_id, key, end - start, min(steps), max(steps), _pack(steps),
                _pack(s.values[start:end]), _pack(s.times[start:end]),
            ))
        last = s.values[-1]
        latest_rows.append((run_id, key, s.steps[-1], None if math.isnan(last) else last,
                            s.times[-1], n))
    if chunk_rows:
        w.executemany(
            "INSERT INTO metric_chunks (run_id, key, count, step_min, step_max, steps, vals, "
            "times) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            chunk_rows,
        )
    if latest_rows:
        w.executemany(
            "INSERT INTO latest_metrics (run_id, key, step, value, time, count) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (run_id, key) DO UPDATE SET "
            "step = excluded.step, value = excluded.value, time = excluded.time, "
            "count = latest_metrics.count + excluded.count",
            latest_rows,
        )


def read_series(store: MetaStore, run_id: str, key: str) -> Series:
    out = Series.empty()
    for steps, vals, times in store.db.query(
        "SELECT steps, vals, times FROM metric_chunks WHERE run_id = ? AND key = ? ORDER BY id",
        (run_id, key),
    ):
        out.steps.extend(_unpack("q", steps))  # type: ignore[arg-type]
        out.values.extend(_unpack("d", vals))
        out.times.extend(_unpack("q", times))  # type: ignore[arg-type]
    return out


def metric_keys(store: MetaStore, run_id: str) -> list[str]:
    return [r[0] for r in store.db.query(
        "SELECT key FROM latest_metrics WHERE run_id = ? ORDER BY key", (run_id,)
    )]


def latest_metrics(store: MetaStore, run_ids: Sequence[str]) -> dict[str, dict[str, float]]:
    """The last logged value of every key, per run (NaN comes back as NaN)."""
    out: dict[str, dict[str, float]] = {rid: {} for rid in run_ids}
    for start in range(0, len(run_ids), 500):
        chunk = list(run_ids[start:start + 500])
        marks = ", ".join("?" for _ in chunk)
        for rid, key, value in store.db.query(
            f"SELECT run_id, key, value FROM latest_metrics WHERE run_id IN ({marks}) "
            "ORDER BY key", chunk,
        ):
            out[rid][key] = math.nan if value is None else float(value)
    return out


def point_counts(store: MetaStore, run_id: str) -> dict[str, int]:
    return {k: int(c) for k, c in store.db.query(
        "SELECT key, count FROM latest_metrics WHERE run_id = ?", (run_id,)
    )}


def recent_metric_keys(store: MetaStore, recent: int = 1000) -> list[str]:
    """Metric keys of the project's latest ``recent`` runs, without reading every run."""
    rows = store.db.query(
        "SELECT DISTINCT key FROM latest_metrics WHERE run_id IN (SELECT id FROM runs WHERE "
        "project_id = ? ORDER BY number DESC LIMIT ?) ORDER BY key",
        (store.project_id, recent),
    )
    return [str(r[0]) for r in rows]
