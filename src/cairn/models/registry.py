"""The model registry: named models, immutable numbered versions, movable aliases.

A version points at a run and the tree oid of the model folder it logged; it never changes.
Aliases (``production``, ``staging``, ``candidate``) move between versions, and every move is
kept in ``alias_history`` with who made it, when, and from which version. ``latest`` always
means the highest version and cannot be set by hand; aliases cannot look like numbers, so
``churn@3`` is never ambiguous.
"""

from __future__ import annotations

import getpass
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cairn.errors import Conflict, InvalidInput, NotFound
from cairn.settings import env_user
from cairn.store import registry as stored
from cairn.store.artifacts import list_artifacts
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
    model_id = _model_id(store, name, create=True)
    try:
        with store.db.write() as w:
            number = stored.add_next_version(w, model_id, run_id, path, oid, meta.get("flavor"),
                                           by or current_user(), details)
    except Conflict as exc:
        raise Conflict(f"could not allocate a version of {name!r} ({exc.message}); nothing "
                       "was written", hint=exc.hint) from None
    return get_version(store, name, number)


def set_alias(store: MetaStore, name: str, version: int | str, alias: str, *,
              by: str | None = None) -> ModelVersion:
    """Point ``alias`` at ``version`` (a number, or another alias), keeping the move in history."""
    check_alias(alias)
    target = get_version(store, name, version)
    model_id = _model_id(store, name)
    with store.db.write() as w:
        previous = stored.alias_target(w, model_id, alias)
        if previous == target.version:
            return target
        stored.move_alias(w, model_id, alias, previous, target.version, by or current_user())
    return get_version(store, name, target.version)


def import_version(store: MetaStore, source: ModelVersion, run_id: str) -> ModelVersion:
    """Copy a version from another store under the same number, with its aliases.

    Used to build a deployment's own small store, where ``churn@3`` must still mean
    version 3; fails with ``Conflict`` when that number is already taken.
    """
    check_name(source.name)
    model_id = _model_id(store, source.name, create=True)
    row = stored.VersionRow(source.version, run_id, source.path, source.oid, source.flavor,
                          source.created_at, source.created_by, source.record)
    try:
        with store.db.write() as w:
            stored.add_version(w, model_id, row)
            for alias in source.aliases:
                stored.move_alias(w, model_id, alias, None, source.version, source.created_by,
                                history=False)
    except Conflict:
        raise Conflict(f"{source.ref} already exists in this store") from None
    return get_version(store, source.name, source.version)


def delete_alias(store: MetaStore, name: str, alias: str, *, by: str | None = None) -> None:
    """Remove an alias (the removal is kept in history, ``to_version`` empty)."""
    model_id = _model_id(store, name)
    with store.db.write() as w:
        previous = stored.alias_target(w, model_id, alias)
        if previous is None:
            raise NotFound(f"model {name!r} has no alias {alias!r}")
        stored.move_alias(w, model_id, alias, previous, None, by or current_user())


# -- reading ----------------------------------------------------------------------------------
def get_version(store: MetaStore, name: str, version_or_alias: str | int) -> ModelVersion:
    """A version by number (3, "3"), alias ("production", "@production") or "latest"."""
    model_id = _model_id(store, name)
    selector = str(version_or_alias).strip().removeprefix("@").strip()
    if not selector:
        raise InvalidInput(f"give a version or an alias of {name!r}, as {name}@1 or "
                           f"{name}@production")
    db = store.db
    if selector.isdigit():
        row = stored.version_of(db, model_id, int(selector))
        if row is None:
            raise NotFound(f"model {name!r} has no version {selector}",
                           hint=_versions_hint(store, model_id, name))
    elif selector == LATEST:
        row = stored.latest_of(db, model_id)
        if row is None:
            raise NotFound(f"model {name!r} has no versions yet")
    else:
        row = stored.aliased(db, model_id, selector)
        if row is None:
            raise NotFound(f"model {name!r} has no alias {selector!r}",
                           hint=_aliases_hint(store, model_id, name))
    return _version(store, model_id, name, row)


