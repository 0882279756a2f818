"""Opening the metadata store of a project."""

from __future__ import annotations

import os
from dataclasses import dataclass

from cairn._util.ids import now_ms, uuid7_hex
from cairn.project import Project
from cairn.store.db import Database
from cairn.store.migrate import ensure_schema


@dataclass
class MetaStore:
    """The metadata database scoped to one project."""

    db: Database
    project_id: str
    project_name: str

    def close(self) -> None:
        self.db.close()


def open_store(project: Project, *, name: str | None = None) -> MetaStore:
    """Connect, create or upgrade the schema when needed, and find (or add) the project row."""
    db = Database(project.db_url)
    db.conn  # noqa: B018 - connect first: an unreachable server is one sentence, not a migration's
    ensure_schema(db, lock_dir=project.store_dir if project.store_dir.is_dir() else None)
    project_name = name or os.environ.get("CAIRN_PROJECT") or project.root.name or "default"
    return MetaStore(db=db, project_id=project_row(db, project_name), project_name=project_name)


def project_row(db: Database, name: str) -> str:
    row = db.query_one("SELECT id FROM projects WHERE name = ?", (name,))
    if row:
        return str(row[0])
    new_id = uuid7_hex()
    with db.write() as w:
        w.execute(
            "INSERT INTO projects (id, name, created_at) VALUES (?, ?, ?) "
            "ON CONFLICT (name) DO NOTHING",
            (new_id, name, now_ms()),
        )
    row = db.query_one("SELECT id FROM projects WHERE name = ?", (name,))
    assert row is not None
    return str(row[0])
