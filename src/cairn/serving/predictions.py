"""The prediction log: every answer is written to the store without delaying the response.

A request appends its rows, plain Python values, to a bounded in-memory queue and returns; a
daemon thread wakes every ``interval_s`` (or as soon as ``batch_size`` rows wait) and writes
the rows queued at that moment. When the queue is full the rows are *dropped and counted*
(``/metrics`` and ``/monitor`` report the count): a stalled disk must slow the log, never the
answers.

The writer shares the interpreter with the requests, so it is built to hold the interpreter
lock as little and as rarely as it can. It encodes a whole batch as one JSON text (one C call)
and hands it to the database in *one* statement that unpacks it there (SQLite's ``json_each``,
PostgreSQL's ``json_array_elements``), so a batch costs three trips through the lock, not one
per row or per hundred rows. It writes what was queued when it woke and then sleeps again,
instead of chasing rows that arrive while it writes: chasing them turned into a stream of tiny
transactions fighting the requests for the lock, which cost a busy server about a tenth of
its throughput.

Several server processes share one SQLite file (WAL, 60 s busy timeout) or one PostgreSQL
database. Ids are ``p_`` + a UUIDv7 made in the process that answered, so no two workers can
write the same row, and each row is written exactly once: a batch leaves the queue only after
its transaction commits, and a batch written again after an unclear failure skips the rows
already there. When the store cannot be written at shutdown, what is left is kept as JSON
lines in ``.cairn/serving/unwritten-predictions-<pid>.jsonl``.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from cairn._util.ids import uuid7_hex
from cairn.errors import CairnError, StoreUnavailable
from cairn.serving.model_io import dumps
from cairn.store.db import Database, Writer

log = logging.getLogger("cairn.serving")

# (id, model_id, version, created_at ms, inputs, output, latency ms); inputs and output are
# plain JSON values (a list or record, the prediction), encoded by the writer
LogRow = tuple[str, str, int, int, Any, Any, float]

_COLUMNS_IN = "id, model_id, version, created_at, inputs, output, latency_ms"
# One statement per batch: the rows arrive as one JSON array of arrays.
_INSERT_JSON = {
    "sqlite": (
        f"INSERT INTO predictions ({_COLUMNS_IN}) "
        "SELECT value->>0, value->>1, value->>2, value->>3, value->4, value->5, value->>6 "
        "FROM json_each(?) WHERE true ON CONFLICT (id) DO NOTHING"
    ),
    "postgresql": (
        f"INSERT INTO predictions ({_COLUMNS_IN}) "
        "SELECT r->>0, r->>1, (r->>2)::integer, (r->>3)::bigint, (r->4)::text, (r->5)::text, "
        "(r->>6)::double precision FROM json_array_elements(?::json) AS r "
        "ON CONFLICT (id) DO NOTHING"
    ),
}
# The counts ``/monitor`` shows, kept per model version as rows are written.
_COUNT = {
    "sqlite": (
        "INSERT INTO prediction_stats (model_id, version, predictions, first_at, last_at) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (model_id, version) DO UPDATE SET "
        "predictions = prediction_stats.predictions + excluded.predictions, "
        "first_at = MIN(COALESCE(prediction_stats.first_at, excluded.first_at), "
        "excluded.first_at), "
        "last_at = MAX(COALESCE(prediction_stats.last_at, excluded.last_at), excluded.last_at)"
    ),
    "postgresql": (
        "INSERT INTO prediction_stats (model_id, version, predictions, first_at, last_at) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (model_id, version) DO UPDATE SET "
        "predictions = prediction_stats.predictions + excluded.predictions, "
        "first_at = LEAST(prediction_stats.first_at, excluded.first_at), "
        "last_at = GREATEST(prediction_stats.last_at, excluded.last_at)"
    ),
}
# SQLite before 3.38 has no ``->`` operator: rows are then bound as values, 100 a statement.
SQLITE_JSON_INSERT = sqlite3.sqlite_version_info >= (3, 38, 0)
ROWS_PER_STATEMENT = 100  # 700 bound values, well under SQLite's limit of 32,766


@lru_cache(maxsize=8)
def _insert_values(rows: int) -> str:
    return (f"INSERT OR IGNORE INTO predictions ({_COLUMNS_IN}) VALUES "
            + ", ".join(["(?, ?, ?, ?, ?, ?, ?)"] * rows))


def new_prediction_id() -> str:
    return "p_" + uuid7_hex()


def prediction_time_ms(prediction_id: str) -> int | None:
    """When a prediction id was made (UUIDv7 carries its millisecond), or None if malformed."""
    if not prediction_id.startswith("p_") or len(prediction_id) != 34:
        return None
    try:
        return int(prediction_id[2:14], 16)
    except ValueError:
        return None


class PredictionLog:
    """A bounded queue of log rows and the thread that writes them."""

    def __init__(self, db: Database, *, max_queue: int = 100_000, batch_size: int = 2_000,
                 interval_s: float = 0.2, spill_dir: Path | None = None) -> None:
        self.db = db
        self.max_queue = max_queue
        self.batch_size = batch_size
        self.interval_s = interval_s
        self.spill_dir = spill_dir
        self.enabled = True
        self.written = 0
        self.dropped = 0
        self.failures = 0
        self.spilled = 0  # rows kept in a file because the store refused them at shutdown
        self._queue: deque[LogRow] = deque()
        self._accepted = 0  # rows ever queued, so flush() knows what "now" means
        self._wake = threading.Event()
        self._done = threading.Condition()
        self._stop = False
        self._thread: threading.Thread | None = None
        self._warned = False

    # -- the hot path -------------------------------------------------------------------------
    def record(self, rows: Sequence[LogRow]) -> None:
        """Queue rows for writing; never blocks. Rows that do not fit are counted as dropped."""
        if not self.enabled:
            return
        room = self.max_queue - len(self._queue)
        if room < len(rows):
            self.dropped += len(rows) - max(room, 0)
            rows = rows[:max(room, 0)]
            if not self._warned:
                self._warned = True
                log.warning("cairn: the prediction log cannot keep up; dropping rows "
                            "(counted in /metrics as cairn_prediction_log_dropped_total)")
        self._queue.extend(rows)
        self._accepted += len(rows)
        if len(self._queue) >= self.batch_size:
            self._wake.set()

    # -- the writer ---------------------------------------------------------------------------
    @property
    def pending(self) -> int:
        return len(self._queue)

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="cairn-prediction-log",
                                            daemon=True)
            self._thread.start()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every row queued before this call is written; False on timeout."""
        target = self._accepted
        deadline = time.monotonic() + timeout
        with self._done:
            while self.written + self.dropped + self.spilled < target:
                if self._thread is None:
                    self._write_pending()
                    continue
                self._wake.set()
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._done.wait(min(left, 0.05))
        return True

    def close(self, timeout: float = 30.0) -> None:
        """Write what is left (spilling it to a file if the store refuses) and stop."""
        self._stop = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        if self._queue:
            try:
                self._write_pending()
            except CairnError:
                self._spill()

    def _loop(self) -> None:
        while not self._stop:
            self._wake.wait(self.interval_s)
            self._wake.clear()
            try:
                self._write_pending()
            except CairnError as exc:
                self.failures += 1
                if self.failures == 1 or self.failures % 100 == 0:
                    log.warning("cairn: cannot write the prediction log yet (%s); will retry",
                                exc.message)
                time.sleep(min(5.0, 0.2 * self.failures))
            except Exception:  # never let the writer die: the server would log nothing more
                self.failures += 1
                log.exception("cairn: unexpected error in the prediction log writer")
                time.sleep(1.0)

    def _write_pending(self) -> None:
        """Write the rows queued now, ``batch_size`` a transaction; rows that arrive meanwhile
        wait for the next wake-up."""
        left = len(self._queue)
        while left > 0 and self._queue:
            # by index: requests append while this runs, which an iterator would refuse
            batch = [self._queue[i] for i in range(min(self.batch_size, left))]
            try:
                self._insert(batch)
            except self.db.is_integrity_error as exc:
                # only a broken reference is left (a duplicate id is skipped): the model was
                # deleted while it served, so these rows can never be written
                self.dropped += len(batch)
                log.warning("cairn: dropped %d prediction log rows the store refuses: %s",
                            len(batch), exc)
            for _ in batch:
                self._queue.popleft()
            left -= len(batch)
            with self._done:
                self._done.notify_all()

    def _insert(self, batch: list[LogRow]) -> None:
        """One transaction: the rows (those already in are skipped) and their counts."""
        db = self.db
        groups: dict[tuple[str, int], list[LogRow]] = {}
        for row in batch:  # a server logs one model version: almost always one group
            groups.setdefault((row[1], row[2]), []).append(row)
        passed_on: tuple[type[BaseException], ...] = (CairnError, *db.is_integrity_error)
        try:
            with db.write() as w:
                for (model_id, version), rows in groups.items():
                    added = self._insert_rows(w, rows)
                    if added:
                        times = [r[3] for r in rows]
                        w.execute(_COUNT[db.dialect],
                                  (model_id, version, added, min(times), max(times)))
        except passed_on:
            raise
        except Exception as exc:
            raise StoreUnavailable(f"the prediction log cannot be written: {exc}") from exc
        self.written += len(batch)

    def _insert_rows(self, w: Writer, rows: list[LogRow]) -> int:
        if self.db.dialect == "postgresql" or SQLITE_JSON_INSERT:
            return w.changed(_INSERT_JSON[self.db.dialect], (dumps(rows),))
        added = 0
        for start in range(0, len(rows), ROWS_PER_STATEMENT):
            part = rows[start:start + ROWS_PER_STATEMENT]
            added += w.changed(_insert_values(len(part)),
                               [v for r in part for v in (*r[:4], dumps(r[4]), dumps(r[5]),
                                                          r[6])])
        return added

    def _spill(self) -> None:
        if self.spill_dir is None:
            self.dropped += len(self._queue)
            self._queue.clear()
            return
        self.spill_dir.mkdir(parents=True, exist_ok=True)
        path = self.spill_dir / f"unwritten-predictions-{os.getpid()}.jsonl"
        keys = ("id", "model_id", "version", "created_at", "inputs", "output", "latency_ms")
        with path.open("a", encoding="utf-8") as fh:
            while self._queue:
                fh.write(dumps(dict(zip(keys, self._queue.popleft(), strict=True))) + "\n")
                self.spilled += 1
        log.warning("cairn: the store refused the last prediction log rows; kept in %s", path)