def list_versions(store: MetaStore, name: str) -> list[ModelVersion]:
    """Every version of ``name``, newest first."""
    model_id = _model_id(store, name)
    aliases = _aliases(store, model_id)
    return [_version(store, model_id, name, row, aliases)
            for row in stored.versions_of(store.db, model_id)]


def list_models(store: MetaStore) -> list[RegisteredModel]:
    """Every registered model of the project, by name."""
    by_model = stored.project_aliases(store.db, store.project_id)
    return [
        RegisteredModel(name=m.name, created_at=m.created_at, description=m.description,
                        versions=m.versions, latest=m.latest, aliases=by_model.get(m.id, {}))
        for m in stored.list_models(store.db, store.project_id)
    ]


def alias_history(store: MetaStore, name: str) -> list[AliasMove]:
    """Every alias move of ``name``, oldest first."""
    return [AliasMove(*move) for move in stored.alias_moves(store.db, _model_id(store, name))]


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
    found = stored.find_model(store.db, store.project_id, name)
    if found is not None:
        return found
    if not create:
        known = stored.model_names(store.db, store.project_id)
        hint = ("registered models: " + ", ".join(known)) if known else \
            "register one with: cairn model register RUN:PATH --name NAME"
        raise NotFound(f"no registered model is named {name!r}", hint=hint)
    with store.db.write() as w:
        stored.add_model(w, store.project_id, name)
    return _model_id(store, name)


def model_artifact(store: MetaStore, run_id: str, number: int, path: str) -> tuple[str, str]:
    """(oid, kind) of the folder a run stored at ``path`` as a model (preferred), artifact or
    output."""
    found = sorted((a for a in list_artifacts(store, run_id) if a.path == path
                    and a.kind in MODEL_KINDS and a.is_tree), key=lambda a: a.kind != "model")
    if found:
        return found[0].oid, found[0].kind
    models = model_paths(store, run_id)
    hint = (f"its models: {', '.join(models)}" if models
            else "log one with cairn.log_model(model, 'model') inside the run")
    raise NotFound(f"run {number} has no model at {path!r}", hint=hint)


def model_paths(store: MetaStore, run_id: str) -> list[str]:
    """Paths of the models a run logged with ``log_model``."""
    return [a.path for a in list_artifacts(store, run_id, "model")]


def _find_same(store: MetaStore, name: str, run_id: str, path: str,
               oid: str) -> ModelVersion | None:
    found = stored.same_version(store.db, store.project_id, name, run_id, path, oid)
    return get_version(store, name, found) if found is not None else None


def _aliases(store: MetaStore, model_id: str) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for alias, version in stored.aliases_of(store.db, model_id):
        out.setdefault(version, []).append(alias)
    return out


def _version(store: MetaStore, model_id: str, name: str, row: stored.VersionRow,
             aliases: dict[int, list[str]] | None = None) -> ModelVersion:
    if aliases is None:
        aliases = _aliases(store, model_id)
    return ModelVersion(
        name=name, version=row.version, run_id=row.run_id, path=row.path, oid=row.oid,
        flavor=row.flavor, aliases=tuple(aliases.get(row.version, ())),
        created_at=row.created_at, created_by=row.created_by, record=row.record,
    )


def _versions_hint(store: MetaStore, model_id: str, name: str) -> str:
    top = stored.highest_version(store.db, model_id)
    return f"{name} has versions 1 to {top}" if top else f"{name} has no versions yet"


def _aliases_hint(store: MetaStore, model_id: str, name: str) -> str:
    names = sorted({a for found in _aliases(store, model_id).values() for a in found})
    if names:
        return f"aliases of {name}: {', '.join(names)}"
    return f"set one with: cairn model alias {name}@VERSION ALIAS"
