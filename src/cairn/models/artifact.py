"""Storing a model folder as a run's artifact of kind ``model`` (what ``cairn.log_model`` does).

The folder is written to a temporary place, stored as one tree object, and recorded at
``name`` in the run's artifacts. The model's description (flavor, signature, task,
requirements) is also noted in the run's record under ``models``, so that ``cairn show``
and the registry can read it without fetching any object.
"""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from cairn.errors import Ambiguous, InvalidInput, NotFound
from cairn.models.packaging import save_model_dir
from cairn.models.registry import ModelVersion
from cairn.project import Project
from cairn.store.artifacts import ArtifactRow, add_artifacts
from cairn.store.core import MetaStore

NOTED_KEYS = ("flavor", "signature", "task", "requirements", "python", "pickle", "created_at")


def check_model_path(name: str) -> str:
    """A model's artifact path: relative, with no ``..``, and no ``:`` (it ends RUN:PATH)."""
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]
    if not name or name.startswith("/") or ".." in parts or ":" in name or not parts:
        raise InvalidInput(f"{name!r} is not a usable model name; use a relative path such as "
                           "'model' or 'models/churn'")
    return "/".join(parts)


def log_model_to_run(
    store: MetaStore,
    project: Project,
    run_id: str,
    model: Any,
    *,
    name: str = "model",
    example: Any | None = None,
    flavor: str | None = None,
    profile_data: Any | None = None,
) -> tuple[ArtifactRow, dict[str, Any]]:
    """Save ``model`` and attach it to the run; return the artifact and ``cairn-model.json``."""
    from cairn.objects.local import LocalObjectStore
    from cairn.objects.tree import snapshot_dir
    from cairn.store.runs import update_record

    path = check_model_path(name)
    with tempfile.TemporaryDirectory(prefix="cairn-model-") as tmp:
        folder = Path(tmp) / "model"
        meta = save_model_dir(model, folder, flavor=flavor, example=example,
                              profile_data=profile_data)
        ref = snapshot_dir(LocalObjectStore(project.objects_dir), folder)
    row = ArtifactRow(run_id, "model", path, ref.oid, ref.size, True)
    with store.db.write() as w:
        add_artifacts(w, [row])
        note = {"oid": ref.oid, **{k: meta.get(k) for k in NOTED_KEYS}}
        update_record(w, run_id, lambda r: replace(r, models={**r.models, path: note}))
    return row, meta


def stored_meta(project: Project, oid: str, where: str) -> dict[str, Any]:
    """The ``cairn-model.json`` inside the stored tree ``oid`` (``where`` names it in errors)."""
    import json

    from cairn.errors import Corrupt
    from cairn.models.packaging import META_FILE
    from cairn.objects.local import LocalObjectStore
    from cairn.objects.tree import read_tree

    objects = LocalObjectStore(project.objects_dir)
    if not objects.has(oid):
        raise NotFound(f"the files of {where} are not in this project's store",
                       hint="fetch the run with: cairn pull RUN")
    entry = next((e for e in read_tree(objects, oid).entries if e.path == "cairn-model.json"),
                 None)
    if entry is None:
        raise InvalidInput(f"{where} is not a model folder: it has no {META_FILE}",
                           hint="store models with cairn.log_model(model, 'model')")
    try:
        meta = json.loads(objects.get_bytes(entry.oid))
    except ValueError as exc:
        raise Corrupt(f"the {META_FILE} of {where} does not parse: {exc}") from exc
    if not isinstance(meta, dict):
        raise Corrupt(f"the {META_FILE} of {where} does not describe a model")
    return meta


def register_run_model(project: Project, store: MetaStore, target: str, name: str, *,
                       by: str | None = None) -> tuple[ModelVersion, bool]:
    """Register ``RUN[:PATH]`` as the next version of ``name``; also whether it is new.

    Without ``PATH`` the run's only logged model is meant.
    """
    from cairn.models.registry import (
        check_name,
        get_version,
        model_artifact,
        model_paths,
        register,
    )
    from cairn.store.resolve import resolve_run

    check_name(name)
    run_ref, sep, path = target.partition(":")
    run = resolve_run(store, run_ref)
    if not sep or not path.strip():
        paths = model_paths(store, run.id)
        if not paths:
            raise NotFound(f"run {run.number} logged no model",
                           hint="log one with cairn.log_model(model, 'model'), or give "
                                "RUN:PATH for a model folder it stored as an output")
        if len(paths) > 1:
            raise Ambiguous(f"run {run.number} logged several models: {', '.join(paths)}",
                            hint=f"say which, as {run.number}:{paths[0]}")
        path = paths[0]
    path = check_model_path(path.strip())
    before = {v.version for v in _versions_or_none(store, name)}
    oid, _kind = model_artifact(store, run.id, run.number, path)
    meta = stored_meta(project, oid, f"run {run.number}'s {path!r}")
    version = register(store, run.id, path, name, by=by, meta=meta)
    return get_version(store, name, version.version), version.version not in before


def _versions_or_none(store: MetaStore, name: str) -> list[ModelVersion]:
    from cairn.models.registry import list_versions

    try:
        return list_versions(store, name)
    except NotFound:
        return []
