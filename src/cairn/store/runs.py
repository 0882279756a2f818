"""Runs, their params, tags, lineage and liveness in the metadata store."""

from __future__ import annotations

import json
import math
import os
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from cairn._util.ids import now_ms, uuid7_hex
from cairn.errors import Conflict, InvalidInput, NotFound
from cairn.store.core import MetaStore
from cairn.store.db import Writer
from cairn.store.record import RunRecord

STATUSES = ("running", "finished", "failed", "killed", "crashed")
FINAL_STATUSES = ("finished", "failed", "killed", "crashed")
LINEAGE_RELATIONS = ("parent", "forked_from", "reproduces")

# A running run silent this long is crashed; live runs beat every `heartbeat_interval_s`
# (settings.py), at most a quarter of this.
HEARTBEAT_TIMEOUT_MS = 60_000

_RUN_COLUMNS = (
    "r.id, r.number, r.name, r.status, r.message, r.command, r.cwd, r.started_at, r.ended_at, "
    "r.exit_code, r.pid, r.hostname, r.heartbeat_at, r.created_by, r.record, r.verdict"
)


@dataclass(frozen=True)
class RunRow:
    """A run's own columns; ``record`` holds what capture gathered (code, env, host, …)."""

    id: str
    number: int
    name: str | None
    status: str
    message: str | None
    command: list[str] | None
    cwd: str | None
    started_at: int
    ended_at: int | None
    exit_code: int | None
    pid: int | None
    hostname: str | None
    heartbeat_at: int | None
    created_by: str | None
    record: RunRecord = field(default_factory=RunRecord)
    verdict: str | None = None

    @property
    def duration_s(self) -> float | None:
        end = self.ended_at if self.ended_at is not None else (
            now_ms() if self.status == "running" else None
        )
        return None if end is None else max(0, end - self.started_at) / 1000.0

    @property
    def short_id(self) -> str:
        return self.id[:8]


def _row_to_run(row: Sequence[Any]) -> RunRow:
    return RunRow(
        id=row[0], number=row[1], name=row[2], status=row[3], message=row[4],
        command=json.loads(row[5]) if row[5] else None, cwd=row[6], started_at=row[7],
        ended_at=row[8], exit_code=row[9], pid=row[10], hostname=row[11],
        heartbeat_at=row[12], created_by=row[13],
        record=RunRecord.from_text(row[14]), verdict=row[15],
    )


# -- params -----------------------------------------------------------------------------------
def encode_param(value: Any) -> tuple[str, float | None]:
    """A param as JSON text, plus its numeric value (for comparisons) when it is a number."""
    if hasattr(value, "item") and callable(value.item):
        value = value.item()
    try:
        text = json.dumps(value, sort_keys=True, allow_nan=True)
    except (TypeError, ValueError):
        text = json.dumps(str(value))
    return text, param_number(value)


