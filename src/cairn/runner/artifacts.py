"""Attaching a file or folder to a run as a content-addressed artifact (``cairn.log_artifact``)."""

from __future__ import annotations

from pathlib import Path

from cairn.errors import NotFound
from cairn.project import Project
from cairn.store.artifacts import ArtifactRow, add_artifacts
from cairn.store.core import MetaStore


def add_path(
    store: MetaStore,
    project: Project,
    run_id: str,
    path: Path,
    *,
    kind: str,
    name: str | None = None,
) -> ArtifactRow:
    from cairn.objects.local import LocalObjectStore
    from cairn.objects.statcache import StatCache
    from cairn.objects.tree import snapshot_path

    if not path.exists():
        raise NotFound(f"cannot log {str(path)!r} as an artifact: it does not exist")
    objects = LocalObjectStore(project.objects_dir)
    ref, is_tree = snapshot_path(objects, path, stat_cache=StatCache(store.db))
    row = ArtifactRow(run_id, kind, name or path.name, ref.oid, ref.size, is_tree)
    with store.db.write() as w:
        add_artifacts(w, [row])
    return row
