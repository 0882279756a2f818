"""The model registry: named models, immutable numbered versions, movable aliases.

A version points at a run and the tree oid of the model folder it logged; it never changes.
Aliases (``production``, ``staging``, ``candidate``) move between versions, and every move is
kept in ``alias_history`` with who made it, when, and from which version. ``latest`` always
means the highest version and cannot be set by hand; aliases cannot look like numbers, so
``churn@3`` is never ambiguous.
"""

from __future__ import annotations

import getpass
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cairn._util.ids import now_ms, uuid7_hex
from cairn.errors import Conflict, InvalidInput, NotFound
from cairn.settings import env_user
from cairn.store.core import MetaStore
from cairn.store.runs import get_run

MODEL_KINDS = ("model", "artifact", "output")  # artifact kinds a model folder may be stored as
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}$")
ALIAS_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
LATEST = "latest"


@dataclass(frozen=True)
class ModelVersion:
    name: str
    version: int
    run_id: str
    path: str
    oid: str
    flavor: str | None
    aliases: tuple[str, ...]
    created_at: int
    created_by: str | None
    record: dict[str, Any] = field(default_factory=dict)

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "run_id": self.run_id,
                "path": self.path, "oid": self.oid, "flavor": self.flavor,
                "aliases": list(self.aliases), "created_at": self.created_at,
                "created_by": self.created_by, "record": self.record}


@dataclass(frozen=True)
class RegisteredModel:
    name: str
    created_at: int
    description: str | None
    versions: int
    latest: int | None
    aliases: dict[str, int]

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "created_at": self.created_at,
                "description": self.description, "versions": self.versions,
                "latest": self.latest, "aliases": self.aliases}


@dataclass(frozen=True)
class AliasMove:
    alias: str
    from_version: int | None
    to_version: int | None
    at: int
    by: str | None

    def to_json(self) -> dict[str, Any]:
        return {"alias": self.alias, "from_version": self.from_version,
                "to_version": self.to_version, "at": self.at, "by": self.by}


def current_user() -> str:
    """Who is acting: ``CAIRN_USER``, else the login name."""
    named = env_user()
    if named:
        return named
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "unknown"


# -- writing ----------------------------------------------------------------------------------
def register(
    store: MetaStore,
    run_id: str,
    path: str,
    name: str,
    *,
    by: str | None = None,
    meta: Mapping[str, Any] | None = None,
    record: Mapping[str, Any] | None = None,
) -> ModelVersion:
    """Make the model at ``path`` in run ``run_id`` the next version of ``name``.

    ``meta`` is the model's ``cairn-model.json`` (read from the objects by the caller); without
    it, what ``log_model`` noted in the run's record is used. Registering the same model
    folder again returns the version it already is.
    """
    check_name(name)
    run = get_run(store, run_id)
    artifact = model_artifact(store, run_id, run.number, path)
    oid = artifact[0]
    meta = dict(meta or run.record.models.get(path) or {})
    existing = _find_same(store, name, run_id, path, oid)
    if existing is not None:
        return existing
    details: dict[str, Any] = {
        "run_number": run.number,
        "signature": meta.get("signature"),
        "task": meta.get("task"),
        "requirements": meta.get("requirements"),
        "python": meta.get("python"),
        "pickle": meta.get("pickle"),
        **dict(record or {}),
    }
    flavor = meta.get("flavor")
    model_id = _model_id(store, name, create=True)
    who = by or current_user()
    for _attempt in range(20):
        try:
            with store.db.write() as w:
                w.execute(
                    "INSERT INTO model_versions (model_id, version, run_id, path, oid, flavor, "
                    "created_at, created_by, record) SELECT ?, COALESCE(MAX(version), 0) + 1, "
                    "?, ?, ?, ?, ?, ?, ? FROM model_versions WHERE model_id = ?",
                    (model_id, run_id, path, oid, flavor, now_ms(), who,
                     json.dumps(details, sort_keys=True, default=str), model_id),
                )
                rows = w.execute(
                    "SELECT MAX(version) FROM model_versions WHERE model_id = ? AND run_id = ? "
                    "AND path = ? AND oid = ?", (model_id, run_id, path, oid))
        except store.db.is_integrity_error:
            continue  # a concurrent register took the same number (PostgreSQL); retry
        break
    else:
        raise Conflict(f"could not allocate a version of {name!r}; try again")
    return get_version(store, name, int(rows[0][0]))