@dataclass(frozen=True)
class LoggedPrediction:
    id: str
    version: int
    created_at: int
    inputs: Any
    output: Any
    latency_ms: float
    label: Any
    labelled_at: int | None


_COLUMNS = "id, version, created_at, inputs, output, latency_ms, label, labelled_at"


def _row(r: Sequence[Any]) -> LoggedPrediction:
    return LoggedPrediction(
        id=r[0], version=int(r[1]), created_at=int(r[2]),
        inputs=json.loads(r[3]) if r[3] is not None else None,
        output=json.loads(r[4]), latency_ms=float(r[5]),
        label=json.loads(r[6]) if r[6] is not None else None,
        labelled_at=int(r[7]) if r[7] is not None else None,
    )


def recent_predictions(db: Database, model_id: str, *, version: int | None = None,
                       limit: int = 1000, labelled: bool = False,
                       since_ms: int | None = None,
                       with_inputs: bool = True) -> list[LoggedPrediction]:
    """The newest predictions first (only labelled ones when asked), optionally since a time;
    ``with_inputs=False`` skips reading the inputs (``inputs`` is then None)."""
    columns = _COLUMNS if with_inputs else _COLUMNS.replace("inputs", "NULL")
    sql = f"SELECT {columns} FROM predictions WHERE model_id = ?"
    params: list[Any] = [model_id]
    if version is not None:
        sql += " AND version = ?"
        params.append(version)
    if labelled:
        sql += " AND labelled_at IS NOT NULL"
    if since_ms is not None:
        sql += " AND created_at >= ?"
        params.append(since_ms)
    sql += " ORDER BY created_at DESC, id DESC LIMIT ?"
    params.append(limit)
    return [_row(r) for r in db.query(sql, params)]