def param_number(value: Any) -> float | None:
    """What filters compare a param by (``params.num``): a real number, else None (NaN too)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        num = float(value)
        return None if math.isnan(num) else num
    return None


def decode_param(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def log_params(w: Writer, run_id: str, params: Mapping[str, Any]) -> None:
    """Params of a running run (a finished run's params never change: ``Conflict``)."""
    _require_open(w, run_id, "params")
    _write_params(w, [(run_id, str(k), *encode_param(v)) for k, v in params.items()])


def write_param_texts(w: Writer, run_id: str, texts: Mapping[str, str]) -> None:
    """Params given as their stored JSON text (a pushed run keeps its texts exactly)."""
    _write_params(w, [(run_id, key, text, param_number(decode_param(text)))
                      for key, text in texts.items()])


def _write_params(w: Writer, rows: Sequence[tuple[str, str, str, float | None]]) -> None:
    if rows:
        w.executemany(
            "INSERT INTO params (run_id, key, value, num) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value, num = excluded.num",
            rows,
        )


def set_tags(w: Writer, run_id: str, tags: Mapping[str, Any]) -> None:
    """Tags annotate a run and may change after it ends (like labels)."""
    rows = [(run_id, str(k), str(v)) for k, v in tags.items()]
    if rows:
        w.executemany(
            "INSERT INTO tags (run_id, key, value) VALUES (?, ?, ?) "
            "ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value",
            rows,
        )


def write_lineage(w: Writer, run_id: str, links: Mapping[str, str]) -> None:
    """Point the run at its parent, fork source or original (``LINEAGE_RELATIONS``)."""
    for relation, target in links.items():
        if relation not in LINEAGE_RELATIONS:
            raise InvalidInput(f"unknown lineage relation {relation!r}")
        w.execute(
            "INSERT INTO lineage (run_id, relation, target_id) VALUES (?, ?, ?) "
            "ON CONFLICT (run_id, relation) DO UPDATE SET target_id = excluded.target_id",
            (run_id, relation, target),
        )


# -- writing ----------------------------------------------------------------------------------
RUN_NUMBER_ATTEMPTS = 20


@dataclass(frozen=True)
class NewRun:
    """A run's own columns as they are written; its number is allocated by ``insert_run``."""

    id: str
    status: str
    started_at: int
    name: str | None = None
    message: str | None = None
    command: Sequence[str] | None = None
    cwd: str | None = None
    ended_at: int | None = None
    exit_code: int | None = None
    pid: int | None = None
    hostname: str | None = None
    heartbeat_at: int | None = None
    created_by: str | None = None
    record: RunRecord = field(default_factory=RunRecord)
    verdict: str | None = None

    def columns(self) -> dict[str, Any]:
        command = json.dumps(list(self.command)) if self.command is not None else None
        return {
            "name": self.name, "status": self.status, "message": self.message,
            "command": command, "cwd": self.cwd, "started_at": self.started_at,
            "ended_at": self.ended_at, "exit_code": self.exit_code, "pid": self.pid,
            "hostname": self.hostname, "heartbeat_at": self.heartbeat_at,
            "created_by": self.created_by, "record": self.record.to_text(),
            "verdict": self.verdict,
        }


def insert_run(w: Writer, project_id: str, run: NewRun) -> int:
    """Insert ``run`` under the next free number of its project; that number.

    The number is allocated by the insert itself, so two writers never share one. On
    PostgreSQL two transactions may still compute the same number; the later one fails the
    unique index and tries again (inside a savepoint, so the caller's transaction goes on).
    After ``RUN_NUMBER_ATTEMPTS`` tries it gives up with ``Conflict``.
    """
    if run.status not in STATUSES:
        raise InvalidInput(
            f"unknown run status {run.status!r}; expected one of {', '.join(STATUSES)}")
    columns = run.columns()
    sql = (
        f"INSERT INTO runs (id, project_id, number, {', '.join(columns)}) "
        f"SELECT ?, ?, COALESCE(MAX(number), 0) + 1, {', '.join('?' for _ in columns)} "
        "FROM runs WHERE project_id = ? RETURNING number"
    )
    params = (run.id, project_id, *columns.values(), project_id)
    for _attempt in range(RUN_NUMBER_ATTEMPTS):
        try:
            with w.savepoint():
                rows = w.execute(sql, params)
        except w.is_integrity_error:
            continue  # another writer took the same number (PostgreSQL); try the next one
        return int(rows[0][0])
    raise Conflict(f"no run number could be allocated for run {run.id} after "
                   f"{RUN_NUMBER_ATTEMPTS} tries; nothing was written",
                   hint="many runs are being created at once; try again")


def overwrite_run(w: Writer, run: NewRun) -> None:
    """Replace every column of a stored run but its project and number (a newer copy)."""
    columns = run.columns()
    assignments = ", ".join(f"{k} = ?" for k in columns)
    w.execute(f"UPDATE runs SET {assignments} WHERE id = ?", (*columns.values(), run.id))


def create_run(
    w: Writer,
    project_id: str,
    *,
    name: str | None = None,
    status: str = "running",
    message: str | None = None,
    command: Sequence[str] | None = None,
    cwd: str | None = None,
    params: Mapping[str, Any] | None = None,
    tags: Mapping[str, Any] | None = None,
    record: RunRecord | None = None,
    lineage: Mapping[str, str] | None = None,
    pid: int | None = None,
    created_by: str | None = None,
    started_at: int | None = None,
    ended_at: int | None = None,
    exit_code: int | None = None,
) -> RunRow:
    """A new run of this process and host, with its params, tags and lineage."""
    now = now_ms()
    new = NewRun(
        id=uuid7_hex(), status=status, started_at=started_at if started_at is not None else now,
        name=name, message=message, command=list(command) if command is not None else None,
        cwd=cwd, ended_at=ended_at, exit_code=exit_code,
        pid=pid if pid is not None else os.getpid(), hostname=socket.gethostname(),
        heartbeat_at=now, created_by=created_by or _current_user(), record=record or RunRecord(),
    )
    number = insert_run(w, project_id, new)
    _write_params(w, [(new.id, str(k), *encode_param(v)) for k, v in (params or {}).items()])
    set_tags(w, new.id, tags or {})
    write_lineage(w, new.id, lineage or {})
    return RunRow(
        id=new.id, number=number, name=name, status=status, message=message,
        command=list(new.command) if new.command is not None else None, cwd=cwd,
        started_at=new.started_at, ended_at=ended_at, exit_code=exit_code, pid=new.pid,
        hostname=new.hostname, heartbeat_at=now, created_by=new.created_by,
        record=new.record, verdict=None,
    )


def _require_open(w: Writer, run_id: str, what: str) -> None:
    rows = w.execute("SELECT status, number FROM runs WHERE id = ?", (run_id,))
    if not rows:
        raise NotFound(f"run {run_id} does not exist")
    status, number = rows[0]
    if status != "running":
        raise Conflict(f"run {number} is {status}; a finished run's {what} cannot change")


def run_record(w: Writer, run_id: str) -> RunRecord | None:
    """The stored record of a run, read inside the transaction; None: no such run."""
    rows = w.execute("SELECT record FROM runs WHERE id = ?", (run_id,))
    if not rows:
        return None
    return RunRecord.from_text(rows[0][0])


def update_record(w: Writer, run_id: str, change: Callable[[RunRecord], RunRecord]) -> None:
    """Replace the run's record with ``change`` of it, inside the caller's transaction."""
    record = run_record(w, run_id)
    if record is None:
        raise NotFound(f"run {run_id} does not exist")
    w.execute("UPDATE runs SET record = ? WHERE id = ?", (change(record).to_text(), run_id))


def set_run_fields(w: Writer, run_id: str, **fields: Any) -> None:
    """Update plain columns (name, message, command, cwd, pid, verdict)."""
    allowed = {"name", "message", "command", "cwd", "pid", "verdict"}
    unknown = set(fields) - allowed
    if unknown:
        raise InvalidInput(f"cannot set {', '.join(sorted(unknown))} on a run")
    if "command" in fields and fields["command"] is not None:
        fields["command"] = json.dumps(list(fields["command"]))
    if not fields:
        return
    assignments = ", ".join(f"{k} = ?" for k in fields)
    w.execute(f"UPDATE runs SET {assignments} WHERE id = ?", (*fields.values(), run_id))


def finish_run(
    w: Writer, run_id: str, status: str = "finished", *, exit_code: int | None = None,
    ended_at: int | None = None,
) -> bool:
    """End a running run; False, writing nothing, when it has already ended.

    A run ends once: whoever ends it first (its process, the runner, ``reap_crashed``, a
    client of the API) decides its status, and a later finish cannot rewrite it.
    """
    if status not in FINAL_STATUSES:
        raise InvalidInput(f"a run ends as one of {', '.join(FINAL_STATUSES)}, not {status!r}")
    now = now_ms()
    return w.changed(
        "UPDATE runs SET status = ?, exit_code = COALESCE(?, exit_code), ended_at = ?, "
        "heartbeat_at = ? WHERE id = ? AND status = 'running'",
        (status, exit_code, ended_at or now, now, run_id),
    ) > 0


def heartbeat(w: Writer, run_ids: Sequence[str], *, at: int | None = None) -> None:
    """Say the running ones among ``run_ids`` are alive (as of ``at``, default now)."""
    if not run_ids:
        return
    marks = ", ".join("?" for _ in run_ids)
    w.execute(
        f"UPDATE runs SET heartbeat_at = ? WHERE status = 'running' AND id IN ({marks})",
        (at if at is not None else now_ms(), *run_ids),
    )


def clear_contents(w: Writer, run_id: str) -> None:
    """Remove the run's params, tags, lineage, files and metrics (before a copy replaces them)."""
    for table in ("params", "tags", "lineage", "artifacts", "metric_chunks", "latest_metrics"):
        w.execute(f"DELETE FROM {table} WHERE run_id = ?", (run_id,))


# -- liveness ---------------------------------------------------------------------------------
def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is dead even though kill(pid, 0) succeeds
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return True


def reap_crashed(store: MetaStore) -> int:
    """Mark ``running`` runs whose process is gone (this host) or whose heartbeat stopped."""
    rows = store.db.query(
        "SELECT id, pid, hostname, heartbeat_at FROM runs WHERE status = 'running' "
        "AND project_id = ?",
        (store.project_id,),
    )
    if not rows:
        return 0
    here = socket.gethostname()
    now = now_ms()
    dead = [
        (run_id, beat) for run_id, pid, host, beat in rows
        if (host == here and pid is not None and not _pid_alive(pid))
        or (beat is not None and now - beat > HEARTBEAT_TIMEOUT_MS)
    ]
    if not dead:
        return 0
    with store.db.write() as w:
        for run_id, beat in dead:  # it ended when it was last heard from
            finish_run(w, run_id, "crashed", ended_at=beat if beat is not None else now)
    return len(dead)


# -- reading ----------------------------------------------------------------------------------
def get_run(store: MetaStore, run_id: str) -> RunRow:
    row = store.db.query_one(f"SELECT {_RUN_COLUMNS} FROM runs r WHERE r.id = ?", (run_id,))
    if row is None:
        raise NotFound(f"run {run_id} does not exist")
    return _row_to_run(row)


def find_run(store: MetaStore, run_id: str) -> RunRow | None:
    """The run of this project with id ``run_id``; None when it is not here."""
    row = store.db.query_one(f"SELECT {_RUN_COLUMNS} FROM runs r WHERE r.id = ? "
                             "AND r.project_id = ?", (run_id, store.project_id))
    return None if row is None else _row_to_run(row)


def project_of_run(store: MetaStore, run_id: str, *, lock: bool = False) -> str | None:
    """The project a run id belongs to in this database, whichever it is; None: no such run.

    ``lock`` takes the run's row for the current write transaction on PostgreSQL (SQLite's
    write transaction already excludes other writers).
    """
    lock_sql = " FOR UPDATE" if lock and store.db.dialect == "postgresql" else ""
    row = store.db.query_one(f"SELECT project_id FROM runs WHERE id = ?{lock_sql}", (run_id,))
    return None if row is None else str(row[0])


def param_texts(store: MetaStore, run_id: str) -> dict[str, str]:
    """A run's params as their stored JSON text, by key."""
    return {str(k): str(v) for k, v in store.db.query(
        "SELECT key, value FROM params WHERE run_id = ? ORDER BY key", (run_id,))}


def get_params(store: MetaStore, run_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    return {
        rid: {k: decode_param(v) for k, v in pairs.items()}
        for rid, pairs in _by_run(store, "SELECT run_id, key, value FROM params", run_ids).items()
    }


def get_tags(store: MetaStore, run_ids: Sequence[str]) -> dict[str, dict[str, str]]:
    return _by_run(store, "SELECT run_id, key, value FROM tags", run_ids)


def get_lineage(store: MetaStore, run_id: str) -> dict[str, str | None]:
    found: dict[str, str] = dict(store.db.query(
        "SELECT relation, target_id FROM lineage WHERE run_id = ?", (run_id,)
    ))
    return {relation: found.get(relation) for relation in LINEAGE_RELATIONS}


def get_children(store: MetaStore, run_id: str) -> list[tuple[str, str]]:
    """Runs that point at ``run_id``: (relation, run id)."""
    return [
        (str(rel), str(rid)) for rid, rel in store.db.query(
            "SELECT run_id, relation FROM lineage WHERE target_id = ? ORDER BY run_id", (run_id,)
        )
    ]


def _by_run(store: MetaStore, select: str, run_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {rid: {} for rid in run_ids}
    for start in range(0, len(run_ids), 500):
        chunk = list(run_ids[start:start + 500])
        marks = ", ".join("?" for _ in chunk)
        for rid, key, value in store.db.query(
            f"{select} WHERE run_id IN ({marks}) ORDER BY key", chunk
        ):
            out[rid][key] = value
    return out


def list_runs(
    store: MetaStore, *, where: str = "1=1", where_params: Sequence[Any] = (),
    order_by: str = "r.number DESC", order_params: Sequence[Any] = (), limit: int | None = 50,
    offset: int = 0,
) -> list[RunRow]:
    """Runs of this project matching a compiled filter (see ``store.query``)."""
    sql = (
        f"SELECT {_RUN_COLUMNS} FROM runs r WHERE r.project_id = ? AND ({where}) "
        f"ORDER BY {order_by}"
    )
    params: list[Any] = [store.project_id, *where_params, *order_params]
    if limit is not None:
        sql += " LIMIT ? OFFSET ?"
        params += [limit, offset]
    return [_row_to_run(r) for r in store.db.query(sql, params)]


def count_runs(store: MetaStore, *, where: str = "1=1", where_params: Sequence[Any] = ()) -> int:
    row = store.db.query_one(
        f"SELECT COUNT(*) FROM runs r WHERE r.project_id = ? AND ({where})",
        (store.project_id, *where_params),
    )
    return int(row[0]) if row else 0


@lru_cache(maxsize=1)
def _current_user() -> str:
    try:
        import getpass

        return getpass.getuser()
    except (OSError, KeyError):
        return "unknown"