def set_alias(store: MetaStore, name: str, version: int | str, alias: str, *,
              by: str | None = None) -> ModelVersion:
    """Point ``alias`` at ``version`` (a number, or another alias), keeping the move in history."""
    check_alias(alias)
    target = get_version(store, name, version)
    model_id = _model_id(store, name)
    who = by or current_user()
    at = now_ms()
    with store.db.write() as w:
        rows = w.execute("SELECT version FROM model_aliases WHERE model_id = ? AND alias = ?",
                         (model_id, alias))
        previous = int(rows[0][0]) if rows else None
        if previous == target.version:
            return target
        w.execute(
            "INSERT INTO model_aliases (model_id, alias, version, updated_at, updated_by) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (model_id, alias) DO UPDATE SET "
            "version = excluded.version, updated_at = excluded.updated_at, "
            "updated_by = excluded.updated_by",
            (model_id, alias, target.version, at, who),
        )
        w.execute(
            "INSERT INTO alias_history (model_id, alias, from_version, to_version, at, by) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (model_id, alias, previous, target.version, at, who),
        )
    return get_version(store, name, target.version)


def import_version(store: MetaStore, source: ModelVersion, run_id: str) -> ModelVersion:
    """Copy a version from another store under the same number, with its aliases.

    Used to build a deployment's own small store, where ``churn@3`` must still mean
    version 3; fails with ``Conflict`` when that number is already taken.
    """
    check_name(source.name)
    model_id = _model_id(store, source.name, create=True)
    with store.db.write() as w:
        taken = w.execute("SELECT 1 FROM model_versions WHERE model_id = ? AND version = ?",
                          (model_id, source.version))
        if taken:
            raise Conflict(f"{source.ref} already exists in this store")
        w.execute(
            "INSERT INTO model_versions (model_id, version, run_id, path, oid, flavor, "
            "created_at, created_by, record) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (model_id, source.version, run_id, source.path, source.oid, source.flavor,
             source.created_at, source.created_by,
             json.dumps(source.record, sort_keys=True, default=str)),
        )
        for alias in source.aliases:
            w.execute(
                "INSERT INTO model_aliases (model_id, alias, version, updated_at, updated_by) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (model_id, alias) DO UPDATE SET "
                "version = excluded.version",
                (model_id, alias, source.version, now_ms(), source.created_by),
            )
    return get_version(store, source.name, source.version)


def delete_alias(store: MetaStore, name: str, alias: str, *, by: str | None = None) -> None:
    """Remove an alias (the removal is kept in history, ``to_version`` empty)."""
    model_id = _model_id(store, name)
    with store.db.write() as w:
        rows = w.execute("SELECT version FROM model_aliases WHERE model_id = ? AND alias = ?",
                         (model_id, alias))
        if not rows:
            raise NotFound(f"model {name!r} has no alias {alias!r}")
        w.execute("DELETE FROM model_aliases WHERE model_id = ? AND alias = ?", (model_id, alias))
        w.execute(
            "INSERT INTO alias_history (model_id, alias, from_version, to_version, at, by) "
            "VALUES (?, ?, ?, NULL, ?, ?)",
            (model_id, alias, int(rows[0][0]), now_ms(), by or current_user()),
        )


# -- reading ----------------------------------------------------------------------------------
_VERSION_COLUMNS = ("v.version, v.run_id, v.path, v.oid, v.flavor, v.created_at, v.created_by, "
                    "v.record")


