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
    num: float | None = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        num = float(value)
        if math.isnan(num):
            num = None
    return text, num


def decode_param(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _write_params(w: Writer, run_id: str, params: Mapping[str, Any]) -> None:
    rows = []
    for key, value in params.items():
        text, num = encode_param(value)
        rows.append((run_id, str(key), text, num))
    if rows:
        w.executemany(
            "INSERT INTO params (run_id, key, value, num) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value, num = excluded.num",
            rows,
        )


def _write_tags(w: Writer, run_id: str, tags: Mapping[str, Any]) -> None:
    rows = [(run_id, str(k), str(v)) for k, v in tags.items()]
    if rows:
        w.executemany(
            "INSERT INTO tags (run_id, key, value) VALUES (?, ?, ?) "
            "ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value",
            rows,
        )


# -- writing ----------------------------------------------------------------------------------
def create_run(
    store: MetaStore,
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
    """Insert a run; its number is allocated inside the same transaction (no duplicates)."""
    if status not in STATUSES:
        raise InvalidInput(f"unknown run status {status!r}; expected one of {', '.join(STATUSES)}")
    run_id = uuid7_hex()
    start = started_at if started_at is not None else now_ms()
    host = socket.gethostname()
    user = created_by or _current_user()
    record = record or RunRecord()
    record_text = record.to_text()
    command_list = list(command) if command is not None else None
    for _attempt in range(20):
        try:
            with store.db.write() as w:
                rows = w.execute(
                    "INSERT INTO runs (id, project_id, number, name, status, message, command, "
                    "cwd, started_at, ended_at, exit_code, pid, hostname, heartbeat_at, "
                    "created_by, record) "
                    "SELECT ?, ?, COALESCE(MAX(number), 0) + 1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
                    "?, ? FROM runs WHERE project_id = ? RETURNING number",
                    (
                        run_id, store.project_id, name, status, message,
                        json.dumps(command_list) if command_list is not None else None, cwd,
                        start, ended_at, exit_code, pid if pid is not None else os.getpid(),
                        host, now_ms(), user, record_text, store.project_id,
                    ),
                )
                _write_params(w, run_id, params or {})
                _write_tags(w, run_id, tags or {})
                for relation, target in (lineage or {}).items():
                    _write_lineage(w, run_id, relation, target)
        except store.db.is_integrity_error:
            continue  # another writer took the same number (PostgreSQL); try the next one
        break
    return RunRow(
        id=run_id, number=int(rows[0][0]), name=name, status=status, message=message,
        command=command_list, cwd=cwd, started_at=start, ended_at=ended_at, exit_code=exit_code,
        pid=pid if pid is not None else os.getpid(), hostname=host, heartbeat_at=now_ms(),
        created_by=user, record=record, verdict=None,
    )


def _write_lineage(w: Writer, run_id: str, relation: str, target: str) -> None:
    if relation not in LINEAGE_RELATIONS:
        raise InvalidInput(f"unknown lineage relation {relation!r}")
    w.execute(
        "INSERT INTO lineage (run_id, relation, target_id) VALUES (?, ?, ?) "
        "ON CONFLICT (run_id, relation) DO UPDATE SET target_id = excluded.target_id",
        (run_id, relation, target),
    )


def _require_open(store: MetaStore, run_id: str, what: str) -> None:
    row = store.db.query_one("SELECT status, number FROM runs WHERE id = ?", (run_id,))
    if row is None:
        raise NotFound(f"run {run_id} does not exist")
    if row[0] != "running":
        raise Conflict(f"run {row[1]} is {row[0]}; a finished run's {what} cannot change")


def log_params(store: MetaStore, run_id: str, params: Mapping[str, Any]) -> None:
    _require_open(store, run_id, "params")
    with store.db.write() as w:
        _write_params(w, run_id, params)


def set_tags(store: MetaStore, run_id: str, tags: Mapping[str, Any]) -> None:
    """Tags annotate a run and may change after it ends (like labels)."""
    with store.db.write() as w:
        _write_tags(w, run_id, tags)


def set_lineage(store: MetaStore, run_id: str, relation: str, target_id: str) -> None:
    with store.db.write() as w:
        _write_lineage(w, run_id, relation, target_id)


def update_record(store: MetaStore, run_id: str,
                  change: Callable[[RunRecord], RunRecord]) -> None:
    """Replace the run's record with ``change`` of it, read and written in one transaction."""
    with store.db.write() as w:
        rows = w.execute("SELECT record FROM runs WHERE id = ?", (run_id,))
        if not rows:
            raise NotFound(f"run {run_id} does not exist")
        record = change(RunRecord.from_text(rows[0][0]))
        w.execute("UPDATE runs SET record = ? WHERE id = ?", (record.to_text(), run_id))


def set_run_fields(store: MetaStore, run_id: str, **fields: Any) -> None:
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
    with store.db.write() as w:
        w.execute(f"UPDATE runs SET {assignments} WHERE id = ?", (*fields.values(), run_id))


def finish_run(
    store: MetaStore, run_id: str, status: str = "finished", *, exit_code: int | None = None,
    ended_at: int | None = None,
) -> None:
    if status not in FINAL_STATUSES:
        raise InvalidInput(f"a run ends as one of {', '.join(FINAL_STATUSES)}, not {status!r}")
    with store.db.write() as w:
        w.execute(
            "UPDATE runs SET status = ?, exit_code = COALESCE(?, exit_code), ended_at = ?, "
            "heartbeat_at = ? WHERE id = ?",
            (status, exit_code, ended_at or now_ms(), now_ms(), run_id),
        )


def heartbeat(store: MetaStore, run_ids: Sequence[str]) -> None:
    if not run_ids:
        return
    marks = ", ".join("?" for _ in run_ids)
    with store.db.write() as w:
        w.execute(
            f"UPDATE runs SET heartbeat_at = ? WHERE status = 'running' AND id IN ({marks})",
            (now_ms(), *run_ids),
        )


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
        run_id for run_id, pid, host, beat in rows
        if (host == here and pid is not None and not _pid_alive(pid))
        or (beat is not None and now - beat > HEARTBEAT_TIMEOUT_MS)
    ]
    for run_id in dead:
        with store.db.write() as w:
            w.execute(
                "UPDATE runs SET status = 'crashed', ended_at = COALESCE(heartbeat_at, ?) "
                "WHERE id = ? AND status = 'running'",
                (now, run_id),
            )
    return len(dead)


# -- reading ----------------------------------------------------------------------------------
def get_run(store: MetaStore, run_id: str) -> RunRow:
    row = store.db.query_one(f"SELECT {_RUN_COLUMNS} FROM runs r WHERE r.id = ?", (run_id,))
    if row is None:
        raise NotFound(f"run {run_id} does not exist")
    return _row_to_run(row)


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
