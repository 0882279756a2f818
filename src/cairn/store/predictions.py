"""The prediction log's tables: ``predictions``, one row per answer, and ``prediction_stats``,
counts per model version kept as rows and labels are written (so no listing scans the log).

Writing is built for the model server's log thread (``model_server/predictions.py``): a batch is
handed to the database as *one* JSON text that one statement unpacks there (SQLite's
``json_each``, PostgreSQL's ``json_array_elements``), so a batch costs a few trips through
the interpreter lock, not one per row. Before SQLite 3.38 (no ``->`` operator) rows are bound
as values instead, 100 a statement.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from cairn.store.db import Database, Writer

# (id, model_id, version, created_at ms, inputs, output, latency ms); inputs and output are
# plain JSON values (a list or record, the prediction), encoded on writing
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
SQLITE_JSON_INSERT = sqlite3.sqlite_version_info >= (3, 38, 0)
ROWS_PER_STATEMENT = 100  # 700 bound values, well under SQLite's limit of 32,766


@lru_cache(maxsize=8)
def _insert_values(rows: int) -> str:
    return (f"INSERT OR IGNORE INTO predictions ({_COLUMNS_IN}) VALUES "
            + ", ".join(["(?, ?, ?, ?, ?, ?, ?)"] * rows))


# -- writing ----------------------------------------------------------------------------------
def add_predictions(w: Writer, model_id: str, version: int, rows: Sequence[LogRow],
                    encode: Callable[[Any], str]) -> int:
    """Insert one model version's rows and count them; rows whose id is already there are
    skipped (a batch written again after an unclear failure). How many were added.

    ``encode`` turns a batch, or one value, into JSON text (the server's strict encoder).
    """
    if w.dialect == "postgresql" or SQLITE_JSON_INSERT:
        added = w.changed(_INSERT_JSON[w.dialect], (encode(rows),))
    else:
        added = 0
        for start in range(0, len(rows), ROWS_PER_STATEMENT):
            part = rows[start:start + ROWS_PER_STATEMENT]
            added += w.changed(_insert_values(len(part)),
                               [v for r in part for v in (*r[:4], encode(r[4]), encode(r[5]),
                                                          r[6])])
    if added:
        times = [r[3] for r in rows]
        w.execute(_COUNT[w.dialect], (model_id, version, added, min(times), max(times)))
    return added


@dataclass(frozen=True)
class LabelTarget:
    """A logged prediction as feedback sees it."""

    model_id: str
    version: int
    feedback_count: int  # labels received so far


def label_targets(w: Writer, ids: Sequence[str]) -> dict[str, LabelTarget]:
    """The logged predictions among ``ids``, read inside the transaction that labels them."""
    found: dict[str, LabelTarget] = {}
    for start in range(0, len(ids), 500):
        chunk = list(ids[start:start + 500])
        marks = ", ".join("?" for _ in chunk)
        # by primary key only: with "model_id = ?" too, SQLite may scan the model's index
        for pid, owner, version, count in w.execute(
                f"SELECT id, model_id, version, feedback_count FROM predictions "
                f"WHERE id IN ({marks})", chunk):
            found[str(pid)] = LabelTarget(str(owner), int(version), int(count))
    return found


def write_labels(w: Writer, model_id: str, labels: Iterable[tuple[str, int, str]],
                 counts: dict[int, tuple[int, int]]) -> None:
    """Store labels, (label JSON, at ms, prediction id) each, and add ``counts`` per version:
    (predictions labelled for the first time, labels received)."""
    rows = list(labels)
    if not rows:
        return
    w.executemany(
        "UPDATE predictions SET label = ?, labelled_at = ?, "
        "feedback_count = feedback_count + 1 WHERE id = ?", rows)
    w.executemany(
        "UPDATE prediction_stats SET labelled = labelled + ?, feedback = feedback + ? "
        "WHERE model_id = ? AND version = ?",
        [(new, received, model_id, version) for version, (new, received) in counts.items()])


# -- reading ----------------------------------------------------------------------------------
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
        id=str(r[0]), version=int(r[1]), created_at=int(r[2]),
        inputs=json.loads(r[3]) if r[3] is not None else None,
        output=json.loads(r[4]), latency_ms=float(r[5]),
        label=json.loads(r[6]) if r[6] is not None else None,
        labelled_at=int(r[7]) if r[7] is not None else None,
    )


def recent_predictions(db: Database, model_id: str, *, version: int | None = None,
                       limit: int = 1000, offset: int = 0, labelled: bool = False,
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
    if offset:
        sql += " OFFSET ?"
        params.append(offset)
    return [_row(r) for r in db.query(sql, params)]


def get_predictions(db: Database, ids: Sequence[str]) -> list[LoggedPrediction]:
    out: list[LoggedPrediction] = []
    for start in range(0, len(ids), 500):
        chunk = list(ids[start:start + 500])
        marks = ", ".join("?" for _ in chunk)
        out += [_row(r) for r in db.query(
            f"SELECT {_COLUMNS} FROM predictions WHERE id IN ({marks})", chunk)]
    return out


def model_name_of(db: Database, project_id: str, prediction_id: str) -> str | None:
    """The registered model of the project that logged ``prediction_id``; None: none did."""
    row = db.query_one(
        "SELECT m.name FROM predictions p JOIN models m ON m.id = p.model_id "
        "WHERE p.id = ? AND m.project_id = ?", (prediction_id, project_id))
    return None if row is None else str(row[0])


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


def served_versions(db: Database, model_id: str) -> list[tuple[int, int]]:
    """(version, predictions) for every version that has answered, newest version first."""
    rows = db.query("SELECT version, COUNT(*) FROM predictions WHERE model_id = ? "
                    "GROUP BY version ORDER BY version DESC", (model_id,))
    return [(int(v), int(n)) for v, n in rows]


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


# -- labelled rows, as training data -----------------------------------------------------------
#: (id, created_at, inputs JSON, label JSON) of a labelled prediction
LabelledText = tuple[str, int, str, str]
_LABELLED = ("SELECT id, created_at, inputs, label FROM predictions "
             "WHERE model_id = ? AND labelled_at IS NOT NULL")


def count_labelled(db: Database, model_id: str) -> int:
    row = db.query_one("SELECT COUNT(*) FROM predictions WHERE model_id = ? "
                       "AND labelled_at IS NOT NULL", (model_id,))
    return int(row[0]) if row else 0


def newest_labelled(db: Database, model_id: str, n: int) -> list[LabelledText]:
    """The ``n`` newest labelled predictions, newest first."""
    return [_labelled(r) for r in db.query(
        f"{_LABELLED} ORDER BY created_at DESC, id DESC LIMIT ?", (model_id, n))]


def labelled_page(db: Database, model_id: str, *, after: tuple[int, str] | None,
                  before: tuple[int, str] | None, limit: int) -> list[LabelledText]:
    """Labelled predictions in the order they were made, strictly between the positions
    ``after`` and ``before`` (``(created_at, id)``; None: no bound), at most ``limit``."""
    sql = _LABELLED
    params: list[Any] = [model_id]
    if after is not None:
        sql += " AND (created_at > ? OR (created_at = ? AND id > ?))"
        params += [after[0], after[0], after[1]]
    if before is not None:
        sql += " AND (created_at < ? OR (created_at = ? AND id < ?))"
        params += [before[0], before[0], before[1]]
    return [_labelled(r) for r in db.query(f"{sql} ORDER BY created_at, id LIMIT ?",
                                           (*params, limit))]


def _labelled(r: Sequence[Any]) -> LabelledText:
    return str(r[0]), int(r[1]), str(r[2]), str(r[3])