def get_version(store: MetaStore, name: str, version_or_alias: str | int) -> ModelVersion:
    """A version by number (3, "3"), alias ("production", "@production") or "latest"."""
    model_id = _model_id(store, name)
    selector = str(version_or_alias).strip().removeprefix("@").strip()
    if not selector:
        raise InvalidInput(f"give a version or an alias of {name!r}, as {name}@1 or "
                           f"{name}@production")
    db = store.db
    if selector.isdigit():
        row = db.query_one(f"SELECT {_VERSION_COLUMNS} FROM model_versions v "
                           "WHERE v.model_id = ? AND v.version = ?", (model_id, int(selector)))
        if row is None:
            raise NotFound(f"model {name!r} has no version {selector}",
                           hint=_versions_hint(store, model_id, name))
    elif selector == LATEST:
        row = db.query_one(f"SELECT {_VERSION_COLUMNS} FROM model_versions v "
                           "WHERE v.model_id = ? ORDER BY v.version DESC LIMIT 1", (model_id,))
        if row is None:
            raise NotFound(f"model {name!r} has no versions yet")
    else:
        row = db.query_one(
            f"SELECT {_VERSION_COLUMNS} FROM model_versions v JOIN model_aliases a "
            "ON a.model_id = v.model_id AND a.version = v.version "
            "WHERE v.model_id = ? AND a.alias = ?", (model_id, selector))
        if row is None:
            raise NotFound(f"model {name!r} has no alias {selector!r}",
                           hint=_aliases_hint(store, model_id, name))
    return _version(store, model_id, name, row)


def list_versions(store: MetaStore, name: str) -> list[ModelVersion]:
    """Every version of ``name``, newest first."""
    model_id = _model_id(store, name)
    rows = store.db.query(f"SELECT {_VERSION_COLUMNS} FROM model_versions v "
                          "WHERE v.model_id = ? ORDER BY v.version DESC", (model_id,))
    aliases = _aliases(store, model_id)
    return [_version(store, model_id, name, row, aliases) for row in rows]


def list_models(store: MetaStore) -> list[RegisteredModel]:
    """Every registered model of the project, by name."""
    rows = store.db.query(
        "SELECT m.id, m.name, m.created_at, m.description, COUNT(v.version), MAX(v.version) "
        "FROM models m LEFT JOIN model_versions v ON v.model_id = m.id "
        "WHERE m.project_id = ? GROUP BY m.id, m.name, m.created_at, m.description "
        "ORDER BY m.name", (store.project_id,))
    alias_rows = store.db.query(
        "SELECT a.model_id, a.alias, a.version FROM model_aliases a JOIN models m "
        "ON m.id = a.model_id WHERE m.project_id = ? ORDER BY a.alias", (store.project_id,))
    by_model: dict[str, dict[str, int]] = {}
    for model_id, alias, version in alias_rows:
        by_model.setdefault(model_id, {})[alias] = int(version)
    return [
        RegisteredModel(name=r[1], created_at=int(r[2]), description=r[3], versions=int(r[4]),
                        latest=int(r[5]) if r[5] is not None else None,
                        aliases=by_model.get(r[0], {}))
        for r in rows
    ]


def alias_history(store: MetaStore, name: str) -> list[AliasMove]:
    """Every alias move of ``name``, oldest first."""
    model_id = _model_id(store, name)
    rows = store.db.query(
        "SELECT alias, from_version, to_version, at, by FROM alias_history "
        "WHERE model_id = ? ORDER BY id", (model_id,))
    return [AliasMove(r[0], r[1], r[2], int(r[3]), r[4]) for r in rows]


def parse_ref(ref: str) -> tuple[str, str]:
    """``NAME@V``, ``NAME@ALIAS``, ``models:/NAME@ALIAS``, ``models:/NAME/V`` or ``NAME``.

    Returns (name, version-or-alias); a bare name means ``latest``.
    """
    text = ref.strip()
    if text.startswith("models:/"):
        text = text.removeprefix("models:/")
        if "@" not in text and "/" in text:
            text = text.replace("/", "@", 1)
    name, _, selector = text.partition("@")
    name = name.strip()
    if not name:
        raise InvalidInput(f"{ref!r} names no model; write NAME@VERSION or NAME@ALIAS")
    return name, selector.strip() or LATEST


def check_name(name: str) -> None:
    if not NAME_RE.match(name):
        raise InvalidInput(
            f"{name!r} is not a usable model name; use letters, digits, '.', '_' and '-', "
            "starting with a letter or digit")


def check_alias(alias: str) -> None:
    if alias == LATEST:
        raise InvalidInput("'latest' always means the highest version; it cannot be moved")
    if not ALIAS_RE.match(alias):
        raise InvalidInput(
            f"{alias!r} is not a usable alias; use letters, digits, '_' and '-', starting "
            "with a letter (so that it never reads as a version number)")