def get_predictions(db: Database, ids: Sequence[str]) -> list[LoggedPrediction]:
    out: list[LoggedPrediction] = []
    for start in range(0, len(ids), 500):
        chunk = list(ids[start:start + 500])
        marks = ", ".join("?" for _ in chunk)
        out += [_row(r) for r in db.query(
            f"SELECT {_COLUMNS} FROM predictions WHERE id IN ({marks})", chunk)]
    return out


@dataclass(frozen=True)
class LogCounts:
    predictions: int
    labelled: int
    feedback: int  # labels received, duplicates included
    first_at: int | None
    last_at: int | None


def log_counts(db: Database, model_id: str, version: int | None = None) -> LogCounts:
    """Kept as the log is written (``prediction_stats``): no scan of the predictions."""
    sql = ("SELECT COALESCE(SUM(predictions), 0), COALESCE(SUM(labelled), 0), "
           "COALESCE(SUM(feedback), 0), MIN(first_at), MAX(last_at) "
           "FROM prediction_stats WHERE model_id = ?")
    params: list[Any] = [model_id]
    if version is not None:
        sql += " AND version = ?"
        params.append(version)
    r = db.query_one(sql, params) or (0, 0, 0, None, None)
    return LogCounts(int(r[0]), int(r[1]), int(r[2]),
                     int(r[3]) if r[3] is not None else None,
                     int(r[4]) if r[4] is not None else None)


def latest_version(db: Database, model_id: str) -> int | None:
    """The version that answered the most recent prediction: the one deployed now."""
    row = db.query_one("SELECT version FROM predictions WHERE model_id = ? "
                       "ORDER BY created_at DESC, id DESC LIMIT 1", (model_id,))
    return int(row[0]) if row else None


SEEN_CLASSES_ROWS = 10_000


def seen_classes(db: Database, model_id: str, version: int, limit: int = 100) -> list[Any]:
    """The distinct answers and labels among a classifier's latest 10,000 predictions and
    10,000 labels: its classes, as far as seen lately.

    For readers that do not load the model (``cairn monitor``); the server asks the model.
    """
    found: dict[str, Any] = {}
    for column, labelled in (("output", ""), ("label", " AND labelled_at IS NOT NULL")):
        for (text,) in db.query(
                f"SELECT DISTINCT {column} FROM (SELECT {column} FROM predictions "
                f"WHERE model_id = ? AND version = ?{labelled} ORDER BY created_at DESC "
                f"LIMIT {SEEN_CLASSES_ROWS}) AS latest WHERE {column} IS NOT NULL LIMIT ?",
                (model_id, version, limit)):
            found.setdefault(text, json.loads(text))
    return list(found.values())
