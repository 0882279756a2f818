"""The prediction log: every answer is written to the store without delaying the response.

A request appends its rows, plain Python values, to a bounded in-memory queue and returns; a
daemon thread wakes every ``interval_s`` (or as soon as ``batch_size`` rows wait) and writes
the rows queued at that moment. When the queue is full the rows are *dropped and counted*
(``/metrics`` and ``/monitor`` report the count): a stalled disk must slow the log, never the
answers.

The writer shares the interpreter with the requests, so it is built to hold the interpreter
lock as little and as rarely as it can. It encodes a whole batch as one JSON text (one C call)
and hands it to the database in *one* statement that unpacks it there (SQLite's ``json_each``,
PostgreSQL's ``json_array_elements``, see ``store/predictions.py``), so a batch costs three
trips through the lock, not one per row or per hundred rows. It writes what was queued when
it woke and then sleeps again, instead of chasing rows that arrive while it writes: chasing
them turned into a stream of tiny transactions fighting the requests for the lock, which cost
a busy server about a tenth of its throughput.

Several server processes share one SQLite file (WAL, 60 s busy timeout) or one PostgreSQL
database. Ids are ``p_`` + a UUIDv7 made in the process that answered, so no two workers can
write the same row, and each row is written exactly once: a batch leaves the queue only after
its transaction commits, and a batch written again after an unclear failure skips the rows
already there. When the store cannot be written at shutdown, what is left is kept as JSON
lines in ``.cairn/model_server/unwritten-predictions-<pid>.jsonl``.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Sequence
from pathlib import Path

from cairn._util.ids import uuid7_hex
from cairn.errors import CairnError, StoreUnavailable
from cairn.model_server.model_io import dumps
from cairn.store.db import Database
from cairn.store.predictions import LogRow, add_predictions

log = logging.getLogger("cairn.model_server")

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
                    add_predictions(w, model_id, version, rows, dumps)
        except passed_on:
            raise
        except Exception as exc:
            raise StoreUnavailable(f"the prediction log cannot be written: {exc}") from exc
        self.written += len(batch)

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
