"""Files attached to a run: artifacts, declared inputs and outputs, models, logs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cairn._util.ids import now_ms
from cairn.store.core import MetaStore
from cairn.store.db import Writer

KINDS = ("artifact", "input", "output", "model", "log", "code")


@dataclass(frozen=True)
class ArtifactRow:
    run_id: str
    kind: str
    path: str
    oid: str
    size: int
    is_tree: bool


def add_artifacts(w: Writer, rows: Sequence[ArtifactRow]) -> None:
    """Attach files to runs; a file listed again under the same kind and path is replaced."""
    if not rows:
        return
    now = now_ms()
    w.executemany(
        "INSERT INTO artifacts (run_id, kind, path, oid, size, is_tree, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (run_id, kind, path) DO UPDATE SET "
        "oid = excluded.oid, size = excluded.size, is_tree = excluded.is_tree",
        [(r.run_id, r.kind, r.path, r.oid, r.size, r.is_tree, now) for r in rows],
    )


def list_artifacts(store: MetaStore, run_id: str, kind: str | None = None) -> list[ArtifactRow]:
    sql = "SELECT run_id, kind, path, oid, size, is_tree FROM artifacts WHERE run_id = ?"
    params: list[str] = [run_id]
    if kind is not None:
        sql += " AND kind = ?"
        params.append(kind)
    return [
        ArtifactRow(r[0], r[1], r[2], r[3], int(r[4]), bool(r[5]))
        for r in store.db.query(sql + " ORDER BY kind, path", params)
    ]