# -- helpers ----------------------------------------------------------------------------------
def model_id(store: MetaStore, name: str) -> str:
    """The row id of a registered model; NotFound naming the registered ones otherwise."""
    return _model_id(store, name)


def _model_id(store: MetaStore, name: str, *, create: bool = False) -> str:
    row = store.db.query_one("SELECT id FROM models WHERE project_id = ? AND name = ?",
                             (store.project_id, name))
    if row is not None:
        return str(row[0])
    if not create:
        known = [m[0] for m in store.db.query(
            "SELECT name FROM models WHERE project_id = ? ORDER BY name LIMIT 10",
            (store.project_id,))]
        hint = ("registered models: " + ", ".join(known)) if known else \
            "register one with: cairn model register RUN:PATH --name NAME"
        raise NotFound(f"no registered model is named {name!r}", hint=hint)
    with store.db.write() as w:
        w.execute(
            "INSERT INTO models (id, project_id, name, created_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (project_id, name) DO NOTHING",
            (uuid7_hex(), store.project_id, name, now_ms()))
    return _model_id(store, name)


def model_artifact(store: MetaStore, run_id: str, number: int, path: str) -> tuple[str, str]:
    marks = ", ".join("?" for _ in MODEL_KINDS)
    rows = store.db.query(
        f"SELECT oid, kind FROM artifacts WHERE run_id = ? AND path = ? AND kind IN ({marks}) "
        "AND is_tree = ? ORDER BY CASE kind WHEN 'model' THEN 0 ELSE 1 END",
        (run_id, path, *MODEL_KINDS, True))
    if rows:
        return str(rows[0][0]), str(rows[0][1])
    models = model_paths(store, run_id)
    hint = (f"its models: {', '.join(models)}" if models
            else "log one with cairn.log_model(model, 'model') inside the run")
    raise NotFound(f"run {number} has no model at {path!r}", hint=hint)


def model_paths(store: MetaStore, run_id: str) -> list[str]:
    """Paths of the models a run logged with ``log_model``."""
    return [str(r[0]) for r in store.db.query(
        "SELECT path FROM artifacts WHERE run_id = ? AND kind = 'model' ORDER BY path",
        (run_id,))]


def _find_same(store: MetaStore, name: str, run_id: str, path: str,
               oid: str) -> ModelVersion | None:
    row = store.db.query_one(
        "SELECT v.version FROM model_versions v JOIN models m ON m.id = v.model_id "
        "WHERE m.project_id = ? AND m.name = ? AND v.run_id = ? AND v.path = ? AND v.oid = ?",
        (store.project_id, name, run_id, path, oid))
    return get_version(store, name, int(row[0])) if row else None


def _aliases(store: MetaStore, model_id: str) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for alias, version in store.db.query(
            "SELECT alias, version FROM model_aliases WHERE model_id = ? ORDER BY alias",
            (model_id,)):
        out.setdefault(int(version), []).append(str(alias))
    return out


def _version(store: MetaStore, model_id: str, name: str, row: Sequence[Any],
             aliases: dict[int, list[str]] | None = None) -> ModelVersion:
    version = int(row[0])
    if aliases is None:
        aliases = _aliases(store, model_id)
    return ModelVersion(
        name=name, version=version, run_id=row[1], path=row[2], oid=row[3], flavor=row[4],
        aliases=tuple(aliases.get(version, ())), created_at=int(row[5]), created_by=row[6],
        record=json.loads(row[7]) if row[7] else {},
    )


def _versions_hint(store: MetaStore, model_id: str, name: str) -> str:
    row = store.db.query_one("SELECT MAX(version) FROM model_versions WHERE model_id = ?",
                             (model_id,))
    top = row[0] if row else None
    return f"{name} has versions 1 to {top}" if top else f"{name} has no versions yet"


def _aliases_hint(store: MetaStore, model_id: str, name: str) -> str:
    names = sorted({a for found in _aliases(store, model_id).values() for a in found})
    if names:
        return f"aliases of {name}: {', '.join(names)}"
    return f"set one with: cairn model alias {name}@VERSION ALIAS"
