"""Create or upgrade the schema with Alembic, only when the database is not already current.

Checking is one cheap query against ``alembic_version``; Alembic (and SQLAlchemy) are imported
only when a migration must actually run, which keeps every command's start-up fast.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from cairn.errors import StoreUnavailable
from cairn.store.db import Database

HEAD = "0004"  # the newest revision in migrations/versions; pinned by a test


def current_revision(db: Database) -> str | None:
    try:
        row = db.query_one("SELECT version_num FROM alembic_version")
    except StoreUnavailable:
        return None
    except Exception:  # the table does not exist yet (psycopg raises its own error type)
        if db.dialect == "postgresql":
            db.conn.rollback() if not db.conn.autocommit else None
        return None
    return str(row[0]) if row else None


def ensure_schema(db: Database, lock_dir: Path | None = None) -> None:
    """Bring ``db`` to ``HEAD``; concurrent first opens are serialised by a file lock."""
    if current_revision(db) == HEAD:
        return
    lock_path = (lock_dir or Path(os.environ.get("TMPDIR", "/tmp"))) / ".cairn-migrate.lock"
    with open(lock_path, "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if current_revision(db) != HEAD:
                upgrade(db.url)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def sqlalchemy_url(url: str) -> str:
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def upgrade(url: str, revision: str = "head") -> None:
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    config.set_main_option("sqlalchemy.url", sqlalchemy_url(url))
    try:
        command.upgrade(config, revision)
    except Exception as exc:
        raise StoreUnavailable(f"cannot create or upgrade the metadata schema: {exc}") from exc
