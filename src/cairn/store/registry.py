"""The model registry's tables: ``models``, ``model_versions``, ``model_aliases`` and
``alias_history``.

What a name, a version or an alias may be, and what ``latest`` means, is decided in
``models/registry.py``; here is how they are stored. Version numbers are allocated the way
run numbers are: by the insert itself, retried inside a savepoint when a concurrent writer
on PostgreSQL took the same one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cairn._util.ids import now_ms, uuid7_hex
from cairn.errors import Conflict
from cairn.store.db import Database, Writer

VERSION_ATTEMPTS = 20


@dataclass(frozen=True)
class VersionRow:
    """One stored version of a model."""

    version: int
    run_id: str
    path: str
    oid: str
    flavor: str | None
    created_at: int
    created_by: str | None
    record: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelRow:
    """A registered model with the count and the highest number of its versions."""

    id: str
    name: str
    created_at: int
    description: str | None
    versions: int
    latest: int | None


_VERSION_COLUMNS = ("v.version, v.run_id, v.path, v.oid, v.flavor, v.created_at, v.created_by, "
                    "v.record")


def _version(row: Sequence[Any]) -> VersionRow:
    return VersionRow(version=int(row[0]), run_id=row[1], path=row[2], oid=row[3],
                      flavor=row[4], created_at=int(row[5]), created_by=row[6],
                      record=json.loads(row[7]) if row[7] else {})


# -- writing ----------------------------------------------------------------------------------
def add_model(w: Writer, project_id: str, name: str) -> None:
    """Register the name ``name`` in the project (nothing happens when it already is)."""
    w.execute(
        "INSERT INTO models (id, project_id, name, created_at) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (project_id, name) DO NOTHING",
        (uuid7_hex(), project_id, name, now_ms()))


def add_next_version(w: Writer, model_id: str, run_id: str, path: str, oid: str,
                     flavor: str | None, by: str | None, record: Mapping[str, Any]) -> int:
    """Store the model folder ``oid`` as the model's next version; its number."""
    sql = ("INSERT INTO model_versions (model_id, version, run_id, path, oid, flavor, "
           "created_at, created_by, record) SELECT ?, COALESCE(MAX(version), 0) + 1, "
           "?, ?, ?, ?, ?, ?, ? FROM model_versions WHERE model_id = ? RETURNING version")
    params = (model_id, run_id, path, oid, flavor, now_ms(), by,
              json.dumps(dict(record), sort_keys=True, default=str), model_id)
    for _attempt in range(VERSION_ATTEMPTS):
        try:
            with w.savepoint():
                rows = w.execute(sql, params)
        except w.is_integrity_error:
            continue  # a concurrent register took the same number (PostgreSQL); retry
        return int(rows[0][0])
    raise Conflict(f"no version number was free after {VERSION_ATTEMPTS} tries",
                   hint="many versions are being registered at once; try again")


def add_version(w: Writer, model_id: str, row: VersionRow) -> None:
    """Store a version under its own number (``Conflict`` when that number is taken)."""
    if w.execute("SELECT 1 FROM model_versions WHERE model_id = ? AND version = ?",
                 (model_id, row.version)):
        raise Conflict(f"version {row.version} already exists in this store")
    w.execute(
        "INSERT INTO model_versions (model_id, version, run_id, path, oid, flavor, "
        "created_at, created_by, record) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (model_id, row.version, row.run_id, row.path, row.oid, row.flavor, row.created_at,
         row.created_by, json.dumps(row.record, sort_keys=True, default=str)),
    )


def alias_target(w: Writer, model_id: str, alias: str) -> int | None:
    """The version ``alias`` points at now, read inside the transaction that moves it."""
    rows = w.execute("SELECT version FROM model_aliases WHERE model_id = ? AND alias = ?",
                     (model_id, alias))
    return int(rows[0][0]) if rows else None


def move_alias(w: Writer, model_id: str, alias: str, from_version: int | None,
               to_version: int | None, by: str | None, *, at: int | None = None,
               history: bool = True) -> None:
    """Point ``alias`` at ``to_version`` (None: remove it), kept in ``alias_history``."""
    at = now_ms() if at is None else at
    if to_version is None:
        w.execute("DELETE FROM model_aliases WHERE model_id = ? AND alias = ?",
                  (model_id, alias))
    else:
        w.execute(
            "INSERT INTO model_aliases (model_id, alias, version, updated_at, updated_by) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (model_id, alias) DO UPDATE SET "
            "version = excluded.version, updated_at = excluded.updated_at, "
            "updated_by = excluded.updated_by",
            (model_id, alias, to_version, at, by),
        )
    if history:
        w.execute(
            "INSERT INTO alias_history (model_id, alias, from_version, to_version, at, by) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (model_id, alias, from_version, to_version, at, by),
        )


