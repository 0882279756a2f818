"""The prediction log: every answer is written to the store without delaying the response.

A request appends finished rows to a bounded in-memory queue and returns; a daemon thread
writes what waits in one transaction every ``interval_s`` or as soon as ``batch_size`` rows
wait. When the queue is full the rows are *dropped and counted* (``/metrics`` and
``/monitor`` report the count): a stalled disk must slow the log, never the answers.

Several server processes share one SQLite file (WAL, 60 s busy timeout) or one PostgreSQL
database. Ids are ``p_`` + a UUIDv7 made in the process that answered, so no two workers can
write the same row, and each row is written exactly once: a batch is taken off the queue only
after its transaction commits. When the store cannot be written at shutdown, what is left is
kept as JSON lines in ``.cairn/serving/unwritten-predictions-<pid>.jsonl``.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from cairn._util.ids import uuid7_hex
from cairn.errors import CairnError
from cairn.store.db import Database

log = logging.getLogger("cairn.serving")

# (id, model_id, version, created_at ms, inputs JSON, output JSON, latency ms)
LogRow = tuple[str, str, int, int, str, str, float]

_INSERT = (
    "INSERT INTO predictions (id, model_id, version, created_at, inputs, output, latency_ms) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)
ROWS_PER_STATEMENT = 100  # 700 bound values, well under SQLite's limit of 32,766


@lru_cache(maxsize=8)
def _insert_many(rows: int) -> str:
    """One INSERT of ``rows`` rows: a third cheaper than ``executemany`` here, and the writer
    thread gives the interpreter lock back and forth once per statement, not once per row."""
    return _INSERT + ", (?, ?, ?, ?, ?, ?, ?)" * (rows - 1)


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
        while self._queue:
            batch = [self._queue[i] for i in range(min(self.batch_size, len(self._queue)))]
            try:
                with self.db.write() as w:
                    for start in range(0, len(batch), ROWS_PER_STATEMENT):
                        part = batch[start:start + ROWS_PER_STATEMENT]
                        w.execute(_insert_many(len(part)), [v for row in part for v in row])
            except self.db.is_integrity_error:
                self._write_one_by_one(batch)
            except CairnError:
                raise
            except Exception as exc:
                from cairn.errors import StoreUnavailable

                raise StoreUnavailable(f"the prediction log cannot be written: {exc}") from exc
            for _ in batch:
                self._queue.popleft()
            self.written += len(batch)
            with self._done:
                self._done.notify_all()

    def _write_one_by_one(self, batch: list[LogRow]) -> None:
        """A batch that hit a unique constraint: write each row, skipping those already in."""
        for row in batch:
            try:
                with self.db.write() as w:
                    w.execute(_INSERT, row)
            except self.db.is_integrity_error:
                continue

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
                fh.write(json.dumps(dict(zip(keys, self._queue.popleft(), strict=True))) + "\n")
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
    sql = ("SELECT COUNT(*), COUNT(labelled_at), COALESCE(SUM(feedback_count), 0), "
           "MIN(created_at), MAX(created_at) FROM predictions WHERE model_id = ?")
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


def seen_classes(db: Database, model_id: str, version: int, limit: int = 100) -> list[Any]:
    """The distinct answers and labels a classifier's log holds: its classes, as far as seen.

    For readers that do not load the model (``cairn monitor``); the server asks the model.
    """
    found: dict[str, Any] = {}
    for column in ("output", "label"):
        for (text,) in db.query(f"SELECT DISTINCT {column} FROM predictions WHERE model_id = ? "
                                f"AND version = ? AND {column} IS NOT NULL LIMIT ?",
                                (model_id, version, limit)):
            found.setdefault(text, json.loads(text))
    return list(found.values())
