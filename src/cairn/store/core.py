"""Opening the metadata store of a project."""

from __future__ import annotations

from dataclasses import dataclass

from cairn._util.ids import now_ms, uuid7_hex
from cairn.project import Project
from cairn.settings import env_project_name
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
    project_name = name or env_project_name() or project.root.name or "default"
    return MetaStore(db=db, project_id=project_row(db, project_name), project_name=project_name)


def find_project(db: Database, name: str) -> str | None:
    """The id of the project called ``name``; None when there is none."""
    row = db.query_one("SELECT id FROM projects WHERE name = ?", (name,))
    return None if row is None else str(row[0])


def project_row(db: Database, name: str) -> str:
    """The id of the project called ``name``, added when it is new."""
    found = find_project(db, name)
    if found is not None:
        return found
    with db.write() as w:
        w.execute(
            "INSERT INTO projects (id, name, created_at) VALUES (?, ?, ?) "
            "ON CONFLICT (name) DO NOTHING",
            (uuid7_hex(), name, now_ms()),
        )
    found = find_project(db, name)
    assert found is not None
    return found


def list_projects(db: Database) -> list[tuple[str, str, int]]:
    """Every project in the database, by name: (id, name, created_at)."""
    return [(str(pid), str(name), int(created)) for pid, name, created in db.query(
        "SELECT id, name, created_at FROM projects ORDER BY name")]