# -- reading ----------------------------------------------------------------------------------
def find_model(db: Database, project_id: str, name: str) -> str | None:
    """The row id of the model called ``name`` in the project; None when there is none."""
    row = db.query_one("SELECT id FROM models WHERE project_id = ? AND name = ?",
                       (project_id, name))
    return None if row is None else str(row[0])


def model_names(db: Database, project_id: str, limit: int = 10) -> list[str]:
    """The first ``limit`` registered names of the project, sorted."""
    return [str(r[0]) for r in db.query(
        "SELECT name FROM models WHERE project_id = ? ORDER BY name LIMIT ?",
        (project_id, limit))]


def version_of(db: Database, model_id: str, version: int) -> VersionRow | None:
    row = db.query_one(f"SELECT {_VERSION_COLUMNS} FROM model_versions v "
                       "WHERE v.model_id = ? AND v.version = ?", (model_id, version))
    return None if row is None else _version(row)


def latest_of(db: Database, model_id: str) -> VersionRow | None:
    """The model's highest version."""
    row = db.query_one(f"SELECT {_VERSION_COLUMNS} FROM model_versions v "
                       "WHERE v.model_id = ? ORDER BY v.version DESC LIMIT 1", (model_id,))
    return None if row is None else _version(row)


def aliased(db: Database, model_id: str, alias: str) -> VersionRow | None:
    """The version ``alias`` points at."""
    row = db.query_one(
        f"SELECT {_VERSION_COLUMNS} FROM model_versions v JOIN model_aliases a "
        "ON a.model_id = v.model_id AND a.version = v.version "
        "WHERE v.model_id = ? AND a.alias = ?", (model_id, alias))
    return None if row is None else _version(row)


def versions_of(db: Database, model_id: str) -> list[VersionRow]:
    """Every version of the model, newest first."""
    return [_version(r) for r in db.query(
        f"SELECT {_VERSION_COLUMNS} FROM model_versions v WHERE v.model_id = ? "
        "ORDER BY v.version DESC", (model_id,))]


def highest_version(db: Database, model_id: str) -> int | None:
    row = db.query_one("SELECT MAX(version) FROM model_versions WHERE model_id = ?",
                       (model_id,))
    return int(row[0]) if row and row[0] is not None else None


def same_version(db: Database, project_id: str, name: str, run_id: str, path: str,
                 oid: str) -> int | None:
    """The version of ``name`` that already is this model folder of this run, if any."""
    row = db.query_one(
        "SELECT v.version FROM model_versions v JOIN models m ON m.id = v.model_id "
        "WHERE m.project_id = ? AND m.name = ? AND v.run_id = ? AND v.path = ? AND v.oid = ?",
        (project_id, name, run_id, path, oid))
    return int(row[0]) if row else None


def aliases_of(db: Database, model_id: str) -> list[tuple[str, int]]:
    """(alias, version) of the model, by alias."""
    return [(str(a), int(v)) for a, v in db.query(
        "SELECT alias, version FROM model_aliases WHERE model_id = ? ORDER BY alias",
        (model_id,))]


def list_models(db: Database, project_id: str) -> list[ModelRow]:
    """Every registered model of the project, by name."""
    return [
        ModelRow(id=str(r[0]), name=str(r[1]), created_at=int(r[2]), description=r[3],
                 versions=int(r[4]), latest=int(r[5]) if r[5] is not None else None)
        for r in db.query(
            "SELECT m.id, m.name, m.created_at, m.description, COUNT(v.version), "
            "MAX(v.version) FROM models m LEFT JOIN model_versions v ON v.model_id = m.id "
            "WHERE m.project_id = ? GROUP BY m.id, m.name, m.created_at, m.description "
            "ORDER BY m.name", (project_id,))
    ]


def project_aliases(db: Database, project_id: str) -> dict[str, dict[str, int]]:
    """Every alias of the project's models: model id -> alias -> version."""
    out: dict[str, dict[str, int]] = {}
    for model_id, alias, version in db.query(
            "SELECT a.model_id, a.alias, a.version FROM model_aliases a JOIN models m "
            "ON m.id = a.model_id WHERE m.project_id = ? ORDER BY a.alias", (project_id,)):
        out.setdefault(str(model_id), {})[str(alias)] = int(version)
    return out


def alias_moves(db: Database, model_id: str) -> list[tuple[str, int | None, int | None, int,
                                                          str | None]]:
    """Every alias move of the model, oldest first: (alias, from, to, at, by)."""
    return [(str(r[0]), r[1], r[2], int(r[3]), r[4]) for r in db.query(
        "SELECT alias, from_version, to_version, at, by FROM alias_history "
        "WHERE model_id = ? ORDER BY id", (model_id,))]
